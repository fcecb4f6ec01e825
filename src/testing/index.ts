/**
 * `raft-metadata/testing`: a simulated disk that crashes like a real machine, fast-check
 * arbitraries for hard-state workloads, and a conformance check for any hard-state store.
 *
 * Requires `fast-check` (>= 4) to be installed: it is an optional peer dependency, needed only by
 * this entry point. See docs/testing.md.
 */
export {
  type CrashSchedule,
  crashScheduleArbitrary,
  faultArbitrary,
  updateSequenceArbitrary,
  updateStepArbitrary,
} from './arbitraries.js';
export {
  BatchCommand,
  CloseCommand,
  type CommandOptions,
  type ConformanceOptions,
  ConformanceSystem,
  CrashCommand,
  checkConcurrent,
  checkedLoad,
  checkedOpen,
  conformanceCommands,
  type ErrorCodes,
  FaultCommand,
  finalCheck,
  type HardStateStore,
  KillCommand,
  type LoadState,
  newConformanceRun,
  type OpenStore,
  openFirst,
  type Planned,
  RAFT_METADATA_CODES,
  ReopenCommand,
  readOnlyProbe,
  runConformance,
  type Settled,
  type StoreContext,
  SyncCommand,
  submitConcurrently,
  UpdateCommand,
} from './conformance.js';
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
  tornPointsOf,
  type WriteFate,
} from './crash-plan.js';
export {
  type ConcreteUpdate,
  concretize,
  expectedOutcome,
  HardStateModel,
  type HardStateValue,
  NO_VOTE,
  type Outcome,
  sameState,
  showState,
  type UpdateStep,
} from './model.js';
export { type FaultErrno, type SimErrorCode, type SimSystemError, systemError } from './sim-errors.js';
export {
  type FaultRule,
  type FsCall,
  type ScheduledCrash,
  SimulatedDisk,
  type SimulatedDiskOptions,
  type SimulatedProcess,
  type TraceEntry,
  type TraceOp,
} from './sim-fs.js';
