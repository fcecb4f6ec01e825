import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import type { DirectoryId } from '../../src/format/directory-id.js';
import { logName } from '../../src/format/names.js';
import type { FileSystem } from '../../src/fs/types.js';
import { MetadataStore } from '../../src/index.js';
import { examineDirectory } from '../../src/ops/examine.js';
import { applyRepair } from '../../src/ops/repair-apply.js';
import { planRepair, type RepairOptions, type RepairPlan } from '../../src/ops/repair-plan.js';
import { recoverDirectory } from '../../src/storage/recovery.js';
import { dropAllPlan, keepAllPlan, type ScheduledCrash, SimulatedDisk } from '../../src/testing/index.js';
import { slot, threeGroups } from './helpers.js';

/**
 * test/cli/repair-crash.test.ts on a MetadataStore's directory: a per-group repair cut short by a
 * power loss at every step. What is left loads the planned state of every group and tombstone (or,
 * for a torn tail, the same state), or is refused; never a group's older state or another's; and
 * a second repair always succeeds with every group at least at its planned term.
 */

const DIR = '/raft';

/**
 * Groups 0 (term 2, vote 1), 5 (term 4), 9 (term 3, removed); a compaction (snapshot up to seq 5,
 * log-...06); then group 7 term 6 (seq 6, slot 0), vote 2 (seq 7, slot 1), group 5 term 8 (seq 8,
 * slot 2) and vote 3 (seq 9, slot 3).
 */
async function history(fs: FileSystem, dir: string): Promise<void> {
  const store = await MetadataStore.open(dir, { fs, flushIntervalMs: 0 });
  await threeGroups(store);
  await store.sync();
  await store.group(7).updateCurrentTerm(6);
  await store.group(7).updateVotedFor(2);
  await store.group(5).updateCurrentTerm(8);
  await store.group(5).updateVotedFor(3);
  await store.close();
}

async function writeAt(fs: FileSystem, path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(path, 'write');
  try {
    await handle.writeDurable(bytes, offset);
  } finally {
    await handle.close();
  }
}

const LOG = join(DIR, logName(6));

async function flip(fs: FileSystem, offset: number): Promise<void> {
  const bytes = await fs.readFile(LOG);
  await writeAt(fs, LOG, offset, Uint8Array.of((bytes[offset] ?? 0) ^ 0xff));
}

/** What every group and tombstone loads as. */
interface Loaded {
  readonly groups: Record<number, [number, number]>;
  readonly removed: Record<number, number>;
  readonly lastSeq: number;
}

function planned(plan: RepairPlan): Loaded {
  const after = plan.after;
  if (after === undefined) throw new Error('no plan');
  return {
    groups: Object.fromEntries([...plan.groups].map(([id, s]) => [id, [s.currentTerm, s.votedFor]])),
    removed: Object.fromEntries(plan.removed),
    lastSeq: after.lastSeq,
  };
}

/** What the directory loads as, and its directory id; 'refused' for a corruption report. */
async function loads(
  fs: FileSystem,
): Promise<{ state: Loaded; directoryId: DirectoryId | undefined } | 'refused'> {
  try {
    const r = await recoverDirectory(fs, DIR);
    const state: Loaded = {
      groups: Object.fromEntries([...r.groups].map(([id, s]) => [id, [s.currentTerm, s.votedFor]])),
      removed: Object.fromEntries(r.removed),
      lastSeq: r.lastSeq,
    };
    return { state, directoryId: r.directoryId };
  } catch (err) {
    if (err instanceof CorruptionError) return 'refused';
    throw err;
  }
}

/** name -> the damage, the repair's options, and the plan's per-group decision it must make. */
const SCENARIOS: Record<
  string,
  { damage(fs: FileSystem): Promise<void>; options: RepairOptions; expected: Loaded }
> = {
  // Group 7's term record (seq 6) damaged, later writes after it: 7 (its vote at seq 7) and 5 (seq 9)
  // are proven; 0 and 9 (known at the snapshot, seq 5) may have had seq 6: raised to --min-term.
  corrupt: {
    damage: (fs) => flip(fs, slot(0) + 20),
    options: { minTerm: 20 },
    expected: { groups: { 0: [20, 0], 5: [8, 3], 7: [6, 2] }, removed: { 9: 20 }, lastSeq: 9 },
  },
  // Group 5's vote (seq 9, the last record) damaged with junk: a torn tail. Everything else kept.
  torn: {
    damage: (fs) => writeAt(fs, LOG, slot(3) + 8, new Uint8Array(10).fill(7)),
    options: {},
    expected: { groups: { 0: [2, 1], 5: [8, 0], 7: [6, 2] }, removed: { 9: 3 }, lastSeq: 8 },
  },
  // The log the snapshot names is gone: nothing after seq 5 is known, every group raised.
  missing: {
    damage: async (fs) => {
      await fs.unlink(LOG);
      await fs.syncDir(DIR);
    },
    options: { minTerm: 20 },
    expected: { groups: { 0: [20, 0], 5: [20, 0] }, removed: { 9: 20 }, lastSeq: 6 },
  },
};

const CRASHES: readonly ((afterOps: number) => ScheduledCrash)[] = [
  (afterOps) => ({ afterOps, plan: dropAllPlan }),
  (afterOps) => ({ afterOps, plan: keepAllPlan }),
  (afterOps) => ({ afterOps, seed: 1 }),
  (afterOps) => ({ afterOps, seed: 2 }),
];

describe.concurrent('a multi-group repair, crashed at every step', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: every crash state loads every group as planned or is refused, and repairing again works`, async () => {
      // The damaged directory and its plan, made once: every crash below starts from an exact copy
      // of this disk (stateAt(0) after clearTrace(): durable and pending state, as it is here).
      const damaged = new SimulatedDisk();
      await history(damaged, DIR);
      await scenario.damage(damaged);
      const exam = await examineDirectory(damaged, DIR);
      const plan = planRepair(exam, scenario.options);
      expect(plan.needsMinTerm).toBe(false);
      const want = planned(plan);
      expect(want).toEqual(scenario.expected);
      const id = exam.format.directoryId;
      damaged.clearTrace();
      let steps = 0;
      for (let afterOps = 0; ; afterOps++) {
        let finished = false;
        for (const crash of CRASHES) {
          const disk = damaged.stateAt(0);
          const rebooted = disk.scheduleCrash(crash(afterOps));
          const done = await applyRepair(disk, plan).then(
            () => true,
            () => false,
          );
          if (done && !disk.crashed) {
            finished = true;
            continue;
          }
          const after = await rebooted;
          const loaded = await loads(after);
          if (loaded !== 'refused') {
            expect(loaded.state, `afterOps ${afterOps}`).toEqual(want);
            expect(loaded.directoryId).toBe(id);
          }
          const again = planRepair(await examineDirectory(after, DIR), scenario.options);
          if (again.strategy !== 'none') {
            const result = await applyRepair(after, again);
            for (const [group, [term]] of Object.entries(want.groups)) {
              const got = result.recovered.groups.get(Number(group));
              expect(got?.currentTerm, `group ${group}`).toBeGreaterThanOrEqual(term);
            }
            for (const [group, term] of Object.entries(want.removed)) {
              const got = result.recovered.removed.get(Number(group));
              expect(got, `tombstone ${group}`).toBeGreaterThanOrEqual(term);
            }
            expect(result.directoryId).toBe(id);
          } else {
            expect(await loads(after)).toEqual({ state: want, directoryId: id });
          }
        }
        steps = afterOps;
        if (finished) break;
      }
      expect(steps).toBeGreaterThan(5);
    }, 120_000);
  }
});
