/** raft-metadata itself: `writers` concurrent loops over one `MetadataManager`. */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MetadataManager, NodeFileSystem } from '../../dist/index.js';
import { CountingFileSystem } from '../lib/counting-fs.js';
import { driveAsync } from '../lib/drive.js';
import { LatencyRecorder } from '../lib/stats.js';

/**
 * `writers` concurrent loops, each awaiting `updateCurrentTerm` with the next value of a shared
 * counter taken at call time: calls reach the manager in counter order, so no term is refused.
 * `compactLoop` runs `sync()` back to back while the writers run (compaction as often as possible).
 */
export function raft({ writers, flushIntervalMs, compactLoop = false, id, label, group = 'raft' }) {
  return {
    id,
    label,
    group,
    writers,
    blocksLoop: false,
    async setup(dir) {
      const counting = new CountingFileSystem(new NodeFileSystem());
      const options = { fs: counting };
      if (flushIntervalMs !== undefined) options.flushIntervalMs = flushIntervalMs;
      const manager = await MetadataManager.open(join(dir, 'meta'), options);
      // First durable write outside the timed window (starts the I/O thread).
      await manager.updateCurrentTerm(1);
      return { manager, counting, term: 1 };
    },
    async run(state, ms) {
      const { manager, counting } = state;
      const before = counting.snapshot();
      const statsBefore = manager.stats();
      let running = true;
      const syncLatency = new LatencyRecorder();
      const compactor = (async () => {
        if (!compactLoop) return;
        while (running) {
          const t = performance.now();
          await manager.sync();
          syncLatency.add((performance.now() - t) * 1000);
        }
      })();
      const result = await driveAsync(writers, ms, () => manager.updateCurrentTerm(++state.term));
      running = false;
      await compactor;
      const after = counting.snapshot();
      const statsAfter = manager.stats();
      // Record writes only: a compaction's new log is zero-filled under a .tmp name first.
      const logWrites =
        after.writeDurable - after.writeDurableTemp - (before.writeDurable - before.writeDurableTemp);
      const acknowledged = statsAfter.updatesAcknowledged - statsBefore.updatesAcknowledged;
      return {
        ...result,
        batch: logWrites > 0 ? result.ops / logWrites : undefined,
        extra: {
          logWrites,
          durableCalls: after.durable - before.durable,
          statsFsyncs: statsAfter.fsyncs - statsBefore.fsyncs,
          statsAcknowledged: acknowledged,
          statsMeanBatch:
            statsAfter.fsyncs > statsBefore.fsyncs
              ? acknowledged / (statsAfter.fsyncs - statsBefore.fsyncs)
              : undefined,
          compactions: statsAfter.compactions - statsBefore.compactions,
          syncLatency: compactLoop ? syncLatency.summary() : undefined,
        },
      };
    },
    async teardown(state) {
      await state.manager.close();
      await state.counting.dispose();
    },
  };
}
