// examples/metrics-opentelemetry.js against the OpenTelemetry SDK with an in-memory reader. The
// example imports the package as 'raft-metadata', which resolves to dist/: run `npm run build` first.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Meter } from '@opentelemetry/api';
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { type ManagerStats, MetadataManager } from '../../src/index.js';
import { SimulatedDisk } from '../../src/testing/index.js';
import { root } from './typecheck.js';

// The example is JavaScript (checked by typecheck.test.ts); its signature, as its JSDoc gives it:
type RaftMetadataInstruments = (options?: { meter?: Meter; stats?: () => ManagerStats | undefined }) => {
  close(): void;
};
const examplePath = join(root, 'examples', 'metrics-opentelemetry.js');
const { raftMetadataInstruments } = (await import(pathToFileURL(examplePath).href)) as {
  raftMetadataInstruments: RaftMetadataInstruments;
};

/** Collects when the test asks, never on a timer. */
class InMemoryReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}

  async byName(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await this.collect();
    expect(errors).toEqual([]);
    return new Map(
      resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => [m.descriptor.name, m])),
    );
  }
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(dir: string) {
  const reader = new InMemoryReader();
  const provider = new MeterProvider({ readers: [reader] });
  cleanup.push(() => provider.shutdown());
  const disk = new SimulatedDisk();
  const manager = await MetadataManager.open(dir, { fs: disk, flushIntervalMs: 0 });
  cleanup.push(() => manager.close().catch(() => {}));
  const instruments = raftMetadataInstruments({
    meter: provider.getMeter('test'),
    stats: () => manager.stats(),
  });
  cleanup.push(() => instruments.close());
  return { reader, disk, manager, instruments };
}

function points(metric: MetricData | undefined): DataPoint<number | Histogram>[] {
  if (metric === undefined) throw new Error('metric missing');
  return metric.dataPoints as DataPoint<number | Histogram>[];
}

const sum = (metric: MetricData | undefined): number =>
  points(metric).reduce((total, point) => total + (point.value as number), 0);
const histogram = (metric: MetricData | undefined): Histogram => {
  const [point] = points(metric);
  if (point === undefined) throw new Error('no data point');
  return point.value as Histogram;
};

describe('examples/metrics-opentelemetry.js', () => {
  it('records what stats() counts: fsyncs, batch sizes, updates, bytes, compactions, log size', async () => {
    const { reader, manager } = await setup('/otel');
    await Promise.all(Array.from({ length: 6 }, (_, i) => manager.updateCurrentTerm(i + 1)));
    await manager.updateVotedFor(2);
    await manager.sync();
    await manager.updateCurrentTerm(7);
    const stats = manager.stats();
    const metrics = await reader.byName();

    const fsync = metrics.get('raft_metadata.fsync.duration');
    expect(fsync?.descriptor.unit).toBe('s');
    expect(histogram(fsync).count).toBe(stats.fsyncs);
    expect(histogram(fsync).buckets.boundaries).toEqual(Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i));

    const batches = histogram(metrics.get('raft_metadata.fsync.batch_size'));
    expect(batches.buckets.boundaries).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    expect(batches.sum).toBe(stats.updatesAcknowledged);
    // OpenTelemetry's buckets are (previous, boundary]: the same as stats().batchSizes' keys.
    const fromStats = batches.buckets.boundaries.map((le) => stats.batchSizes[String(le)] ?? 0);
    expect(batches.buckets.counts.slice(0, -1)).toEqual(fromStats);

    expect(sum(metrics.get('raft_metadata.updates'))).toBe(8);
    expect(sum(metrics.get('raft_metadata.log.appended'))).toBe(stats.bytesAppended);
    expect(sum(metrics.get('raft_metadata.compactions'))).toBe(1);
    expect(histogram(metrics.get('raft_metadata.compaction.duration')).count).toBe(1);
    expect(sum(metrics.get('raft_metadata.log.size'))).toBe(stats.logBytes);
    expect(stats.logBytes).toBe(48); // one 48-byte record
    expect(metrics.has('raft_metadata.failures')).toBe(false); // nothing failed
  });

  it('a fail-stop counts one failure with its error.type', async () => {
    const { reader, disk, manager } = await setup('/otel-failure');
    await manager.updateCurrentTerm(1);
    disk.failNext({ op: 'writeDurable', errno: 'EIO' });
    await expect(manager.updateCurrentTerm(2)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    const failures = points((await reader.byName()).get('raft_metadata.failures'));
    expect(failures.map(({ attributes, value }) => ({ attributes, value }))).toEqual([
      { attributes: { 'error.type': 'EIO' }, value: 1 },
    ]);
  });

  it('close() unsubscribes and stops observing', async () => {
    const { reader, manager, instruments } = await setup('/otel-closed');
    await manager.updateCurrentTerm(1);
    instruments.close();
    await manager.updateCurrentTerm(2);
    const metrics = await reader.byName();
    expect(sum(metrics.get('raft_metadata.updates'))).toBe(1);
    expect(metrics.get('raft_metadata.log.size')?.dataPoints ?? []).toEqual([]);
  });

  it('node examples/metrics-opentelemetry.js prints one collection', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [examplePath]);
    expect(stdout).toMatch(/^raft_metadata\.updates \{update\} \{\} 10$/m);
    expect(stdout).toMatch(/^raft_metadata\.compactions \{compaction\} \{\} 1$/m);
    expect(stdout).toMatch(/^raft_metadata\.log\.size By \{\} 48$/m);
    expect(stdout).toMatch(/^raft_metadata\.fsync\.duration s \{\} \{"count":\d+,"sum":[\d.e-]+\}$/m);
  });
});
