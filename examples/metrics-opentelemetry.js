// @ts-check
// OpenTelemetry metrics for raft-metadata (@opentelemetry/api is a dependency of your application,
// not of raft-metadata; any SDK and exporter work). `node examples/metrics-opentelemetry.js` opens
// a node in a temporary directory, makes a few updates and prints one collection of the metrics.
//
// In your node, once your MeterProvider is set up:
//   const instruments = raftMetadataInstruments({ stats: () => manager.stats() });
//   ... at shutdown `instruments.close()`.
//
// Counters and histograms come from the library's diagnostics channels (one event per fsync,
// compaction or failure); the log size is observed from `stats()` at each collection. The same
// measurements as examples/metrics-prometheus.js, named in OpenTelemetry's style (an exporter to
// Prometheus turns raft_metadata.fsync.duration into raft_metadata_fsync_duration_seconds).
import { fileURLToPath } from 'node:url';
import { metrics, ValueType } from '@opentelemetry/api';
import { CHANNELS, subscribeChannel } from 'raft-metadata';

/** etcd's buckets for WAL fsync latency: 1 ms to 8 s, doubling. */
const SECONDS_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);
/** Updates per fsync: 1 to 256, doubling (the buckets of `stats().batchSizes`). */
const BATCH_BUCKETS = Array.from({ length: 9 }, (_, i) => 2 ** i);

/**
 * Creates raft-metadata's instruments on `meter` and starts feeding them.
 *
 * @param {object} [options]
 * @param {import('@opentelemetry/api').Meter} [options.meter] default: the global meter provider's
 *   `raft-metadata` meter
 * @param {() => import('raft-metadata').ManagerStats | undefined} [options.stats] the current
 *   manager's stats, read at each collection (return undefined while no manager is open)
 * @returns {{ close(): void }} `close` unsubscribes from the channels and stops observing
 */
export function raftMetadataInstruments({ meter = metrics.getMeter('raft-metadata'), stats } = {}) {
  const fsyncDuration = meter.createHistogram('raft_metadata.fsync.duration', {
    description: 'Latency of one durable log write (write + fdatasync).',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const batchSize = meter.createHistogram('raft_metadata.fsync.batch_size', {
    description: 'Updates made durable by one fsync (group commit).',
    unit: '{update}',
    valueType: ValueType.INT,
    advice: { explicitBucketBoundaries: BATCH_BUCKETS },
  });
  const updates = meter.createCounter('raft_metadata.updates', {
    description: 'Term and vote updates acknowledged after their record was durable.',
    unit: '{update}',
    valueType: ValueType.INT,
  });
  const appended = meter.createCounter('raft_metadata.log.appended', {
    description: 'Bytes of records appended to the log.',
    unit: 'By',
    valueType: ValueType.INT,
  });
  const compactions = meter.createCounter('raft_metadata.compactions', {
    description: 'Compactions: snapshot written and durable, older logs removed.',
    unit: '{compaction}',
    valueType: ValueType.INT,
  });
  const compactionDuration = meter.createHistogram('raft_metadata.compaction.duration', {
    description: 'Duration of one compaction.',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const failures = meter.createCounter('raft_metadata.failures', {
    description: 'Managers that stopped accepting writes after an I/O error (fail-stop).',
    unit: '{failure}',
    valueType: ValueType.INT,
  });
  const compactionFailures = meter.createCounter('raft_metadata.compaction.failures', {
    description: 'Compactions abandoned before they changed anything (the manager kept serving).',
    unit: '{failure}',
    valueType: ValueType.INT,
  });
  const logSize = meter.createObservableGauge('raft_metadata.log.size', {
    description: 'Bytes of records in the current log (compaction resets it).',
    unit: 'By',
    valueType: ValueType.INT,
  });
  /** @type {import('@opentelemetry/api').ObservableCallback} */
  const observeLogSize = (result) => {
    const current = stats?.();
    if (current !== undefined) result.observe(current.logBytes);
  };
  logSize.addCallback(observeLogSize);

  const unsubscribe = [
    subscribeChannel(CHANNELS.fsync, ({ records, bytes, durationMs }) => {
      fsyncDuration.record(durationMs / 1000);
      batchSize.record(records);
      updates.add(records);
      appended.add(bytes);
    }),
    subscribeChannel(CHANNELS.compaction, ({ durationMs }) => {
      compactions.add(1);
      compactionDuration.record(durationMs / 1000);
    }),
    subscribeChannel(CHANNELS.failure, ({ error, fatal, stage }) => {
      // `error.type` is OpenTelemetry's attribute for "what went wrong" (here: EIO, ENOSPC, ...).
      if (fatal) failures.add(1, { 'error.type': errorCode(error) });
      else compactionFailures.add(1, { 'error.type': errorCode(error), 'raft_metadata.stage': stage });
    }),
  ];

  return {
    close() {
      for (const stop of unsubscribe) stop();
      logSize.removeCallback(observeLogSize);
    },
  };
}

/** @param {unknown} error */
function errorCode(error) {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' ? code : '_OTHER';
}

// ---- `node examples/metrics-opentelemetry.js` ---------------------------------------------------

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics');
  const { MetadataManager } = await import('raft-metadata');

  /** A reader that collects when asked (a real node uses a periodic reader and an exporter). */
  class OnDemandReader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  const root = await mkdtemp(join(tmpdir(), 'raft-metadata-otel-'));
  const manager = await MetadataManager.open(join(root, 'node-1'));
  const instruments = raftMetadataInstruments({
    meter: provider.getMeter('raft-metadata'),
    stats: () => manager.stats(),
  });
  try {
    // Eight concurrent updates share fsyncs (group commit); then one more, and a compaction.
    await Promise.all(Array.from({ length: 8 }, (_, i) => manager.updateCurrentTerm(i + 1)));
    await manager.updateVotedFor(3);
    await manager.sync();
    await manager.updateCurrentTerm(9);
    const { resourceMetrics } = await reader.collect();
    for (const { metrics: collected } of resourceMetrics.scopeMetrics) {
      for (const { descriptor, dataPoints } of collected) {
        for (const { attributes, value } of dataPoints) {
          const shown = typeof value === 'number' ? value : { count: value.count, sum: value.sum };
          console.log(descriptor.name, descriptor.unit, JSON.stringify(attributes), JSON.stringify(shown));
        }
      }
    }
  } finally {
    instruments.close();
    await manager.close();
    await provider.shutdown();
    await rm(root, { recursive: true, force: true });
  }
}
