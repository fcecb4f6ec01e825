import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DirectoryId } from '../format/directory-id.js';
import { SPARE_LOG_NAME } from '../format/names.js';
import { encodeSnapshotInSteps } from '../format/snapshot-codec.js';
import type { FileSystem } from '../fs/types.js';
import type { NodeIdentity } from '../identity.js';
import { compactionChannel, type FailureStage, failureChannel, type StatsRecorder } from '../stats.js';
import { LogWriter, PREALLOCATE_BYTES, type PreparedLog, ZeroPacer } from '../storage/log-writer.js';
import { writeSnapshotBytes } from '../storage/snapshot-file.js';
import type { CommitQueue } from './commit-queue.js';
import { closedError, failedError } from './engine-errors.js';
import type { FrozenTable, GroupTable } from './group-table.js';
import { AbandonedStep, FatalStep, StepProbe } from './step-probe.js';

/**
 * When an interval tick compacts:
 * - `on-change` (MetadataManager): whenever anything changed since the last snapshot. Its snapshot
 *   is one group, a few hundred bytes.
 * - `proportional` (MetadataStore): once the log holds at least as many bytes of records as the
 *   last snapshot took, so that rewriting every group costs no more than the records it absorbs
 *   (a few groups changing among 100,000 do not rewrite the snapshot every interval), and the next
 *   log is preallocated to the size the last one reached instead of a fixed 256 KiB.
 * `sync()` compacts in both.
 */
export const CompactionTrigger = { OnChange: 'on-change', Proportional: 'proportional' } as const;
export type CompactionTrigger = (typeof CompactionTrigger)[keyof typeof CompactionTrigger];

/** Bounds of a proportional log's preallocation. */
const MIN_PREALLOCATE = 16 * 1024;
const MAX_PREALLOCATE = 8 * 1024 * 1024;
/**
 * Pause between two chunks of a spare prepared in the background: 0, a turn of the event loop
 * (setImmediate). Each chunk is a write and an fdatasync on libuv's pool, one after the other, so
 * an append's fdatasync waits behind one chunk at most; a timed pause would spread them further but
 * make the order of operations depend on the clock (the crash-point enumeration replays them).
 */
const SPARE_PAUSE_MS = 0;

/**
 * The next log's spare, made in the background after each compaction (LogWriter.prepareInSteps)
 * so that the next one finds it ready: none, being prepared, or ready.
 */
type Spare =
  | { readonly kind: 'none' }
  | { readonly kind: 'preparing'; readonly pacer: ZeroPacer; readonly done: Promise<void> }
  | { readonly kind: 'ready'; readonly log: PreparedLog };
const NO_SPARE: Spare = Object.freeze({ kind: 'none' });

/** What the compactor needs from the manager (or store) it works for. */
export interface CompactorContext {
  readonly fs: FileSystem;
  /** The resolved directory every call uses. */
  readonly dir: string;
  /** The directory as the caller gave it: what the diagnostics channels report. */
  readonly givenDir: string;
  readonly queue: CommitQueue;
  readonly stats: StatsRecorder;
  /** Written into every snapshot and new log. */
  readonly directoryId: DirectoryId;
  /** Stamped into every snapshot (undefined: none). */
  readonly identity: NodeIdentity | undefined;
  /** The durable state of every group, kept up to date by the owner as batches become durable. */
  readonly table: GroupTable;
  readonly trigger: CompactionTrigger;
  /** True once the manager is `closed`: no compaction may start. */
  isClosed(): boolean;
  /** True while an interval compaction may start (the manager is `open` and not stopped). */
  mayRunOnInterval(): boolean;
}

/**
 * Compaction, the only code that deletes logs: switch to a new log, write the snapshot, remove the
 * logs it covers. One runs at a time; `sync()` waits for a running one and then runs its own.
 */
export class Compactor {
  readonly #ctx: CompactorContext;
  /**
   * `lastSeq` of the snapshot on disk; undefined while the directory has no current snapshot (none,
   * or one to rewrite: format v1, an identity not stamped yet).
   */
  #snapshotSeq: number | undefined;
  /** Log files that the next compaction removes once its snapshot covers them. */
  #retiredLogs: string[];
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Size of the last snapshot written (0 until one is): the proportional trigger's yardstick. */
  #snapshotBytes = 0;
  /** Record bytes the last log reached before it was replaced: the next log's preallocation. */
  #lastLogBytes = 0;
  /** The log a switch just made, until its name is durable (see #nameOfNewLog). */
  #naming: LogWriter | undefined;
  #spare: Spare = NO_SPARE;

  constructor(ctx: CompactorContext, snapshotSeq: number | undefined, retiredLogs: string[]) {
    this.#ctx = ctx;
    this.#snapshotSeq = snapshotSeq;
    this.#retiredLogs = retiredLogs;
  }

  /** Whether the snapshot already holds every durable record and no retired log remains. */
  get upToDate(): boolean {
    const snapshotSeq = this.#snapshotSeq;
    return (
      snapshotSeq !== undefined && this.#ctx.queue.durableSeq <= snapshotSeq && this.#retiredLogs.length === 0
    );
  }

  /**
   * Starts the interval timer. It keeps neither the process nor the manager alive: it holds the
   * compactor weakly, so that a manager dropped without close() (a process that a test "killed",
   * which closes nothing) can be collected, its timer stopping with it, instead of being kept
   * alive by its own interval for the rest of the process.
   */
  startInterval(intervalMs: number): void {
    const self = new WeakRef(this);
    const timer = setInterval(() => {
      const compactor = self.deref();
      if (compactor === undefined) clearInterval(timer);
      else compactor.#onInterval();
    }, intervalMs);
    timer.unref();
    this.#timer = timer;
  }

  stopInterval(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  /** Resolves once no compaction is running. */
  async settle(): Promise<void> {
    while (this.#running !== undefined) await this.#running.catch(() => {});
  }

  /**
   * At close, after {@link settle}: stops a spare's preparation and removes the spare (best effort:
   * the reader ignores `.tmp` files and the next open's first compaction replaces it).
   */
  async dispose(): Promise<void> {
    const spare = this.#spare;
    if (spare.kind === 'preparing') {
      spare.pacer.cancel();
      await spare.done;
    }
    const now = this.#spare;
    this.#spare = NO_SPARE;
    if (now.kind === 'ready') await now.log.discard();
    else if (spare.kind !== 'none')
      await this.#ctx.fs.unlink(join(this.#ctx.dir, SPARE_LOG_NAME)).catch(() => {});
  }

  /**
   * Runs one compaction (after a running one). Without `force`, only when something changed; with
   * it (sync(), open), also to write a first snapshot or to start a fresh log.
   */
  async compact(force: boolean): Promise<void> {
    // No await when nothing runs: the check below and `#running = run` must happen in the same
    // synchronous step as this call, or two calls of one turn would both start a compaction.
    while (this.#running !== undefined) await this.#running.catch(() => {});
    const { queue } = this.#ctx;
    if (this.#ctx.isClosed()) throw closedError();
    if (queue.failure !== undefined) throw failedError(queue.failure);
    // A snapshot exists and the current log holds no record: a forced compaction has nothing to do.
    const fresh = this.#snapshotSeq !== undefined && (queue.writer?.recordBytes ?? 0) === 0;
    if (this.upToDate && (!force || fresh)) return;
    const run = this.#run();
    this.#running = run;
    try {
      await run;
    } finally {
      this.#running = undefined;
    }
  }

  #onInterval(): void {
    if (this.#running !== undefined || !this.#ctx.mayRunOnInterval() || this.upToDate) return;
    if (this.#ctx.trigger === CompactionTrigger.Proportional && this.#snapshotSeq !== undefined) {
      const logBytes = this.#ctx.queue.writer?.recordBytes ?? 0;
      if (logBytes < this.#snapshotBytes) return;
    }
    // A failure is recorded by #run (fail-stop or abandoned); nothing to report to a caller here.
    this.compact(false).catch(() => {});
  }

  /**
   * One compaction. Each failure is one of two kinds, decided per step below:
   *
   * - **Abandoned**: the step failed before it changed anything the state on disk depends on (only
   *   a temp file was touched, which recovery never reads: `*.tmp` names are not logs, and the
   *   snapshot reader reads `metadata.json` only). The manager goes on serving on the current log;
   *   the failure is counted in stats() and published with `fatal: false`; the next interval or
   *   sync() tries again (its creation replaces a temp file left behind). The error is thrown to
   *   sync() as it is (a system error, not ERR_MANAGER_FAILED).
   * - **Fatal** (fail-stop): the step had already renamed something into place or fsynced the
   *   directory. A failed directory fsync leaves the directory's blocks, which also name the
   *   current log and snapshot, in an unknown state; a new log that reached its name beside the
   *   current one is a second log recovery would read (and a torn tail in the current log followed
   *   by it would read as corruption); so nothing more may be built on it.
   */
  async #run(): Promise<void> {
    const started = performance.now();
    const switched = await this.#switchLog();
    try {
      await this.#nameOfNewLog();
      if (this.#snapshotSeq === undefined || switched.covered > this.#snapshotSeq) {
        await this.#writeSnapshot(switched.table, switched.covered);
        this.#snapshotSeq = switched.covered;
      }
    } finally {
      switched.table.thaw();
    }
    await this.#removeRetired();
    // A compaction that moved appends to a new log will want another: made now, in the background.
    if (switched.rotated) this.#prepareNextSpare();
    this.#ctx.stats.recordCompaction();
    if (compactionChannel.hasSubscribers) {
      compactionChannel.publish({
        dir: this.#ctx.givenDir,
        lastSeq: switched.covered,
        durationMs: performance.now() - started,
        rotatedLog: switched.rotated,
      });
    }
  }

  /**
   * The new log's directory fsync, which runs while appends to it begin (PreparedLog.commit): the
   * snapshot, which names that log, is written only after it. A failure is fatal (the rename was
   * done: the directory's blocks are in an unknown state).
   */
  async #nameOfNewLog(): Promise<void> {
    const next = this.#naming;
    this.#naming = undefined;
    if (next === undefined) return;
    try {
      await next.nameDurable();
    } catch (err) {
      const { queue } = this.#ctx;
      queue.fail(err, 'new-log');
      throw failedError(err);
    }
  }

  /** The next log's zero-filled space: fixed for `on-change`, the last log's size for `proportional`. */
  #preallocate(): number {
    if (this.#ctx.trigger === CompactionTrigger.OnChange) return PREALLOCATE_BYTES;
    const wanted = Math.max(this.#lastLogBytes, this.#ctx.queue.writer?.recordBytes ?? 0);
    return Math.min(MAX_PREALLOCATE, Math.max(MIN_PREALLOCATE, wanted));
  }

  /**
   * Takes the spare the last compaction left being prepared in the background (or, when there is
   * none, prepares one now: zeros, fdatasynced, while appends go on), then holds the queue,
   * takes the durable state as what this compaction covers, and moves appends to the new log if the
   * current one holds records, so that updates continue while the snapshot is written. Appends wait
   * only for the spare's header, rename and directory fsync. Crash before the new log is durable:
   * the old log still holds everything.
   */
  async #switchLog(): Promise<{ covered: number; table: FrozenTable; rotated: boolean }> {
    const { queue, fs, dir, directoryId } = this.#ctx;
    // The steps of a new log and what a failure of each one means:
    // - unlink of a stale spare, its create (EMFILE, ENOSPC, EDQUOT), the write or fdatasync of its
    //   zeros, the header's write or fdatasync, closing it: only the `.tmp` spare was touched.
    //   Abandoned; the spare is removed (best effort: recovery ignores it anyway).
    // - rename of the spare to its log name, when it fails: rename changes nothing on failure, so
    //   abandoned as above.
    // - rename done, then anything fails (the directory fsync, reopening the new log): the new log
    //   may be durable next to the current one. Fatal.
    const probe = new StepProbe(fs);
    let spare: PreparedLog | undefined;
    if ((queue.writer?.recordBytes ?? 0) > 0) {
      try {
        spare =
          (await this.#takeSpare()) ??
          (await LogWriter.prepare(probe, dir, directoryId, this.#preallocate()));
      } catch (err) {
        await this.#abandon(err, 'new-log', probe);
        throw err;
      }
    }
    try {
      await queue.hold();
      if (queue.failure !== undefined) throw failedError(queue.failure);
      const covered = queue.durableSeq;
      // No write is in flight while the queue is held: the table is the state at `covered`. Frozen
      // in constant time (copy on write), so that appends are held for no work per group.
      const current = queue.writer;
      if (current === undefined || current.recordBytes === 0) {
        await spare?.discard();
        return { covered, table: this.#ctx.table.freeze(), rotated: false };
      }
      let next: LogWriter;
      try {
        next = spare
          ? await spare.commit(probe, covered + 1)
          : await LogWriter.create(probe, dir, covered + 1, directoryId, this.#preallocate());
      } catch (err) {
        if (probe.changedDirectory) throw new FatalStep(err, 'new-log');
        await this.#abandon(err, 'new-log', probe);
        throw new AbandonedStep(err);
      }
      this.#lastLogBytes = current.recordBytes;
      queue.writer = next;
      this.#naming = next;
      this.#retiredLogs.push(current.path);
      try {
        // Every record in the old log was fdatasynced before its caller was answered; a failing
        // close reports an error the kernel could not place. Fatal, to be safe.
        await current.close();
      } catch (err) {
        throw new FatalStep(err, 'close-log');
      }
      return { covered, table: this.#ctx.table.freeze(), rotated: true };
    } catch (err) {
      if (err instanceof AbandonedStep) throw err.error;
      await spare?.discard();
      const fatal = err instanceof FatalStep ? err : new FatalStep(err, 'new-log');
      queue.fail(fatal.error, fatal.stage);
      throw failedError(fatal.error);
    } finally {
      queue.release();
    }
  }

  /**
   * Crash anywhere in here: metadata.json is the old or the new snapshot, complete; the logs still
   * hold every record after the old one (see storage/snapshot-file.ts). Failures of writeSnapshot's
   * steps:
   * - unlink of a stale `metadata.json.tmp`, its create, write, fsync, close: only the temp was
   *   touched; the old snapshot and every log are as they were. Abandoned: the logs retired by the
   *   switch stay retired, so the next compaction writes the snapshot again and removes them then.
   * - rename of the temp over metadata.json, when it fails: nothing changed. Abandoned.
   * - rename done, then the directory fsync fails: fatal (the directory's state is unknown).
   */
  async #writeSnapshot(table: FrozenTable, lastSeq: number): Promise<void> {
    const { fs, dir, directoryId, identity } = this.#ctx;
    const probe = new StepProbe(fs);
    try {
      // The log after this snapshot, log-<lastSeq + 1>, is durable already: it is the log the
      // switch above created (or the current log, when it held no record), and the snapshot names it.
      const bytes = await encodeSnapshotInSteps({
        directoryId,
        identity,
        lastSeq,
        groups: table.live,
        removed: table.removed,
        floorTerm: table.floorTerm,
      });
      this.#snapshotBytes = await writeSnapshotBytes(probe, dir, bytes);
    } catch (err) {
      await this.#stepFailed(err, 'snapshot', probe);
    }
  }

  /**
   * Unlinks the logs the durable snapshot covers, with no directory fsync of its own: a crash before
   * the unlinks reach the disk leaves covered logs in place, which replay skips (every record in
   * them is at or below the snapshot's `lastSeq`) and the next compaction removes. They reach the
   * disk with the next directory fsync (the next compaction's new log name) or the file system's
   * own journal commit, whichever comes first; nothing depends on when.
   */
  async #removeRetired(): Promise<void> {
    const { fs } = this.#ctx;
    const retired = this.#retiredLogs;
    this.#retiredLogs = [];
    const probe = new StepProbe(fs);
    try {
      for (const [i, path] of retired.entries()) {
        // Every record in these logs is in the durable snapshot now. A crash before the unlinks
        // are durable leaves them in place; replay skips records the snapshot covers.
        try {
          await probe.unlink(path);
        } catch (err) {
          // A failed unlink removed nothing. The log and those after it stay retired, to be
          // removed by the next compaction; the snapshot covers them, the current log does not
          // depend on them.
          this.#retiredLogs.unshift(...retired.slice(i));
          throw err;
        }
      }
    } catch (err) {
      await this.#stepFailed(err, 'remove-logs', probe);
    }
  }

  /**
   * Starts the next log's spare in the background, sized as {@link #preallocate} says now, so that
   * the next compaction only renames it. A failure drops it (the next compaction prepares one in
   * its own window, as when there is none).
   */
  #prepareNextSpare(): void {
    if (this.#spare.kind !== 'none' || this.#ctx.isClosed() || this.#ctx.queue.failure !== undefined) return;
    const { fs, dir, directoryId } = this.#ctx;
    const pacer = new ZeroPacer(SPARE_PAUSE_MS);
    const done = LogWriter.prepareInSteps(fs, dir, directoryId, this.#preallocate(), pacer).then(
      (log) => {
        this.#spare = log === undefined ? NO_SPARE : { kind: 'ready', log };
      },
      async (err: unknown) => {
        this.#spare = NO_SPARE;
        // Only the `.tmp` spare was touched: an abandoned step, counted and published as one.
        await this.#abandon(err, 'new-log', new StepProbe(fs));
        await fs.unlink(join(dir, SPARE_LOG_NAME)).catch(() => {});
      },
    );
    this.#spare = { kind: 'preparing', pacer, done };
  }

  /** The spare prepared in the background, once done (hurrying it); undefined when there is none. */
  async #takeSpare(): Promise<PreparedLog | undefined> {
    const spare = this.#spare;
    if (spare.kind === 'preparing') {
      spare.pacer.hurry();
      await spare.done;
    }
    const now = this.#spare;
    if (now.kind !== 'ready') return undefined;
    this.#spare = NO_SPARE;
    return now.log;
  }

  /**
   * A step's failure: abandoned when the step changed nothing the directory depends on and the
   * manager has not stopped meanwhile (the error is thrown as it is), fatal otherwise.
   */
  async #stepFailed(err: unknown, stage: FailureStage, probe: StepProbe): Promise<never> {
    const { queue } = this.#ctx;
    if (!probe.changedDirectory && queue.failure === undefined) {
      await this.#abandon(err, stage, probe);
      throw err;
    }
    queue.fail(err, stage);
    throw failedError(err);
  }

  /**
   * A compaction step failed before it changed the directory: count it, publish it as not fatal,
   * remove the temp files it created (best effort; recovery ignores them), keep serving.
   */
  async #abandon(err: unknown, stage: FailureStage, probe: StepProbe): Promise<void> {
    this.#ctx.stats.recordCompactionFailure(err);
    if (failureChannel.hasSubscribers) {
      failureChannel.publish({ dir: this.#ctx.givenDir, error: err, fatal: false, stage });
    }
    for (const temp of probe.created) await this.#ctx.fs.unlink(temp).catch(() => {});
  }
}
