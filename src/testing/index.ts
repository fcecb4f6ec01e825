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
  type Cmd,
  type CommandOptions,
  CrashCommand,
  conformanceCommands,
  FaultCommand,
  KillCommand,
  ReopenCommand,
  SyncCommand,
  UpdateCommand,
} from './conformance/commands.js';
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
} from './conformance/model.js';
export {
  type ConformanceOptions,
  finalCheck,
  newConformanceRun,
  openFirst,
  runConformance,
} from './conformance/run.js';
export {
  ConformanceSystem,
  checkConcurrent,
  checkedLoad,
  checkedOpen,
  type ErrorCodes,
  type HardStateStore,
  type LoadState,
  type OpenStore,
  type Planned,
  RAFT_METADATA_CODES,
  readOnlyProbe,
  type Settled,
  type StoreContext,
  submitConcurrently,
} from './conformance/system.js';
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
} from './sim/crash.js';
export { SimulatedDisk } from './sim/disk.js';
export { type FaultErrno, type SimErrorCode, type SimSystemError, systemError } from './sim/errors.js';
export type {
  FaultRule,
  FsCall,
  ScheduledCrash,
  SimulatedDiskOptions,
  SimulatedProcess,
  TraceEntry,
  TraceOp,
} from './sim/types.js';
