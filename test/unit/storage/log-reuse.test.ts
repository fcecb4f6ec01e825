import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CURRENT_LAYOUT } from '../../../src/format/record.js';
import type { FileHandle, FileSystem } from '../../../src/fs/types.js';
import { MetadataStore, NodeFileSystem } from '../../../src/index.js';
import { examineDirectory } from '../../../src/ops/examine.js';
import { tempDir } from '../../helpers.js';

/**
 * A store reuses a retired log of 1 MiB or more as its next spare (compactor.ts #removeRetired,
 * LogWriter.recycleInSteps): the file is renamed to the spare's name and rewritten. A reader that
 * takes no lock may have that log open already; it must notice the rewrite and read again, never
 * return the zeros it read as a shorter log (an older state, silently). Real files, a real store:
 * the reader is paused right before it reads the log's records, the store compacts and rewrites
 * the log, then the reader goes on through the descriptor it holds.
 */

const SPARE = 'log-next.wal.tmp';
const PER_GROUP = 12_000; // 2 groups x 12,000 x 48 bytes: 1,152,000 bytes of records in one log
const FIRST_SLOT = [
  CURRENT_LAYOUT.headerSize,
  CURRENT_LAYOUT.headerSize + CURRENT_LAYOUT.recordSize,
] as const;

/** A FileSystem whose read handles on `*.wal` files call `before(path, position)` before each read. */
function pausingFs(inner: FileSystem, before: (path: string, position: number) => Promise<void>): FileSystem {
  const wrap = (handle: FileHandle, path: string): FileHandle => ({
    read: async (buffer, offset, length, position) => {
      await before(path, position);
      return handle.read(buffer, offset, length, position);
    },
    write: (data, position) => handle.write(data, position),
    writeDurable: (data, position) => handle.writeDurable(data, position),
    datasync: () => handle.datasync(),
    sync: () => handle.sync(),
    size: () => handle.size(),
    close: () => handle.close(),
  });
  return {
    open: async (path, mode) => {
      const handle = await inner.open(path, mode);
      return mode === 'read' && path.endsWith('.wal') ? wrap(handle, path) : handle;
    },
    readFile: (path) => inner.readFile(path),
    rename: (from, to) => inner.rename(from, to),
    unlink: (path) => inner.unlink(path),
    readdir: (dir) => inner.readdir(dir),
    mkdir: (dir) => inner.mkdir(dir),
    syncDir: (dir) => inner.syncDir(dir),
    stat: (path) => inner.stat(path),
    openLocked: (path) => inner.openLocked(path),
    probeLock: (path) => inner.probeLock(path),
  };
}

/** Resolves once the spare's first record slot is zeros (its rewrite began), or fails after 10 s. */
async function spareRewriteBegun(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const bytes = readFileSync(join(dir, SPARE)).subarray(...FIRST_SLOT);
      if (bytes.length === FIRST_SLOT[1] - FIRST_SLOT[0] && bytes.every((b) => b === 0)) return;
    } catch {}
    if (Date.now() > deadline) throw new Error('the retired log was not reused as the spare');
    await new Promise((done) => setTimeout(done, 2));
  }
}

let store: MetadataStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

/** A store whose first log holds 1,152,000 bytes of records, and the terms it reached. */
async function bigLogStore(): Promise<{ dir: string; store: MetadataStore }> {
  const dir = join(tempDir(), 'meta');
  const opened = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  const calls: Promise<void>[] = [];
  for (const g of [1, 2])
    for (let t = 1; t <= PER_GROUP; t++) calls.push(opened.group(g).updateCurrentTerm(t));
  await Promise.all(calls);
  return { dir, store: opened };
}

/**
 * Pauses the `nth` read of the first log's records (from its first record on: each pass over the
 * log starts there) until the store has compacted and begun reusing that log.
 */
function raceAgainstReuse(
  dir: string,
  running: MetadataStore,
  nth = 1,
): { fs: FileSystem; fired: () => boolean } {
  let fired = false;
  let passes = 0;
  const fs = pausingFs(new NodeFileSystem(), async (path, position) => {
    if (fired || position !== CURRENT_LAYOUT.headerSize || !path.endsWith('log-0000000000000001.wal')) return;
    if (++passes < nth) return;
    fired = true;
    await running.sync();
    await spareRewriteBegun(dir);
  });
  return { fs, fired: () => fired };
}

describe('a reader racing the reuse of the log it reads', () => {
  it('MetadataStore.load reads again and gives the latest state, not the zeros of the rewrite', async () => {
    const big = await bigLogStore();
    store = big.store;
    const race = raceAgainstReuse(big.dir, big.store);
    const loaded = await MetadataStore.load(big.dir, { fs: race.fs });
    expect(race.fired()).toBe(true);
    expect(loaded.get(1)?.currentTerm).toBe(PER_GROUP);
    expect(loaded.get(2)?.currentTerm).toBe(PER_GROUP);
  });

  for (const [pass, what] of [
    [1, "the library's reader"],
    [2, 'the per-log scan'],
    [3, 'the salvage'],
  ] as const) {
    it(`the CLI's examination (inspect, verify, dump) takes its picture again: rewrite during ${what}`, async () => {
      const big = await bigLogStore();
      store = big.store;
      const race = raceAgainstReuse(big.dir, big.store, pass);
      const exam = await examineDirectory(race.fs, big.dir);
      expect(race.fired()).toBe(true);
      expect(exam.error).toBeUndefined();
      expect(exam.recovered?.groups.get(1)?.currentTerm).toBe(PER_GROUP);
      expect(exam.recovered?.groups.get(2)?.currentTerm).toBe(PER_GROUP);
      // The picture it reports is the directory after the compaction: the old log is gone from it,
      // and no log shows a record the reader did not apply.
      expect(exam.logs.map((l) => l.name)).not.toContain('log-0000000000000001.wal');
      expect(exam.logs.flatMap((l) => l.records.filter((r) => r.status === 'torn'))).toEqual([]);
    });
  }
});
