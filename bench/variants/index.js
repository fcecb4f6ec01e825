/**
 * Every benchmarked way of making one small update durable. A variant is
 *   { id, label, group, writers, blocksLoop, setup(dir) -> state, run(state, ms) -> result, teardown(state) }
 * where `result` is { ops, elapsedMs, latency: LatencyRecorder, batch?, extra? }. Each run gets a
 * fresh directory; setup and teardown are not timed.
 */
import { groupCommitAblation } from './ablation.js';
import { cFloor, ioThread, nodeCallback, nodePromises, nodeSync } from './floors.js';
import { WRITER_COUNTS } from './ids.js';
import { loadPeers } from './peers.js';
import { raft } from './raft.js';

/** Every variant, in the order the tables list them. `cBinary` is the compiled C floor or undefined. */
export async function allVariants({ cBinary, log }) {
  const variants = [];
  if (cBinary !== undefined) {
    variants.push(cFloor(cBinary, 'append'), cFloor(cBinary, 'inplace'), cFloor(cBinary, 'fallocate'));
  }
  variants.push(
    nodeSync(false),
    nodeSync(true),
    nodePromises(false),
    nodePromises(true),
    nodeCallback(false),
    nodeCallback(true),
    ioThread(false),
    ioThread(true),
  );
  variants.push(...(await loadPeers(log)));
  for (const writers of WRITER_COUNTS) {
    variants.push(
      raft({
        writers,
        id: `raft-${writers}`,
        label: `raft-metadata, ${writers} writer${writers === 1 ? '' : 's'}`,
      }),
    );
  }
  for (const writers of [1, 16]) {
    variants.push(
      raft({
        writers,
        flushIntervalMs: 0,
        id: `raft-${writers}-nocompact`,
        label: `raft-metadata, ${writers} writer${writers === 1 ? '' : 's'}, compaction off`,
        group: 'compaction',
      }),
      raft({
        writers,
        flushIntervalMs: 0,
        compactLoop: true,
        id: `raft-${writers}-syncloop`,
        label: `raft-metadata, ${writers} writer${writers === 1 ? '' : 's'}, sync() back to back`,
        group: 'compaction',
      }),
    );
  }
  for (const writers of [1, 16]) {
    variants.push(groupCommitAblation('immediate', writers), groupCommitAblation('setImmediate', writers));
  }
  return variants;
}
