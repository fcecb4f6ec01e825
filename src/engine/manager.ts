import { resolve } from 'node:path';
import { InvalidArgumentError, RaftRuleError } from '../errors.js';
import type { LogRecord } from '../format/record.js';
import { defaultFileSystem } from '../fs/default.js';
import type { FileSystem } from '../fs/types.js';
import { type NodeIdentity, validateIdentity } from '../identity.js';
import { Metadata, makeMetadata } from '../metadata.js';
import { applyUpdate, type HardState, NONE_SERVER_ID, UpdateKind, validateCount } from '../state.js';
import type { ManagerStats } from '../stats.js';
import type { DirectoryLock } from '../storage/lock.js';
import type { CommitQueue } from './commit-queue.js';
import { CompactionTrigger } from './compactor.js';
import { EngineCore } from './engine-core.js';
import { closedError } from './engine-errors.js';
import { GroupTable } from './group-table.js';
import { type Lifecycle, OpeningQueue } from './lifecycle.js';
import { resumeDirectory } from './resume.js';

/** Options of {@link MetadataManager.open} and of the constructor's third argument. */
export interface ManagerOptions {
  /** Compact the log into the snapshot this often when something changed. Default 1000; 0 disables. */
  readonly flushIntervalMs?: number;
  /** File system to use; the real disk (`node:fs`, with an I/O thread) by default. */
  readonly fs?: FileSystem;
  /**
   * Whose directory this is. Stamped into the directory when it is created (or when it has no
   * stamp yet: made without this option, or by 0.1.0), then checked on every open: a directory
   * stamped with another identity is refused with `ERR_IDENTITY_MISMATCH`.
   */
  readonly identity?: NodeIdentity;
  /**
   * Default `true`: a missing or empty directory is created and starts at term 0. `false` refuses
   * it with `ERR_METADATA_NOT_FOUND` and creates nothing: the setting for any node that has run
   * before, so that an unmounted volume or a wrong path never makes it start over at term 0 and
   * vote again in terms it already voted in.
   */
  readonly createIfMissing?: boolean;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 1000;

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

function validateCreateIfMissing(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARG_TYPE',
      `The "createIfMissing" option must be of type boolean. Received type ${typeof value}`,
    );
  }
  return value;
}

/** The options of a manager or a store, checked before any I/O. */
export function validateManagerOptions(
  options: ManagerOptions,
  flushIntervalMs: number,
): { flushIntervalMs: number; identity: NodeIdentity | undefined; createIfMissing: boolean } {
  return {
    flushIntervalMs: validateInterval(options.flushIntervalMs ?? flushIntervalMs),
    identity: validateIdentity(options.identity),
    createIfMissing: validateCreateIfMissing(options.createIfMissing),
  };
}

/** The placeholder `open()` passes to the constructor: "whatever is on disk", not a proposal. */
class WhatIsOnDisk extends Metadata {}

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
 *   current log and retries at the next interval or sync() (see compactor.ts).
 * - One owner: the directory is locked (`LOCK`) until {@link MetadataManager.close}.
 */
export class MetadataManager {
  /** `metadataDir` as the caller wrote it: what `get()` and the diagnostics channels report. */
  readonly #givenDir: string;
  /** `metadataDir` resolved once (`path.resolve`): every file-system call uses this one path. */
  readonly #dir: string;
  readonly #fs: FileSystem;
  readonly #flushIntervalMs: number;
  readonly #identity: NodeIdentity | undefined;
  readonly #createIfMissing: boolean;
  readonly #opening: Promise<void>;
  #state: Lifecycle = 'opening';
  #openError: unknown;
  /** Calls made while `opening`, in call order. */
  readonly #waiting = new OpeningQueue();
  /** The constructor's `initial` (fresh state for `open()`): what `get()` shows until the open is done. */
  readonly #proposed: HardState;
  #lock: DirectoryLock | undefined;
  /** Group commit, fail-stop, stats, compaction, sync() and shutdown (shared with MetadataStore). */
  readonly #core: EngineCore;
  /** The core's commit queue; holds the durable state and the log being appended to. */
  readonly #queue: CommitQueue;

  /** Latest accepted state (durable or queued). */
  #accepted: HardState;
  /** Group 0's durable state (the only group a manager has), what a compaction snapshots. */
  readonly #table = new GroupTable();
  #nextSeq = 1;
  #closing: Promise<void> | undefined;

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
    const valid = validateManagerOptions(options, flushIntervalMs);
    this.#flushIntervalMs = valid.flushIntervalMs;
    this.#identity = valid.identity;
    this.#createIfMissing = valid.createIfMissing;
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
    this.#core = new EngineCore(this.#givenDir, 0, {
      apply: (record) => this.#table.apply(record),
      showDurable: () => {
        this.#accepted = this.#durable();
      },
    });
    this.#queue = this.#core.queue;
    this.#opening = this.#open(initial instanceof WhatIsOnDisk ? undefined : proposed);
    // The error is kept for every later call; this handler only stops an unhandled rejection.
    this.#opening.catch(() => {});
  }

  /**
   * Opens (creating it if needed) and locks `metadataDir`, recovers its state and returns a ready
   * manager.
   * @throws `ERR_METADATA_LOCKED` if another live manager owns the directory;
   *   `ERR_METADATA_CORRUPT` if its files are damaged or belong to another directory;
   *   `ERR_IDENTITY_MISMATCH` if it is stamped with another `identity`; `ERR_METADATA_NOT_FOUND`
   *   if `createIfMissing` is false and it is missing or empty; `ERR_MULTI_GROUP_DIRECTORY` if it
   *   holds other groups than 0 (a MetadataStore's); a system error if the disk fails.
   */
  static async open(metadataDir: string, options: ManagerOptions = {}): Promise<MetadataManager> {
    const manager = new MetadataManager(
      new WhatIsOnDisk(metadataDir),
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
    return this.#call(() => this.#core.sync());
  }

  /** Counters: updates, fsyncs, batch sizes, fsync latency, bytes, compactions (and abandoned ones), log size. */
  stats(): ManagerStats {
    return this.#core.stats.snapshot(this.#queue.writer?.recordBytes ?? 0);
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
        return this.#waiting.defer(start);
      case 'failed':
        return Promise.reject(this.#openError);
      case 'closing':
      case 'closed':
        return Promise.reject(closedError());
    }
  }

  async #open(proposed: HardState | undefined): Promise<void> {
    try {
      const resumed = await resumeDirectory(this.#fs, this.#dir, {
        createIfMissing: this.#createIfMissing,
        identity: this.#identity,
        multiGroup: false,
      });
      this.#lock = resumed.lock;
      this.#queue.writer = resumed.writer;
      // `#accepted` stays the proposal (what get() shows) until the proposal is validated below.
      this.#table.reset(
        resumed.state.currentTerm !== 0 || resumed.state.votedFor !== NONE_SERVER_ID
          ? resumed.state
          : undefined,
      );
      this.#queue.recovered(resumed.lastSeq);
      this.#nextSeq = resumed.lastSeq + 1;
      const compactor = this.#core.startCompactor(this.#fs, this.#dir, this.#table, resumed, {
        trigger: CompactionTrigger.OnChange,
        isClosed: () => this.#state === 'closed',
        mayRunOnInterval: () => this.#state === 'open' && !this.#queue.stopped,
      });
      // Calls made meanwhile are still queued: this compaction sees only what was on disk.
      if (resumed.mustCompact) await compactor.compact(true);
      // One synchronous step, no await inside: validate the proposal against the recovered state,
      // then start every queued call in call order. A call made at any moment of the open is
      // validated after the proposal and after every call made before it.
      this.#accepted = this.#durable();
      const proposal = proposed === undefined ? [] : this.#propose(proposed);
      if (this.#state === 'opening') this.#state = 'open';
      this.#waiting.replay();
      await Promise.all(proposal);
      if (this.#flushIntervalMs > 0 && this.#state === 'open') compactor.startInterval(this.#flushIntervalMs);
    } catch (err) {
      this.#openError = err;
      if (this.#state === 'opening' || this.#state === 'open') this.#state = 'failed';
      this.#waiting.rejectAll(err);
      // A batch of replayed calls may still be on its way to disk (a proposal failed by a write
      // error rejects everything pending, not what is in flight): let it end before closing.
      await this.#core.abandonOpen(this.#lock);
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

  // ---- updates -------------------------------------------------------------------------------

  /** Validates against the latest accepted state and queues the record; resolves when durable. */
  #submit(kind: UpdateKind, value: number): Promise<void> {
    this.#queue.assertWritable();
    const next = applyUpdate(this.#accepted, kind, value);
    if (next === undefined) return this.#queue.barrier();
    this.#accepted = next;
    const record: LogRecord = {
      kind,
      batchIndex: 0,
      seq: this.#nextSeq++,
      group: 0,
      currentTerm: next.currentTerm,
      votedFor: next.votedFor,
    };
    return this.#queue.enqueue(record);
  }

  /** Group 0's durable state. */
  #durable(): HardState {
    return this.#table.stateOf(0);
  }

  // ---- closing -------------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    // An open still running replays the calls queued before close() and finishes them.
    await this.#opening.catch(() => {});
    await this.#core.shutdown(() => {
      this.#state = 'closed';
    }, this.#lock);
    this.#lock = undefined;
  }
}
