import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Counters a manager keeps for `stats()`, and the `node:diagnostics_channel` channels it publishes
 * to. Publishing costs nothing when no one subscribes (`hasSubscribers` is checked first).
 */

/** Channel names (a tracing tool subscribes with `diagnostics_channel.subscribe(name, fn)`). */
export const CHANNELS = {
  /** `{ dir, records, bytes, durationMs }` after each durable log write (one fdatasync). */
  fsync: 'raft-metadata:fsync',
  /** `{ dir, lastSeq, durationMs, rotatedLog }` after each compaction. */
  compaction: 'raft-metadata:compaction',
  /** `{ dir, error }` when the manager stops accepting writes (fail-stop). */
  failure: 'raft-metadata:failure',
} as const;

export const fsyncChannel = diagnosticsChannel.channel(CHANNELS.fsync);
export const compactionChannel = diagnosticsChannel.channel(CHANNELS.compaction);
export const failureChannel = diagnosticsChannel.channel(CHANNELS.failure);

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
  /** Bytes of records in the current log (header and zero-fill excluded). */
  readonly logBytes: number;
}

export const LATENCY_WINDOW = 1024;

export class StatsRecorder {
  updatesAcknowledged = 0;
  fsyncs = 0;
  bytesAppended = 0;
  compactions = 0;
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
      logBytes,
    };
  }
}
