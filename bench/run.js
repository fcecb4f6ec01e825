/**
 * raft-metadata's benchmark: `npm run bench` (builds, then runs this file).
 *
 * Every variant (bench/variants/) makes small updates durable on the same disk: raw syscall floors
 * (C, Node sync, promises, callbacks, the library's I/O thread), peers a user might pick instead
 * (better-sqlite3, classic-level, a JSON file, write-file-atomic) and raft-metadata itself with 1 to
 * 256 concurrent writers. Variants run interleaved, in rounds (sections/throughput.js): each round
 * runs every variant once, in a rotated order, so that a slow minute of the disk hits all of them
 * alike; ratios are computed within a round and the median over rounds is reported. Then the other
 * sections (bench/sections/): the cost of `sync()` (compaction), `Metadata.load` time and memory
 * against the length of the log, the I/O thread's handoff, which threads call fdatasync, and many
 * Raft groups in one MetadataStore (issue 12: groups*.js). The report (bench/report/) turns the
 * measurements into tables and the chart.
 *
 * Environment:
 *   BENCH_MS      duration of one variant in one round, ms (default 1500)
 *   BENCH_ROUNDS  interleaved rounds (default 3)
 *   BENCH_DIR     directory on the disk to measure (default <repo>/.tmp/bench; not a tmpfs)
 *   BENCH_ONLY    regular expression: run only the variants/sections whose id matches (sections:
 *                 sync-cost, load, handoff, strace, groups, groups-open, groups-heap, groups-steady);
 *                 results/latest.* are then left alone
 *
 * Output: a table on stdout, bench/results/<timestamp>.json, and (full runs) results/latest.json,
 * results/latest.md (the tables in Markdown) and results/latest.svg (the chart).
 * `node bench/run.js --report [results/x.json]` prints a saved run's tables again (and, for
 * latest.json, rewrites latest.md and latest.svg); `node bench/update-docs.js` copies the latest
 * run's tables and machine into docs/performance.md.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine } from './lib/machine.js';
import { ratio } from './lib/rounds.js';
import { writeAtomically } from './lib/write-atomically.js';
import { buildReport } from './report/build.js';
import { chartOf } from './report/chart.js';
import { renderMarkdown } from './report/markdown.js';
import { renderText } from './report/text.js';
import { measureGroups } from './sections/groups.js';
import { measureGroupsHeap, measureGroupsOpen } from './sections/groups-open.js';
import { measureGroupsSteady } from './sections/groups-steady.js';
import { measureHandoff } from './sections/handoff.js';
import { LOAD_SIZES, measureLoad } from './sections/load.js';
import { checkMainThreadSyncs } from './sections/strace.js';
import { measureSyncCost } from './sections/sync-cost.js';
import { runThroughput } from './sections/throughput.js';
import { RECORD } from './variants/common.js';
import { FLOOR } from './variants/ids.js';

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
  /** Bytes of one floor update: a format-v2 log record (bench/variants/common.js). */
  recordBytes: RECORD,
  ms: intEnv('BENCH_MS', 1500),
  rounds: intEnv('BENCH_ROUNDS', 3),
  dir: resolve(process.env.BENCH_DIR || join(ROOT, '.tmp', 'bench')),
  only: process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined,
};
const selected = (id) => config.only === undefined || config.only.test(id);
const log = (line = '') => process.stdout.write(`${line}\n`);

/**
 * The sections after the throughput rounds, in the order they run; `key` is their field in the
 * results JSON, `id` their name for BENCH_ONLY.
 */
const SECTIONS = [
  {
    id: 'sync-cost',
    key: 'syncCost',
    start: 'measuring sync() ...',
    run: (runDir) => measureSyncCost(runDir, config.rounds),
  },
  {
    id: 'load',
    key: 'load',
    start: `measuring Metadata.load for ${LOAD_SIZES.join(', ')} records ...`,
    run: (runDir) => measureLoad(runDir, config.rounds),
  },
  {
    id: 'handoff',
    key: 'handoff',
    start: 'measuring the I/O thread handoff ...',
    run: (runDir) => measureHandoff(runDir, config.ms),
  },
  {
    id: 'strace',
    key: 'strace',
    start: 'checking which threads call fsync/fdatasync (strace) ...',
    run: async (runDir) => {
      const strace = await checkMainThreadSyncs(runDir);
      if (strace.skipped) log(`  ${strace.skipped}`);
      return strace;
    },
  },
  {
    id: 'groups',
    key: 'groups',
    start: 'measuring many groups: 10,000 at once, 1,000 groups against 1,000 managers ...',
    run: (runDir) => measureGroups(runDir, { ms: config.ms, rounds: config.rounds, log }),
  },
  {
    id: 'groups-open',
    key: 'groupsOpen',
    start: 'measuring the open of 10,000 groups with 1,000,000 records after the snapshot ...',
    run: (runDir) => measureGroupsOpen(runDir, { rounds: config.rounds, log }),
  },
  {
    id: 'groups-heap',
    key: 'groupsHeap',
    start: 'measuring heap per group at 100,000 groups ...',
    run: (runDir) => measureGroupsHeap(runDir, { rounds: config.rounds, log }),
  },
  {
    id: 'groups-steady',
    key: 'groupsSteady',
    start: 'measuring 10,000 groups at steady state: bytes per update, latency during compactions ...',
    run: (runDir) => measureGroupsSteady(runDir, { ms: config.ms, rounds: config.rounds, log }),
  },
];

function announce(machine) {
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
}

/** The results JSON of a run (bench/results/<timestamp>.json; latest.json for a full run). */
function resultsJson(variants, measured, machine, report) {
  const floor = variants.find((f) => f.id === FLOOR);
  return {
    config: {
      benchMs: config.ms,
      rounds: config.rounds,
      recordBytes: config.recordBytes,
      dir: config.dir,
      only: config.only?.source,
    },
    machine,
    variants: variants.map((v) => ({
      id: v.id,
      label: v.label,
      group: v.group,
      writers: v.writers,
      blocksEventLoop: v.blocksLoop,
      note: v.note,
      summary: v.summary,
      ratioToFloor: ratio(v, floor),
      rounds: v.rounds,
    })),
    syncCost: measured.syncCost,
    load: measured.load,
    handoff: measured.handoff,
    strace: measured.strace,
    groups: measured.groups,
    groupsOpen: measured.groupsOpen,
    groupsHeap: measured.groupsHeap,
    groupsSteady: measured.groupsSteady,
    targets: report.targets,
    groupTargets: report.groupTargets,
  };
}

async function writeResults(json, report, variants, machine) {
  await fsp.mkdir(RESULTS, { recursive: true });
  const stamp = machine.date.replace(/[:.]/g, '-');
  const jsonText = `${JSON.stringify(json, null, 2)}\n`;
  await writeAtomically(join(RESULTS, `${stamp}.json`), jsonText);
  if (config.only === undefined) {
    await writeAtomically(join(RESULTS, 'latest.json'), jsonText);
    await writeAtomically(join(RESULTS, 'latest.md'), renderMarkdown(report));
    await writeAtomically(join(RESULTS, 'latest.svg'), chartOf(variants, machine, config));
    log(`results: ${relative(process.cwd(), RESULTS)}/{${stamp}.json, latest.json, latest.md, latest.svg}`);
  } else {
    log(
      `results: ${relative(process.cwd(), join(RESULTS, `${stamp}.json`))} (BENCH_ONLY set: latest.* untouched)`,
    );
  }
}

async function main() {
  await fsp.mkdir(config.dir, { recursive: true });
  const runDir = await fsp.mkdtemp(join(config.dir, 'run-'));
  const machine = describeMachine(runDir);
  announce(machine);
  try {
    const variants = await runThroughput({ config, runDir, selected, log });
    const measured = {};
    for (const section of SECTIONS.filter((s) => selected(s.id))) {
      log(section.start);
      measured[section.key] = await section.run(runDir);
    }

    machine.loadAverageAtEnd = os.loadavg();
    const report = buildReport({ variants, ...measured, machine }, config);
    log('');
    log(renderText(report));
    await writeResults(resultsJson(variants, measured, machine, report), report, variants, machine);
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
  // Runs before format v2 wrote 32-byte records and did not record it.
  config.recordBytes = json.config.recordBytes ?? 32;
  const variants = json.variants.map((v) => ({ ...v, blocksLoop: v.blocksEventLoop }));
  const report = buildReport({ ...json, variants }, config);
  log(renderText(report));
  if (resolve(path) === join(RESULTS, 'latest.json')) {
    await writeAtomically(join(RESULTS, 'latest.md'), renderMarkdown(report));
    await writeAtomically(join(RESULTS, 'latest.svg'), chartOf(variants, json.machine, config));
    log('rewrote results/latest.md and results/latest.svg');
  }
}

if (process.argv[2] === '--report') await rerender(process.argv[3] ?? join(RESULTS, 'latest.json'));
else await main();
