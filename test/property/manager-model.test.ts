import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { type FileSystem, Metadata, MetadataManager } from '../../src/index.js';
import { conformanceCommands } from '../../src/testing/conformance/commands.js';
import {
  checkConcurrent,
  type Planned,
  submitConcurrently,
} from '../../src/testing/conformance/concurrent.js';
import { type HardStateModel, type HardStateValue, sameState } from '../../src/testing/conformance/model.js';
import { checkedLoad, checkedOpen } from '../../src/testing/conformance/open-load.js';
import { finalCheck, newConformanceRun, openFirst, runCommands } from '../../src/testing/conformance/run.js';
import type { ConformanceSystem } from '../../src/testing/conformance/system.js';
import {
  type CrashSchedule,
  crashScheduleArbitrary,
  type HardStateStore,
  SimulatedDisk,
  type SimulatedDiskOptions,
  type UpdateStep,
  updateSequenceArbitrary,
} from '../../src/testing/index.js';
import { manualIntervals, propertyTimeout, replayParameters } from '../fast-timers.js';

/**
 * Model-based tests of MetadataManager on the simulated disk: fast-check generates sequences of
 * commands (updates higher/equal/lower, votes same/other/after a term change, concurrent batches
 * with a sync() among them, sync(), interval flushes, injected I/O errors, crashes at any file-system
 * operation including during a group commit, a compaction and the recovery, clean restarts,
 * close(), Metadata.load), runs them against the manager and a plain model, and checks after every
 * step and every restart the invariants of docs/testing.md. Failures print fast-check's seed and
 * path; `PROPERTY_RUNS` sets the number of runs (test/setup-fast-check.ts).
 */

const DIR = '/var/lib/raft/node-1';
const FLUSH_INTERVAL_MS = 50;

type Cmd = fc.AsyncCommand<HardStateModel, ConformanceSystem>;

const openManager = (dir: string, { fs }: { fs: FileSystem }) =>
  MetadataManager.open(dir, { fs, flushIntervalMs: FLUSH_INTERVAL_MS });
const loadMetadata = (dir: string, { fs }: { fs: FileSystem }) => Metadata.load(dir, { fs });

let intervals: ReturnType<typeof manualIntervals> | undefined;

/** The manager's flush timer fires (captured setInterval): a compaction starts in the background. */
class IntervalFlushCommand implements Cmd {
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(_m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note('interval flush');
    // Not awaited: the compaction runs while the next commands do.
    intervals?.fire();
  }
  toString(): string {
    return 'IntervalFlush';
  }
}

/** Metadata.load while the manager runs (maybe mid-compaction): read-only, and an allowed state. */
class LoadCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note('Metadata.load');
    await checkedLoad(m, real, 'Metadata.load');
  }
  toString(): string {
    return 'Load';
  }
}

/** get(): the latest accepted state, or after a failure the last durable (acknowledged) one. */
class GetCommand implements Cmd {
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = real.store as HardStateStore;
    const want = m.failed ? m.chain[m.acked] : m.current;
    const got = store.get();
    if (want && !sameState(got, want)) {
      throw new Error(
        `get() is (${got.currentTerm}, ${got.votedFor}); expected (${want.currentTerm}, ${want.votedFor})`,
      );
    }
  }
  toString(): string {
    return 'Get';
  }
}

function managerCommands(): fc.Arbitrary<Cmd>[] {
  return [
    ...conformanceCommands({ maxBatch: 10, maxCrashOps: 40 }),
    fc.constant(new IntervalFlushCommand()),
    fc.constant(new IntervalFlushCommand()),
    fc.constant(new LoadCommand()),
    fc.constant(new GetCommand()),
  ];
}

function runModel(
  cmds: Iterable<Cmd>,
  disk: SimulatedDiskOptions,
  start?: { files: ReadonlyMap<string, Uint8Array>; state: HardStateValue },
): Promise<void> {
  return runCommands({ openStore: openManager, loadState: loadMetadata, dir: DIR, disk, start }, cmds);
}

/** The format-v1 directories of test/fixtures/v1 (written by 0.1.0) that open, and their state. */
const V1_ROOT = join(import.meta.dirname, '../fixtures/v1');
const V1_MANIFEST = JSON.parse(readFileSync(join(V1_ROOT, 'manifest.json'), 'utf8')) as Record<
  string,
  { currentTerm?: number; votedFor?: number; error?: string }
>;
const V1_STARTS = Object.entries(V1_MANIFEST)
  .filter(([, expected]) => expected.error === undefined)
  .map(([name, expected]) => ({
    name,
    files: new Map(
      readdirSync(join(V1_ROOT, name)).map((file) => [
        file,
        new Uint8Array(readFileSync(join(V1_ROOT, name, file))),
      ]),
    ),
    state: { currentTerm: expected.currentTerm ?? 0, votedFor: expected.votedFor ?? 0 },
  }));

describe('MetadataManager against a model, on a crashing disk', () => {
  beforeEach(() => {
    intervals = manualIntervals();
  });
  afterEach(() => {
    intervals?.restore();
  });

  it(
    'keeps every promise (failed fsyncs leave data in limbo, as Linux does)',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(managerCommands(), { maxCommands: 30 }), (cmds) =>
          runModel(cmds, { failedSync: 'limbo' }),
        ),
        { timeout: 30_000, ...replayParameters() },
      );
    },
    propertyTimeout(100),
  );

  it(
    'keeps every promise from a format-v1 directory on: the upgrade, crashes inside it, and on',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...V1_STARTS),
          fc.commands(managerCommands(), { maxCommands: 30 }),
          (start, cmds) => runModel(cmds, { failedSync: 'limbo' }, start),
        ),
        { timeout: 30_000, ...replayParameters() },
      );
    },
    propertyTimeout(100),
  );

  it(
    'keeps every promise (failed fsyncs leave data dirty, retried by the next fsync)',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(managerCommands(), { maxCommands: 30 }), (cmds) =>
          runModel(cmds, { failedSync: 'dirty' }),
        ),
        { timeout: 30_000, ...replayParameters() },
      );
    },
    propertyTimeout(100),
  );
});

/**
 * Concurrency under fc.scheduler: every file-system operation waits for the scheduler, which
 * releases them one at a time in an order fast-check chooses (and shrinks), while waves of
 * concurrent updates and sync() calls arrive in between. Group commits, compactions and new
 * submissions interleave in ways plain awaiting never produces; a crash lands at a chosen operation.
 */
interface Wave {
  readonly steps: UpdateStep[];
  readonly syncAt: number | undefined;
  /** Scheduled operations released before the next wave arrives. */
  readonly progress: number;
}

const waveArbitrary: fc.Arbitrary<Wave> = fc.record({
  steps: updateSequenceArbitrary({ minLength: 1, maxLength: 6 }),
  syncAt: fc.option(fc.nat({ max: 6 }), { nil: undefined, freq: 3 }),
  progress: fc.nat({ max: 6 }),
});

/** Releases scheduled operations until `done()`, letting setImmediate callbacks (group commit) run. */
async function drive(s: fc.Scheduler, done: () => boolean, limit = Number.POSITIVE_INFINITY): Promise<void> {
  let released = 0;
  let idleTurns = 0;
  while (!done() && released < limit) {
    if (s.count() > 0) {
      await s.waitNext(1);
      released++;
      idleTurns = 0;
    } else {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (++idleTurns > 50)
        throw new Error('nothing left to schedule, yet the calls have not settled (hang)');
    }
  }
}

describe('MetadataManager under fc.scheduler', () => {
  it(
    'concurrent updates, group commits and compactions interleaved in any order, then a crash',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.array(waveArbitrary, { minLength: 1, maxLength: 5 }),
          crashScheduleArbitrary({ maxOps: 60 }),
          async (s, waves, crash: CrashSchedule) => {
            let scheduling = true;
            const options: SimulatedDiskOptions = {
              beforeOp: () => (scheduling ? s.schedule(Promise.resolve()) : undefined),
            };
            const { model, real } = newConformanceRun({
              openStore: openManager,
              loadState: loadMetadata,
              dir: DIR,
            });
            real.disk = new SimulatedDisk(options);
            let opened = false;
            const opening = openFirst(model, real).then(() => {
              opened = true;
            });
            await drive(s, () => opened);
            await opening;
            const store = real.store as HardStateStore;
            const disk = real.disk;
            const rebooted = disk.scheduleCrash(crash);
            const planned: Planned[] = [];
            for (const wave of waves) {
              const calls = submitConcurrently(model, store, wave.steps, wave.syncAt);
              planned.push(...calls);
              let settled = false;
              void Promise.all(calls.map((c) => c.promise)).then(() => {
                settled = true;
              });
              await drive(s, () => settled, wave.progress);
            }
            let all = false;
            void Promise.all(planned.map((c) => c.promise)).then(() => {
              all = true;
            });
            await drive(s, () => all);
            await checkConcurrent(model, real, planned, () => disk.crashed);
            if (!disk.crashed) disk.crash(crash.seed);
            real.disk = await rebooted;
            // The crashed machine's process is gone: do not wait for its store. Its operations that
            // were waiting for the scheduler are released (they fail with EIO on the dead disk).
            scheduling = false;
            void store.close().catch(() => {});
            await drive(s, () => s.count() === 0);
            real.store = undefined;
            model.open = false;
            // The rebooted disk has no scheduler: recovery runs straight through.
            const loaded = await checkedLoad(model, real, 'after crash');
            await checkedOpen(model, real, 'after crash', loaded, false);
            await finalCheck(model, real);
            // As runCommands does: the views of the disk lent to this run's stores are revoked.
            real.release();
          },
        ),
        { timeout: 30_000, ...replayParameters() },
      );
    },
    propertyTimeout(100),
  );
});
