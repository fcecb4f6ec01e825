import type { FileSystem, OpenMode } from '../../fs/types.js';
import type { CrashPlan, PendingState } from './crash.js';
import type { SimulatedDisk } from './disk.js';
import type { FaultErrno } from './errors.js';

/** The public types of the simulated disk: calls, trace entries, fault rules, options. */

/** The calls a test can make fail ({@link FaultRule.op}). */
export type FsCall =
  | 'open'
  /** {@link FileSystem.openLocked}: traced as an `open` (mode `write`, or `create` for a new file); fails with `syscall: 'flock'`. */
  | 'openLocked'
  | 'probeLock'
  | 'readFile'
  | 'rename'
  | 'unlink'
  | 'readdir'
  | 'mkdir'
  | 'syncDir'
  | 'stat'
  | 'read'
  | 'write'
  | 'writeDurable'
  | 'datasync'
  | 'sync'
  | 'size'
  | 'close';

/** An operation in the trace: a call, except that `writeDurable` appears as `write` then `datasync`. */
export type TraceOp = Exclude<FsCall, 'writeDurable' | 'openLocked'>;

/** One traced operation, in the order the disk applied it. */
export interface TraceEntry {
  readonly index: number;
  readonly op: TraceOp;
  readonly path: string;
  readonly dest?: string;
  readonly handle?: number;
  readonly mode?: OpenMode;
  readonly position?: number;
  /** Bytes requested (read) or applied (write; less than asked for a short write). */
  readonly length?: number;
  /** The bytes a write applied (a copy). */
  readonly data?: Uint8Array;
  readonly via?: 'writeDurable';
  /** Set when the operation failed, with the code it failed with. */
  readonly error?: string;
  /** The failure was injected by {@link SimulatedDisk.failNext}. */
  readonly injected?: boolean;
}

/** Makes calls fail: see {@link SimulatedDisk.failNext}. */
export interface FaultRule {
  /** The call(s) to fail. `writeDurable` is its own call: fail `['datasync', 'writeDurable']` to hit every fdatasync. */
  readonly op: FsCall | readonly FsCall[];
  readonly errno: FaultErrno;
  /** Fail the n-th matching call from now (1 = the next one). Default 1. */
  readonly nth?: number;
  /** Only calls whose path matches (a RegExp, or an exact path). */
  readonly path?: RegExp | string;
  /**
   * For `write`/`writeDurable`: a short write. This many bytes (at most the write's length) land in
   * the page cache, then the call fails (for `writeDurable`, before its fdatasync). Without it, a
   * failing `write` writes nothing, and a failing `writeDurable` writes everything then fails its
   * fdatasync (the bytes are then in limbo, see the class comment).
   */
  readonly bytesWritten?: number;
  /** Keep failing every matching call from the n-th on (a dead disk). Default false. */
  readonly persistent?: boolean;
}

/** Options of {@link SimulatedDisk}. */
export interface SimulatedDiskOptions {
  /**
   * Awaited before every traced operation: return a promise to delay it (a macrotask, a scheduler
   * of `fast-check`'s `fc.scheduler()`...) and so explore interleavings. Default: none.
   */
  readonly beforeOp?: (op: TraceOp, path: string) => Promise<void> | void;
  /**
   * What a failed `datasync`/`sync`/`writeDurable` does to the writes it covered:
   * - `'limbo'` (default, Linux since 4.13): the pages are marked clean. Reads still see the data,
   *   but no later fsync writes it; a crash may keep or lose it.
   * - `'dirty'` (FreeBSD, and what a retrying kernel would do): the writes stay pending, and the
   *   next successful fsync of the file makes them durable.
   */
  readonly failedSync?: 'limbo' | 'dirty';
}

/** A process using a {@link SimulatedDisk}, that can be killed (see {@link SimulatedDisk.process}). */
export interface SimulatedProcess extends FileSystem {
  readonly disk: SimulatedDisk;
  /** Stops the process: every later call through it or its handles rejects with EIO, changing nothing. */
  kill(): void;
  readonly killed: boolean;
}

/** A crash to happen when the disk has applied `afterOps` more operations ({@link SimulatedDisk.scheduleCrash}). */
export interface ScheduledCrash {
  readonly afterOps: number;
  /** The crash state: a seed for {@link randomCrashPlan}, or a function choosing a plan. */
  readonly seed?: number;
  readonly plan?: (pending: PendingState) => CrashPlan;
}
