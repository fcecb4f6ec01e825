import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError, ManagerStateError, type MetadataError, RaftRuleError } from '../errors.js';
import type { LogRecord } from '../format/record.js';
import { defaultFileSystem } from '../fs/default.js';
import type { FileHandle, FileStat, FileSystem, LockProbe, OpenMode } from '../fs/types.js';
import { Metadata, makeMetadata } from '../metadata.js';
import { applyUpdate, type HardState, NONE_SERVER_ID, UpdateKind, validateCount } from '../state.js';
import {
  compactionChannel,
  type FailureStage,
  failureChannel,
  fsyncChannel,
  type ManagerStats,
  StatsRecorder,
} from '../stats.js';
import { ensureDirectory } from '../storage/ensure-directory.js';
import { acquireLock, type DirectoryLock } from '../storage/lock.js';
import { LogWriter } from '../storage/log-writer.js';
import { recoverDirectory } from '../storage/recovery.js';
import { writeSnapshot } from '../storage/snapshot-file.js';

/** Options of {@link MetadataManager.open} and of the constructor's third argument. */
export interface ManagerOptions {
  /** Compact the log into the snapshot this often when something changed. Default 1000; 0 disables. */
  readonly flushIntervalMs?: number;
  /** File system to use; the real disk (`node:fs`, with an I/O thread) by default. */
  readonly fs?: FileSystem;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 1000;

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Where a manager is in its life. One value at a time, changed only at the places named here.
 *
 * | state     | updates, `sync()`                                        | `get()`            | `close()`              |
 * |-----------|----------------------------------------------------------|--------------------|------------------------|
 * | `opening` | queued in call order; run right after the proposal       | the proposal       | → `closing`            |
 * | `open`    | validated and started at once, in call order             | the accepted state | → `closing`            |
 * | `failed`  | rejected with the open's error (the open failed)         | the proposal       | → `closing`            |
 * | `closing` | rejected, `ERR_MANAGER_CLOSED`; calls made before close() still finish | the accepted state | the same promise |
 * | `closed`  | rejected, `ERR_MANAGER_CLOSED`; no compaction starts     | the accepted state | the same promise       |
 *
 * - constructor → `opening`;
 * - `#open`: `opening` → `open` in the same synchronous step that validates the proposal and
 *   replays the queue (so no call can come between them); `opening`/`open` → `failed` if the open
 *   throws (the queue is rejected with its error);
 * - the first `close()`: any state → `closing` (an open still running goes on: the calls queued before
 *   close() are replayed and finish); `#shutdown` → `closed` once every pending call and
 *   compaction is done, before the log is closed and the lock released.
 *
 * Fail-stop after the open (a failed write or fsync of records, a compaction step that failed after
 * it changed the directory) is `#failure`, not a state: the manager stays `open` (it still answers
 * `get()`/`stats()`/`close()`) and refuses updates with `ERR_MANAGER_FAILED`. An abandoned
 * compaction changes neither.
 */
type Lifecycle = 'opening' | 'open' | 'failed' | 'closing' | 'closed';

/** A call made while the manager was `opening`: started, in order, once the proposal is validated. */
interface QueuedCall extends Waiter {
  start(): Promise<void>;
}

/** Updates that go to disk in one write and one fdatasync (group commit). */
interface Batch {
  readonly records: LogRecord[];
  readonly waiters: Waiter[];
}

function newBatch(): Batch {
  return { records: [], waiters: [] };
}

function validateInterval(value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARG_TYPE',
      `The "flushIntervalMs" argument must be of type number. Received type ${typeof value}`,
    );
  }
  if (!Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new InvalidArgumentError(
      'ERR_OUT_OF_RANGE',
      `The value of "flushIntervalMs" is out of range. It must be >= 0 && <= ${2 ** 31 - 1}. Received ${value}`,
    );
  }
  return value;
}

/**
 * Owns a metadata directory and makes every term and vote update durable before acknowledging it.
 *
 * - Each update is validated against the latest accepted state, in call order, then appended to the
 *   log; its promise resolves only after the record is fdatasync'ed. Updates that arrive while a
 *   write is in flight share the next write and fdatasync (group commit).
 * - Every `flushIntervalMs` (when something changed) and on {@link MetadataManager.sync}, the log
 *   is compacted into the snapshot and a new log is started.
 * - Fail-stop: if a write or fsync of records fails, or a compaction fails after it changed the
 *   directory, every pending and later update rejects with `ERR_MANAGER_FAILED` (the system error
 *   as `cause`); an fsync is never retried. A compaction that fails before it changed anything
 *   (EMFILE, ENOSPC... on a temp file) is abandoned instead: the manager goes on serving on its
 *   current log and retries at the next interval or sync() (see #runCompaction).
 * - One owner: the directory is locked (`LOCK`) until {@link MetadataManager.close}.
 */
export class MetadataManager {
  /** `metadataDir` as the caller wrote it: what `get()` and the diagnostics channels report. */
  readonly #givenDir: string;
  /** `metadataDir` resolved once (`path.resolve`): every file-system call uses this one path. */
  readonly #dir: string;
  readonly #fs: FileSystem;
  readonly #flushIntervalMs: number;
  readonly #opening: Promise<void>;
  #state: Lifecycle = 'opening';
  #openError: unknown;
  /** Calls made while `opening`, in call order. */
  #queue: QueuedCall[] = [];
  /** The constructor's `initial` (fresh state for `open()`): what `get()` shows until the open is done. */
  readonly #proposed: HardState;
  #lock: DirectoryLock | undefined;
  #writer: LogWriter | undefined;

  /** Latest accepted state (durable or in a pending/in-flight batch). */
  #accepted: HardState;
  /** Latest state known to be on stable storage. */
  #durable: HardState;
  #nextSeq = 1;
  #durableSeq = 0;
  /** `lastSeq` of the snapshot on disk; -1 when there is none. */
  #snapshotSeq = -1;
  /** Log files that the next compaction removes once its snapshot covers them. */
  #retiredLogs: string[] = [];

  #pending: Batch = newBatch();
  #inflight: Batch | undefined;
  #flushScheduled = false;
  /** While true no write starts: a compaction is switching to a new log. */
  #switching = false;
  #idleWaiters: (() => void)[] = [];
  #compacting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  #failure: unknown;
  #closing: Promise<void> | undefined;
  /** sync() calls started and not settled yet. */
  readonly #syncs = new Set<Promise<void>>();
  readonly #stats = new StatsRecorder();

  /**
   * The seed's form: a manager for `initial.metadataDir`, opened in the background. `initial` is a
   * proposed update against what is on disk, under the same rules as every update (its term may not
   * be lower; a different vote in the same term is refused). Calls may be made at once: every call,
   * whenever it arrives during the open, is validated in call order after the proposal, exactly as
   * if the open had finished first. An open error is what {@link MetadataManager.ready} and every
   * call reject with. Prefer {@link MetadataManager.open}, which reports errors at once.
   */
  constructor(
    initial: Metadata,
    flushIntervalMs: number = DEFAULT_FLUSH_INTERVAL_MS,
    options: ManagerOptions = {},
  ) {
    if (!(initial instanceof Metadata)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'The "initial" argument must be a Metadata');
    }
    this.#flushIntervalMs = validateInterval(options.flushIntervalMs ?? flushIntervalMs);
    const proposed = {
      currentTerm: validateCount('initial.currentTerm', initial.currentTerm),
      votedFor: validateCount('initial.votedFor', initial.votedFor),
    };
    this.#givenDir = initial.metadataDir;
    // Resolved once, here: `ensureDirectory` creates what `path.resolve` names (`a/x/../d` is
    // `a/d`, a relative path is taken against the current directory now), and every later call
    // must reach that same directory, whatever `..` or the current directory would mean later.
    this.#dir = resolve(initial.metadataDir);
    this.#fs = options.fs ?? defaultFileSystem();
    this.#proposed = proposed;
    this.#accepted = proposed;
    this.#durable = proposed;
    this.#opening = this.#open(initialProposals.has(initial) ? undefined : proposed);
    // The error is kept for every later call; this handler only stops an unhandled rejection.
    this.#opening.catch(() => {});
  }

  /**
   * Opens (creating it if needed) and locks `metadataDir`, recovers its state and returns a ready
   * manager.
   * @throws `ERR_METADATA_LOCKED` if another live manager owns the directory;
   *   `ERR_METADATA_CORRUPT` if its files are damaged; a system error if the disk fails.
   */
  static async open(metadataDir: string, options: ManagerOptions = {}): Promise<MetadataManager> {
    const placeholder = new Metadata(metadataDir);
    initialProposals.add(placeholder);
    const manager = new MetadataManager(
      placeholder,
      options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
      options,
    );
    await manager.#opening;
    return manager;
  }

  /**
   * Resolves once the open is done (for the constructor's form: the directory is recovered and the
   * proposal is durable); rejects with the open's error. Settles once and keeps its result: after
   * {@link MetadataManager.open} it is already resolved, and it says nothing of later failures or
   * of close().
   */
  ready(): Promise<void> {
    return this.#opening;
  }

  /**
   * A copy of the latest accepted state (after a failure: the last durable state). Until the open is
   * done, and after a failed open: the constructor's `initial` (fresh state for `open()`).
   * `metadataDir` is the path as given, not the resolved one the manager uses.
   */
  get(): Metadata {
    // `#accepted` is the proposal object itself until the open validates it (then a new object).
    if (this.#openError !== undefined || this.#accepted === this.#proposed) {
      return makeMetadata(this.#givenDir, this.#proposed.currentTerm, this.#proposed.votedFor, 0);
    }
    return makeMetadata(
      this.#givenDir,
      this.#accepted.currentTerm,
      this.#accepted.votedFor,
      this.#nextSeq - 1,
    );
  }

  /**
   * Sets `currentTerm`. A higher term clears the vote; the same term changes nothing.
   * Resolves once the change is on stable storage.
   * @throws `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` for a term that is not a safe non-negative
   *   integer; `ERR_TERM_REGRESSION` for a lower term (nothing is written).
   */
  async updateCurrentTerm(term: number): Promise<void> {
    validateCount('term', term);
    return this.#call(() => this.#submit(UpdateKind.Term, term));
  }

  /**
   * Records the vote for `serverId` in the current term. Voting again for the same server changes
   * nothing. Resolves once the vote is on stable storage.
   * @throws `ERR_VOTE_CONFLICT` if the node already voted for another server in this term.
   */
  async updateVotedFor(serverId: number): Promise<void> {
    validateCount('serverId', serverId);
    return this.#call(() => this.#submit(UpdateKind.Vote, serverId));
  }

  /**
   * Compacts now: waits for pending updates, writes a snapshot covering them and starts a new log.
   * Resolves once the snapshot is durable.
   * @throws `ERR_MANAGER_FAILED` if the manager stopped; the system error itself (`ENOSPC`,
   *   `EMFILE`...) if the compaction was abandoned before it changed anything: the manager is still
   *   usable, and the next interval or sync() tries again.
   */
  async sync(): Promise<void> {
    return this.#call(() => this.#syncNow());
  }

  /** Counters: updates, fsyncs, batch sizes, fsync latency, bytes, compactions (and abandoned ones), log size. */
  stats(): ManagerStats {
    return this.#stats.snapshot(this.#writer?.recordBytes ?? 0);
  }

  /** Finishes pending updates, stops the flush timer, closes the log and releases the lock. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#state = 'closing';
      this.#closing = this.#shutdown();
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- opening -------------------------------------------------------------------------------

  /**
   * The one way in for updates and sync(), by {@link Lifecycle}: started now (`open`), queued
   * (`opening`), or refused. `start` validates synchronously, before its first await, so calls are
   * validated in the order they reach this method.
   */
  #call(start: () => Promise<void>): Promise<void> {
    switch (this.#state) {
      case 'open':
        return start();
      case 'opening':
        return new Promise<void>((resolve, reject) => this.#queue.push({ start, resolve, reject }));
      case 'failed':
        return Promise.reject(this.#openError);
      case 'closing':
      case 'closed':
        return Promise.reject(closedError());
    }
  }

  /** Starts the queued calls, in call order, in one synchronous step. */
  #replayQueue(): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const call of queue) {
      let started: Promise<void>;
      try {
        started = call.start();
      } catch (err) {
        call.reject(err);
        continue;
      }
      started.then(call.resolve, call.reject);
    }
  }

  #rejectQueue(err: unknown): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const call of queue) call.reject(err);
  }

  async #open(proposed: HardState | undefined): Promise<void> {
    try {
      await ensureDirectory(this.#fs, this.#dir);
      this.#lock = await acquireLock(this.#fs, this.#dir);
      const recovered = await recoverDirectory(this.#fs, this.#dir);
      // The directory is sound: only now does LOCK's text name this owner (for people and the
      // CLI; ownership is the kernel lock taken above). A refused open leaves the old text.
      await this.#lock.announce();
      // What recovery saw may be known only to the page cache: a process killed after a rename,
      // an unlink or a log creation but before its directory fsync. Make every entry it read
      // durable before building on it (appending to a log whose name a power cut could undo).
      await this.#fs.syncDir(this.#dir);
      // `#accepted` stays the proposal (what get() shows) until the proposal is validated below.
      this.#durable = recovered.state;
      this.#durableSeq = recovered.lastSeq;
      this.#nextSeq = recovered.lastSeq + 1;
      this.#snapshotSeq = recovered.snapshot?.lastSeq ?? -1;

      // Records replayed from the logs were read back through the page cache, which is not proof
      // that they are on disk: after a failed fdatasync Linux marks the pages clean, a restart
      // without a reboot reads the record back, and a power cut can still lose it ("fsyncgate").
      // So whatever open() reports beyond the snapshot is rewritten from memory (a new log, a new
      // snapshot, both fsynced) before the first update is accepted, and nothing is appended
      // behind a record that may be a hole after a power cut.
      const last = recovered.logs.at(-1);
      const unverified = recovered.lastSeq > (recovered.snapshot?.lastSeq ?? 0);
      const reusable =
        last !== undefined &&
        last.scan.header !== undefined &&
        last.scan.end.kind === 'clean' &&
        (last.scan.lastSeq ?? last.firstSeq - 1) === recovered.lastSeq &&
        recovered.logs.length === 1 &&
        !unverified;
      if (last !== undefined && reusable) {
        this.#writer = await LogWriter.reopen(this.#fs, this.#dir, last.firstSeq, last.scan.end.offset);
      } else {
        // Start a fresh log after the last valid record. Its creation replaces a torn log of the
        // same name atomically (rename); the torn bytes were never acknowledged. Older logs go
        // once the compaction below has put everything they hold into a durable snapshot.
        const writer = await LogWriter.create(this.#fs, this.#dir, this.#nextSeq);
        this.#writer = writer;
        this.#retiredLogs = recovered.logs.map((log) => log.path).filter((path) => path !== writer.path);
      }
      // Calls made meanwhile are still queued: this compaction sees only what was on disk.
      if (unverified || this.#retiredLogs.length > 0) await this.#compact(true);
      // One synchronous step, no await inside: validate the proposal against the recovered state,
      // then start every queued call in call order. A call made at any moment of the open is
      // validated after the proposal and after every call made before it.
      this.#accepted = this.#durable;
      const proposal = proposed === undefined ? [] : this.#propose(proposed);
      if (this.#state === 'opening') this.#state = 'open';
      this.#replayQueue();
      await Promise.all(proposal);
      if (this.#flushIntervalMs > 0 && this.#state === 'open') {
        this.#timer = setInterval(() => this.#onInterval(), this.#flushIntervalMs);
        this.#timer.unref();
      }
    } catch (err) {
      this.#openError = err;
      if (this.#state === 'opening' || this.#state === 'open') this.#state = 'failed';
      this.#rejectQueue(err);
      // A batch of replayed calls may still be on its way to disk (a proposal failed by a write
      // error rejects everything pending, not what is in flight): let it end before closing.
      while (this.#compacting !== undefined) await this.#compacting.catch(() => {});
      await this.#whenIdle();
      await this.#writer?.close().catch(() => {});
      this.#writer = undefined;
      await this.#lock?.release().catch(() => {});
      this.#lock = undefined;
      throw err;
    }
  }

  /**
   * The constructor's `initial` Metadata, applied as ordinary updates (a term update, then a vote if
   * it has one) after checking the whole of it against the recovered state, so that a refused
   * proposal writes nothing at all (not its term without its vote). The errors name the argument
   * that is behind the disk, with the value on disk: a lower `initial.currentTerm` is
   * ERR_TERM_REGRESSION; a different `initial.votedFor` in the term on disk is ERR_VOTE_CONFLICT (a
   * higher term clears the vote first, so the vote can only conflict when the terms are equal).
   * Returns the updates' promises: resolved once durable.
   */
  #propose(proposed: HardState): Promise<void>[] {
    const disk = this.#accepted;
    if (proposed.currentTerm < disk.currentTerm) {
      throw new RaftRuleError(
        'ERR_TERM_REGRESSION',
        `initial.currentTerm ${proposed.currentTerm} is lower than the current term ${disk.currentTerm} on disk in ${this.#givenDir}`,
      );
    }
    if (
      proposed.currentTerm === disk.currentTerm &&
      proposed.votedFor !== NONE_SERVER_ID &&
      disk.votedFor !== NONE_SERVER_ID &&
      proposed.votedFor !== disk.votedFor
    ) {
      throw new RaftRuleError(
        'ERR_VOTE_CONFLICT',
        `initial.votedFor ${proposed.votedFor} conflicts with the vote for ${disk.votedFor} in term ${disk.currentTerm} on disk in ${this.#givenDir}`,
      );
    }
    const updates = [this.#submit(UpdateKind.Term, proposed.currentTerm)];
    if (proposed.votedFor !== NONE_SERVER_ID) updates.push(this.#submit(UpdateKind.Vote, proposed.votedFor));
    return updates;
  }

  // ---- updates and group commit --------------------------------------------------------------

  /** Refuses after fail-stop. (Closing is refused earlier, by {@link MetadataManager.#call}.) */
  #assertWritable(): void {
    if (this.#failure !== undefined) throw failedError(this.#failure);
  }

  /**
   * sync() once started: everything accepted so far becomes durable, then a compaction. Tracked in
   * `#syncs` until it settles, so that close() waits for it.
   */
  #syncNow(): Promise<void> {
    this.#assertWritable();
    const barrier = this.#barrier();
    const run = barrier.then(() => this.#compact(true));
    this.#syncs.add(run);
    const forget = (): void => {
      this.#syncs.delete(run);
    };
    run.then(forget, forget);
    return run;
  }

  /** Validates against the latest accepted state and queues the record; resolves when durable. */
  #submit(kind: UpdateKind, value: number): Promise<void> {
    this.#assertWritable();
    const next = applyUpdate(this.#accepted, kind, value);
    if (next === undefined) return this.#barrier();
    this.#accepted = next;
    const record: LogRecord = {
      kind,
      batchIndex: 0,
      seq: this.#nextSeq++,
      currentTerm: next.currentTerm,
      votedFor: next.votedFor,
    };
    return new Promise<void>((resolve, reject) => {
      this.#pending.records.push(record);
      this.#pending.waiters.push({ resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Resolves when everything accepted so far is durable. */
  #barrier(): Promise<void> {
    const batch = this.#pending.records.length > 0 ? this.#pending : this.#inflight;
    if (batch === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inflight !== undefined || this.#switching) return;
    if (this.#pending.waiters.length === 0) return;
    this.#flushScheduled = true;
    // Wait one turn of the event loop: every caller that is ready now joins this batch, so N
    // concurrent writers cost one fdatasync instead of splitting into a batch of 1 and N-1.
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#inflight !== undefined || this.#switching || this.#failure !== undefined) return;
    const batch = this.#pending;
    const writer = this.#writer;
    if (batch.waiters.length === 0 || writer === undefined) return;
    this.#pending = newBatch();
    this.#inflight = batch;
    const started = performance.now();
    try {
      // The records are durable when this resolves; until then no caller has been answered.
      await writer.append(batch.records);
    } catch (err) {
      this.#inflight = undefined;
      this.#fail(err, 'append', batch);
      return;
    }
    const durationMs = performance.now() - started;
    const last = batch.records.at(-1);
    if (last !== undefined) {
      this.#durable = { currentTerm: last.currentTerm, votedFor: last.votedFor };
      this.#durableSeq = last.seq;
      const bytes = batch.records.length * 32;
      this.#stats.recordFsync(batch.records.length, bytes, durationMs);
      if (fsyncChannel.hasSubscribers) {
        fsyncChannel.publish({ dir: this.#givenDir, records: batch.records.length, bytes, durationMs });
      }
    }
    this.#inflight = undefined;
    // A compaction may have failed meanwhile; this batch still reached the disk, so its callers
    // are answered, but the manager stays stopped and shows the durable state.
    if (this.#failure !== undefined) this.#accepted = this.#durable;
    for (const waiter of batch.waiters) waiter.resolve();
    this.#notifyIdle();
    this.#scheduleFlush();
  }

  /**
   * Fail-stop: reject everything pending, refuse everything later, never retry the fsync. Called
   * again for a batch that was in flight when another step failed: its callers are rejected too.
   */
  #fail(err: unknown, stage: FailureStage, batch?: Batch): void {
    if (this.#failure === undefined) {
      this.#failure = err;
      if (this.#timer !== undefined) clearInterval(this.#timer);
      if (failureChannel.hasSubscribers) {
        failureChannel.publish({ dir: this.#givenDir, error: err, fatal: true, stage });
      }
    }
    // What callers were told is durable stays the truth in memory. What a reload shows of the
    // failed batch is some prefix of its records, in order: none (the durable state), all of it,
    // or any state in between, each one a state that a caller submitted, never one older than the
    // durable state (a torn write keeps whole records up to a sector; the reader stops at the first
    // bad slot). A batch of more than 65,535 records goes out in several writes, each fdatasynced
    // before the next (LogWriter.append): the parts before the failed write are durable, so the
    // prefix includes at least them, though no caller of the batch was answered. After a failed
    // fdatasync the page cache may still hold the failed write (Linux marks it clean), so a reload
    // without a reboot can show all of it while a power cut loses it.
    this.#accepted = this.#durable;
    const error = failedError(this.#failure);
    for (const waiter of [...(batch?.waiters ?? []), ...this.#pending.waiters]) waiter.reject(error);
    this.#pending = newBatch();
    this.#notifyIdle();
  }

  #whenIdle(): Promise<void> {
    if (this.#inflight === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  // ---- compaction ----------------------------------------------------------------------------

  #onInterval(): void {
    if (this.#compacting !== undefined || this.#state !== 'open' || this.#failure !== undefined) return;
    if (this.#durableSeq <= this.#snapshotSeq && this.#retiredLogs.length === 0) return;
    // A failure is recorded by #compact (fail-stop); nothing to report to a caller here.
    this.#compact(false).catch(() => {});
  }

  /** Runs one compaction at a time; `sync()` waits for a running one and then runs its own. */
  async #compact(force: boolean): Promise<void> {
    while (this.#compacting !== undefined) await this.#compacting.catch(() => {});
    if (this.#state === 'closed') throw closedError();
    if (this.#failure !== undefined) throw failedError(this.#failure);
    const covered = this.#durableSeq <= this.#snapshotSeq && this.#retiredLogs.length === 0;
    if (covered && (!force || (this.#snapshotSeq >= 0 && (this.#writer?.recordBytes ?? 0) === 0))) return;
    const run = this.#runCompaction();
    this.#compacting = run;
    try {
      await run;
    } finally {
      this.#compacting = undefined;
    }
  }

  /**
   * One compaction: switch to a new log (if the current one holds records), write the snapshot,
   * remove the logs it covers. Each failure is one of two kinds, decided per step below:
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
  async #runCompaction(): Promise<void> {
    const started = performance.now();
    let rotated = false;
    let covered: number;
    let state: HardState;
    this.#switching = true;
    try {
      await this.#whenIdle();
      if (this.#failure !== undefined) throw failedError(this.#failure);
      covered = this.#durableSeq;
      state = this.#durable;
      const current = this.#writer;
      if (current !== undefined && current.recordBytes > 0) {
        // Switch to a fresh log first, so that updates continue while the snapshot is written.
        // Crash before the new log is durable: the old log still holds everything. The steps of
        // LogWriter.create and what a failure of each one means:
        // - unlink of a stale `.tmp`, create of the `.tmp` (EMFILE, ENOSPC, EDQUOT), its write or
        //   fdatasync of header and zeros, closing it: only the `.tmp` was touched. Abandoned; the
        //   `.tmp` is removed if it was created (best effort: recovery ignores it anyway).
        // - rename of the `.tmp` to its log name, when it fails: rename changes nothing on
        //   failure, so abandoned as above.
        // - rename done, then anything fails (the directory fsync, reopening the new log): the new
        //   log may be durable next to the current one. Fatal.
        const probe = new StepProbe(this.#fs);
        let next: LogWriter;
        try {
          next = await LogWriter.create(probe, this.#dir, covered + 1);
        } catch (err) {
          if (probe.changedDirectory) throw new FatalStep(err, 'new-log');
          await this.#abandon(err, 'new-log', probe);
          throw new AbandonedStep(err);
        }
        this.#writer = next;
        this.#retiredLogs.push(current.path);
        rotated = true;
        try {
          // Every record in the old log was fdatasynced before its caller was answered; a failing
          // close reports an error the kernel could not place. Fatal, to be safe.
          await current.close();
        } catch (err) {
          throw new FatalStep(err, 'close-log');
        }
      }
    } catch (err) {
      if (err instanceof AbandonedStep) throw err.error;
      const fatal = err instanceof FatalStep ? err : new FatalStep(err, 'new-log');
      this.#fail(fatal.error, fatal.stage);
      throw failedError(fatal.error);
    } finally {
      this.#switching = false;
      this.#scheduleFlush();
    }
    if (covered > this.#snapshotSeq || this.#snapshotSeq < 0) {
      // Crash anywhere in here: metadata.json is the old or the new snapshot, complete; the
      // logs still hold every record after the old one (see storage/snapshot-file.ts). Failures of
      // writeSnapshot's steps:
      // - unlink of a stale `metadata.json.tmp`, its create, write, fsync, close: only the temp
      //   was touched; the old snapshot and every log are as they were. Abandoned: the logs
      //   retired above stay in `#retiredLogs`, so the next compaction writes the snapshot again
      //   and removes them then.
      // - rename of the temp over metadata.json, when it fails: nothing changed. Abandoned.
      // - rename done, then the directory fsync fails: fatal (the directory's state is unknown).
      const probe = new StepProbe(this.#fs);
      try {
        await writeSnapshot(probe, this.#dir, { ...state, lastSeq: covered });
      } catch (err) {
        if (!probe.changedDirectory && this.#failure === undefined) {
          await this.#abandon(err, 'snapshot', probe);
          throw err;
        }
        this.#fail(err, 'snapshot');
        throw failedError(err);
      }
      this.#snapshotSeq = covered;
    }
    const retired = this.#retiredLogs;
    this.#retiredLogs = [];
    const probe = new StepProbe(this.#fs);
    try {
      for (const [i, path] of retired.entries()) {
        // Every record in these logs is in the durable snapshot now. A crash before the unlinks
        // are durable leaves them in place; replay skips records the snapshot covers.
        try {
          await probe.unlink(path);
        } catch (err) {
          // A failed unlink removed nothing. The log and those after it stay retired, to be
          // removed by the next compaction (whose directory fsync also makes the unlinks done
          // here durable); the snapshot covers them, the current log does not depend on them.
          this.#retiredLogs.unshift(...retired.slice(i));
          throw err;
        }
      }
      // A failed fsync here: the directory's blocks are in an unknown state. Fatal.
      if (retired.length > 0) await probe.syncDir(this.#dir);
    } catch (err) {
      if (!probe.changedDirectory && this.#failure === undefined) {
        await this.#abandon(err, 'remove-logs', probe);
        throw err;
      }
      this.#fail(err, 'remove-logs');
      throw failedError(err);
    }
    this.#stats.recordCompaction();
    if (compactionChannel.hasSubscribers) {
      compactionChannel.publish({
        dir: this.#givenDir,
        lastSeq: covered,
        durationMs: performance.now() - started,
        rotatedLog: rotated,
      });
    }
  }

  /**
   * A compaction step failed before it changed the directory: count it, publish it as not fatal,
   * remove the temp files it created (best effort; recovery ignores them), keep serving.
   */
  async #abandon(err: unknown, stage: FailureStage, probe: StepProbe): Promise<void> {
    this.#stats.recordCompactionFailure(err);
    if (failureChannel.hasSubscribers) {
      failureChannel.publish({ dir: this.#givenDir, error: err, fatal: false, stage });
    }
    for (const temp of probe.created) await this.#fs.unlink(temp).catch(() => {});
  }

  // ---- closing -------------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    // An open still running replays the calls queued before close() and finishes them.
    await this.#opening.catch(() => {});
    if (this.#timer !== undefined) clearInterval(this.#timer);
    // Pending updates and sync() calls still complete (their callers are awaiting them); new ones
    // are refused. Then no compaction may start any more (`closed`).
    if (this.#failure === undefined) await this.#barrier().catch(() => {});
    await Promise.allSettled([...this.#syncs]);
    while (this.#compacting !== undefined) await this.#compacting.catch(() => {});
    this.#state = 'closed';
    await this.#whenIdle();
    try {
      await this.#writer?.close();
    } finally {
      this.#writer = undefined;
      await this.#lock?.release();
      this.#lock = undefined;
    }
  }
}

/** A compaction step that failed before it changed the directory (already reported), on its way out. */
class AbandonedStep {
  constructor(readonly error: unknown) {}
}

/** A compaction step that failed after it changed the directory: fail-stop, with its stage. */
class FatalStep {
  constructor(
    readonly error: unknown,
    readonly stage: FailureStage,
  ) {}
}

/**
 * The file system as one compaction step sees it, noting whether the step has changed the
 * directory in a way the state depends on: a rename that succeeded (a name now points at a new
 * file) or a directory fsync that was tried (whether or not it failed, the directory's blocks were
 * being written). Also the files it created (its temp files), for the cleanup of an abandoned step.
 * Every call goes to the real file system unchanged.
 */
class StepProbe implements FileSystem {
  readonly #fs: FileSystem;
  changedDirectory = false;
  readonly created: string[] = [];

  constructor(fs: FileSystem) {
    this.#fs = fs;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.#fs.open(path, mode);
    if (mode === 'create') this.created.push(path);
    return handle;
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#fs.readFile(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#fs.rename(from, to);
    this.changedDirectory = true;
    const index = this.created.indexOf(from);
    if (index >= 0) this.created.splice(index, 1);
  }

  unlink(path: string): Promise<void> {
    return this.#fs.unlink(path);
  }

  readdir(dir: string): Promise<string[]> {
    return this.#fs.readdir(dir);
  }

  mkdir(dir: string): Promise<void> {
    return this.#fs.mkdir(dir);
  }

  syncDir(dir: string): Promise<void> {
    this.changedDirectory = true;
    return this.#fs.syncDir(dir);
  }

  stat(path: string): Promise<FileStat> {
    return this.#fs.stat(path);
  }

  openLocked(path: string): Promise<FileHandle | undefined> {
    return this.#fs.openLocked(path);
  }

  probeLock(path: string): Promise<LockProbe> {
    return this.#fs.probeLock(path);
  }
}

/** Metadata placeholders made by `open()`: "whatever is on disk", not a proposal. */
const initialProposals = new WeakSet<Metadata>();

function closedError(): MetadataError {
  return new ManagerStateError('ERR_MANAGER_CLOSED', 'the metadata manager is closed');
}

function failedError(cause: unknown): MetadataError {
  if (cause instanceof ManagerStateError && cause.code === 'ERR_MANAGER_FAILED') return cause;
  const what = cause instanceof Error ? cause.message : String(cause);
  return new ManagerStateError(
    'ERR_MANAGER_FAILED',
    `the metadata manager stopped after a failed write or fsync (${what}); it accepts no more updates`,
    cause,
  );
}
