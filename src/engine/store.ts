import { resolve } from 'node:path';
import { InvalidArgumentError, RaftRuleError } from '../errors.js';
import type { LogRecord } from '../format/record.js';
import { defaultFileSystem } from '../fs/default.js';
import type { FileSystem } from '../fs/types.js';
import { type NodeIdentity, validateIdentity } from '../identity.js';
import { Metadata, makeMetadata } from '../metadata.js';
import {
  applyUpdate,
  type HardState,
  NONE_SERVER_ID,
  RecordKind,
  UpdateKind,
  validateCount,
} from '../state.js';
import type { ManagerStats } from '../stats.js';
import type { DirectoryLock } from '../storage/lock.js';
import { assertIdentity, recoverDirectory } from '../storage/recovery.js';
import type { CommitQueue } from './commit-queue.js';
import { CompactionTrigger } from './compactor.js';
import { EngineCore } from './engine-core.js';
import { closedError } from './engine-errors.js';
import { GroupTable } from './group-table.js';
import { DEFAULT_FLUSH_INTERVAL_MS, type ManagerOptions, validateManagerOptions } from './manager.js';
import { resumeDirectory } from './resume.js';

/** Options of {@link MetadataStore.open}: the manager's (`flushIntervalMs`, `fs`, `identity`, `createIfMissing`). */
export type StoreOptions = ManagerOptions;

/** Options of {@link MetadataStore.load}. */
export interface StoreLoadOptions {
  readonly fs?: FileSystem;
  /** When given, the directory's stamped identity must be this one. */
  readonly identity?: NodeIdentity;
}

/** {@link MetadataStore.stats}: the manager's counters, for the whole store, and the group counts. */
export interface StoreStats extends ManagerStats {
  /** Live groups (updated at least once, not removed). */
  readonly groups: number;
  /** Removed groups whose last term is kept (tombstones). */
  readonly removedGroups: number;
}

/** A group's state as the store accepted it: live, removed (a tombstone), or never used. */
interface GroupState extends HardState {
  readonly status: 'live' | 'removed' | 'fresh';
}

/**
 * An accepted change of a group that is not durable yet: the record that carries it, which is
 * also the group's accepted state, and once durable its entry in the table (one object per update).
 */
interface PendingChange extends LogRecord, GroupState {
  readonly status: 'live' | 'removed';
}

type StoreLifecycle = 'open' | 'closing' | 'closed';

/**
 * The hard state of many Raft groups (a multi-Raft node: one per shard or range) in one directory:
 * one log, one lock, one snapshot. Updates of any groups that arrive together share one write and
 * one fdatasync. Each group follows the manager's rules on its own: its updates are validated in
 * call order against its latest accepted state. Fail-stop is store-wide: a failed write or fsync
 * stops every group.
 *
 * - `group(id)` is a handle, no I/O: a group is term 0 with no vote until its first update.
 * - `removeGroup(id)` is durable and keeps the group's last term (a tombstone): a later update of
 *   the group resumes from that term with no vote, and a vote in that very term is refused
 *   (`ERR_VOTE_CONFLICT`), since the group may have voted in it before it was removed.
 * - Compaction writes every group into the snapshot once the log holds as many bytes as the last
 *   snapshot (checked every `flushIntervalMs`), and on `sync()`.
 */
export class MetadataStore {
  readonly #givenDir: string;
  readonly #dir: string;
  readonly #fs: FileSystem;
  readonly #lock: DirectoryLock;
  readonly #queue: CommitQueue;
  readonly #table: GroupTable;
  /** Group commit, fail-stop, stats, compaction, sync() and shutdown (shared with MetadataManager). */
  readonly #core: EngineCore;
  /** Accepted changes not durable yet, by group: the latest one of each group. */
  readonly #pending = new Map<number, PendingChange>();
  #nextSeq: number;
  #state: StoreLifecycle = 'open';
  #closing: Promise<void> | undefined;

  private constructor(
    givenDir: string,
    dir: string,
    fs: FileSystem,
    lock: DirectoryLock,
    table: GroupTable,
    lastSeq: number,
  ) {
    this.#givenDir = givenDir;
    this.#dir = dir;
    this.#fs = fs;
    this.#lock = lock;
    this.#table = table;
    this.#nextSeq = lastSeq + 1;
    this.#core = new EngineCore(givenDir, lastSeq, {
      apply: (record) => {
        // The records are this store's own PendingChange objects: the table keeps them as entries.
        this.#table.apply(record, record as PendingChange);
        if (this.#pending.get(record.group) === record) this.#pending.delete(record.group);
      },
      // Stopped: what callers were told is durable is the truth in memory (see CommitQueue.fail).
      showDurable: () => this.#pending.clear(),
    });
    this.#queue = this.#core.queue;
  }

  /**
   * Opens (creating it unless `createIfMissing` is false) and locks `dir`, recovers every group
   * and returns a ready store. A directory written by MetadataManager opens with its group 0.
   * @throws the manager's open errors: `ERR_METADATA_LOCKED`, `ERR_LOCK_UNAVAILABLE`,
   *   `ERR_METADATA_CORRUPT`, `ERR_IDENTITY_MISMATCH`, `ERR_METADATA_NOT_FOUND`, system errors.
   */
  static async open(dir: string, options: StoreOptions = {}): Promise<MetadataStore> {
    const given = new Metadata(dir).metadataDir; // validates the path argument
    const valid = validateManagerOptions(options, DEFAULT_FLUSH_INTERVAL_MS);
    const fs = options.fs ?? defaultFileSystem();
    const resolved = resolve(given);
    const resumed = await resumeDirectory(fs, resolved, {
      createIfMissing: valid.createIfMissing,
      identity: valid.identity,
      multiGroup: true,
    });
    const table = new GroupTable(resumed.groups, resumed.removed, resumed.floorTerm);
    const store = new MetadataStore(given, resolved, fs, resumed.lock, table, resumed.lastSeq);
    store.#queue.writer = resumed.writer;
    const compactor = store.#core.startCompactor(fs, resolved, table, resumed, {
      trigger: CompactionTrigger.Proportional,
      isClosed: () => store.#state === 'closed',
      mayRunOnInterval: () => store.#state === 'open' && !store.#queue.stopped,
    });
    try {
      if (resumed.mustCompact) await compactor.compact(true);
    } catch (err) {
      await store.#core.abandonOpen(resumed.lock);
      throw err;
    }
    if (valid.flushIntervalMs > 0) compactor.startInterval(valid.flushIntervalMs);
    return store;
  }

  /**
   * Every live group's state in `dir`, read-only (never writes or creates anything), like
   * `Metadata.load`. Removed groups are left out (`Metadata.load(dir, { group })` gives a removed
   * group's last term).
   */
  static async load(dir: string, options: StoreLoadOptions = {}): Promise<Map<number, Metadata>> {
    const given = new Metadata(dir).metadataDir;
    const identity = validateIdentity(options.identity);
    const recovered = await recoverDirectory(options.fs ?? defaultFileSystem(), resolve(given));
    assertIdentity(given, recovered, identity);
    const out = new Map<number, Metadata>();
    for (const id of [...recovered.groups.keys()].sort((a, b) => a - b)) {
      const state = recovered.groups.get(id) as HardState;
      out.set(id, makeMetadata(given, state.currentTerm, state.votedFor, 0));
    }
    return out;
  }

  /** A handle for group `id` (a safe non-negative integer). No I/O; handles are cheap and stateless. */
  group(id: number): RaftGroup {
    validateCount('group', id);
    return new RaftGroup(this, id);
  }

  /** Ids of the live groups (updated at least once, not removed), ascending. */
  groups(): number[] {
    const ids = new Set(this.#table.live.keys());
    for (const [id, change] of this.#pending) {
      if (change.status === 'live') ids.add(id);
      else ids.delete(id);
    }
    return [...ids].sort((a, b) => a - b);
  }

  /**
   * Removes group `id`, durably, keeping its last term as a tombstone (see the class comment).
   * Resolves once the removal is on stable storage. A group that is not live: nothing to do.
   */
  removeGroup(id: number): Promise<void> {
    validateCount('group', id);
    return this.#call(() => {
      this.#queue.assertWritable();
      const state = this.#accepted(id);
      if (state.status !== 'live') return this.#queue.barrier();
      return this.#enqueue(RecordKind.Remove, 'removed', id, state.currentTerm, NONE_SERVER_ID);
    });
  }

  /** Compacts now: every accepted update becomes durable, then a snapshot of every group. */
  sync(): Promise<void> {
    return this.#call(() => this.#core.sync());
  }

  stats(): StoreStats {
    return {
      ...this.#core.stats.snapshot(this.#queue.writer?.recordBytes ?? 0),
      groups: this.#countAccepted('live'),
      removedGroups: this.#countAccepted('removed'),
    };
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

  // ---- for RaftGroup -------------------------------------------------------------------------

  /** @internal */
  getGroup(id: number): Metadata {
    const state = this.#accepted(id);
    return makeMetadata(this.#givenDir, state.currentTerm, state.votedFor, 0);
  }

  /** @internal */
  update(id: number, kind: UpdateKind, value: number): Promise<void> {
    validateCount(kind === UpdateKind.Term ? 'term' : 'serverId', value);
    return this.#call(() => {
      this.#queue.assertWritable();
      const state = this.#accepted(id);
      if (kind === UpdateKind.Vote && state.status === 'removed' && value !== NONE_SERVER_ID) {
        throw new RaftRuleError(
          'ERR_VOTE_CONFLICT',
          `group ${id} was removed in term ${state.currentTerm} and may have voted in it; refusing a vote for ${value} until the term is raised`,
        );
      }
      let next: HardState | undefined;
      try {
        next = applyUpdate(state, kind, value);
      } catch (err) {
        if (err instanceof RaftRuleError)
          throw new RaftRuleError(ruleCode(err), `group ${id}: ${err.message}`);
        throw err;
      }
      if (next === undefined) return this.#queue.barrier();
      return this.#enqueue(kind, 'live', id, next.currentTerm, next.votedFor);
    });
  }

  // ---- internals -----------------------------------------------------------------------------

  #call(start: () => Promise<void>): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(closedError());
    try {
      return start();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #accepted(id: number): GroupState {
    const pending = this.#pending.get(id);
    if (pending !== undefined) return pending;
    const live = this.#table.live.get(id);
    if (live !== undefined) return live;
    const tombstone = this.#table.removed.get(id);
    if (tombstone !== undefined)
      return { status: 'removed', currentTerm: tombstone, votedFor: NONE_SERVER_ID };
    // Never updated, or not since a repair raised every group no file named: the table's floor.
    return { status: 'fresh', currentTerm: this.#table.floorTerm, votedFor: NONE_SERVER_ID };
  }

  #enqueue(
    kind: RecordKind,
    status: PendingChange['status'],
    group: number,
    currentTerm: number,
    votedFor: number,
  ): Promise<void> {
    const seq = this.#nextSeq++;
    const change: PendingChange = { kind, batchIndex: 0, seq, group, currentTerm, votedFor, status };
    this.#pending.set(group, change);
    return this.#queue.enqueue(change);
  }

  /** Live groups, counted without listing them (stats() is cheap at 100,000 groups). */
  /**
   * Groups in `status` as callers see them: the durable table's count, corrected by the changes
   * still pending (a group created, removed or re-added by an update not yet durable).
   */
  #countAccepted(status: 'live' | 'removed'): number {
    const durableSet = status === 'live' ? this.#table.live : this.#table.removed;
    let count = durableSet.size;
    for (const [id, change] of this.#pending) {
      const durable = durableSet.has(id);
      if (change.status === status && !durable) count++;
      if (change.status !== status && durable) count--;
    }
    return count;
  }

  async #shutdown(): Promise<void> {
    await this.#core.shutdown(() => {
      this.#state = 'closed';
    }, this.#lock);
  }

  /** The resolved directory (for error messages of handles). @internal */
  get dir(): string {
    return this.#dir;
  }

  /** The file system (for tests and tools). @internal */
  get fs(): FileSystem {
    return this.#fs;
  }
}

function ruleCode(err: RaftRuleError): 'ERR_TERM_REGRESSION' | 'ERR_VOTE_CONFLICT' {
  return err.code === 'ERR_TERM_REGRESSION' ? 'ERR_TERM_REGRESSION' : 'ERR_VOTE_CONFLICT';
}

/**
 * One group of a {@link MetadataStore}: the manager's per-node API for that group. Cheap and
 * stateless (the store holds the state); two handles of one id are the same group.
 */
export class RaftGroup {
  readonly #store: MetadataStore;
  readonly id: number;

  /** @internal Use {@link MetadataStore.group}. */
  constructor(store: MetadataStore, id: number) {
    if (!(store instanceof MetadataStore)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'Use store.group(id) to get a RaftGroup');
    }
    this.#store = store;
    this.id = id;
  }

  /** A copy of the group's latest accepted state (term 0, no vote until its first update). */
  get(): Metadata {
    return this.#store.getGroup(this.id);
  }

  /** Sets the group's `currentTerm` (a higher term clears its vote); resolves once durable. */
  updateCurrentTerm(term: number): Promise<void> {
    return this.#store.update(this.id, UpdateKind.Term, term);
  }

  /** Records the group's vote in its current term; resolves once durable. */
  updateVotedFor(serverId: number): Promise<void> {
    return this.#store.update(this.id, UpdateKind.Vote, serverId);
  }
}
