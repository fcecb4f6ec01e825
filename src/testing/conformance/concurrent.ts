import { concretize, expectedOutcome, type HardStateModel, showUpdate, type UpdateStep } from './model.js';
import {
  type ConformanceSystem,
  callSync,
  callUpdate,
  describeError,
  expectCode,
  expectFailure,
  fail,
  type HardStateStore,
  isAbandonedCompaction,
  type Settled,
} from './system.js';

/** Concurrent callers: updates and a sync() submitted together, and what their outcomes may be. */

/** A call submitted by {@link submitConcurrently}. */
export interface Planned {
  readonly label: string;
  readonly outcome: 'change' | 'noop' | 'refused' | 'sync';
  readonly refusedCode?: 'termRegression' | 'voteConflict';
  /** Chain index that is durable once this call resolves; -1 for a refused update. */
  readonly index: number;
  readonly promise: Promise<Settled>;
}

/**
 * Submits `steps` (and a `sync()` after the `syncAt`-th, if given) without waiting in between, as
 * concurrent callers would, recording in the model what each call will mean.
 */
export function submitConcurrently(
  m: HardStateModel,
  store: HardStateStore,
  steps: readonly UpdateStep[],
  syncAt: number | undefined,
): Planned[] {
  const planned: Planned[] = [];
  const syncNow = (): void => {
    planned.push({
      label: 'sync()',
      outcome: 'sync',
      index: m.chain.length - 1,
      promise: callSync(store),
    });
  };
  steps.forEach((step, i) => {
    if (syncAt === i) syncNow();
    const update = concretize(m.current, step);
    const outcome = expectedOutcome(m.current, update);
    const label = showUpdate(update);
    const promise = callUpdate(store, update);
    if (outcome.type === 'refused') {
      const refusedCode = outcome.code === 'ERR_TERM_REGRESSION' ? 'termRegression' : 'voteConflict';
      planned.push({ label, outcome: 'refused', refusedCode, index: -1, promise });
    } else if (outcome.type === 'noop') {
      planned.push({ label, outcome: 'noop', index: m.chain.length - 1, promise });
    } else {
      planned.push({ label, outcome: 'change', index: m.submit(outcome.next), promise });
    }
  });
  if (syncAt !== undefined && syncAt >= steps.length) syncNow();
  return planned;
}

/**
 * Checks the results of concurrently submitted calls: refusals carry their code, every resolved
 * call acknowledges its state, and after the first failed write nothing later is acknowledged.
 * `crashed`: the disk crashed meanwhile, so failures need no injected fault.
 */
export async function checkConcurrent(
  m: HardStateModel,
  real: ConformanceSystem,
  planned: readonly Planned[],
  crashed: () => boolean,
): Promise<void> {
  const results = await Promise.all(planned.map((p) => p.promise));
  const failedBefore = m.failed;
  let firstFailed = Number.POSITIVE_INFINITY;
  let lastResolved = -1;
  let sawFailure = false;
  const isFailedCode = (result: Settled): boolean =>
    !result.ok &&
    real.codes !== false &&
    (result.error as { code?: unknown } | undefined)?.code === real.codes.failed;
  planned.forEach((p, i) => {
    const result = results[i] as Settled;
    real.note(`  ${p.label} -> ${result.ok ? 'resolved' : describeError(result.error)}`);
    if (result.ok && failedBefore) fail(real, `${p.label} resolved on a store that had failed before`);
    if (p.outcome === 'refused') {
      // Refused by Raft's rules, unless the store had already stopped when the call arrived.
      if (!result.ok && (failedBefore || crashed() || real.faultFiredSinceOpen()) && isFailedCode(result)) {
        sawFailure = true;
        return;
      }
      if (failedBefore && !result.ok && real.codes === false) return;
      expectCode(real, p.label, result, p.refusedCode ?? 'termRegression');
      return;
    }
    if (result.ok) {
      lastResolved = Math.max(lastResolved, p.index);
      return;
    }
    if (p.outcome === 'sync' && !failedBefore && !crashed() && isAbandonedCompaction(real, result)) return;
    if (!failedBefore && !crashed()) expectFailure(real, p.label, result);
    sawFailure = true;
    // A failed update means its state may not be durable: nothing at or after it may be
    // acknowledged. A failed sync() or no-op says nothing of the kind (what they wait for may be
    // durable already; they fail because the store stopped).
    if (p.outcome === 'change') firstFailed = Math.min(firstFailed, p.index);
  });
  if (lastResolved >= firstFailed) {
    fail(
      real,
      `a call acknowledged state #${lastResolved} although the update to state #${firstFailed} failed (fail-stop broken)`,
    );
  }
  if (!failedBefore) m.acknowledge(lastResolved);
  if (sawFailure) m.failed = true;
}
