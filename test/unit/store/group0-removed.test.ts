import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager, MetadataStore } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

/**
 * A MetadataStore may remove group 0 like any other group. Its tombstone is store-only state: the
 * single-group APIs must refuse the directory (as for any other group) instead of reading group 0
 * at term 0, where a manager would vote again in the term group 0 voted in before its removal.
 */

const CLI = join(import.meta.dirname, '..', '..', '..', 'dist', 'cli.js');

async function removedGroup0(compact: boolean): Promise<string> {
  const dir = join(tempDir(), 'store');
  const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  await store.group(0).updateCurrentTerm(7);
  await store.group(0).updateVotedFor(1);
  await store.removeGroup(0);
  if (compact) await store.sync();
  await store.close();
  return dir;
}

describe('group 0 removed by a MetadataStore', () => {
  for (const compact of [false, true]) {
    const where = compact ? 'in the snapshot' : 'as a record in the log';
    it(`the tombstone ${where}: MetadataManager and Metadata.load refuse, the store keeps it`, async () => {
      const dir = await removedGroup0(compact);
      const before = readFileSync(join(dir, 'metadata.json'));
      await expect(MetadataManager.open(dir)).rejects.toMatchObject({
        code: 'ERR_MULTI_GROUP_DIRECTORY',
        groups: [],
        removedGroup0Term: 7,
        message: expect.stringContaining('group 0 removed in term 7'),
      });
      await expect(Metadata.load(dir)).rejects.toMatchObject({ code: 'ERR_MULTI_GROUP_DIRECTORY' });
      expect(readFileSync(join(dir, 'metadata.json'))).toEqual(before); // the refusal changed nothing
      expect(await Metadata.load(dir, { group: 0 })).toMatchObject({ currentTerm: 7, votedFor: 0 });
      const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
      try {
        expect(store.groups()).toEqual([]);
        await expect(store.group(0).updateVotedFor(2)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
      } finally {
        await store.close();
      }
    });
  }

  for (const others of [false, true]) {
    it(`repair --bump-term keeps group 0 removed, one term up${others ? ', beside a live group' : ''}`, async () => {
      const dir = join(tempDir(), 'store');
      const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
      await store.group(0).updateCurrentTerm(7);
      await store.group(0).updateVotedFor(3);
      if (others) await store.group(1).updateCurrentTerm(4);
      await store.removeGroup(0);
      await store.sync(); // the tombstone in the snapshot, the log empty
      await store.close();
      const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      const repaired = run('repair', '--yes', '--bump-term', dir);
      expect(repaired.status).toBe(0);
      // Never a term below the tombstone's (the single-group plan read group 0 at term 0 here).
      expect(await Metadata.load(dir, { group: 0 })).toMatchObject({ currentTerm: 8, votedFor: 0 });
      const snapshot = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
      expect(snapshot.removed).toEqual([[0, 8]]);
      await expect(MetadataManager.open(dir)).rejects.toMatchObject({ code: 'ERR_MULTI_GROUP_DIRECTORY' });
    });
  }

  it('the CLI sees a store directory: compact keeps the tombstone, verify reports term 7', async () => {
    const dir = await removedGroup0(true);
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    const inspect = JSON.parse(run('inspect', '--json', dir).stdout);
    expect(inspect.groups).toMatchObject({ multiGroup: true, live: 0, removed: 1 });
    expect(inspect.state).toMatchObject({ currentTerm: 7, votedFor: 0 });
    const compacted = run('compact', dir);
    expect(compacted.status).toBe(0);
    const snapshot = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
    expect(snapshot.removed).toEqual([[0, 7]]);
    expect(await Metadata.load(dir, { group: 0 })).toMatchObject({ currentTerm: 7, votedFor: 0 });
  });
});
