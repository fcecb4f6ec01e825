import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CHANNELS,
  type CompactionEvent,
  type FailureEvent,
  type FsyncEvent,
  MetadataManager,
  subscribeChannel,
} from '../../src/index.js';
import { SimulatedDisk } from '../../src/testing/index.js';
import { root, typeCheck } from '../examples/typecheck.js';

/** Every ```ts or ```js block of a markdown file that uses the channels. */
function channelSnippets(doc: string): string[] {
  const text = readFileSync(join(root, doc), 'utf8');
  return [...text.matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .filter((code) => code.includes('CHANNELS') || code.includes('subscribeChannel'));
}

const docSnippets = [...channelSnippets('docs/operations.md'), ...channelSnippets('docs/api.md')];
let checked: Record<string, string[]> = {};
beforeAll(() => {
  // One program for every case: building it (all of src and @types/node) is the slow part.
  checked = typeCheck({
    ...Object.fromEntries(docSnippets.map((code, i) => [`__doc-snippet-${i}.ts`, code])),
    '__wrong-field.ts': [
      "import { CHANNELS, subscribeChannel } from 'raft-metadata';",
      'subscribeChannel(CHANNELS.fsync, (event) => event.lastSeq);',
      'subscribeChannel(CHANNELS.compaction, (event) => event.records);',
      "subscribeChannel('raft-metadata:nope', () => {});",
    ].join('\n'),
  });
});

describe('diagnostics channels: types', () => {
  it('the examples in docs/operations.md and docs/api.md type-check', () => {
    expect(docSnippets.length).toBeGreaterThan(0);
    const { '__wrong-field.ts': _, ...docs } = checked;
    expect(docs).toEqual(Object.fromEntries(docSnippets.map((_code, i) => [`__doc-snippet-${i}.ts`, []])));
  });

  it('a listener sees the payload type of its channel (a wrong field does not type-check)', () => {
    const messages = checked['__wrong-field.ts'] ?? [];
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(/'lastSeq' does not exist on type 'FsyncEvent'/);
    expect(messages[1]).toMatch(/'records' does not exist on type 'CompactionEvent'/);
    expect(messages[2]).toMatch(/raft-metadata:nope/);
  });
});

describe('diagnostics channels: payloads', () => {
  it('fsync, compaction and failure events carry exactly the documented fields', async () => {
    const fsyncs: FsyncEvent[] = [];
    const compactions: CompactionEvent[] = [];
    const failures: FailureEvent[] = [];
    const stops = [
      subscribeChannel(CHANNELS.fsync, (event) => fsyncs.push(event)),
      subscribeChannel(CHANNELS.compaction, (event) => compactions.push(event)),
      subscribeChannel(CHANNELS.failure, (event) => failures.push(event)),
    ];
    try {
      const disk = new SimulatedDisk();
      const dir = '/channels-payloads';
      const manager = await MetadataManager.open(dir, { fs: disk, flushIntervalMs: 0 });
      await Promise.all([manager.updateCurrentTerm(1), manager.updateVotedFor(2)]);
      await manager.updateCurrentTerm(3);
      await manager.sync();

      const mine = fsyncs.filter((event) => event.dir === dir);
      expect(mine.map((event) => Object.keys(event).sort())).toEqual(
        mine.map(() => ['bytes', 'dir', 'durationMs', 'records']),
      );
      expect(mine.reduce((sum, event) => sum + event.records, 0)).toBe(3);
      expect(mine.reduce((sum, event) => sum + event.bytes, 0)).toBe(3 * 48);
      expect(manager.stats().fsyncs).toBe(mine.length);

      // The open of a new directory writes its first snapshot (lastSeq 0), then sync() covers 3.
      expect(compactions.filter((event) => event.dir === dir)).toEqual([
        { dir, lastSeq: 0, durationMs: expect.any(Number), rotatedLog: false },
        { dir, lastSeq: 3, durationMs: expect.any(Number), rotatedLog: true },
      ]);

      disk.failNext({ op: 'writeDurable', errno: 'EIO' });
      await expect(manager.updateCurrentTerm(4)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
      const failed = failures.filter((event) => event.dir === dir);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.error).toMatchObject({ code: 'EIO' });
      await manager.close().catch(() => {});
    } finally {
      for (const stop of stops) stop();
    }
  });

  it('the returned function unsubscribes', async () => {
    const seen: FsyncEvent[] = [];
    const stop = subscribeChannel(CHANNELS.fsync, (event) => seen.push(event));
    const manager = await MetadataManager.open('/channels-unsubscribe', {
      fs: new SimulatedDisk(),
      flushIntervalMs: 0,
    });
    await manager.updateCurrentTerm(1);
    expect(seen).toHaveLength(1);
    stop();
    await manager.updateCurrentTerm(2);
    expect(seen).toHaveLength(1);
    await manager.close();
  });
});
