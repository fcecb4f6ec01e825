import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager, NONE_SERVER_ID } from '../../../src/index.js';
import { directoryContents, tempDir } from '../../helpers.js';

describe("Raft's rules", () => {
  it('a higher term clears the vote', async () => {
    const manager = await MetadataManager.open(tempDir());
    await manager.updateCurrentTerm(2);
    await manager.updateVotedFor(5);
    await manager.updateCurrentTerm(3);
    expect(manager.get()).toMatchObject({ currentTerm: 3, votedFor: NONE_SERVER_ID });
    await manager.updateVotedFor(6);
    expect(manager.get()).toMatchObject({ currentTerm: 3, votedFor: 6 });
    await manager.close();
  });

  it('refuses a lower term and writes nothing', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(5);
    const before = directoryContents(dir);
    await expect(manager.updateCurrentTerm(4)).rejects.toMatchObject({ code: 'ERR_TERM_REGRESSION' });
    expect(directoryContents(dir)).toEqual(before);
    expect(manager.get().currentTerm).toBe(5);
    await manager.close();
  });

  it('refuses a second, different vote in a term and writes nothing', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(1);
    await manager.updateVotedFor(7);
    const before = directoryContents(dir);
    await expect(manager.updateVotedFor(8)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    // Withdrawing a vote would let the node vote again: refused too.
    await expect(manager.updateVotedFor(NONE_SERVER_ID)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    expect(directoryContents(dir)).toEqual(before);
    expect(manager.get().votedFor).toBe(7);
    await manager.close();
  });

  it('voting again for the same candidate, or the same term again, succeeds without a write', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(1);
    await manager.updateVotedFor(7);
    const fsyncs = manager.stats().fsyncs;
    await manager.updateVotedFor(7);
    await manager.updateCurrentTerm(1);
    expect(manager.stats().fsyncs).toBe(fsyncs);
    await manager.close();
  });

  it('validates concurrent updates in call order against the latest accepted state', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    const results = await Promise.allSettled([
      manager.updateCurrentTerm(3),
      manager.updateVotedFor(1),
      manager.updateVotedFor(2), // same term as the pending vote for 1: refused
      manager.updateCurrentTerm(2), // below the pending term 3: refused
      manager.updateCurrentTerm(4),
      manager.updateVotedFor(2), // new term: allowed
    ]);
    expect(
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)),
    ).toEqual(['ok', 'ok', 'ERR_VOTE_CONFLICT', 'ERR_TERM_REGRESSION', 'ok', 'ok']);
    await manager.close();
    const loaded = await Metadata.load(dir);
    expect([loaded.currentTerm, loaded.votedFor]).toEqual([4, 2]);
  });

  it('the initial Metadata of the constructor is a proposal under the same rules', async () => {
    const dir = tempDir();
    const first = await MetadataManager.open(dir);
    await first.updateCurrentTerm(5);
    await first.updateVotedFor(9);
    await first.close();

    const behind = new Metadata(dir);
    behind.currentTerm = 4;
    const stale = new MetadataManager(behind);
    await expect(stale.updateCurrentTerm(6)).rejects.toMatchObject({ code: 'ERR_TERM_REGRESSION' });
    await stale.close();

    const conflicting = new Metadata(dir);
    conflicting.currentTerm = 5;
    conflicting.votedFor = 10;
    const conflict = new MetadataManager(conflicting);
    await expect(conflict.sync()).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
    await conflict.close();

    const ahead = new Metadata(dir);
    ahead.currentTerm = 6;
    ahead.votedFor = 2;
    const manager = new MetadataManager(ahead);
    await manager.sync();
    expect(manager.get()).toMatchObject({ currentTerm: 6, votedFor: 2 });
    await manager.close();
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 6, votedFor: 2 });
  });
});

describe('bad input', () => {
  const bad: [unknown, string][] = [
    ['5', 'ERR_INVALID_ARG_TYPE'],
    [undefined, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [5n, 'ERR_INVALID_ARG_TYPE'],
    [{}, 'ERR_INVALID_ARG_TYPE'],
    [Number.NaN, 'ERR_OUT_OF_RANGE'],
    [Number.POSITIVE_INFINITY, 'ERR_OUT_OF_RANGE'],
    [1.5, 'ERR_OUT_OF_RANGE'],
    [-1, 'ERR_OUT_OF_RANGE'],
    [2 ** 53, 'ERR_OUT_OF_RANGE'],
  ];

  it.each(bad)('refuses %s as a term or a server id with %s, changing nothing', async (value, code) => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(1);
    const before = directoryContents(dir);
    await expect(manager.updateCurrentTerm(value as number)).rejects.toMatchObject({ code });
    await expect(manager.updateVotedFor(value as number)).rejects.toMatchObject({ code });
    expect(directoryContents(dir)).toEqual(before);
    expect(manager.get()).toMatchObject({ currentTerm: 1, votedFor: NONE_SERVER_ID });
    await manager.close();
  });

  it('accepts the largest safe integer', async () => {
    const manager = await MetadataManager.open(tempDir());
    await manager.updateCurrentTerm(Number.MAX_SAFE_INTEGER);
    await manager.updateVotedFor(Number.MAX_SAFE_INTEGER);
    await manager.close();
  });

  it('refuses a bad directory or flush interval before any I/O', () => {
    expect(() => new Metadata('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new MetadataManager(new Metadata(tempDir()), -1)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => new MetadataManager({} as Metadata)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('rejects calls after close with ERR_MANAGER_CLOSED', async () => {
    const manager = await MetadataManager.open(tempDir());
    await manager.close();
    await expect(manager.updateCurrentTerm(1)).rejects.toMatchObject({ code: 'ERR_MANAGER_CLOSED' });
    await expect(manager.updateVotedFor(1)).rejects.toMatchObject({ code: 'ERR_MANAGER_CLOSED' });
    await expect(manager.sync()).rejects.toMatchObject({ code: 'ERR_MANAGER_CLOSED' });
    await manager.close(); // idempotent
  });

  it('close finishes pending updates before releasing the lock', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir);
    const pending = manager.updateCurrentTerm(3);
    await manager.close();
    await pending;
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 3 });
  });
});
