import type { Waiter } from './commit-queue.js';

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
 * - the open: `opening` → `open` in the same synchronous step that validates the proposal and
 *   replays the queue (so no call can come between them); `opening`/`open` → `failed` if the open
 *   throws (the queue is rejected with its error);
 * - the first `close()`: every state → `closing` (an open still running goes on: the calls queued
 *   before close() are replayed and finish); the shutdown → `closed` once every pending call and
 *   compaction is done, before the log is closed and the lock released.
 *
 * Fail-stop after the open (a failed write or fsync of records, a compaction step that failed after
 * it changed the directory) is the commit queue's `stopped`, not a state: the manager stays `open`
 * (it still answers `get()`/`stats()`/`close()`) and refuses updates with `ERR_MANAGER_FAILED`. An
 * abandoned compaction changes neither.
 */
export type Lifecycle = 'opening' | 'open' | 'failed' | 'closing' | 'closed';

/** A call made while the manager was `opening`: started, in order, once the proposal is validated. */
interface QueuedCall extends Waiter {
  start(): Promise<void>;
}

/** The calls made while `opening`, in call order. */
export class OpeningQueue {
  #calls: QueuedCall[] = [];

  /** Queues `start` to run after the open; the promise settles with its result. */
  defer(start: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#calls.push({ start, resolve, reject }));
  }

  /** Starts the queued calls, in call order, in one synchronous step. */
  replay(): void {
    const calls = this.#calls;
    this.#calls = [];
    for (const call of calls) {
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

  rejectAll(err: unknown): void {
    const calls = this.#calls;
    this.#calls = [];
    for (const call of calls) call.reject(err);
  }
}
