import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DirectoryId } from '../../../src/format/directory-id.js';
import { decodeSnapshot, encodeSnapshot } from '../../../src/format/snapshot-codec.js';
import { Metadata, MetadataManager, MetadataStore } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

/**
 * A snapshot's floorTerm (set by a repair when a lost record may have been the only one of a group
 * no file names): every group it does not list starts from that term with no vote, everywhere a
 * group's state is read, and every later snapshot keeps it.
 */

/** A store directory whose snapshot gets `floorTerm`, with group 1 live at term 3 and group 2 removed at 4. */
async function directoryWithFloor(floorTerm: number): Promise<string> {
  const dir = join(tempDir(), 'store');
  const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  await store.group(1).updateCurrentTerm(3);
  await store.group(2).updateCurrentTerm(4);
  await store.removeGroup(2);
  await store.sync();
  await store.close();
  setFloor(dir, floorTerm);
  return dir;
}

/** Rewrites `dir`'s snapshot, whole and checksummed, with `floorTerm` (what a repair writes). */
function setFloor(dir: string, floorTerm: number): void {
  const path = join(dir, 'metadata.json');
  const content = decodeSnapshot(readFileSync(path));
  if ('problem' in content) throw new Error(content.problem);
  if (content.directoryId === undefined) throw new Error('no directory id');
  writeFileSync(path, encodeSnapshot({ ...content, directoryId: content.directoryId, floorTerm }));
}

describe('floorTerm: the term of every group the snapshot does not list', () => {
  it('a group never named starts from it with no vote; listed groups and tombstones keep their own', async () => {
    const dir = await directoryWithFloor(9);
    expect(await Metadata.load(dir, { group: 77 })).toMatchObject({ currentTerm: 9, votedFor: 0 });
    expect(await Metadata.load(dir, { group: 1 })).toMatchObject({ currentTerm: 3, votedFor: 0 });
    expect(await Metadata.load(dir, { group: 2 })).toMatchObject({ currentTerm: 4, votedFor: 0 });
    // The live groups only: a group at the floor has never been updated since.
    expect([...(await MetadataStore.load(dir)).keys()]).toEqual([1]);
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    try {
      const g = store.group(77);
      expect(g.get()).toMatchObject({ currentTerm: 9, votedFor: 0 });
      expect(store.groups()).toEqual([1]);
      // Below the floor is a regression; a vote in the floor's term is its first there.
      await expect(g.updateCurrentTerm(8)).rejects.toMatchObject({ code: 'ERR_TERM_REGRESSION' });
      await g.updateVotedFor(5);
      expect(store.groups()).toEqual([1, 77]);
      await expect(store.group(78).updateCurrentTerm(2)).rejects.toMatchObject({
        code: 'ERR_TERM_REGRESSION',
      });
      // Group 1 is listed at term 3: the floor does not raise it.
      await store.group(1).updateCurrentTerm(4);
    } finally {
      await store.close();
    }
    expect(await Metadata.load(dir, { group: 77 })).toMatchObject({ currentTerm: 9, votedFor: 5 });
    expect(await Metadata.load(dir, { group: 1 })).toMatchObject({ currentTerm: 4, votedFor: 0 });
  });

  it('survives compactions and reopens: every snapshot the store writes carries it', async () => {
    const dir = await directoryWithFloor(12);
    for (let round = 0; round < 3; round++) {
      const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
      await store.group(100 + round).updateCurrentTerm(20 + round);
      await store.sync();
      await store.close();
      const text = readFileSync(join(dir, 'metadata.json'), 'utf8');
      expect(JSON.parse(text).floorTerm).toBe(12);
      expect(await Metadata.load(dir, { group: 5 })).toMatchObject({ currentTerm: 12, votedFor: 0 });
    }
  });

  it('a log record that breaks the rules against the floor is corruption, never applied', async () => {
    const dir = join(tempDir(), 'store');
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    await store.group(1).updateCurrentTerm(3);
    await store.group(5).updateCurrentTerm(4); // a record of group 5 at term 4, after the snapshot
    await store.close();
    // A snapshot (covering only what came before group 5's record) that puts unlisted groups at 6.
    setFloor(dir, 6);
    await expect(Metadata.load(dir, { group: 5 })).rejects.toMatchObject({
      code: 'ERR_METADATA_CORRUPT',
      reason: expect.stringContaining('does not raise the term 6'),
    });
  });

  it('a MetadataManager refuses a directory whose snapshot has a floor, even with group 0 only (its compaction would drop it)', async () => {
    const dir = join(tempDir(), 'store');
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(3);
    await manager.sync(); // group 0 listed in the snapshot (a record after it would be checked against the floor)
    await manager.close();
    setFloor(dir, 9);
    await expect(MetadataManager.open(dir)).rejects.toMatchObject({
      code: 'ERR_MULTI_GROUP_DIRECTORY',
      floorTerm: 9,
    });
    await expect(Metadata.load(dir)).rejects.toMatchObject({ code: 'ERR_MULTI_GROUP_DIRECTORY' });
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    expect(store.group(4).get()).toMatchObject({ currentTerm: 9, votedFor: 0 });
    await store.close();
  });

  it('a MetadataManager refuses a directory with a floor and other groups, as any multi-group one', async () => {
    const dir = await directoryWithFloor(9);
    await expect(MetadataManager.open(dir)).rejects.toMatchObject({ code: 'ERR_MULTI_GROUP_DIRECTORY' });
  });
});

describe('floorTerm and repair', () => {
  const CLI = join(import.meta.dirname, '..', '..', '..', 'dist', 'cli.js');

  it('a damaged snapshot: its groups and its floor, read from its JSON, stay below the repaired state', async () => {
    const dir = join(tempDir(), 'store');
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    await Promise.all([1, 2, 3].map((g) => store.group(g).updateCurrentTerm(6)));
    await store.sync();
    await store.close();
    setFloor(dir, 1000);
    const path = join(dir, 'metadata.json');
    // One term edited: the checksum fails, the JSON still names the groups and the floor.
    writeFileSync(path, readFileSync(path, 'utf8').replace('[2,6,0]', '[2,5,0]'));
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(run('verify', dir).status).toBe(2);
    const repaired = run('repair', '--yes', '--min-term', '50', '--json', dir);
    expect(repaired.status).toBe(0);
    expect(JSON.parse(repaired.stdout).groupRepairs).toMatchObject({ groups: 3, raised: 3, floorTerm: 1001 });
    for (const g of [1, 2, 3]) {
      expect(await Metadata.load(dir, { group: g })).toMatchObject({ currentTerm: 50, votedFor: 0 });
    }
    // Above the floor the damaged snapshot claimed: a group at 1000 there may have voted in 1000.
    expect(await Metadata.load(dir, { group: 42 })).toMatchObject({ currentTerm: 1001, votedFor: 0 });
  });
});

describe('floorTerm on disk', () => {
  const base = {
    directoryId: '0123456789abcdef0123456789abcdef' as DirectoryId,
    identity: undefined,
    lastSeq: 4,
    groups: new Map([[1, { currentTerm: 3, votedFor: 2 }]]),
    removed: new Map([[2, 4]]),
  };

  it('is written only above 0, before crc32, and covered by the checksum', () => {
    const plain = new TextDecoder().decode(encodeSnapshot({ ...base, floorTerm: 0 }));
    expect(plain).not.toContain('floorTerm');
    const floored = new TextDecoder().decode(encodeSnapshot({ ...base, floorTerm: 7 }));
    expect(floored).toMatch(/"removed":\[\[2,4\]\],"floorTerm":7,"crc32":"[0-9a-f]{8}"\}\n$/);
    expect(decodeSnapshot(new TextEncoder().encode(floored))).toMatchObject({ version: 2, floorTerm: 7 });
    // What a reader that does not know the field checks: the same checksum without it. It refuses.
    const stripped = floored.replace(',"floorTerm":7', '');
    expect(decodeSnapshot(new TextEncoder().encode(stripped))).toMatchObject({
      problem: 'snapshot checksum mismatch',
    });
    // An edited floor is caught by the checksum too.
    expect(
      decodeSnapshot(new TextEncoder().encode(floored.replace('"floorTerm":7', '"floorTerm":1'))),
    ).toMatchObject({
      problem: 'snapshot checksum mismatch',
    });
  });

  it('a floorTerm of 0, or not a count, is refused', () => {
    const floored = new TextDecoder().decode(encodeSnapshot({ ...base, floorTerm: 7 }));
    for (const bad of ['0', '-1', '1.5', '"7"', 'null']) {
      const text = floored.replace('"floorTerm":7', `"floorTerm":${bad}`);
      expect(decodeSnapshot(new TextEncoder().encode(text))).toMatchObject({
        problem: 'floorTerm, when present, must be a safe integer above 0',
      });
    }
  });
});
