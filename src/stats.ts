import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';

/**
 * Counters a manager keeps for `stats()`, and the `node:diagnostics_channel` channels it publishes
 * to. Publishing costs nothing when no one subscribes (`hasSubscribers` is checked first).
 *
 * The payload types live here, in one place: the manager's publish calls are checked against them
 * (the channels below only accept their own payload), and subscribers import the same types.
 */

/** Channel names (a tracing tool subscribes with `diagnostics_channel.subscribe(name, fn)`). */
export const CHANNELS = {
  /** {@link FsyncEvent} after each durable log write (one fdatasync). */
  fsync: 'raft-metadata:fsync',
  /** {@link CompactionEvent} after each compaction. */
  compaction: 'raft-metadata:compaction',
  /** {@link FailureEvent} when the manager stops accepting writes (fail-stop), or abandons a compaction. */
  failure: 'raft-metadata:failure',
} as const;

/** `raft-metadata:fsync`: published after each durable log write (one write plus one fdatasync). */
export interface FsyncEvent {
  /** The manager's metadata directory, as given to `open` (or the constructor). */
  readonly dir: string;
  /** Updates made durable by this write (the group commit's batch size, at least 1). */
  readonly records: number;
  /** Bytes of records written (48 per update). */
  readonly bytes: number;
  /** Wall-clock time of the write and its fdatasync, in milliseconds. */
  readonly durationMs: number;
}

/** `raft-metadata:compaction`: published after each compaction (snapshot durable, older logs removed). */
export interface CompactionEvent {
  readonly dir: string;
  /** The sequence number of the last update the new snapshot covers. */
  readonly lastSeq: number;
  /** Wall-clock time of the whole compaction, in milliseconds. */
  readonly durationMs: number;
  /** Whether the compaction started a new log file (false when the log was already empty). */
  readonly rotatedLog: boolean;
}

/**
 * `raft-metadata:failure`: published when the manager stops accepting writes (`fatal: true`,
 * fail-stop; once per manager), and each time a compaction is abandoned before it changed anything
 * (`fatal: false`; the manager goes on serving on its current log and retries later).
 */
export interface FailureEvent {
  readonly dir: string;
  /** What failed: usually a Node system error (`code`, `syscall`, `path`) from a write or fsync. */
  readonly error: unknown;
  /** True when the manager stopped (fail-stop); false for an abandoned compaction. */
  readonly fatal: boolean;
  /** The step that failed. */
  readonly stage: FailureStage;
}

/**
 * Where a failure happened: `append` (a log write + fdatasync of updates), or a compaction step:
 * `new-log` (creating the next log), `close-log` (closing the log it replaced), `snapshot`
 * (writing metadata.json), `remove-logs` (unlinking the logs the snapshot covers).
 */
export type FailureStage = 'append' | 'new-log' | 'close-log' | 'snapshot' | 'remove-logs';

/** The payload each channel carries, by channel name. */
export interface ChannelEvents {
  readonly [CHANNELS.fsync]: FsyncEvent;
  readonly [CHANNELS.compaction]: CompactionEvent;
  readonly [CHANNELS.failure]: FailureEvent;
}

/** A channel name in {@link CHANNELS}. */
export type ChannelName = keyof ChannelEvents;

/**
 * Subscribes `listener` to one of the library's channels, typed by the channel's name, and returns
 * the function that unsubscribes it. The same as `diagnostics_channel.subscribe(name, fn)` (the
 * subscription is held by Node's channel registry, so it works across copies of this package).
 */
export function subscribeChannel<N extends ChannelName>(
  name: N,
  listener: (event: ChannelEvents[N]) => void,
): () => void {
  // Node passes each message as `unknown`; the manager only publishes ChannelEvents[N] on `name`.
  const onMessage = (message: unknown): void => listener(message as ChannelEvents[N]);
  subscribe(name, onMessage);
  return () => {
    unsubscribe(name, onMessage);
  };
}

/** The publishing side of a channel, restricted to its payload type. */
interface PublishChannel<T> {
  readonly hasSubscribers: boolean;
  publish(message: T): void;
}

export const fsyncChannel: PublishChannel<FsyncEvent> = channel(CHANNELS.fsync);
export const compactionChannel: PublishChannel<CompactionEvent> = channel(CHANNELS.compaction);
export const failureChannel: PublishChannel<FailureEvent> = channel(CHANNELS.failure);

/** What `MetadataManager.stats()` returns: a snapshot of cheap counters. */
export interface ManagerStats {
  /** Updates whose promise resolved after their record was durable (no-op updates not counted). */
  readonly updatesAcknowledged: number;
  /** Durable log writes, each one write plus one fdatasync. */
  readonly fsyncs: number;
  /** Updates per fsync: key is the upper bound of a power-of-two bucket (1, 2, 4, ...), value the count. */
  readonly batchSizes: Readonly<Record<string, number>>;
  /** Mean updates per fsync since open. */
  readonly meanBatchSize: number;
  /** Latency of write+fdatasync over the last {@link LATENCY_WINDOW} fsyncs, in milliseconds. */
  readonly fsyncLatencyMs: { readonly p50: number; readonly p99: number; readonly samples: number };
  /** Bytes of records appended to logs since open (zero-fill excluded). */
  readonly bytesAppended: number;
  /** Compactions (snapshot written, older logs removed) since open. */
  readonly compactions: number;
  /** Compactions abandoned since open (a step failed before it changed anything; retried later). */
  readonly compactionFailures: number;
  /**
   * The `code` of the error that made the latest compaction attempt fail (`'ENOSPC'`, `'EMFILE'`...),
   * or undefined when the latest one succeeded or none failed. Cleared by the next success.
   */
  readonly lastCompactionError: string | undefined;
  /** Bytes of records in the current log (header and zero-fill excluded). */
  readonly logBytes: number;
}

export const LATENCY_WINDOW = 1024;

export class StatsRecorder {
  updatesAcknowledged = 0;
  fsyncs = 0;
  bytesAppended = 0;
  compactions = 0;
  compactionFailures = 0;
  lastCompactionError: string | undefined;
  readonly #buckets = new Map<number, number>();
  readonly #latencies = new Float64Array(LATENCY_WINDOW);
  #latencyCount = 0;

  recordFsync(records: number, bytes: number, durationMs: number): void {
    this.fsyncs++;
    this.updatesAcknowledged += records;
    this.bytesAppended += bytes;
    let bucket = 1;
    while (bucket < records) bucket *= 2;
    this.#buckets.set(bucket, (this.#buckets.get(bucket) ?? 0) + 1);
    this.#latencies[this.#latencyCount % LATENCY_WINDOW] = durationMs;
    this.#latencyCount++;
  }

  recordCompaction(): void {
    this.compactions++;
    this.lastCompactionError = undefined;
  }

  recordCompactionFailure(error: unknown): void {
    this.compactionFailures++;
    const code = (error as { code?: unknown } | null | undefined)?.code;
    this.lastCompactionError =
      typeof code === 'string' ? code : error instanceof Error ? error.name : 'UNKNOWN';
  }

  snapshot(logBytes: number): ManagerStats {
    const n = Math.min(this.#latencyCount, LATENCY_WINDOW);
    const sorted = Array.from(this.#latencies.subarray(0, n)).sort((a, b) => a - b);
    const pick = (q: number): number => (n === 0 ? 0 : (sorted[Math.min(n - 1, Math.floor(q * n))] ?? 0));
    const batchSizes: Record<string, number> = {};
    for (const [bucket, count] of [...this.#buckets].sort((a, b) => a[0] - b[0])) {
      batchSizes[String(bucket)] = count;
    }
    return {
      updatesAcknowledged: this.updatesAcknowledged,
      fsyncs: this.fsyncs,
      batchSizes,
      meanBatchSize: this.fsyncs === 0 ? 0 : this.updatesAcknowledged / this.fsyncs,
      fsyncLatencyMs: { p50: pick(0.5), p99: pick(0.99), samples: n },
      bytesAppended: this.bytesAppended,
      compactions: this.compactions,
      compactionFailures: this.compactionFailures,
      lastCompactionError: this.lastCompactionError,
      logBytes,
    };
  }
}
