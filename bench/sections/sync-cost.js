/**
 * The cost of `sync()` (one compaction: rotate the log, write the snapshot, remove the old log) on
 * an idle manager after a tail of updates, with the file-system calls it makes.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MetadataManager, NodeFileSystem } from '../../dist/index.js';
import { CountingFileSystem } from '../lib/counting-fs.js';
import { LatencyRecorder, median } from '../lib/stats.js';

export async function measureSyncCost(runDir, rounds) {
  const counting = new CountingFileSystem(new NodeFileSystem());
  const manager = await MetadataManager.open(join(runDir, 'sync-cost'), { fs: counting, flushIntervalMs: 0 });
  const tail = 100;
  const samples = Math.max(10, rounds * 10);
  const latency = new LatencyRecorder();
  const calls = [];
  let term = 0;
  try {
    for (let i = 0; i < samples + 2; i++) {
      await Promise.all(Array.from({ length: tail }, () => manager.updateCurrentTerm(++term)));
      const before = counting.snapshot();
      const t = performance.now();
      await manager.sync();
      const us = (performance.now() - t) * 1000;
      const after = counting.snapshot();
      if (i < 2) continue; // the first compactions create the first snapshot: warm-up
      latency.add(us);
      calls.push(Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]])));
    }
  } finally {
    await manager.close();
    await counting.dispose();
  }
  const s = latency.summary();
  return {
    samples: s.samples,
    tailRecords: tail,
    p50Us: s.p50,
    p99Us: s.p99,
    maxUs: s.max,
    durableCallsPerSync: median(calls.map((c) => c.durable)),
    callsPerSync: calls[0],
  };
}
