/**
 * `raft-metadata/testing`: a simulated disk that crashes like a real machine, fast-check
 * arbitraries for hard-state workloads, and a conformance check for any hard-state store.
 *
 * Requires `fast-check` (>= 4) to be installed: it is an optional peer dependency, needed only by
 * this entry point. See docs/testing.md, whose "What it exports" section lists exactly these names
 * (test/unit/testing/exports.test.ts holds the two together). The harness's insides (the
 * conformance model and commands, the disk's internals) are not exported: this repository's own
 * tests import them from their modules.
 */
export {
  type CrashSchedule,
  crashScheduleArbitrary,
  faultArbitrary,
  updateSequenceArbitrary,
  updateStepArbitrary,
} from './arbitraries.js';
export {
  type ConcreteUpdate,
  concretize,
  expectedOutcome,
  type HardStateValue,
  type Outcome,
  type UpdateStep,
} from './conformance/model.js';
export { type ConformanceOptions, runConformance } from './conformance/run.js';
export type { ErrorCodes, HardStateStore, LoadState, OpenStore, StoreContext } from './conformance/system.js';
export {
  type CrashPlan,
  countCrashPlans,
  describeCrashPlan,
  dropAllPlan,
  type EnumerateOptions,
  enumerateCrashPlans,
  keepAllPlan,
  type PendingDirOp,
  type PendingState,
  type PendingWrite,
  randomCrashPlan,
  SECTOR_BYTES,
  type WriteFate,
} from './sim/crash.js';
export { SimulatedDisk } from './sim/disk.js';
export type { FaultErrno } from './sim/errors.js';
export type {
  FaultRule,
  FsCall,
  ScheduledCrash,
  SimulatedDiskOptions,
  SimulatedProcess,
  TraceEntry,
  TraceOp,
} from './sim/types.js';
