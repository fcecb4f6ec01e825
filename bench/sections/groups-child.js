/**
 * One measurement of the many-groups sections in a fresh process (a restarting node: cold JIT).
 * Prints one JSON line. Run by bench/sections/groups-open.js:
 *
 *   node groups-child.js store-open <dir> <groups> <term>
 *     times MetadataStore.open; checks that every group is at <term>, a term only the log holds
 *     (the snapshot has term 1), so the open replayed the log. The open ends with a compaction
 *     (records read back from a log are rewritten into a new snapshot before the first update is
 *     accepted: see src/engine/resume.ts), which is part of what it costs.
 *   node groups-child.js store-load <dir> <groups> <term>
 *     times MetadataStore.load (read-only); checks every group.
 *   node groups-child.js single-load <dir> <term>
 *     times Metadata.load of a one-group directory; checks its currentTerm.
 *   node --expose-gc groups-child.js heap <dir> <groups>
 *     heap per group: see measureHeap below.
 */
import { performance } from 'node:perf_hooks';
import { Metadata, MetadataStore } from '../../dist/index.js';

const [mode, dir, ...args] = process.argv.slice(2);

function fail(message) {
  console.error(message);
  process.exit(1);
}

function checkGroups(states, groups, term) {
  if (states.length !== groups) fail(`${states.length} groups, expected ${groups}`);
  for (const [id, currentTerm] of states) {
    if (currentTerm !== term) fail(`group ${id} at term ${currentTerm}, expected ${term}`);
  }
}

async function storeOpen(groups, term) {
  const start = performance.now();
  const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  const ms = performance.now() - start;
  const ids = store.groups();
  checkGroups(
    ids.map((id) => [id, store.group(id).get().currentTerm]),
    groups,
    term,
  );
  const stats = store.stats();
  // Exit without close: the directory is a throwaway copy.
  return { ms, groups: ids.length, compactionsInOpen: stats.compactions };
}

async function storeLoad(groups, term) {
  const start = performance.now();
  const loaded = await MetadataStore.load(dir);
  const ms = performance.now() - start;
  checkGroups(
    [...loaded].map(([id, m]) => [id, m.currentTerm]),
    groups,
    term,
  );
  return { ms, groups: loaded.size };
}

async function singleLoad(term) {
  const start = performance.now();
  const metadata = await Metadata.load(dir);
  const ms = performance.now() - start;
  if (metadata.currentTerm !== term) fail(`currentTerm ${metadata.currentTerm}, expected ${term}`);
  return { ms };
}

/**
 * Heap per group: open a store (default interval) and update 1,000 other groups first (warms the
 * code paths and the I/O thread), then gc() twice and read heapUsed; update `groups` new groups
 * once each (in bursts of 10,000 issued in one tick, each burst awaited); gc() twice and read
 * heapUsed again, the store still open. (after - before) / groups. Then once more after a sync()
 * (a compaction: the snapshot holds every group), still open.
 */
async function measureHeap(groups) {
  if (typeof globalThis.gc !== 'function') fail('run with --expose-gc');
  const gcTwice = () => {
    globalThis.gc();
    globalThis.gc();
  };
  const store = await MetadataStore.open(dir);
  const warm = 1000;
  await Promise.all(Array.from({ length: warm }, (_, i) => store.group(groups + i).updateCurrentTerm(1)));
  gcTwice();
  const before = process.memoryUsage();
  const start = performance.now();
  for (let from = 0; from < groups; from += 10_000) {
    const to = Math.min(groups, from + 10_000);
    const burst = [];
    for (let id = from; id < to; id++) burst.push(store.group(id).updateCurrentTerm(7));
    await Promise.all(burst);
  }
  const updateMs = performance.now() - start;
  gcTwice();
  const after = process.memoryUsage();
  await store.sync();
  gcTwice();
  const afterSync = process.memoryUsage();
  const stats = store.stats();
  if (stats.groups !== groups + warm) fail(`${stats.groups} groups, expected ${groups + warm}`);
  await store.close();
  return {
    groups,
    updateMs,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    heapAfterSync: afterSync.heapUsed,
    heapPerGroup: (after.heapUsed - before.heapUsed) / groups,
    heapPerGroupAfterSync: (afterSync.heapUsed - before.heapUsed) / groups,
    externalPerGroup: (after.external - before.external) / groups,
    rssPerGroup: (after.rss - before.rss) / groups,
  };
}

let result;
if (mode === 'store-open') result = await storeOpen(Number(args[0]), Number(args[1]));
else if (mode === 'store-load') result = await storeLoad(Number(args[0]), Number(args[1]));
else if (mode === 'single-load') result = await singleLoad(Number(args[0]));
else if (mode === 'heap') result = await measureHeap(Number(args[0]));
else fail(`unknown mode ${mode}`);
console.log(JSON.stringify(result));
process.exit(0);
