// @ts-check
// Prometheus metrics for raft-metadata with prom-client (a dependency of your application, not of
// raft-metadata). `node examples/metrics-prometheus.js` opens a node in a temporary directory,
// makes a few updates and prints what a scrape of /metrics would return.
//
// In your node:
//   const metrics = raftMetadataMetrics({ registry, stats: () => manager.stats() });
//   ... serve `await registry.metrics()` on /metrics; at shutdown `metrics.close()`.
//
// Counters and histograms come from the library's diagnostics channels, one event per fsync,
// compaction or failure, so they keep counting across a manager that is closed and reopened (a
// counter must never go down). The log size is a gauge read from `stats()` at scrape time.
// The names follow etcd's: raft_metadata_fsync_duration_seconds is the counterpart of
// etcd_disk_wal_fsync_duration_seconds, with the same buckets (1 ms to 8 s). Every manager in the
// process is counted together; run several (multi-Raft) and you may want a `dir` label.
import { fileURLToPath } from 'node:url';
import { Counter, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import { CHANNELS, subscribeChannel } from 'raft-metadata';

/**
 * Registers raft-metadata's metrics in `registry` and starts feeding them.
 *
 * @param {object} [options]
 * @param {Registry} [options.registry] where to register (default: a new registry)
 * @param {() => import('raft-metadata').ManagerStats | undefined} [options.stats] the current
 *   manager's stats, read at each scrape (return undefined while no manager is open)
 * @returns {{ registry: Registry, close(): void }} `close` unsubscribes and unregisters
 */
export function raftMetadataMetrics({ registry = new Registry(), stats } = {}) {
  const registers = [registry];
  const fsyncDuration = new Histogram({
    name: 'raft_metadata_fsync_duration_seconds',
    help: 'Latency of one durable log write (write + fdatasync) in seconds.',
    buckets: exponentialBuckets(0.001, 2, 14),
    registers,
  });
  const batchSize = new Histogram({
    name: 'raft_metadata_fsync_batch_size',
    help: 'Updates made durable by one fsync (group commit).',
    buckets: exponentialBuckets(1, 2, 9),
    registers,
  });
  const updates = new Counter({
    name: 'raft_metadata_updates_acknowledged_total',
    help: 'Term and vote updates acknowledged after their record was durable.',
    registers,
  });
  const appended = new Counter({
    name: 'raft_metadata_log_appended_bytes_total',
    help: 'Bytes of records appended to the log.',
    registers,
  });
  const compactions = new Counter({
    name: 'raft_metadata_compactions_total',
    help: 'Compactions: snapshot written and durable, older logs removed.',
    registers,
  });
  const compactionDuration = new Histogram({
    name: 'raft_metadata_compaction_duration_seconds',
    help: 'Duration of one compaction in seconds.',
    buckets: exponentialBuckets(0.001, 2, 14),
    registers,
  });
  const failures = new Counter({
    name: 'raft_metadata_failures_total',
    help: 'Managers that stopped accepting writes after an I/O error (fail-stop), by error code.',
    labelNames: ['code'],
    registers,
  });
  const compactionFailures = new Counter({
    name: 'raft_metadata_compaction_failures_total',
    help: 'Compactions abandoned before they changed anything (the manager kept serving), by step and error code.',
    labelNames: ['stage', 'code'],
    registers,
  });
  // Registered in `registry`; prom-client calls collect() at each scrape.
  new Gauge({
    name: 'raft_metadata_log_bytes',
    help: 'Bytes of records in the current log (compaction resets it).',
    registers,
    collect() {
      const current = stats?.();
      if (current !== undefined) this.set(current.logBytes);
    },
  });

  const names = [
    'raft_metadata_fsync_duration_seconds',
    'raft_metadata_fsync_batch_size',
    'raft_metadata_updates_acknowledged_total',
    'raft_metadata_log_appended_bytes_total',
    'raft_metadata_compactions_total',
    'raft_metadata_compaction_duration_seconds',
    'raft_metadata_failures_total',
    'raft_metadata_compaction_failures_total',
    'raft_metadata_log_bytes',
  ];

  const unsubscribe = [
    subscribeChannel(CHANNELS.fsync, ({ records, bytes, durationMs }) => {
      fsyncDuration.observe(durationMs / 1000);
      batchSize.observe(records);
      updates.inc(records);
      appended.inc(bytes);
    }),
    subscribeChannel(CHANNELS.compaction, ({ durationMs }) => {
      compactions.inc();
      compactionDuration.observe(durationMs / 1000);
    }),
    subscribeChannel(CHANNELS.failure, ({ error, fatal, stage }) => {
      // fatal: the manager stopped (page someone). Not fatal: a compaction was abandoned and will
      // be retried; worth a warning when it keeps happening (a full disk, too many open files).
      if (fatal) failures.inc({ code: errorCode(error) });
      else compactionFailures.inc({ stage, code: errorCode(error) });
    }),
  ];
  // A failure of each code shows as 0 before it happens, so that alerts and rate() see the series.
  failures.inc({ code: 'EIO' }, 0);

  return {
    registry,
    close() {
      for (const stop of unsubscribe) stop();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

/** @param {unknown} error */
function errorCode(error) {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' ? code : 'unknown';
}

// ---- `node examples/metrics-prometheus.js` ------------------------------------------------------

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { MetadataManager } = await import('raft-metadata');

  const root = await mkdtemp(join(tmpdir(), 'raft-metadata-prometheus-'));
  const manager = await MetadataManager.open(join(root, 'node-1'));
  const metrics = raftMetadataMetrics({ stats: () => manager.stats() });
  try {
    // Eight concurrent updates share fsyncs (group commit); then one more, and a compaction.
    await Promise.all(Array.from({ length: 8 }, (_, i) => manager.updateCurrentTerm(i + 1)));
    await manager.updateVotedFor(3);
    await manager.sync();
    await manager.updateCurrentTerm(9);
    process.stdout.write(await metrics.registry.metrics());
  } finally {
    metrics.close();
    await manager.close();
    await rm(root, { recursive: true, force: true });
  }
}
