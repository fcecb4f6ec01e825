import { performance } from 'node:perf_hooks';
import { CURRENT_LAYOUT, type LogRecord } from '../format/record.js';
import type { FailureStage } from '../stats.js';
import type { LogWriter } from '../storage/log-writer.js';
import { failedError } from './engine-errors.js';

/** A caller waiting for its update (or a barrier) to be durable. */
export interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Updates that go to disk in one write and one fdatasync (group commit), and the callers waiting for
 * them: two arrays of functions rather than one object per caller (a burst of 10,000 updates makes
 * 10,000 fewer objects for the collector).
 */
interface Batch {
  readonly records: LogRecord[];
  readonly resolves: (() => void)[];
  readonly rejects: ((err: unknown) => void)[];
}

function newBatch(): Batch {
  return { records: [], resolves: [], rejects: [] };
}

function waitFor(batch: Batch): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    batch.resolves.push(resolve);
    batch.rejects.push(reject);
  });
}

/** What the queue reports to its owner. */
export interface CommitEvents {
  /**
   * A batch is on stable storage, in this order; its callers are answered right after (the owner
   * applies the records to its durable state here).
   */
  committed(records: readonly LogRecord[], bytes: number, durationMs: number): void;
  /** Fail-stop: `first` for the failure that stopped the queue, false for a batch rejected later. */
  stopped(err: unknown, stage: FailureStage, first: boolean): void;
}

/**
 * Where the writer is:
 *
 * | activity    | meaning                                                         |
 * |-------------|-----------------------------------------------------------------|
 * | `idle`      | nothing in flight; an update schedules a write                  |
 * | `scheduled` | a write starts on the next turn of the event loop (setImmediate) |
 * | `writing`   | one write + fdatasync is in flight; new updates join the next    |
 *
 * Independently, a compaction may `hold` the queue while it switches logs: no write starts until
 * `release()` (a write in flight finishes first; `hold()` resolves once it has).
 */
type Activity = 'idle' | 'scheduled' | 'writing';

/**
 * Group commit and fail-stop: records queued by any number of callers go to the log in one write
 * and one fdatasync per batch; every caller is answered only once its record is durable. The first
 * failed write or fdatasync stops the queue for good (never retried, "fsyncgate"): every pending and
 * later caller is rejected with `ERR_MANAGER_FAILED`.
 */
export class CommitQueue {
  /** The log being appended to; replaced by the compactor while it holds the queue. */
  writer: LogWriter | undefined;
  #durableSeq: number;
  #failure: unknown;
  #pending: Batch = newBatch();
  #inflight: Batch | undefined;
  #activity: Activity = 'idle';
  #held = false;
  #idleWaiters: (() => void)[] = [];
  readonly #events: CommitEvents;

  constructor(durableSeq: number, events: CommitEvents) {
    this.#durableSeq = durableSeq;
    this.#events = events;
  }

  /** Sequence number of the last record known to be on stable storage. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /** The error that stopped the queue, if it stopped. */
  get failure(): unknown {
    return this.#failure;
  }

  get stopped(): boolean {
    return this.#failure !== undefined;
  }

  /** The last sequence number recovered from disk, before anything is queued. */
  recovered(durableSeq: number): void {
    this.#durableSeq = durableSeq;
  }

  /** @throws `ERR_MANAGER_FAILED` once the queue has stopped. */
  assertWritable(): void {
    if (this.#failure !== undefined) throw failedError(this.#failure);
  }

  /** Queues a record (already validated); resolves once it is durable. */
  enqueue(record: LogRecord): Promise<void> {
    const batch = this.#pending;
    batch.records.push(record);
    const done = waitFor(batch);
    this.#schedule();
    return done;
  }

  /** Resolves when everything queued so far is durable. */
  barrier(): Promise<void> {
    const batch = this.#pending.records.length > 0 ? this.#pending : this.#inflight;
    if (batch === undefined) return Promise.resolve();
    return waitFor(batch);
  }

  /** Stops new writes from starting; resolves once no write is in flight. */
  hold(): Promise<void> {
    this.#held = true;
    return this.whenIdle();
  }

  /** Lets writes start again (after `hold()`). */
  release(): void {
    this.#held = false;
    this.#schedule();
  }

  /** Resolves once no write is in flight. */
  whenIdle(): Promise<void> {
    if (this.#inflight === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Fail-stop: reject everything pending, refuse everything later, never retry the fsync. Called
   * again for a batch that was in flight when another step failed: its callers are rejected too.
   *
   * What callers were told is durable stays the truth in memory. What a reload shows of the failed
   * batch is some prefix of its records, in order: none (the durable state), all of it, or any state
   * in between, each one a state that a caller submitted, never one older than the durable state (a
   * torn write keeps whole records up to a sector; the reader stops at the first bad slot). A batch
   * of more than 65,535 records goes out in several writes, each fdatasynced before the next
   * (LogWriter.append): the parts before the failed write are durable, so the prefix includes at
   * least them, though no caller of the batch was answered. After a failed fdatasync the page cache
   * may still hold the failed write (Linux marks it clean), so a reload without a reboot can show
   * all of it while a power cut loses it.
   */
  fail(err: unknown, stage: FailureStage, batch?: Batch): void {
    const first = this.#failure === undefined;
    if (first) this.#failure = err;
    this.#events.stopped(err, stage, first);
    const error = failedError(this.#failure);
    for (const reject of [...(batch?.rejects ?? []), ...this.#pending.rejects]) reject(error);
    this.#pending = newBatch();
    this.#notifyIdle();
  }

  #schedule(): void {
    if (this.#activity !== 'idle' || this.#held) return;
    if (this.#pending.resolves.length === 0) return;
    this.#activity = 'scheduled';
    // Wait one turn of the event loop: every caller that is ready now joins this batch, so N
    // concurrent writers cost one fdatasync instead of splitting into a batch of 1 and N-1.
    setImmediate(() => {
      this.#activity = 'idle';
      void this.#write();
    });
  }

  async #write(): Promise<void> {
    if (this.#activity !== 'idle' || this.#held || this.#failure !== undefined) return;
    const batch = this.#pending;
    const writer = this.writer;
    if (batch.resolves.length === 0 || writer === undefined) return;
    this.#pending = newBatch();
    this.#inflight = batch;
    this.#activity = 'writing';
    const started = performance.now();
    try {
      // The records are durable when this resolves; until then no caller has been answered.
      await writer.append(batch.records);
    } catch (err) {
      this.#inflight = undefined;
      this.#activity = 'idle';
      this.fail(err, 'append', batch);
      return;
    }
    const durationMs = performance.now() - started;
    const last = batch.records.at(-1);
    if (last !== undefined) {
      this.#durableSeq = last.seq;
      this.#events.committed(batch.records, batch.records.length * CURRENT_LAYOUT.recordSize, durationMs);
    }
    this.#inflight = undefined;
    this.#activity = 'idle';
    for (const resolve of batch.resolves) resolve();
    this.#notifyIdle();
    this.#schedule();
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
