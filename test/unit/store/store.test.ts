import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager, MetadataStore } from '../../../src/index.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers.js';

const DIR = '/srv/raft/store';

describe('MetadataStore', () => {
  it('keeps each group apart, durable when resolved, and reloads every group', async () => {
    const dir = tempDir();
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    const a = store.group(1);
    const b = store.group(42);
    expect(a.get()).toMatchObject({ currentTerm: 0, votedFor: 0 });
    await Promise.all([
      a.updateCurrentTerm(3),
      b.updateCurrentTerm(7),
      a.updateVotedFor(2),
      b.updateVotedFor(5),
    ]);
    expect(store.groups()).toEqual([1, 42]);
    expect(await Metadata.load(dir, { group: 42 })).toMatchObject({ currentTerm: 7, votedFor: 5 });
    await expect(b.updateVotedFor(6)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    await expect(a.updateCurrentTerm(2)).rejects.toMatchObject({ code: 'ERR_TERM_REGRESSION' });
    await store.sync();
    await store.close();
    const loaded = await MetadataStore.load(dir);
    expect([...loaded.entries()].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual([
      [1, 3, 2],
      [42, 7, 5],
    ]);
    await expect(Metadata.load(dir)).rejects.toMatchObject({ code: 'ERR_MULTI_GROUP_DIRECTORY' });
    await expect(MetadataManager.open(dir)).rejects.toMatchObject({ code: 'ERR_MULTI_GROUP_DIRECTORY' });
  });

  it('one write and one fdatasync for updates of many groups arriving together', async () => {
    const disk = new SimulatedDisk();
    const store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });
    const before = store.stats().fsyncs;
    await Promise.all(Array.from({ length: 500 }, (_, i) => store.group(i).updateCurrentTerm(i + 1)));
    const stats = store.stats();
    expect(stats.fsyncs - before).toBe(1);
    expect(stats.groups).toBe(500);
    await store.close();
    const reopened = await MetadataStore.open(DIR, { fs: disk.crash(7), flushIntervalMs: 0 });
    expect(reopened.groups().length).toBe(500);
    expect(reopened.group(499).get().currentTerm).toBe(500);
    await reopened.close();
  });

  it('removeGroup keeps a tombstone: the group resumes from its term and cannot vote again in it', async () => {
    const disk = new SimulatedDisk();
    let store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await store.group(9).updateCurrentTerm(4);
    await store.group(9).updateVotedFor(1);
    await store.removeGroup(9);
    expect(store.groups()).toEqual([]);
    expect(store.group(9).get()).toMatchObject({ currentTerm: 4, votedFor: 0 });
    await expect(store.group(9).updateVotedFor(2)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    await store.sync();
    await store.close();
    const afterCrash = disk.crash(1);
    store = await MetadataStore.open(DIR, { fs: afterCrash, flushIntervalMs: 0 });
    expect(store.stats().removedGroups).toBe(1);
    expect(store.group(9).get()).toMatchObject({ currentTerm: 4, votedFor: 0 });
    await expect(store.group(9).updateVotedFor(2)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    await expect(store.group(9).updateCurrentTerm(3)).rejects.toMatchObject({ code: 'ERR_TERM_REGRESSION' });
    await store.group(9).updateCurrentTerm(5);
    await store.group(9).updateVotedFor(2);
    expect(store.groups()).toEqual([9]);
    await store.close();
    const again = await MetadataStore.open(DIR, { fs: afterCrash.crash(2), flushIntervalMs: 0 });
    expect(again.group(9).get()).toMatchObject({ currentTerm: 5, votedFor: 2 });
    expect(again.stats().removedGroups).toBe(0);
    await again.close();
  });

  it('a MetadataManager directory opens as a store whose only group is 0, and back', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(6);
    await manager.updateVotedFor(3);
    await manager.close();
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    expect(store.groups()).toEqual([0]);
    expect(store.group(0).get()).toMatchObject({ currentTerm: 6, votedFor: 3 });
    await store.group(0).updateCurrentTerm(8);
    await store.close();
    const back = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    expect(back.get()).toMatchObject({ currentTerm: 8, votedFor: 0 });
    await back.close();
  });
});
