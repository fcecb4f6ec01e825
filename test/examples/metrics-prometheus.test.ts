// examples/metrics-prometheus.js against a real prom-client registry. The example imports the
// package as 'raft-metadata', which resolves to dist/: run `npm run build` first.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type ManagerStats, MetadataManager } from '../../src/index.js';
import { SimulatedDisk } from '../../src/testing/index.js';
import { root } from './typecheck.js';

// The example is JavaScript (checked by typecheck.test.ts); its signature, as its JSDoc gives it:
type RaftMetadataMetrics = (options?: { registry?: Registry; stats?: () => ManagerStats | undefined }) => {
  registry: Registry;
  close(): void;
};
const examplePath = join(root, 'examples', 'metrics-prometheus.js');
const { raftMetadataMetrics } = (await import(pathToFileURL(examplePath).href)) as {
  raftMetadataMetrics: RaftMetadataMetrics;
};

type Metrics = ReturnType<typeof raftMetadataMetrics>;
let open: Metrics | undefined;
afterEach(() => {
  open?.close();
  open = undefined;
});

/** One metric's values from the registry, by label string (`le="4"`, `code="EIO"`, or ''). */
async function values(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const out: Record<string, number> = {};
  for (const { labels, value, metricName } of metric.values as {
    labels: Record<string, string | number>;
    value: number;
    metricName?: string;
  }[]) {
    const suffix = metricName === undefined ? '' : metricName.slice(name.length);
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    out[`${suffix}${key === '' ? '' : `{${key}}`}`] = value;
  }
  return out;
}

/** The cumulative histogram `stats().batchSizes` implies, in prom-client's buckets. */
function cumulative(batchSizes: ManagerStats['batchSizes']): Record<string, number> {
  const out: Record<string, number> = {};
  for (let le = 1; le <= 256; le *= 2) {
    out[`_bucket{le="${le}"}`] = Object.entries(batchSizes)
      .filter(([bucket]) => Number(bucket) <= le)
      .reduce((sum, [, count]) => sum + count, 0);
  }
  return out;
}

describe('examples/metrics-prometheus.js', () => {
  it('counts what stats() counts: fsyncs, batch sizes, updates, bytes, compactions, log size', async () => {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open('/prometheus', { fs: disk, flushIntervalMs: 0 });
    open = raftMetadataMetrics({ registry: new Registry(), stats: () => manager.stats() });
    const { registry } = open;

    await Promise.all(Array.from({ length: 6 }, (_, i) => manager.updateCurrentTerm(i + 1)));
    await manager.updateVotedFor(2);
    await manager.sync();
    await manager.updateCurrentTerm(7);
    const stats = manager.stats();
    expect(stats.updatesAcknowledged).toBe(8);

    const fsyncs = await values(registry, 'raft_metadata_fsync_duration_seconds');
    expect(fsyncs._count).toBe(stats.fsyncs);
    expect(fsyncs['_bucket{le="+Inf"}']).toBe(stats.fsyncs);
    const batches = await values(registry, 'raft_metadata_fsync_batch_size');
    expect(batches).toMatchObject({ ...cumulative(stats.batchSizes), _count: stats.fsyncs, _sum: 8 });
    expect(await values(registry, 'raft_metadata_updates_acknowledged_total')).toEqual({ '': 8 });
    expect(await values(registry, 'raft_metadata_log_appended_bytes_total')).toEqual({
      '': stats.bytesAppended,
    });
    expect(await values(registry, 'raft_metadata_compactions_total')).toEqual({ '': 1 });
    expect((await values(registry, 'raft_metadata_compaction_duration_seconds'))._count).toBe(1);
    expect(await values(registry, 'raft_metadata_log_bytes')).toEqual({ '': 48 }); // one 48-byte record
    expect(await values(registry, 'raft_metadata_failures_total')).toEqual({ '{code="EIO"}': 0 });

    const text = await registry.metrics();
    expect(text).toContain('# TYPE raft_metadata_fsync_duration_seconds histogram');
    expect(text).toContain('raft_metadata_fsync_duration_seconds_bucket{le="0.001"}');
    expect(text).toContain('raft_metadata_fsync_duration_seconds_bucket{le="8.192"}');
    expect(text).toContain('# TYPE raft_metadata_compactions_total counter');
    await manager.close();
  });

  it('a fail-stop counts one failure under its error code, and counters survive a reopen', async () => {
    const disk = new SimulatedDisk();
    let manager = await MetadataManager.open('/prometheus-failure', { fs: disk, flushIntervalMs: 0 });
    open = raftMetadataMetrics({ registry: new Registry(), stats: () => manager.stats() });
    const { registry } = open;
    await manager.updateCurrentTerm(1);
    disk.failNext({ op: 'writeDurable', errno: 'ENOSPC' });
    await expect(manager.updateCurrentTerm(2)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    expect(await values(registry, 'raft_metadata_failures_total')).toEqual({
      '{code="EIO"}': 0,
      '{code="ENOSPC"}': 1,
    });
    await manager.close().catch(() => {});

    manager = await MetadataManager.open('/prometheus-failure', { fs: disk, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(3);
    expect(manager.stats().updatesAcknowledged).toBe(1); // a new manager counts from zero
    expect(await values(registry, 'raft_metadata_updates_acknowledged_total')).toEqual({ '': 2 });
    await manager.close();
  });

  it('an abandoned compaction counts under compaction failures, not as a fail-stop', async () => {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open('/prometheus-abandoned', { fs: disk, flushIntervalMs: 0 });
    open = raftMetadataMetrics({ registry: new Registry(), stats: () => manager.stats() });
    const { registry } = open;
    await manager.updateCurrentTerm(1);
    // The snapshot's temp file cannot be created: the compaction is abandoned, the manager serves on.
    disk.failNext({ op: 'open', errno: 'EMFILE', path: /metadata\.json\.tmp$/ });
    await expect(manager.sync()).rejects.toMatchObject({ code: 'EMFILE' });
    await manager.updateCurrentTerm(2);
    expect(await values(registry, 'raft_metadata_failures_total')).toEqual({ '{code="EIO"}': 0 });
    expect(await values(registry, 'raft_metadata_compaction_failures_total')).toEqual({
      '{stage="snapshot",code="EMFILE"}': 1,
    });
    await manager.close();
  });

  it('close() unsubscribes and unregisters', async () => {
    const registry = new Registry();
    const metrics = raftMetadataMetrics({ registry });
    metrics.close();
    expect(await registry.getMetricsAsJSON()).toEqual([]);
    const manager = await MetadataManager.open('/prometheus-closed', {
      fs: new SimulatedDisk(),
      flushIntervalMs: 0,
    });
    await manager.updateCurrentTerm(1);
    // Registering again works (names are free), and sees only what happens from now on.
    open = raftMetadataMetrics({ registry });
    expect(await values(registry, 'raft_metadata_updates_acknowledged_total')).toEqual({ '': 0 });
    await manager.close();
  });

  it('node examples/metrics-prometheus.js prints a scrape', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [examplePath]);
    expect(stdout).toContain('# TYPE raft_metadata_fsync_duration_seconds histogram');
    expect(stdout).toMatch(/^raft_metadata_updates_acknowledged_total 10$/m);
    expect(stdout).toMatch(/^raft_metadata_compactions_total 1$/m);
    expect(stdout).toMatch(/^raft_metadata_log_bytes 48$/m);
  });
});
