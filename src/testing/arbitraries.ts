import fc from 'fast-check';
import { CANDIDATES, type UpdateStep } from './conformance/model.js';
import type { FaultRule, FsCall } from './sim/types.js';

/**
 * fast-check arbitraries for hard-state workloads. This module (and so `raft-metadata/testing`)
 * needs `fast-check` >= 4 installed next to raft-metadata: it is an optional peer dependency.
 */

/** One update step, relative to the state it meets (see {@link UpdateStep}); biased towards changes. */
export function updateStepArbitrary(): fc.Arbitrary<UpdateStep> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.integer({ min: 1, max: 3 }).map((by) => ({ kind: 'term', change: 'up', by }) as const),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'term', change: 'equal' } as const) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 3 }).map((by) => ({ kind: 'term', change: 'down', by }) as const),
    },
    { weight: 2, arbitrary: fc.constant({ kind: 'vote', choice: 'same' } as const) },
    {
      weight: 3,
      arbitrary: fc
        .integer({ min: 1, max: CANDIDATES })
        .map((candidate) => ({ kind: 'vote', choice: 'candidate', candidate }) as const),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: CANDIDATES - 1 })
        .map((offset) => ({ kind: 'vote', choice: 'other', offset }) as const),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'vote', choice: 'none' } as const) },
  );
}

/** A sequence of update steps (term up/equal/down, votes same/other/none, votes after a term change). */
export function updateSequenceArbitrary(
  constraints: { minLength?: number; maxLength?: number } = {},
): fc.Arbitrary<UpdateStep[]> {
  return fc.array(updateStepArbitrary(), {
    minLength: constraints.minLength ?? 0,
    maxLength: constraints.maxLength ?? 20,
  });
}

/**
 * When and how a simulated machine crashes: after `afterOps` more file-system operations, losing
 * what the crash state drawn from `seed` says (see `SimulatedDisk.scheduleCrash`).
 */
export interface CrashSchedule {
  readonly afterOps: number;
  readonly seed: number;
}

/** A crash point and the seed of its crash state. */
export function crashScheduleArbitrary(constraints: { maxOps?: number } = {}): fc.Arbitrary<CrashSchedule> {
  return fc.record({
    afterOps: fc.nat({ max: constraints.maxOps ?? 40 }),
    seed: fc.nat({ max: 0xffff_ffff }),
  });
}

const FAULT_TARGETS: readonly (readonly FsCall[])[] = [
  ['writeDurable'],
  ['datasync', 'sync', 'writeDurable'],
  ['write'],
  ['sync'],
  ['rename'],
  ['syncDir'],
  ['open'],
  ['unlink'],
  ['readdir', 'readFile', 'read'],
];

/** An injected I/O error: which calls, which errno, the n-th matching call, sometimes a short write. */
export function faultArbitrary(constraints: { maxNth?: number } = {}): fc.Arbitrary<FaultRule> {
  return fc
    .record({
      op: fc.constantFrom(...FAULT_TARGETS),
      errno: fc.constantFrom('EIO', 'ENOSPC', 'EDQUOT'),
      nth: fc.integer({ min: 1, max: constraints.maxNth ?? 4 }),
      short: fc.option(fc.nat({ max: 64 }), { nil: undefined }),
    })
    .map(({ op, errno, nth, short }): FaultRule => {
      const writes = op.includes('write') || op.includes('writeDurable');
      return short !== undefined && writes ? { op, errno, nth, bytesWritten: short } : { op, errno, nth };
    });
}
