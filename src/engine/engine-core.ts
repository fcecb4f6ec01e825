import type { LogRecord } from '../format/record.js';
import type { FileSystem } from '../fs/types.js';
import { failureChannel, fsyncChannel, StatsRecorder } from '../stats.js';
import type { DirectoryLock } from '../storage/lock.js';
import { CommitQueue } from './commit-queue.js';
import { Compactor, type CompactorContext } from './compactor.js';
import type { GroupTable } from './group-table.js';
import type { Resumed } from './resume.js';

/** What a facade (MetadataManager, MetadataStore) does at the points the core leaves to it. */
export interface CoreHooks {
  /** Applies one record of a durable batch to the facade's table (in batch order). */
  apply(record: LogRecord): void;
  /**
   * The queue has stopped (fail-stop), or a batch became durable after it did: what callers were
   * told is durable is the truth in memory from now on (see CommitQueue.fail).
   */
  showDurable(): void;
}

/** The compactor's context that differs between the facades; the core supplies the rest. */
export type CompactorSettings = Pick<CompactorContext, 'trigger' | 'isClosed' | 'mayRunOnInterval'>;

/**
 * The engine both facades run on once their directory is open: one commit queue (group commit,
 * fail-stop), its stats and diagnostics, the compactor, the sync() calls in flight, and the
 * shutdown. MetadataManager (group 0, the seed's form and its `opening` lifecycle) and
 * MetadataStore (many groups) differ only in how they validate updates and keep their tables.
 */
export class EngineCore {
  readonly queue: CommitQueue;
  readonly stats = new StatsRecorder();
  #compactor: Compactor | undefined;
  readonly #givenDir: string;
  /** sync() calls started and not settled: close() waits for them. */
  readonly #syncs = new Set<Promise<void>>();

  constructor(givenDir: string, lastSeq: number, hooks: CoreHooks) {
    this.#givenDir = givenDir;
    this.queue = new CommitQueue(lastSeq, {
      committed: (batch, bytes, durationMs) => {
        for (const record of batch) hooks.apply(record);
        this.stats.recordFsync(batch.length, bytes, durationMs);
        if (fsyncChannel.hasSubscribers) {
          fsyncChannel.publish({ dir: this.#givenDir, records: batch.length, bytes, durationMs });
        }
        // A compaction may have failed meanwhile: this batch reached the disk, so its callers are
        // answered, but the engine stays stopped and shows the durable state.
        if (this.queue.stopped) hooks.showDurable();
      },
      stopped: (error, stage, first) => {
        if (first) {
          this.#compactor?.stopInterval();
          if (failureChannel.hasSubscribers) {
            failureChannel.publish({ dir: this.#givenDir, error, fatal: true, stage });
          }
        }
        hooks.showDurable();
      },
    });
  }

  /** Makes the compactor for the directory the open resumed (its writer is the queue's already). */
  startCompactor(
    fs: FileSystem,
    dir: string,
    table: GroupTable,
    resumed: Resumed,
    settings: CompactorSettings,
  ): Compactor {
    const compactor = new Compactor(
      {
        fs,
        dir,
        givenDir: this.#givenDir,
        queue: this.queue,
        stats: this.stats,
        directoryId: resumed.directoryId,
        identity: resumed.identity,
        table,
        ...settings,
      },
      resumed.snapshotSeq,
      resumed.retiredLogs,
    );
    this.#compactor = compactor;
    return compactor;
  }

  /**
   * sync() once started: everything accepted so far becomes durable, then a compaction. Tracked
   * until it settles, so that {@link shutdown} waits for it.
   */
  sync(): Promise<void> {
    this.queue.assertWritable();
    const compactor = this.#compactor;
    const run = this.queue.barrier().then(() => compactor?.compact(true));
    this.#syncs.add(run);
    const forget = (): void => {
      this.#syncs.delete(run);
    };
    run.then(forget, forget);
    return run;
  }

  /**
   * close()'s work once no call may start any more: pending updates and sync() calls still
   * complete (their callers are awaiting them), then no compaction may start (`markClosed`), the
   * spare goes, the log is closed and the lock released.
   */
  async shutdown(markClosed: () => void, lock: DirectoryLock | undefined): Promise<void> {
    this.#compactor?.stopInterval();
    if (!this.queue.stopped) await this.queue.barrier().catch(() => {});
    await Promise.allSettled([...this.#syncs]);
    await this.#compactor?.settle();
    await this.#compactor?.dispose();
    markClosed();
    await this.queue.whenIdle();
    try {
      await this.queue.writer?.close();
    } finally {
      this.queue.writer = undefined;
      await lock?.release();
    }
  }

  /** An open that failed after the directory was resumed: let a batch in flight end, close, unlock. */
  async abandonOpen(lock: DirectoryLock | undefined): Promise<void> {
    await this.#compactor?.settle();
    await this.#compactor?.dispose();
    await this.queue.whenIdle();
    await this.queue.writer?.close().catch(() => {});
    this.queue.writer = undefined;
    await lock?.release().catch(() => {});
  }
}
