import { cpSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeHeader } from '../../../src/format/record.js';
import { Metadata, MetadataManager, MetadataStore } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

/**
 * Format-v2 directories written before log headers recorded their created size (commit 8453e1a,
 * test/fixtures/v2-unsized/make.mjs): they load and open as before, and the next log a node creates
 * in them records its size.
 */

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'v2-unsized');
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as {
  manager: { currentTerm: number; votedFor: number };
  store: { live: [number, number, number][]; removed: [number, number][] };
};

function copy(name: string): string {
  const dir = join(tempDir(), name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}
const logs = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort();
const createdSize = (path: string): number | undefined => {
  const header = decodeHeader(readFileSync(path).subarray(0, 48));
  if ('problem' in header) throw new Error(header.problem.reason);
  return header.createdSize;
};

describe('format-v2 directories from before the created size (golden, made by 8453e1a)', () => {
  it("their logs' headers record no size (bytes 16..23 zero)", () => {
    for (const name of ['manager', 'store']) {
      for (const log of logs(join(FIXTURES, name)))
        expect(createdSize(join(FIXTURES, name, log))).toBeUndefined();
    }
  });

  it("a manager's: loads, opens, updates, compacts; the new log records its size", async () => {
    const dir = copy('manager');
    const { currentTerm, votedFor } = manifest.manager;
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm, votedFor });
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    expect(manager.get()).toMatchObject({ currentTerm, votedFor });
    await expect(manager.updateVotedFor(9)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    await manager.updateCurrentTerm(6);
    await manager.sync();
    await manager.close();
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 6, votedFor: 0 });
    const [log] = logs(dir);
    expect(createdSize(join(dir, log as string))).toBeGreaterThanOrEqual(48 + 16 * 1024);
  });

  it("a store's: every group and tombstone loads and opens as it was", async () => {
    const dir = copy('store');
    const loaded = await MetadataStore.load(dir);
    expect([...loaded].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual(manifest.store.live);
    for (const [id, term] of manifest.store.removed) {
      expect(await Metadata.load(dir, { group: id })).toMatchObject({ currentTerm: term, votedFor: 0 });
    }
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    try {
      expect(store.groups()).toEqual(manifest.store.live.map(([id]) => id));
      await expect(store.group(2).updateVotedFor(1)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
      await store.group(9).updateCurrentTerm(3);
      await store.sync();
    } finally {
      await store.close();
    }
    expect(await Metadata.load(dir, { group: 9 })).toMatchObject({ currentTerm: 3, votedFor: 0 });
  });

  it('an old log cut short is not caught (the documented limit): it reads as a shorter log', async () => {
    const dir = copy('manager');
    const [log] = logs(dir);
    // Cut after the first record after the snapshot (term 5), dropping the vote for 4.
    truncateSync(join(dir, log as string), 48 + 48);
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 5, votedFor: 0 });
  });
});
