/**
 * Many Raft groups (issue 12) in fresh processes (bench/sections/groups-child.js):
 *
 * - Open: a directory with 10,000 groups in its snapshot and 1,000,000 records after it, built
 *   once through the public API (compaction off: 10,000 first updates, `sync()` for the snapshot,
 *   then 100 bursts of one update per group, each burst issued in one tick, so one write and one
 *   fdatasync each; closed without sync, so the records stay in the log). Each measurement copies
 *   it to a fresh directory (untimed; the copy leaves it in the page cache: warm; a copy is needed
 *   since an open that replays records rewrites them into a new snapshot) and times
 *   `MetadataStore.open` in a new process, which checks that every group is at the term only the
 *   log holds; `MetadataStore.load` (read-only) is timed the same way. Before that, the directory is
 *   checked to hold one snapshot and logs of at least 48,000,000 bytes (1M records of 48 bytes). Next
 *   to them, in the same rounds: `Metadata.load` of a one-group directory with 1,000,000 records,
 *   written by a MetadataManager with compaction off and concurrent term updates issued in one tick
 *   (group commit: 21,845 records, 1 MiB, per write), copied the same way.
 * - Heap per group at 100,000 groups (`node --expose-gc`, see measureHeap in groups-child.js).
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetadataManager, MetadataStore } from '../../dist/index.js';
import { execFileAsync } from '../lib/shell.js';
import { max, median, min } from '../lib/stats.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'groups-child.js');

export const OPEN_GROUPS = 10_000;
export const OPEN_RECORDS = 1_000_000;
export const HEAP_GROUPS = 100_000;
const RECORD_BYTES = 48;
/** Records per write when building the one-group log: what fits in one 1 MiB I/O-thread request. */
const SINGLE_BATCH = Math.floor((1 << 20) / RECORD_BYTES);

async function buildStore(dir) {
  const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  const handles = Array.from({ length: OPEN_GROUPS }, (_, id) => store.group(id));
  let term = 1;
  try {
    await Promise.all(handles.map((g) => g.updateCurrentTerm(term)));
    await store.sync();
    for (let written = 0; written < OPEN_RECORDS; written += OPEN_GROUPS) {
      term++;
      await Promise.all(handles.map((g) => g.updateCurrentTerm(term)));
    }
  } finally {
    await store.close();
  }
  return term;
}

async function buildSingle(dir) {
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  let term = 0;
  try {
    while (term < OPEN_RECORDS) {
      const count = Math.min(SINGLE_BATCH, OPEN_RECORDS - term);
      await Promise.all(Array.from({ length: count }, () => manager.updateCurrentTerm(++term)));
    }
  } finally {
    await manager.close();
  }
  return term;
}

function dirBytes(dir) {
  return fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(join(dir, name)).size, 0);
}

async function child(args, node = []) {
  const { stdout } = await execFileAsync(process.execPath, [...node, CHILD, ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

/** Copies `template` to a fresh directory, runs the child on it, removes the copy. */
async function onCopy(template, scratch, args) {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.cpSync(template, scratch, { recursive: true });
  try {
    return await child(args(scratch));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

const summary = (samples) => ({
  medianMs: median(samples.map((s) => s.ms)),
  minMs: min(samples.map((s) => s.ms)),
  maxMs: max(samples.map((s) => s.ms)),
  samples,
});

export async function measureGroupsOpen(runDir, { rounds, log }) {
  const storeDir = join(runDir, 'groups-open-store');
  const singleDir = join(runDir, 'groups-open-single');
  const scratch = join(runDir, 'groups-open-copy');
  const term = await buildStore(storeDir);
  const singleTerm = await buildSingle(singleDir);
  const names = fs.readdirSync(storeDir);
  const logBytes = names
    .filter((name) => name.startsWith('log-'))
    .reduce((sum, name) => sum + fs.statSync(join(storeDir, name)).size, 0);
  if (!names.includes('metadata.json') || logBytes < OPEN_RECORDS * RECORD_BYTES) {
    throw new Error(
      `${storeDir} should hold a snapshot and >= 1M records of logs: ${names.join(', ')}, ${logBytes} bytes`,
    );
  }
  const measures = [
    { key: 'storeOpen', args: (d) => ['store-open', d, String(OPEN_GROUPS), String(term)] },
    { key: 'storeLoad', args: (d) => ['store-load', d, String(OPEN_GROUPS), String(term)] },
    { key: 'singleLoad', args: (d) => ['single-load', d, String(singleTerm)], single: true },
  ];
  const samples = { storeOpen: [], storeLoad: [], singleLoad: [] };
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? measures : [...measures].reverse();
    const got = {};
    for (const m of order) {
      got[m.key] = await onCopy(m.single ? singleDir : storeDir, scratch, m.args);
      samples[m.key].push(got[m.key]);
    }
    ratios.push(got.storeOpen.ms / got.singleLoad.ms);
    log(
      `  round ${round + 1}: store open ${got.storeOpen.ms.toFixed(0)} ms, store load ${got.storeLoad.ms.toFixed(0)} ms, ` +
        `single-group load ${got.singleLoad.ms.toFixed(0)} ms`,
    );
  }
  const result = {
    groups: OPEN_GROUPS,
    records: OPEN_RECORDS,
    storeDirBytes: dirBytes(storeDir),
    storeLogBytes: logBytes,
    storeSnapshotBytes: fs.statSync(join(storeDir, 'metadata.json')).size,
    singleDirBytes: dirBytes(singleDir),
    storeOpen: summary(samples.storeOpen),
    storeLoad: summary(samples.storeLoad),
    singleLoad: summary(samples.singleLoad),
    openToSingleLoad: median(ratios),
  };
  fs.rmSync(storeDir, { recursive: true, force: true });
  fs.rmSync(singleDir, { recursive: true, force: true });
  return result;
}

export async function measureGroupsHeap(runDir, { rounds, log }) {
  const samples = [];
  for (let round = 0; round < rounds; round++) {
    const dir = join(runDir, `groups-heap-${round}`);
    try {
      const r = await child(['heap', dir, String(HEAP_GROUPS)], ['--expose-gc']);
      samples.push(r);
      log(
        `  round ${round + 1}: ${r.heapPerGroup.toFixed(0)} bytes of heap per group (${r.heapPerGroupAfterSync.toFixed(0)} after sync())`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    groups: HEAP_GROUPS,
    heapPerGroup: median(samples.map((s) => s.heapPerGroup)),
    heapPerGroupAfterSync: median(samples.map((s) => s.heapPerGroupAfterSync)),
    samples,
  };
}
