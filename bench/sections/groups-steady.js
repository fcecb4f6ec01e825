/**
 * Many Raft groups (issue 12) at steady state: one MetadataStore with 10,000 groups and the default
 * `flushIntervalMs` (1 s, proportional compaction), `WRITERS` concurrent loops each updating a
 * random group (`updateCurrentTerm` with that group's next term, taken at call time, so no update
 * is refused) for `max(STEADY_MIN_MS, 2 * BENCH_MS)` per round. Two measurements from each run:
 *
 * - Bytes written per update: every byte the library handed to the file system (a counting
 *   FileSystem around NodeFileSystem counts the bytes of every handle `write` and `writeDurable`:
 *   log records, the zeros that extend a log, a new log's zero-fill and header, snapshots, the lock
 *   file), divided by the updates acknowledged in the window (from `stats()`), against the 48-byte
 *   record. (Bytes handed to the kernel, not what the disk writes: `/proc/self/io`'s `write_bytes`
 *   is no help on this VM, it grows by 1 MiB for every 48-byte pwrite+fdatasync even in a bare loop.)
 * - Update latency during a compaction against without: every compaction publishes its duration on
 *   the `raft-metadata:compaction` channel when it ends, which gives its window; an update is
 *   "during" when it was issued inside a window, "without" otherwise. p99 of each.
 * - The p99 of all updates against the same run with compaction off (see measureGroupsSteady).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CHANNELS, MetadataStore, NodeFileSystem, subscribeChannel } from '../../dist/index.js';
import { CountingFileSystem } from '../lib/counting-fs.js';
import { quantileSorted } from '../lib/stats.js';

export const STEADY_GROUPS = 10_000;
export const WRITERS = 64;
const STEADY_MIN_MS = 4000;
const RECORD_BYTES = 48;

function quantiles(values) {
  const sorted = Float64Array.from(values).sort();
  return {
    samples: sorted.length,
    p50Us: quantileSorted(sorted, 0.5),
    p99Us: quantileSorted(sorted, 0.99),
    maxUs: sorted.length > 0 ? sorted[sorted.length - 1] : undefined,
  };
}

async function steadyRound(state, ms) {
  const { store, counting, handles, terms } = state;
  const windows = [];
  const unsubscribe = subscribeChannel(CHANNELS.compaction, (event) => {
    if (event.dir === state.dir) windows.push([performance.now() - event.durationMs, performance.now()]);
  });
  const issued = [];
  const latencies = [];
  const before = store.stats();
  const fsBefore = counting.snapshot();
  const start = performance.now();
  const deadline = start + ms;
  const loop = async () => {
    while (performance.now() < deadline) {
      const g = Math.floor(Math.random() * STEADY_GROUPS);
      const term = ++terms[g];
      const t = performance.now();
      await handles[g].updateCurrentTerm(term);
      issued.push(t);
      latencies.push((performance.now() - t) * 1000);
    }
  };
  try {
    await Promise.all(Array.from({ length: WRITERS }, loop));
  } finally {
    unsubscribe();
  }
  const elapsedMs = performance.now() - start;
  const after = store.stats();
  const fsAfter = counting.snapshot();
  const updates = after.updatesAcknowledged - before.updatesAcknowledged;
  const bytes = fsAfter.bytesWritten - fsBefore.bytesWritten;
  const recordBytes = after.bytesAppended - before.bytesAppended;
  const tempBytes = fsAfter.bytesWrittenTemp - fsBefore.bytesWrittenTemp;
  const during = [];
  const without = [];
  for (let i = 0; i < issued.length; i++) {
    const t = issued[i];
    const inside = windows.some(([from, to]) => t >= from && t < to);
    (inside ? during : without).push(latencies[i]);
  }
  return {
    elapsedMs,
    updates,
    opsPerSec: updates / (elapsedMs / 1000),
    bytesWritten: bytes,
    bytesPerUpdate: updates > 0 ? bytes / updates : undefined,
    recordBytes,
    /** Written to `.tmp` files: new logs (zeros, header) and snapshots, before their rename. */
    tempBytes,
    /** Zeros written into the current log to extend it, and anything else outside records and temp files. */
    otherBytes: bytes - recordBytes - tempBytes,
    compactions: after.compactions - before.compactions,
    compactionMs: windows.map(([from, to]) => to - from),
    fsyncs: after.fsyncs - before.fsyncs,
    recordsPerFsync: after.fsyncs > before.fsyncs ? updates / (after.fsyncs - before.fsyncs) : undefined,
    all: quantiles(latencies),
    during: quantiles(during),
    without: quantiles(without),
    duringToWithoutP99: during.length > 0 ? quantiles(during).p99Us / quantiles(without).p99Us : undefined,
  };
}

async function steadyStore(dir, flushIntervalMs) {
  const counting = new CountingFileSystem(new NodeFileSystem());
  const store = await MetadataStore.open(dir, { fs: counting, flushIntervalMs });
  const state = {
    dir,
    store,
    counting,
    handles: Array.from({ length: STEADY_GROUPS }, (_, id) => store.group(id)),
    terms: new Float64Array(STEADY_GROUPS).fill(1),
  };
  // Setup, untimed: every group exists and is in the snapshot.
  await Promise.all(state.handles.map((g) => g.updateCurrentTerm(1)));
  await store.sync();
  return state;
}

/**
 * Each round runs the store with the default interval, then (side by side, same workload, its own
 * directory) a store with compaction off (`flushIntervalMs: 0`): the p99 of all updates of each,
 * so that what compaction costs the tail is measured whole, wherever its work falls (inside the
 * compaction's window or, like the next log's spare, between them).
 */
export async function measureGroupsSteady(runDir, { ms, rounds, log }) {
  const on = await steadyStore(join(runDir, 'groups-steady'), undefined);
  const off = await steadyStore(join(runDir, 'groups-steady-off'), 0);
  const steadyMs = Math.max(STEADY_MIN_MS, 2 * ms);
  try {
    // Warm-up: one untimed window each, so that the log sizes reach their steady state.
    await steadyRound(on, Math.min(2000, steadyMs));
    await steadyRound(off, Math.min(2000, steadyMs));
    const results = [];
    for (let round = 0; round < rounds; round++) {
      const r = await steadyRound(on, steadyMs);
      const o = await steadyRound(off, steadyMs);
      r.compactionOff = { opsPerSec: o.opsPerSec, all: o.all };
      r.allToOffP99 = r.all.p99Us / o.all.p99Us;
      results.push(r);
      log(
        `  round ${round + 1}: ${Math.round(r.opsPerSec)} updates/s, ${r.bytesPerUpdate?.toFixed(1)} bytes/update, ` +
          `${r.compactions} compactions, p99 ${Math.round(r.during.p99Us ?? 0)} us during (${r.during.samples}) / ` +
          `${Math.round(r.without.p99Us)} us without; all ${Math.round(r.all.p99Us)} us / ` +
          `${Math.round(o.all.p99Us)} us with compaction off (${Math.round(o.opsPerSec)} updates/s)`,
      );
    }
    return { groups: STEADY_GROUPS, writers: WRITERS, steadyMs, recordBytes: RECORD_BYTES, rounds: results };
  } finally {
    for (const s of [on, off]) {
      await s.store.close();
      await s.counting.dispose();
    }
  }
}
