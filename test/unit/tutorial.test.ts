import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Metadata, MetadataManager, NONE_SERVER_ID } from '../../src/index.js';
import { snapshotState, tempDir } from '../helpers.js';

// The seed tutorial's examples, without its sleeps: an awaited update is visible and durable at once.
describe('seed tutorial', () => {
  it('complete example: load, manage, update, sync, load again', async () => {
    const dir = join(tempDir(), 'raft');
    const meta = await Metadata.load(dir);
    expect([meta.currentTerm, meta.votedFor]).toEqual([0, NONE_SERVER_ID]);

    const manager = new MetadataManager(meta, 1000);
    await manager.updateCurrentTerm(5);
    await manager.updateVotedFor(101);
    expect([manager.get().currentTerm, manager.get().votedFor]).toEqual([5, 101]);
    // Durable before sync: a reader sees it from disk right away.
    const fromLog = await Metadata.load(dir);
    expect([fromLog.currentTerm, fromLog.votedFor]).toEqual([5, 101]);

    await manager.sync();
    const loaded = await Metadata.load(dir);
    expect([loaded.currentTerm, loaded.votedFor, loaded.metadataDir]).toEqual([5, 101, dir]);
    const snapshot = snapshotState(readFileSync(Metadata.genMetadataFilepath(dir), 'utf8'));
    expect([snapshot.currentTerm, snapshot.votedFor]).toEqual([5, 101]);
    await manager.close();
  });

  it('new gives term 0 and no vote, touching nothing', () => {
    const dir = join(tempDir(), 'never-created');
    const meta = new Metadata(dir);
    expect(meta).toMatchObject({ currentTerm: 0, votedFor: NONE_SERVER_ID, metadataDir: dir });
    expect(() => readFileSync(dir)).toThrow(/ENOENT/);
  });

  it('load from a hand-written snapshot', async () => {
    const dir = tempDir();
    const meta = new Metadata(dir);
    meta.currentTerm = 3;
    meta.votedFor = 2;
    writeFileSync(Metadata.genMetadataFilepath(dir), JSON.stringify(meta));
    const loaded = await Metadata.load(dir);
    expect([loaded.currentTerm, loaded.votedFor]).toEqual([3, 2]);
    expect(Metadata.genMetadataFilepath(dir)).toBe(join(dir, 'metadata.json'));
  });

  it('get returns a copy', async () => {
    const manager = await MetadataManager.open(tempDir());
    await manager.updateCurrentTerm(4);
    const copy = manager.get();
    copy.currentTerm = 99;
    copy.votedFor = 42;
    expect([manager.get().currentTerm, manager.get().votedFor]).toEqual([4, NONE_SERVER_ID]);
    await manager.close();
  });

  it('sync writes the snapshot and restarts the log', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(7);
    await manager.updateVotedFor(3);
    await manager.sync();
    const snapshot = snapshotState(readFileSync(join(dir, 'metadata.json'), 'utf8'));
    expect(snapshot).toMatchObject({ currentTerm: 7, votedFor: 3, lastSeq: 2 });
    expect(manager.stats().logBytes).toBe(0);
    await manager.close();
  });

  it('the flush interval compacts on its own when something changed', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 20 });
    const atOpen = manager.stats().compactions; // the open of a new directory writes its first snapshot
    await manager.updateCurrentTerm(8);
    await vi.waitFor(
      () => {
        const snapshot = snapshotState(readFileSync(join(dir, 'metadata.json'), 'utf8'));
        expect(snapshot).toMatchObject({ currentTerm: 8, lastSeq: 1 });
        expect(manager.stats().compactions).toBe(atOpen + 1); // counted once the old log is gone too
      },
      { timeout: 5000, interval: 10 },
    );
    const compactions = manager.stats().compactions;
    // Nothing changed since: later ticks write nothing.
    await new Promise((r) => setTimeout(r, 100));
    expect(manager.stats().compactions).toBe(compactions);
    await manager.close();
  });
});
