import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
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

const root = join(import.meta.dirname, '..', '..');

/** Every ```ts or ```js block of a markdown file that uses the channels. */
function channelSnippets(doc: string): string[] {
  const text = readFileSync(join(root, doc), 'utf8');
  return [...text.matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .filter((code) => code.includes('CHANNELS') || code.includes('subscribeChannel'));
}

/**
 * Type-checks code as a consumer's module would be (strict, ESM, no synthetic default imports),
 * with `raft-metadata` resolved to this repository's sources. Returns tsc's messages by file.
 */
function typeCheck(files: Record<string, string>): Record<string, string[]> {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2024.d.ts', 'lib.esnext.disposable.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    esModuleInterop: false,
    allowSyntheticDefaultImports: false,
    skipLibCheck: true,
    noEmit: true,
    paths: {
      'raft-metadata': [join(root, 'src', 'index.ts')],
      'raft-metadata/testing': [join(root, 'src', 'testing', 'index.ts')],
    },
  };
  // The snippets are served from memory under the repository's root (an ESM package), so that
  // @types/node resolves as it does for the repository's own files.
  const virtual = new Map(Object.entries(files).map(([name, code]) => [join(root, name), code]));
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile } = host;
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);
  const program = ts.createProgram([...virtual.keys()], options, host);
  const messages: Record<string, string[]> = Object.fromEntries(Object.keys(files).map((name) => [name, []]));
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const name = diagnostic.file === undefined ? 'global' : relative(root, diagnostic.file.fileName);
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    messages[name] = [...(messages[name] ?? []), text];
  }
  return messages;
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
      expect(mine.reduce((sum, event) => sum + event.bytes, 0)).toBe(3 * 32);
      expect(manager.stats().fsyncs).toBe(mine.length);

      expect(compactions.filter((event) => event.dir === dir)).toEqual([
        { dir, lastSeq: 3, durationMs: expect.any(Number), rotatedLog: expect.any(Boolean) },
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
