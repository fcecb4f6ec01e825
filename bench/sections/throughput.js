/**
 * The throughput section: every variant (bench/variants/) for `config.ms` per round, interleaved.
 * Each round runs every variant once, in an order rotated from round to round (with the variants
 * that are compared to each other next to each other, see RUN_ORDER), so that a slow minute of the
 * disk hits all of them alike; ratios are computed within a round (lib/stats.js `ratio`).
 */
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { rotate } from '../lib/rounds.js';
import { execFileAsync, sh } from '../lib/shell.js';
import { formatMicros, formatRate, max, median, min } from '../lib/stats.js';
import { allVariants } from '../variants/index.js';

const BENCH = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * The order variants run in within a round (rotated from round to round). Variants whose ratio
 * matters sit next to each other, so that they run seconds apart and see the same disk: the disk's
 * speed drifts within tens of seconds, and a drift between two distant variants would land in
 * their ratio. Ids missing here run last.
 */
const RUN_ORDER = [
  'c-append',
  'c-inplace',
  'c-fallocate',
  'node-promises-append',
  'node-promises-inplace',
  'node-callback-append',
  'node-callback-inplace',
  'io-thread-inplace',
  'node-sync-inplace',
  'node-sync-append',
  'raft-1',
  'sqlite',
  'raft-16',
  'raft-256',
  'io-thread-append',
  'level',
  'json-fsync',
  'write-file-atomic',
  'raft-2',
  'raft-4',
  'raft-8',
  'raft-32',
  'raft-64',
  'raft-128',
  'raft-1-nocompact',
  'raft-1-syncloop',
  'raft-16-nocompact',
  'raft-16-syncloop',
  'gc-immediate-16',
  'gc-setimmediate-16',
  'gc-immediate-1',
  'gc-setimmediate-1',
];

async function compileC(runDir, log) {
  if (sh('cc', ['--version']) === undefined) return undefined;
  const binary = join(runDir, 'fsync-floor');
  try {
    await execFileAsync('cc', ['-O2', '-o', binary, join(BENCH, 'fsync-floor.c')]);
    return binary;
  } catch (err) {
    log(`  C floor skipped: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LAG_RESOLUTION_MS = 10;
/** How late the event loop ran a timer, in ms, from one of the monitor's interval samples (ns). */
const loopDelay = (ns) => (ns > 0 ? Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) : undefined);

async function runOnce(variant, ms, runDir, tag) {
  const dir = join(runDir, `${variant.id}-${tag}`);
  await fsp.mkdir(dir, { recursive: true });
  const state = await variant.setup(dir);
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  // The monitor records the interval between two of its timer callbacks (resolution included) and
  // discards its first one: let it fire once before the clock starts.
  await sleep(LAG_RESOLUTION_MS + 5);
  let result;
  try {
    result = await variant.run(state, ms);
    // Give the lag monitor's timer a turn, so that a loop that never yielded is recorded.
    await sleep(25);
  } finally {
    lag.disable();
    await variant.teardown(state);
    await fsp.rm(dir, { recursive: true, force: true });
  }
  const latency = result.latency.summary();
  return {
    opsPerSec: result.ops / (result.elapsedMs / 1000),
    ops: result.ops,
    elapsedMs: result.elapsedMs,
    p50Us: latency.p50,
    p99Us: latency.p99,
    maxUs: latency.max,
    batch: result.batch,
    loopLagMaxMs: variant.blocksLoop === undefined ? undefined : loopDelay(lag.max),
    loopLagP99Ms: variant.blocksLoop === undefined ? undefined : loopDelay(lag.percentile(99)),
    extra: result.extra,
  };
}

function summarize(variant) {
  const rounds = variant.rounds.filter(Boolean);
  const pick = (key) => rounds.map((r) => r[key]);
  const syncP50 = rounds.map((r) => r.extra?.syncLatency?.p50);
  const syncP99 = rounds.map((r) => r.extra?.syncLatency?.p99);
  return {
    median: median(pick('opsPerSec')),
    min: min(pick('opsPerSec')),
    max: max(pick('opsPerSec')),
    p50Us: median(pick('p50Us')),
    p99Us: median(pick('p99Us')),
    maxUs: max(pick('maxUs')),
    batch: median(pick('batch')),
    loopLagMaxMs: max(pick('loopLagMaxMs')),
    syncP50Us: median(syncP50),
    syncP99Us: median(syncP99),
    compactionsPerRun: median(rounds.map((r) => r.extra?.compactions)),
  };
}

/**
 * Runs the section: a short warm-up of every variant, then `config.rounds` rounds. Returns the
 * variants, each with `rounds` (one result per round) and `summary` (medians over the rounds).
 */
export async function runThroughput({ config, runDir, selected, log }) {
  const cBinary = await compileC(runDir, log);
  if (cBinary === undefined) log('  no C compiler: the C floor is skipped');
  const variants = (await allVariants({ cBinary, log })).filter((v) => selected(v.id));
  for (const v of variants) v.rounds = [];
  const position = (v) => (RUN_ORDER.includes(v.id) ? RUN_ORDER.indexOf(v.id) : RUN_ORDER.length);
  const runOrder = [...variants].sort((a, b) => position(a) - position(b));

  const warmMs = Math.min(300, Math.max(50, Math.round(config.ms / 5)));
  log(`warm-up: ${variants.length} variants x ${warmMs} ms`);
  for (const v of variants) await runOnce(v, warmMs, runDir, 'warm');

  const started = performance.now();
  for (let round = 0; round < config.rounds; round++) {
    const order = rotate(runOrder, round * Math.ceil(variants.length / config.rounds));
    for (const [i, v] of order.entries()) {
      const r = await runOnce(v, config.ms, runDir, `r${round}`);
      v.rounds[round] = r;
      const batch = r.batch === undefined ? '' : `  ${r.batch.toFixed(1)} updates/fdatasync`;
      log(
        `  round ${round + 1}/${config.rounds} ${String(i + 1).padStart(2)}/${order.length}  ${v.id.padEnd(24)} ${formatRate(r.opsPerSec).padStart(8)}/s  p50 ${formatMicros(r.p50Us)}  p99 ${formatMicros(r.p99Us)}${batch}`,
      );
    }
  }
  log(`rounds took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const v of variants) v.summary = summarize(v);
  return variants;
}
