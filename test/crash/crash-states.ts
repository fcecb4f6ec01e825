import { expect } from 'vitest';
import {
  countCrashPlans,
  describeCrashPlan,
  enumerateCrashPlans,
  type SimulatedDisk,
  type TraceEntry,
} from '../../src/testing/index.js';

/** Whether a trace entry changes the disk (a read does not: the crash states after it are those before it). */
export function isMutation(entry: TraceEntry): boolean {
  return (
    ['write', 'datasync', 'sync', 'rename', 'unlink', 'mkdir', 'syncDir'].includes(entry.op) ||
    (entry.op === 'open' && entry.mode === 'create')
  );
}

/** How to go through the crash states of one recorded trace (see {@link forEachCrashState}). */
export interface CrashStateWalk<L> {
  /** Torn variants of a long unsynced write at most (the first, the last, evenly spaced ones between). */
  readonly maxTornPoints: number;
  /**
   * Whether what a crash after op `k` may show differs from what a crash after op `k - 1` may (an
   * update was submitted or acknowledged there): the crash states after a read are checked again
   * only then.
   */
  readonly moved: (k: number) => boolean;
  /**
   * What a crashed disk loads as (it throws when the disk does not load as it must). Called once per
   * distinct disk (by fingerprint, which it is given): equal disks load alike. `distinct` counts
   * the disks so far (1 for the first), for sampling costlier checks.
   */
  readonly load: (crashed: SimulatedDisk, fingerprint: string, distinct: number) => Promise<L>;
  /** The problem with what a crash after op `k` loaded, or undefined. Called for every crash state. */
  readonly check: (loaded: L, k: number) => string | undefined;
}

/** What {@link forEachCrashState} went through. */
export interface CrashStateCounts {
  readonly crashStates: number;
  readonly distinct: number;
  /** Each with where it happened: the op and the crash plan. */
  readonly failures: readonly string[];
}

/**
 * Every crash state at every point of `disk`'s trace: after each prefix of k operations, every
 * combination of the unsynced writes kept, dropped or torn at a sector, and of the unsynced
 * directory operations kept or lost. The crashed disk is loaded once per distinct disk, and every
 * crash state is still judged against its own point.
 */
export async function forEachCrashState<L>(
  disk: SimulatedDisk,
  walk: CrashStateWalk<L>,
): Promise<CrashStateCounts> {
  const trace = disk.trace;
  const options = { maxTornPointsPerWrite: walk.maxTornPoints };
  const seen = new Map<string, L>();
  const failures: string[] = [];
  let crashStates = 0;
  let distinct = 0;
  for (let k = 0; k <= trace.length; k++) {
    const last = trace[k - 1];
    if (last && !isMutation(last) && !walk.moved(k)) continue;
    const atK = disk.stateAt(k);
    const pending = atK.pending();
    expect(countCrashPlans(pending, options)).toBeLessThan(20_000);
    for (const plan of enumerateCrashPlans(pending, options)) {
      crashStates++;
      const crashed = atK.stateAt(0).crashWith(plan);
      const where = `after op ${k} (${last ? `${last.op} ${last.path}` : 'start'}), ${describeCrashPlan(plan)}`;
      const fingerprint = crashed.fingerprint();
      let loaded = seen.get(fingerprint);
      if (loaded === undefined) {
        distinct++;
        try {
          loaded = await walk.load(crashed, fingerprint, distinct);
        } catch (error) {
          failures.push(`${where}: ${(error as Error).message}`);
          continue;
        }
        seen.set(fingerprint, loaded);
      }
      const problem = walk.check(loaded, k);
      if (problem !== undefined) failures.push(`${where}: ${problem}`);
    }
  }
  return { crashStates, distinct, failures };
}
