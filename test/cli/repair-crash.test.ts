import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import type { DirectoryId } from '../../src/format/directory-id.js';
import { logName } from '../../src/format/names.js';
import type { FileSystem } from '../../src/fs/types.js';
import { MetadataManager } from '../../src/index.js';
import { examineDirectory } from '../../src/ops/examine.js';
import { applyRepair } from '../../src/ops/repair-apply.js';
import { planRepair, type RepairOptions, type RepairTarget } from '../../src/ops/repair-plan.js';
import { recoverDirectory } from '../../src/storage/recovery.js';
import { dropAllPlan, keepAllPlan, type ScheduledCrash, SimulatedDisk } from '../../src/testing/index.js';
import { slot } from './helpers.js';

/**
 * A repair cut short by a power loss at every step (each file-system operation of applyRepair, with
 * the harshest, the mildest and two random crash states): what is left never loads a state other
 * than the planned one (or, for a torn tail, the same state), never adopts a foreign file, and a
 * second repair always succeeds, at a term at least the planned one.
 */

const DIR = '/raft';

async function history(fs: FileSystem, dir: string): Promise<void> {
  const manager = await MetadataManager.open(dir, { fs, flushIntervalMs: 0 });
  await manager.updateCurrentTerm(3);
  await manager.updateVotedFor(2);
  await manager.sync();
  await manager.updateCurrentTerm(4);
  await manager.updateVotedFor(5);
  await manager.updateCurrentTerm(7);
  await manager.updateVotedFor(1);
  await manager.close();
}

async function writeAt(fs: FileSystem, path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(path, 'write');
  try {
    await handle.writeDurable(bytes, offset);
  } finally {
    await handle.close();
  }
}

const LOG = join(DIR, logName(3));

/** name -> how the directory is damaged, and the repair's options. */
const SCENARIOS: Record<string, { damage(fs: FileSystem): Promise<void>; options: RepairOptions }> = {
  corrupt: {
    // A flipped byte in the vote record at slot 1, followed by later writes.
    damage: async (fs) => {
      const bytes = await fs.readFile(LOG);
      await writeAt(fs, LOG, slot(1) + 20, Uint8Array.of((bytes[slot(1) + 20] ?? 0) ^ 0xff));
    },
    options: {},
  },
  torn: {
    damage: (fs) => writeAt(fs, LOG, slot(4), new Uint8Array(10).fill(7)),
    options: {},
  },
  foreign: {
    // Another directory's log of the same name in place of ours.
    damage: async (fs) => {
      await history(fs, '/other');
      const other = await fs.readFile(join('/other', logName(3)));
      await writeAt(fs, LOG, 0, other);
    },
    options: { minTerm: 20 },
  },
  missing: {
    // The log the snapshot names is gone (a backup without *.wal, an rm).
    damage: async (fs) => {
      await fs.unlink(LOG);
      await fs.syncDir(DIR); // durable before the repair starts
    },
    options: { minTerm: 20 },
  },
};

const CRASHES: readonly ((afterOps: number) => ScheduledCrash)[] = [
  (afterOps) => ({ afterOps, plan: dropAllPlan }),
  (afterOps) => ({ afterOps, plan: keepAllPlan }),
  (afterOps) => ({ afterOps, seed: 1 }),
  (afterOps) => ({ afterOps, seed: 2 }),
];

/** What the directory loads as, and its directory id; 'refused' for a corruption report. */
async function loads(
  fs: FileSystem,
): Promise<{ state: RepairTarget; directoryId: DirectoryId | undefined } | 'refused'> {
  try {
    const recovered = await recoverDirectory(fs, DIR);
    return { state: { ...recovered.state, lastSeq: recovered.lastSeq }, directoryId: recovered.directoryId };
  } catch (err) {
    if (err instanceof CorruptionError) return 'refused';
    throw err;
  }
}

describe.concurrent('repair, crashed at every step', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: every crash state loads the planned state or is refused, and repairing again works`, async () => {
      // The damaged directory and its plan, made once: every crash below starts from an exact copy
      // of this disk (stateAt(0) after clearTrace(): durable and pending state, as it is here).
      const damaged = new SimulatedDisk();
      await history(damaged, DIR);
      await scenario.damage(damaged);
      const exam = await examineDirectory(damaged, DIR);
      const plan = planRepair(exam, scenario.options);
      const planned = plan.after;
      expect(planned).toBeDefined();
      if (planned === undefined) return;
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
            // The repair ended before the armed crash: every step has been crashed in.
            finished = true;
            continue;
          }
          const after = await rebooted;
          const loaded = await loads(after);
          if (loaded !== 'refused') {
            // Never an older state, never a foreign log's: the planned one (torn: the same state).
            expect(loaded.state, `afterOps ${afterOps}`).toEqual(planned);
            expect(loaded.directoryId).toBe(id);
          }
          // Repairing again (the operator's rerun) works and never goes below the planned term.
          const again = planRepair(await examineDirectory(after, DIR), scenario.options);
          if (again.strategy !== 'none') {
            const result = await applyRepair(after, again);
            expect(result.recovered.state.currentTerm).toBeGreaterThanOrEqual(planned.currentTerm);
            expect(result.directoryId).toBe(id);
          } else {
            expect(await loads(after)).toEqual({ state: planned, directoryId: id });
          }
        }
        steps = afterOps;
        if (finished) break;
      }
      expect(steps).toBeGreaterThan(5); // the repair has that many steps to crash in
    }, 120_000);
  }
});
