/**
 * raft-metadata's benchmark: `npm run bench` (builds, then runs this file).
 *
 * Every variant makes small updates durable on the same disk: raw syscall floors (C, Node sync,
 * promises, callbacks, the library's I/O thread), peers a user might pick instead (better-sqlite3,
 * classic-level, a JSON file, write-file-atomic) and raft-metadata itself with 1 to 256 concurrent
 * writers. Variants run interleaved: each round runs every variant once, in a rotated order (with
 * the variants that are compared to each other next to each other, see RUN_ORDER), so that a slow
 * minute of the disk hits all of them alike; ratios are computed within a round and the median over
 * rounds is reported. Then: the cost of `sync()` (compaction), and `Metadata.load` time
 * and memory against the length of the log.
 *
 * Environment:
 *   BENCH_MS      duration of one variant in one round, ms (default 1500)
 *   BENCH_ROUNDS  interleaved rounds (default 3)
 *   BENCH_DIR     directory on the disk to measure (default <repo>/.tmp/bench; not a tmpfs)
 *   BENCH_ONLY    regular expression: run only the variants/sections whose id matches
 *                 (sections: sync-cost, load, handoff, strace); results/latest.* are then left alone
 *
 * Output: a table on stdout, bench/results/<timestamp>.json, and (full runs) results/latest.json,
 * results/latest.md (the tables in Markdown) and results/latest.svg (the chart).
 * `node bench/run.js --report [results/x.json]` prints a saved run's tables again (and, for
 * latest.json, rewrites latest.md and latest.svg); `node bench/update-docs.js` copies the latest
 * run's tables and machine into docs/performance.md.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MetadataManager, NodeFileSystem } from '../dist/index.js';
import { CountingFileSystem } from './lib/counting-fs.js';
import { measureHandoff } from './lib/handoff.js';
import {
  formatBytes,
  formatMicros,
  formatMs,
  formatRate,
  formatRatio,
  LatencyRecorder,
  max,
  median,
  min,
} from './lib/stats.js';
import { renderChart } from './lib/svg.js';
import { markdownTable, textTable } from './lib/table.js';
import { allVariants, WRITER_COUNTS } from './lib/variants.js';
import { peerVersion } from './peers/index.js';

const execFileAsync = promisify(execFile);
const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const RESULTS = join(BENCH, 'results');

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

const config = {
  ms: intEnv('BENCH_MS', 1500),
  rounds: intEnv('BENCH_ROUNDS', 3),
  dir: resolve(process.env.BENCH_DIR || join(ROOT, '.tmp', 'bench')),
  only: process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined,
};
const selected = (id) => config.only === undefined || config.only.test(id);
const log = (line = '') => process.stdout.write(`${line}\n`);

const FLOOR = 'node-sync-append';
const PEERS = [
  { id: 'sqlite', short: 'sqlite' },
  { id: 'level', short: 'level' },
  { id: 'json-fsync', short: 'json' },
  { id: 'write-file-atomic', short: 'wfa' },
];
const LOAD_SIZES = [1_000, 100_000, 1_000_000];
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
const TMPFS_MAGIC = 0x01021994;

// ---- the machine ---------------------------------------------------------------------------------

function sh(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function describeMachine(dir) {
  const df = sh('df', ['-T', dir]);
  const dfLine = df?.split('\n')[1]?.trim().split(/\s+/);
  const device = dfLine?.[0];
  const mountPoint = dfLine?.[6];
  const mount = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[1] === mountPoint)
    .at(-1);
  const statfs = fs.statfsSync(dir);
  return {
    date: new Date().toISOString(),
    node: process.version,
    kernel: os.release(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model,
    memory: os.totalmem(),
    dir,
    df,
    device,
    fsType: dfLine?.[1],
    mountPoint,
    mountOptions: mount?.[3],
    statfsType: `0x${statfs.type.toString(16)}`,
    tmpfs: statfs.type === TMPFS_MAGIC,
    loadAverageAtStart: os.loadavg(),
    packages: Object.fromEntries(
      ['better-sqlite3', 'classic-level', 'write-file-atomic'].map((name) => [name, peerVersion(name)]),
    ),
  };
}

async function compileC(runDir) {
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

// ---- running the variants ----------------------------------------------------------------------

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

function rotate(list, by) {
  const k = list.length === 0 ? 0 : by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** Median over rounds of (a's updates/s / b's updates/s) in the same round. */
function ratio(a, b) {
  if (a === undefined || b === undefined) return undefined;
  const values = a.rounds.map((r, i) => {
    const other = b.rounds[i];
    return r && other && other.opsPerSec > 0 ? r.opsPerSec / other.opsPerSec : undefined;
  });
  return median(values);
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

// ---- compaction cost ---------------------------------------------------------------------------

async function measureSyncCost(runDir) {
  const counting = new CountingFileSystem(new NodeFileSystem());
  const manager = await MetadataManager.open(join(runDir, 'sync-cost'), { fs: counting, flushIntervalMs: 0 });
  const tail = 100;
  const samples = Math.max(10, config.rounds * 10);
  const latency = new LatencyRecorder();
  const calls = [];
  let term = 0;
  try {
    for (let i = 0; i < samples + 2; i++) {
      await Promise.all(Array.from({ length: tail }, () => manager.updateCurrentTerm(++term)));
      const before = counting.snapshot();
      const t = performance.now();
      await manager.sync();
      const us = (performance.now() - t) * 1000;
      const after = counting.snapshot();
      if (i < 2) continue; // the first compactions create the first snapshot: warm-up
      latency.add(us);
      calls.push(Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]])));
    }
  } finally {
    await manager.close();
    await counting.dispose();
  }
  const s = latency.summary();
  return {
    samples: s.samples,
    tailRecords: tail,
    p50Us: s.p50,
    p99Us: s.p99,
    maxUs: s.max,
    durableCallsPerSync: median(calls.map((c) => c.durable)),
    callsPerSync: calls[0],
  };
}

// ---- load time against log length --------------------------------------------------------------

async function buildLog(dir, records) {
  const { encodeHeader, encodeRecordInto, RECORD_SIZE } = await import('../dist/format/record.js');
  await fsp.mkdir(dir, { recursive: true });
  const path = join(dir, `log-${(1).toString(16).padStart(16, '0')}.wal`);
  const fd = fs.openSync(path, 'w');
  try {
    let position = 0;
    const header = encodeHeader(1);
    fs.writeSync(fd, header, 0, header.byteLength, position);
    position += header.byteLength;
    const perChunk = 32768;
    const chunk = new Uint8Array(perChunk * RECORD_SIZE);
    for (let seq = 1; seq <= records; ) {
      const count = Math.min(perChunk, records - seq + 1);
      for (let i = 0; i < count; i++, seq++) {
        // One term update per record, as a node that kept seeing new terms would write.
        encodeRecordInto(chunk, i * RECORD_SIZE, {
          kind: 1,
          batchIndex: 0,
          seq,
          currentTerm: seq,
          votedFor: 0,
        });
      }
      fs.writeSync(fd, chunk, 0, count * RECORD_SIZE, position);
      position += count * RECORD_SIZE;
    }
    // The zero-filled space the writer keeps ahead of the last record.
    const zeros = new Uint8Array(256 * 1024);
    fs.writeSync(fd, zeros, 0, zeros.byteLength, position);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return path;
}

/** Asks the kernel to drop the file's cached pages (GNU dd's documented `nocache` idiom). */
function dropCache(path) {
  return sh('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']) !== undefined;
}

function cachedPages(path) {
  const out = sh('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]);
  return out === undefined ? undefined : Number(out);
}

async function measureLoad(runDir) {
  const logs = [];
  for (const records of LOAD_SIZES) {
    const dir = join(runDir, `load-${records}`);
    const path = await buildLog(dir, records);
    logs.push({ records, dir, path, fileBytes: fs.statSync(path).size, warm: [], cold: [], coldCached: [] });
  }
  const canDrop = dropCache(logs[0].path);
  for (let round = 0; round < config.rounds; round++) {
    for (const entry of rotate(logs, round)) {
      for (const mode of canDrop ? ['warm', 'cold'] : ['warm']) {
        if (mode === 'cold') {
          dropCache(entry.path);
          entry.coldCached.push(cachedPages(entry.path));
        } else {
          fs.readFileSync(entry.path); // make sure it is in the page cache
        }
        const { stdout } = await execFileAsync(process.execPath, [
          '--expose-gc',
          join(BENCH, 'load-child.js'),
          entry.dir,
          String(entry.records),
        ]);
        entry[mode].push(JSON.parse(stdout));
      }
    }
  }
  return logs.map((entry) => {
    const sum = (samples) =>
      samples.length === 0
        ? undefined
        : {
            medianMs: median(samples.map((s) => s.ms)),
            minMs: min(samples.map((s) => s.ms)),
            maxMs: max(samples.map((s) => s.ms)),
            peakRssDelta: max(samples.map((s) => s.peakRssDelta)),
            rssDelta: median(samples.map((s) => s.rssAfter - s.rssBefore)),
            heapUsedDelta: median(samples.map((s) => s.heapUsedDelta)),
            samples,
          };
    return {
      records: entry.records,
      fileBytes: entry.fileBytes,
      warm: sum(entry.warm),
      cold: sum(entry.cold),
      coldCachedBytes: max(entry.coldCached),
    };
  });
}

// ---- main-thread fsync check -------------------------------------------------------------------

/**
 * Runs one raft-metadata writer under `strace -f` and counts fsync/fdatasync calls per thread: the
 * main thread's id is the process id. Skipped when strace is missing or not permitted.
 */
async function checkMainThreadSyncs(runDir) {
  if (sh('strace', ['-V']) === undefined) return { skipped: 'strace not found' };
  const out = join(runDir, 'strace.txt');
  const script = [
    `import { MetadataManager } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};`,
    `const m = await MetadataManager.open(${JSON.stringify(join(runDir, 'strace-meta'))}, { flushIntervalMs: 50 });`,
    'const end = Date.now() + 300; let t = 0;',
    'while (Date.now() < end) await m.updateCurrentTerm(++t);',
    'await m.sync(); await m.close(); console.log(process.pid, t);',
  ].join('\n');
  // A file, not `node --input-type=module -e`: worker threads inherit that flag (see docs/performance.md).
  const scriptPath = join(runDir, 'strace-writer.mjs');
  await fsp.writeFile(scriptPath, script);
  let stdout;
  try {
    ({ stdout } = await execFileAsync('strace', [
      '-f',
      '-qq',
      '-e',
      'trace=fsync,fdatasync,sync_file_range',
      '-o',
      out,
      process.execPath,
      scriptPath,
    ]));
  } catch (err) {
    return { skipped: `strace failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  const [pid, updates] = stdout.trim().split(/\s+/).map(Number);
  const perThread = {};
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const match = /^(\d+)\s+(fsync|fdatasync|sync_file_range)\(/.exec(line);
    if (!match) continue;
    const key = Number(match[1]) === pid ? 'main' : 'other';
    perThread[key] = (perThread[key] ?? 0) + 1;
  }
  return { pid, updates, mainThreadSyncs: perThread.main ?? 0, otherThreadSyncs: perThread.other ?? 0 };
}

// ---- reporting ---------------------------------------------------------------------------------

function buildReport(variants, syncCost, load, handoff, strace, machine) {
  const byId = new Map(variants.map((v) => [v.id, v]));
  const floor = byId.get(FLOOR);
  const one = byId.get('raft-1');
  const sections = [];
  const us = formatMicros;
  const lag = (v) =>
    v.blocksLoop === undefined
      ? 'n/a'
      : v.summary.loopLagMaxMs === undefined
        ? '-'
        : formatMs(v.summary.loopLagMaxMs);
  const spread = (s) => (s.min === undefined ? '-' : `${formatRate(s.min)}-${formatRate(s.max)}`);

  // 1. One writer: floors, peers, raft-metadata.
  const peers = PEERS.filter((p) => byId.has(p.id));
  const singles = variants.filter((v) => v.writers === 1 && ['floor', 'peer', 'raft'].includes(v.group));
  if (singles.length > 0) {
    sections.push({
      title: 'One writer: durable 32-byte updates (floors, peers, raft-metadata)',
      columns: [
        { title: 'variant', align: 'left' },
        { title: 'updates/s' },
        { title: 'min-max' },
        { title: 'p50' },
        { title: 'p99' },
        { title: 'loop lag max' },
        { title: 'x floor' },
        ...peers.map((p) => ({ title: `x ${p.short}` })),
      ],
      rows: singles.map((v) => [
        v.label,
        formatRate(v.summary.median),
        spread(v.summary),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
        lag(v),
        formatRatio(ratio(v, floor)),
        ...peers.map((p) => formatRatio(ratio(v, byId.get(p.id)))),
      ]),
    });
  }

  // 2. Writers.
  const sweep = WRITER_COUNTS.map((n) => byId.get(`raft-${n}`)).filter(Boolean);
  if (sweep.length > 0) {
    sections.push({
      title: 'raft-metadata: concurrent writers (each awaits its own updateCurrentTerm)',
      columns: [
        { title: 'writers' },
        { title: 'updates/s' },
        { title: 'min-max' },
        { title: 'x 1 writer' },
        { title: 'x floor' },
        { title: 'updates/fdatasync' },
        { title: 'p50' },
        { title: 'p99' },
        { title: 'loop lag max' },
      ],
      rows: sweep.map((v) => [
        String(v.writers),
        formatRate(v.summary.median),
        spread(v.summary),
        formatRatio(ratio(v, one)),
        formatRatio(ratio(v, floor)),
        v.summary.batch === undefined ? '-' : v.summary.batch.toFixed(1),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
        lag(v),
      ]),
    });
  }

  // 3. Compaction.
  const compaction = variants.filter((v) => v.group === 'compaction' || ['raft-1', 'raft-16'].includes(v.id));
  if (variants.some((v) => v.group === 'compaction')) {
    compaction.sort((a, b) => a.writers - b.writers);
    sections.push({
      title: 'Compaction: update latency with compaction off, every 1 s (default), and sync() back to back',
      columns: [
        { title: 'variant', align: 'left' },
        { title: 'updates/s' },
        { title: 'p50' },
        { title: 'p99' },
        { title: 'max' },
        { title: 'compactions/run' },
        { title: 'sync() p50' },
        { title: 'sync() p99' },
      ],
      rows: compaction.map((v) => [
        v.group === 'compaction' ? v.label : `${v.label}, compaction every 1 s`,
        formatRate(v.summary.median),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
        us(v.summary.maxUs),
        v.summary.compactionsPerRun === undefined ? '-' : String(v.summary.compactionsPerRun),
        us(v.summary.syncP50Us),
        us(v.summary.syncP99Us),
      ]),
    });
  }
  if (syncCost !== undefined) {
    sections.push({
      title: `sync() on an idle manager after ${syncCost.tailRecords} updates (${syncCost.samples} samples)`,
      columns: [
        { title: 'p50' },
        { title: 'p99' },
        { title: 'max' },
        { title: 'durable calls per sync()', align: 'left' },
      ],
      rows: [
        [
          us(syncCost.p50Us),
          us(syncCost.p99Us),
          us(syncCost.maxUs),
          `${syncCost.durableCallsPerSync} (${Object.entries(syncCost.callsPerSync ?? {})
            .filter(([k, n]) => n > 0 && !['durable', 'write', 'writeDurableTemp'].includes(k))
            .map(([k, n]) => `${n} ${k}`)
            .join(', ')})`,
        ],
      ],
    });
  }

  // 4. Group-commit ablation.
  const ablation = variants.filter((v) => v.group === 'ablation');
  if (ablation.length > 0) {
    const rows = [...ablation, ...['raft-1', 'raft-16'].map((id) => byId.get(id)).filter(Boolean)];
    rows.sort((a, b) => a.writers - b.writers);
    sections.push({
      title:
        'Group-commit policy: flush at once or after setImmediate (a model on the same I/O thread and in-place file)',
      columns: [
        { title: 'variant', align: 'left' },
        { title: 'updates/s' },
        { title: 'x I/O thread' },
        { title: 'updates/fdatasync' },
        { title: 'p50' },
        { title: 'p99' },
      ],
      rows: rows.map((v) => [
        v.label,
        formatRate(v.summary.median),
        formatRatio(ratio(v, byId.get('io-thread-inplace'))),
        v.summary.batch === undefined ? '-' : v.summary.batch.toFixed(1),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
      ]),
      note: 'x I/O thread: against one writer calling the I/O thread writeDurable in place (no batching, no manager).',
    });
  }

  if (handoff !== undefined) {
    const { roundTrip, split } = handoff;
    sections.push({
      title: 'I/O thread handoff: what a request to the worker and its answer cost (medians)',
      columns: [{ title: 'measurement', align: 'left' }, { title: 'time' }],
      rows: [
        ['32-byte pwrite, no fsync, via the IoThread (round trip)', us(roundTrip.threadUs)],
        ['32-byte pwrite, no fsync, fs.writeSync on the main thread', us(roundTrip.syncUs)],
        ['handoff cost (difference)', us(roundTrip.handoffUs)],
        ['with fdatasync: main thread notifies -> worker runs', us(split.wakeWorkerUs)],
        ['with fdatasync: pwrite + fdatasync in the worker', us(split.syscallsUs)],
        ['with fdatasync: worker notifies -> main thread resumes', us(split.wakeMainUs)],
      ],
      note: `split measured on a replica of the protocol with timestamps (${split.samples} samples).`,
    });
  }

  // 5. Load.
  if (load !== undefined) {
    sections.push({
      title: 'Metadata.load against log length (fresh process each time; cold = page cache dropped first)',
      columns: [
        { title: 'records' },
        { title: 'log file' },
        { title: 'warm cache' },
        { title: 'min-max' },
        { title: 'us/1k records' },
        { title: 'cold cache' },
        { title: 'peak RSS growth' },
        { title: 'heap growth' },
      ],
      rows: load.map((l) => [
        l.records.toLocaleString('en-US'),
        formatBytes(l.fileBytes),
        formatMs(l.warm?.medianMs),
        l.warm ? `${formatMs(l.warm.minMs)}-${formatMs(l.warm.maxMs)}` : '-',
        l.warm ? ((l.warm.medianMs * 1000) / (l.records / 1000)).toFixed(0) : '-',
        formatMs(l.cold?.medianMs),
        formatBytes(max([l.warm?.peakRssDelta, l.cold?.peakRssDelta])),
        formatBytes(l.warm?.heapUsedDelta),
      ]),
      note: 'peak RSS growth: the process peak RSS after the load minus before it (maxrss); heap growth: heapUsed after minus before, without a GC in between.',
    });
  }

  // 6. Targets.
  const targets = [];
  const target = (name, value, goal, pass, detail) => targets.push({ name, value, goal, pass, detail });
  const r1floor = ratio(one, floor);
  if (r1floor !== undefined)
    target('1 writer vs Node writeSync+fdatasyncSync', formatRatio(r1floor), '>= 0.8x', r1floor >= 0.8);
  const r1sqlite = ratio(one, byId.get('sqlite'));
  if (r1sqlite !== undefined)
    target('1 writer vs better-sqlite3 WAL+FULL', formatRatio(r1sqlite), '>= 1.0x', r1sqlite >= 1.0);
  if (strace !== undefined && strace.skipped === undefined) {
    target(
      'fsync/fdatasync on the main thread (strace -f)',
      String(strace.mainThreadSyncs),
      '0',
      strace.mainThreadSyncs === 0,
      `${strace.otherThreadSyncs} on other threads for ${strace.updates} updates`,
    );
  }
  for (const [n, goal] of [
    [16, 13],
    [256, 40],
  ]) {
    const v = byId.get(`raft-${n}`);
    const r = ratio(v, one);
    if (r !== undefined) target(`${n} writers vs 1 writer`, formatRatio(r), `>= ${goal}x`, r >= goal);
    if (v?.summary.batch !== undefined) {
      target(
        `${n} writers: updates per fdatasync`,
        v.summary.batch.toFixed(1),
        `close to ${n} (>= ${0.9 * n})`,
        v.summary.batch >= 0.9 * n,
      );
    }
  }
  for (const n of [1, 16]) {
    const v = byId.get(`raft-${n}`);
    if (v)
      target(
        `${n} writer${n > 1 ? 's' : ''}: p50 / p99 latency`,
        `${us(v.summary.p50Us)} / ${us(v.summary.p99Us)}`,
        'report',
        undefined,
      );
  }
  const million = load?.find((l) => l.records === 1_000_000);
  if (million?.warm) {
    target(
      'load 1M records (warm cache)',
      formatMs(million.warm.medianMs),
      '< 1 s',
      million.warm.medianMs < 1000,
    );
    if (million.cold)
      target(
        'load 1M records (cold cache)',
        formatMs(million.cold.medianMs),
        '< 1 s',
        million.cold.medianMs < 1000,
      );
    const small = load.find((l) => l.records === 1_000);
    const growth =
      max([million.warm.peakRssDelta, million.cold?.peakRssDelta]) - max([small?.warm?.peakRssDelta, 0]);
    target(
      'peak RSS growth, 1M vs 1k records',
      formatBytes(growth),
      '< 8 MiB (log is 31 MiB)',
      growth < 8 << 20,
    );
  }
  sections.push({
    title: 'Targets (issue 5)',
    columns: [
      { title: 'target', align: 'left' },
      { title: 'measured' },
      { title: 'goal', align: 'left' },
      { title: 'result', align: 'left' },
    ],
    rows: targets.map((t) => [
      t.name,
      t.value,
      t.goal,
      t.pass === undefined ? '' : `${t.pass ? 'met' : 'MISSED'}${t.detail ? ` (${t.detail})` : ''}`,
    ]),
  });
  const header = [
    `${machine.date}  node ${machine.node}  linux ${machine.kernel}  ${machine.nproc} CPUs (${machine.cpu})`,
    `disk: ${machine.device} ${machine.fsType} (${machine.mountOptions}) at ${machine.dir}`,
    `BENCH_MS=${config.ms} BENCH_ROUNDS=${config.rounds}; medians over rounds, ratios computed within each round`,
    `load average (1 min) ${machine.loadAverageAtStart[0].toFixed(2)} at start, ${machine.loadAverageAtEnd[0].toFixed(2)} at end`,
  ];
  return { sections, targets, header };
}

function renderText({ sections, header }) {
  const out = [...header, ''];
  for (const s of sections) {
    out.push(s.title, textTable(s.columns, s.rows));
    if (s.note) out.push(s.note);
    out.push('');
  }
  return out.join('\n');
}

function renderMarkdown({ sections, header }) {
  const out = ['<!-- generated by bench/run.js; do not edit -->', '', ...header.map((h) => `${h}  `), ''];
  for (const s of sections) {
    out.push(`**${s.title}**`, '', markdownTable(s.columns, s.rows), '');
    if (s.note) out.push(s.note, '');
  }
  return out.join('\n');
}

function chartOf(variants, machine) {
  const byId = new Map(variants.map((v) => [v.id, v]));
  const floor = byId.get(FLOOR);
  const one = byId.get('raft-1');
  const bars = variants
    .filter((v) => v.writers === 1 && ['floor', 'peer', 'raft'].includes(v.group))
    .map((v) => ({
      label: v.label,
      group: v.group,
      median: v.summary.median,
      min: v.summary.min,
      max: v.summary.max,
      ratio: ratio(v, floor),
    }));
  const points = WRITER_COUNTS.map((n) => byId.get(`raft-${n}`))
    .filter(Boolean)
    .map((v) => ({
      writers: v.writers,
      median: v.summary.median,
      min: v.summary.min,
      max: v.summary.max,
      batch: v.summary.batch,
    }));
  const targets =
    one?.summary.median === undefined
      ? []
      : [
          { writers: 16, value: 13 * one.summary.median, label: '13x' },
          { writers: 256, value: 40 * one.summary.median, label: '40x' },
        ];
  return renderChart({
    bars,
    points,
    floor: floor?.summary.median,
    targets,
    subtitle: `${machine.date.slice(0, 10)} · node ${machine.node} · linux ${machine.kernel} · ${machine.nproc} CPUs · ${machine.fsType} (${machine.device}) · BENCH_MS=${config.ms} · ${config.rounds} rounds`,
  });
}

async function writeAtomically(path, content) {
  const temp = `${path}.tmp`;
  await fsp.writeFile(temp, content);
  await fsp.rename(temp, path);
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  await fsp.mkdir(config.dir, { recursive: true });
  const runDir = await fsp.mkdtemp(join(config.dir, 'run-'));
  const machine = describeMachine(runDir);
  log(`raft-metadata benchmark: BENCH_MS=${config.ms} BENCH_ROUNDS=${config.rounds} BENCH_DIR=${config.dir}`);
  log(
    `disk: ${machine.device} ${machine.fsType} (${machine.mountOptions}), statfs type ${machine.statfsType}`,
  );
  if (machine.tmpfs) {
    log('WARNING: BENCH_DIR is on a tmpfs: fdatasync is free there, the numbers mean nothing.');
  }
  if (machine.loadAverageAtStart[0] > 0.5 * machine.nproc) {
    log(
      `note: load average ${machine.loadAverageAtStart[0].toFixed(2)} on ${machine.nproc} CPUs: other work adds noise`,
    );
  }
  try {
    const cBinary = await compileC(runDir);
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

    let syncCost;
    if (selected('sync-cost')) {
      log('measuring sync() ...');
      syncCost = await measureSyncCost(runDir);
    }
    let load;
    if (selected('load')) {
      log(`measuring Metadata.load for ${LOAD_SIZES.join(', ')} records ...`);
      load = await measureLoad(runDir);
    }
    let handoff;
    if (selected('handoff')) {
      log('measuring the I/O thread handoff ...');
      handoff = await measureHandoff(runDir, config.ms);
    }
    let strace;
    if (selected('strace')) {
      log('checking which threads call fsync/fdatasync (strace) ...');
      strace = await checkMainThreadSyncs(runDir);
      if (strace.skipped) log(`  ${strace.skipped}`);
    }

    machine.loadAverageAtEnd = os.loadavg();
    const report = buildReport(variants, syncCost, load, handoff, strace, machine);
    log('');
    log(renderText(report));

    const json = {
      config: { benchMs: config.ms, rounds: config.rounds, dir: config.dir, only: config.only?.source },
      machine,
      variants: variants.map((v) => ({
        id: v.id,
        label: v.label,
        group: v.group,
        writers: v.writers,
        blocksEventLoop: v.blocksLoop,
        note: v.note,
        summary: v.summary,
        ratioToFloor: ratio(
          v,
          variants.find((f) => f.id === FLOOR),
        ),
        rounds: v.rounds,
      })),
      syncCost,
      load,
      handoff,
      strace,
      targets: report.targets,
    };
    await fsp.mkdir(RESULTS, { recursive: true });
    const stamp = machine.date.replace(/[:.]/g, '-');
    const jsonText = `${JSON.stringify(json, null, 2)}\n`;
    await writeAtomically(join(RESULTS, `${stamp}.json`), jsonText);
    if (config.only === undefined) {
      await writeAtomically(join(RESULTS, 'latest.json'), jsonText);
      await writeAtomically(join(RESULTS, 'latest.md'), renderMarkdown(report));
      await writeAtomically(join(RESULTS, 'latest.svg'), chartOf(variants, machine));
      log(`results: ${relative(process.cwd(), RESULTS)}/{${stamp}.json, latest.json, latest.md, latest.svg}`);
    } else {
      log(
        `results: ${relative(process.cwd(), join(RESULTS, `${stamp}.json`))} (BENCH_ONLY set: latest.* untouched)`,
      );
    }
  } finally {
    await fsp.rm(runDir, { recursive: true, force: true });
  }
}

/**
 * `node bench/run.js --report [file.json]`: prints the tables of a saved run again and, for
 * results/latest.json (the default), rewrites latest.md and latest.svg from it. Runs nothing.
 */
async function rerender(path) {
  const json = JSON.parse(await fsp.readFile(path, 'utf8'));
  config.ms = json.config.benchMs;
  config.rounds = json.config.rounds;
  const variants = json.variants.map((v) => ({ ...v, blocksLoop: v.blocksEventLoop }));
  const report = buildReport(variants, json.syncCost, json.load, json.handoff, json.strace, json.machine);
  log(renderText(report));
  if (resolve(path) === join(RESULTS, 'latest.json')) {
    await writeAtomically(join(RESULTS, 'latest.md'), renderMarkdown(report));
    await writeAtomically(join(RESULTS, 'latest.svg'), chartOf(variants, json.machine));
    log('rewrote results/latest.md and results/latest.svg');
  }
}

if (process.argv[2] === '--report') await rerender(process.argv[3] ?? join(RESULTS, 'latest.json'));
else await main();
