import { readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager } from '../../src/index.js';
import { tempDir } from '../helpers.js';

/** docs/api.md, `toJSON()`: exactly when a snapshot written by hand with JSON.stringify(metadata) loads. */
describe('a hand-written snapshot (the seed tutorial)', () => {
  it('in a directory without logs: load returns it, and a manager opens it and upgrades it', async () => {
    const dir = tempDir();
    const m = new Metadata(dir);
    m.currentTerm = 12;
    m.votedFor = 4;
    writeFileSync(Metadata.genMetadataFilepath(dir), JSON.stringify(m));
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 12, votedFor: 4 });
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    expect(manager.get()).toMatchObject({ currentTerm: 12, votedFor: 4 });
    await manager.close();
    expect(readdirSync(dir).filter((n) => n.endsWith('.wal'))).toHaveLength(1);
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 12, votedFor: 4 });
  });

  it('a fresh Metadata over a directory whose log starts at record 1: the log is replayed on top', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(5);
    await manager.updateVotedFor(2);
    await manager.close();
    const fresh = new Metadata(dir); // lastSeq 0: covers nothing
    fresh.currentTerm = 1;
    writeFileSync(Metadata.genMetadataFilepath(dir), JSON.stringify(fresh));
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 5, votedFor: 2 });
  });

  it('a fresh Metadata over a compacted directory: a sequence gap, ERR_METADATA_CORRUPT', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(5);
    await manager.sync(); // the log now starts after record 1
    await manager.updateCurrentTerm(6);
    await manager.close();
    writeFileSync(Metadata.genMetadataFilepath(dir), JSON.stringify(new Metadata(dir)));
    await expect(Metadata.load(dir)).rejects.toMatchObject({
      code: 'ERR_METADATA_CORRUPT',
      reason: expect.stringMatching(/sequence gap/),
    });
  });
});
