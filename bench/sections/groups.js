/**
 * Many Raft groups (issue 12), throughput: side by side in interleaved rounds, every store and
 * manager opened once (untimed) and reused by every round.
 *
 * - `one-group`: one group of a MetadataStore, one writer awaiting each `updateCurrentTerm`
 *   (sequential updates of one group: the denominator of the 10,000-group ratio).
 * - `burst-10k`: 10,000 groups of one store, each updated once per burst; all 10,000 calls are
 *   issued in the same tick, then awaited together; bursts back to back.
 * - `store-1000` / `managers-1000`: 1,000 groups of one store against 1,000 MetadataManagers (each
 *   its own directory) in this process, same workload: rounds in which every group (manager) makes
 *   one update, all issued in the same tick and awaited together. Default `flushIntervalMs` (1 s)
 *   for all, so that each manager compacts on its own timer, as a real node's would.
 *
 * Records per fdatasync come from `stats()` (acknowledged updates / fsyncs over the measured window)
 * and, from outside, from a counting FileSystem (record writes, not zero-filling a new log).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MetadataManager, MetadataStore, NodeFileSystem } from '../../dist/index.js';
import { CountingFileSystem } from '../lib/counting-fs.js';
import { driveAsync } from '../lib/drive.js';
import { rotate } from '../lib/rounds.js';
import { LatencyRecorder, max, median, min } from '../lib/stats.js';

export const BURST_GROUPS = 10_000;
export const FLEET = 1_000;
/** A variant that runs rounds of updates runs at least this many, however long they take. */
const MIN_ROUNDS = 3;

/** Runs `round()` (one update of every group, awaited) back to back for `ms`, at least MIN_ROUNDS times. */
async function driveRounds(ms, perRound, round) {
  const latency = new LatencyRecorder();
  const start = performance.now();
  let rounds = 0;
  let t = start;
  while (rounds < MIN_ROUNDS || t - start < ms) {
    await round();
    const after = performance.now();
    latency.add((after - t) * 1000);
    rounds++;
    t = after;
  }
  return { ops: rounds * perRound, rounds, elapsedMs: t - start, latency };
}

/** A store (default interval unless given) on a counting FileSystem, with `groups` handles. */
async function openStore(dir, groups, options = {}) {
  const counting = new CountingFileSystem(new NodeFileSystem());
  const store = await MetadataStore.open(dir, { fs: counting, ...options });
  const handles = Array.from({ length: groups }, (_, id) => store.group(id));
  return { store, counting, handles, term: 0 };
}

async function closeStore(state) {
  await state.store.close();
  await state.counting.dispose();
}

/** One measured window of a store: the driver's result plus what stats() and the fs counted. */
async function measureStore(state, drive) {
  const before = state.store.stats();
  const fsBefore = state.counting.snapshot();
  const result = await drive();
  const after = state.store.stats();
  const fsAfter = state.counting.snapshot();
  const updates = after.updatesAcknowledged - before.updatesAcknowledged;
  const fsyncs = after.fsyncs - before.fsyncs;
  const recordWrites =
    fsAfter.writeDurable - fsAfter.writeDurableTemp - (fsBefore.writeDurable - fsBefore.writeDurableTemp);
  return {
    ...summarizeResult(result),
    statsUpdates: updates,
    fsyncs,
    recordsPerFsync: fsyncs > 0 ? updates / fsyncs : undefined,
    recordWrites,
    compactions: after.compactions - before.compactions,
  };
}

function summarizeResult(result) {
  const latency = result.latency.summary();
  return {
    opsPerSec: result.ops / (result.elapsedMs / 1000),
    ops: result.ops,
    rounds: result.rounds,
    elapsedMs: result.elapsedMs,
    p50Us: latency.p50,
    p99Us: latency.p99,
    maxUs: latency.max,
  };
}

/** Every group updated once, all calls issued in this tick, awaited together. */
function burst(state) {
  const term = ++state.term;
  return Promise.all(state.handles.map((g) => g.updateCurrentTerm(term)));
}

const VARIANTS = [
  {
    id: 'one-group',
    label: 'store, 1 group, sequential updates',
    async setup(dir) {
      const state = await openStore(dir, 1);
      await burst(state); // starts the I/O thread, creates the group
      return state;
    },
    run: (state, ms) =>
      measureStore(state, () => driveAsync(1, ms, () => state.handles[0].updateCurrentTerm(++state.term))),
    teardown: closeStore,
  },
  {
    id: 'burst-10k',
    label: `store, ${BURST_GROUPS.toLocaleString('en-US')} groups, each once per burst`,
    async setup(dir) {
      const state = await openStore(dir, BURST_GROUPS);
      await burst(state); // creates the groups
      return state;
    },
    run: (state, ms) => measureStore(state, () => driveRounds(ms, BURST_GROUPS, () => burst(state))),
    teardown: closeStore,
  },
  {
    id: 'store-1000',
    label: `store, ${FLEET.toLocaleString('en-US')} groups, one update each per round`,
    async setup(dir) {
      const state = await openStore(dir, FLEET);
      await burst(state);
      return state;
    },
    run: (state, ms) => measureStore(state, () => driveRounds(ms, FLEET, () => burst(state))),
    teardown: closeStore,
  },
  {
    id: 'managers-1000',
    label: `${FLEET.toLocaleString('en-US')} MetadataManagers, one update each per round`,
    async setup(dir) {
      const counting = new CountingFileSystem(new NodeFileSystem());
      const managers = [];
      // Opened 50 at a time (untimed): every open creates a directory, a log and a lock.
      for (let i = 0; i < FLEET; i += 50) {
        const opened = await Promise.all(
          Array.from({ length: Math.min(50, FLEET - i) }, (_, k) =>
            MetadataManager.open(join(dir, `m${i + k}`), { fs: counting }),
          ),
        );
        managers.push(...opened);
      }
      const state = { managers, counting, term: 0 };
      await Promise.all(managers.map((m) => m.updateCurrentTerm(++state.term)));
      return state;
    },
    async run(state, ms) {
      const sum = (key) => state.managers.reduce((acc, m) => acc + m.stats()[key], 0);
      const before = {
        updates: sum('updatesAcknowledged'),
        fsyncs: sum('fsyncs'),
        compactions: sum('compactions'),
      };
      const fsBefore = state.counting.snapshot();
      const result = await driveRounds(ms, FLEET, () => {
        const term = ++state.term;
        return Promise.all(state.managers.map((m) => m.updateCurrentTerm(term)));
      });
      const fsAfter = state.counting.snapshot();
      const updates = sum('updatesAcknowledged') - before.updates;
      const fsyncs = sum('fsyncs') - before.fsyncs;
      return {
        ...summarizeResult(result),
        statsUpdates: updates,
        fsyncs,
        recordsPerFsync: fsyncs > 0 ? updates / fsyncs : undefined,
        recordWrites:
          fsAfter.writeDurable -
          fsAfter.writeDurableTemp -
          (fsBefore.writeDurable - fsBefore.writeDurableTemp),
        compactions: sum('compactions') - before.compactions,
        durableCalls: fsAfter.durable - fsBefore.durable,
      };
    },
    async teardown(state) {
      for (let i = 0; i < state.managers.length; i += 100) {
        await Promise.all(state.managers.slice(i, i + 100).map((m) => m.close()));
      }
      await state.counting.dispose();
    },
  },
];

/** The ratios of issue 12 this section measures: [numerator, denominator]. */
export const GROUP_RATIOS = {
  burst: ['burst-10k', 'one-group'],
  fleet: ['store-1000', 'managers-1000'],
};

export async function measureGroups(runDir, { ms, rounds, log }) {
  const states = new Map();
  try {
    for (const v of VARIANTS) {
      states.set(v.id, await v.setup(join(runDir, `groups-${v.id}`)));
    }
    const results = new Map(VARIANTS.map((v) => [v.id, []]));
    for (let round = 0; round < rounds; round++) {
      // Pairs stay next to each other whatever the rotation: [one-group, burst] [store, managers].
      const pairs = rotate(
        [
          [VARIANTS[0], VARIANTS[1]],
          [VARIANTS[2], VARIANTS[3]],
        ],
        round,
      );
      for (const pair of pairs) {
        for (const v of round % 2 === 0 ? pair : [...pair].reverse()) {
          const r = await v.run(states.get(v.id), ms);
          results.get(v.id)[round] = r;
          log(`  round ${round + 1} ${v.id}: ${Math.round(r.opsPerSec)} updates/s`);
        }
      }
    }
    const variants = VARIANTS.map((v) => {
      const rs = results.get(v.id);
      const pick = (key) => rs.map((r) => r?.[key]);
      return {
        id: v.id,
        label: v.label,
        summary: {
          median: median(pick('opsPerSec')),
          min: min(pick('opsPerSec')),
          max: max(pick('opsPerSec')),
          p50Us: median(pick('p50Us')),
          p99Us: median(pick('p99Us')),
          recordsPerFsync: median(pick('recordsPerFsync')),
        },
        rounds: rs,
      };
    });
    return { burstGroups: BURST_GROUPS, fleet: FLEET, variants };
  } finally {
    for (const v of VARIANTS) {
      const state = states.get(v.id);
      if (state !== undefined) await v.teardown(state).catch(() => {});
    }
  }
}
