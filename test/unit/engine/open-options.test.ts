import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdentityMismatchError, MetadataNotFoundError } from '../../../src/errors.js';
import { Metadata, MetadataManager, type NodeIdentity } from '../../../src/index.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import { directoryContents, tempDir } from '../../helpers.js';

/**
 * Issue 11's open options through the public API: `createIfMissing: false` (an unmounted volume,
 * a wrong path, must not start a node over at term 0) and the node identity (stamped at creation,
 * checked on every open and on `Metadata.load` when given, adopted by a directory that has no
 * stamp). Every refusal names what it found and changes nothing in the directory.
 */

const FIXTURES = join(import.meta.dirname, '../../fixtures/v1');
const A: NodeIdentity = { clusterId: 'prod-east', nodeId: 3 };
const B: NodeIdentity = { clusterId: 'prod-east', nodeId: 4 };

interface SnapshotJson {
  readonly version: number;
  readonly identity: NodeIdentity | null;
  readonly directoryId: string;
  readonly lastSeq: number;
}
const snapshotOf = (dir: string): SnapshotJson =>
  JSON.parse(readFileSync(Metadata.genMetadataFilepath(dir), 'utf8')) as SnapshotJson;

/** A directory a node has run in: terms 1..`term`, a vote for `vote`. */
async function established(options: { identity?: NodeIdentity } = {}, term = 2, vote = 5): Promise<string> {
  const dir = tempDir('raft-open-');
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0, ...options });
  for (let t = 1; t <= term; t++) await manager.updateCurrentTerm(t);
  await manager.updateVotedFor(vote);
  await manager.close();
  return dir;
}

function copyFixture(name: string): string {
  const dir = join(tempDir('raft-v1-'), name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** `dir` after a refused open: unchanged, except an empty LOCK the open may create if there was none. */
function expectUnchanged(dir: string, before: Record<string, string>): void {
  const after = directoryContents(dir);
  if (before.LOCK === undefined && after.LOCK === '') delete after.LOCK;
  expect(after).toEqual(before);
}

describe('createIfMissing: false', () => {
  it('a missing directory: ERR_METADATA_NOT_FOUND (missing), and nothing is created, not even the directory', async () => {
    const parent = tempDir();
    const dir = join(parent, 'node', 'metadata');
    const err = await rejection(MetadataManager.open(dir, { createIfMissing: false, flushIntervalMs: 0 }));
    expect(err).toBeInstanceOf(MetadataNotFoundError);
    expect(err).toMatchObject({ code: 'ERR_METADATA_NOT_FOUND', reason: 'missing' });
    const message = (err as Error).message;
    expect(message).toContain(dir);
    expect(message).toContain('does not exist');
    expect(message).toMatch(/mount|restore/i);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('an empty directory (an unmounted volume): ERR_METADATA_NOT_FOUND (empty), still empty, no LOCK', async () => {
    const dir = tempDir();
    const err = await rejection(MetadataManager.open(dir, { createIfMissing: false, flushIntervalMs: 0 }));
    expect(err).toMatchObject({ code: 'ERR_METADATA_NOT_FOUND', reason: 'empty', dir });
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain('createIfMissing');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a directory with a LOCK and other files but no snapshot and no log is empty too, and left as it was', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'LOCK'), '');
    writeFileSync(join(dir, 'notes.txt'), 'mount point');
    writeFileSync(join(dir, 'metadata.json.tmp'), '{"half":');
    mkdirSync(join(dir, 'lost+found'));
    const before = directoryContents(dir);
    await expect(
      MetadataManager.open(dir, { createIfMissing: false, flushIntervalMs: 0 }),
    ).rejects.toMatchObject({
      code: 'ERR_METADATA_NOT_FOUND',
      reason: 'empty',
    });
    expect(directoryContents(dir)).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(['LOCK', 'lost+found', 'metadata.json.tmp', 'notes.txt']);
  });

  it('the constructor form is refused the same way: ready() and every queued call reject, nothing is created', async () => {
    const parent = tempDir();
    const dir = join(parent, 'node');
    const initial = new Metadata(dir);
    initial.currentTerm = 4;
    initial.votedFor = 2;
    const manager = new MetadataManager(initial, 0, { createIfMissing: false });
    const update = manager.updateCurrentTerm(5);
    await expect(manager.ready()).rejects.toMatchObject({
      code: 'ERR_METADATA_NOT_FOUND',
      reason: 'missing',
    });
    await expect(update).rejects.toMatchObject({ code: 'ERR_METADATA_NOT_FOUND' });
    await manager.close();
    expect(readdirSync(parent)).toEqual([]);
  });

  it('an established directory opens with its state', async () => {
    const dir = await established();
    const manager = await MetadataManager.open(dir, { createIfMissing: false, flushIntervalMs: 0 });
    expect(manager.get()).toMatchObject({ currentTerm: 2, votedFor: 5 });
    await manager.updateCurrentTerm(3);
    await manager.close();
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 3, votedFor: 0 });
  });

  it('a version-1 directory and a hand-written snapshot count as established', async () => {
    for (const name of ['log-only', 'hand-written']) {
      const dir = copyFixture(name);
      const manager = await MetadataManager.open(dir, { createIfMissing: false, flushIntervalMs: 0 });
      await manager.close();
    }
  });

  it('the default (true) creates a missing directory and starts at term 0', async () => {
    const dir = join(tempDir(), 'new', 'node');
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    expect(manager.get()).toMatchObject({ currentTerm: 0, votedFor: 0 });
    await manager.close();
    expect(existsSync(Metadata.genMetadataFilepath(dir))).toBe(true);
  });

  it('a non-boolean createIfMissing is ERR_INVALID_ARG_TYPE before any I/O', async () => {
    const disk = new SimulatedDisk();
    for (const value of ['false', 0, null]) {
      await expect(
        MetadataManager.open('/d', { fs: disk, createIfMissing: value as unknown as boolean }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    }
    expect(disk.trace).toEqual([]);
  });
});

describe('node identity', () => {
  it('is stamped when the directory is created', async () => {
    const dir = tempDir();
    const manager = await MetadataManager.open(dir, { identity: A, flushIntervalMs: 0 });
    // Stamped before open resolves: a crash right after it leaves the stamp on disk.
    expect(snapshotOf(dir)).toMatchObject({ version: 2, identity: A });
    await manager.close();
  });

  it('opens again with the same identity, and without the option (the stamp stays)', async () => {
    const dir = await established({ identity: A });
    const same = await MetadataManager.open(dir, { identity: { ...A }, flushIntervalMs: 0 });
    expect(same.get()).toMatchObject({ currentTerm: 2, votedFor: 5 });
    await same.updateCurrentTerm(3);
    await same.sync();
    await same.close();
    const without = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    await without.updateCurrentTerm(4);
    await without.sync(); // a compaction writes the snapshot again: the stamp goes with it
    await without.close();
    expect(snapshotOf(dir).identity).toEqual(A);
    await expect(MetadataManager.open(dir, { identity: B })).rejects.toMatchObject({
      code: 'ERR_IDENTITY_MISMATCH',
    });
  });

  it('another identity is refused with ERR_IDENTITY_MISMATCH naming both, and nothing changes', async () => {
    const dir = await established({ identity: A });
    const before = directoryContents(dir);
    const err = await rejection(MetadataManager.open(dir, { identity: B, flushIntervalMs: 0 }));
    expect(err).toBeInstanceOf(IdentityMismatchError);
    expect(err).toMatchObject({ code: 'ERR_IDENTITY_MISMATCH', expected: B, found: A });
    const message = (err as Error).message;
    expect(message).toContain(dir);
    expect(message).toContain('"prod-east"');
    expect(message).toContain('nodeId: 3');
    expect(message).toContain('nodeId: 4');
    expect(message).toMatch(/check the path|configuration/);
    expectUnchanged(dir, before);
    // Still A's, still openable by A.
    const again = await MetadataManager.open(dir, { identity: A, flushIntervalMs: 0 });
    expect(again.get()).toMatchObject({ currentTerm: 2, votedFor: 5 });
    await again.close();
  });

  it('tells a number from a string and one cluster from another', async () => {
    const dir = await established({ identity: A });
    for (const other of [
      { clusterId: 'prod-east', nodeId: '3' },
      { clusterId: 'prod-west', nodeId: 3 },
    ]) {
      await expect(MetadataManager.open(dir, { identity: other, flushIntervalMs: 0 })).rejects.toMatchObject({
        code: 'ERR_IDENTITY_MISMATCH',
        found: A,
        expected: other,
      });
    }
  });

  it('is adopted by a directory made without the option, then held to', async () => {
    const dir = await established();
    expect(snapshotOf(dir).identity).toBeNull();
    const directoryId = snapshotOf(dir).directoryId;
    const adopting = await MetadataManager.open(dir, { identity: A, flushIntervalMs: 0 });
    // Adopted before open resolves, with the same directory id and state.
    expect(snapshotOf(dir)).toMatchObject({ identity: A, directoryId });
    expect(adopting.get()).toMatchObject({ currentTerm: 2, votedFor: 5 });
    await adopting.close();
    await expect(MetadataManager.open(dir, { identity: B })).rejects.toMatchObject({
      code: 'ERR_IDENTITY_MISMATCH',
      found: A,
    });
    expect(await Metadata.load(dir, { identity: A })).toMatchObject({ currentTerm: 2, votedFor: 5 });
  });

  it('is adopted by a version-1 directory (0.1.0) at its first open', async () => {
    const dir = copyFixture('snapshot-and-log');
    const manager = await MetadataManager.open(dir, { identity: A, flushIntervalMs: 0 });
    expect(manager.get()).toMatchObject({ currentTerm: 7, votedFor: 0 });
    await manager.close();
    expect(snapshotOf(dir)).toMatchObject({ version: 2, identity: A });
    await expect(Metadata.load(dir, { identity: B })).rejects.toMatchObject({
      code: 'ERR_IDENTITY_MISMATCH',
    });
    expect(await Metadata.load(dir, { identity: A })).toMatchObject({ currentTerm: 7, votedFor: 0 });
  });

  it('is adopted by a hand-written (version-1) snapshot', async () => {
    const dir = copyFixture('hand-written');
    const manager = await MetadataManager.open(dir, { identity: B, flushIntervalMs: 0 });
    expect(manager.get()).toMatchObject({ currentTerm: 11, votedFor: 3 });
    await manager.close();
    expect(snapshotOf(dir).identity).toEqual(B);
  });
});

describe('Metadata.load with an identity', () => {
  it('loads a directory stamped with it', async () => {
    const dir = await established({ identity: A });
    expect(await Metadata.load(dir, { identity: A })).toMatchObject({ currentTerm: 2, votedFor: 5 });
  });

  it('refuses a directory stamped with another, naming both, and writes nothing', async () => {
    const dir = await established({ identity: A });
    const before = directoryContents(dir);
    const err = await rejection(Metadata.load(dir, { identity: B }));
    expect(err).toBeInstanceOf(IdentityMismatchError);
    expect(err).toMatchObject({ code: 'ERR_IDENTITY_MISMATCH', expected: B, found: A });
    expect((err as Error).message).toContain(dir);
    expect(directoryContents(dir)).toEqual(before);
  });

  it('loads an unstamped directory and does not stamp it (a read never writes)', async () => {
    const dir = await established();
    const before = directoryContents(dir);
    expect(await Metadata.load(dir, { identity: A })).toMatchObject({ currentTerm: 2, votedFor: 5 });
    expect(directoryContents(dir)).toEqual(before);
    // Still unstamped: another identity can be adopted by the next open.
    const manager = await MetadataManager.open(dir, { identity: B, flushIntervalMs: 0 });
    await manager.close();
    expect(snapshotOf(dir).identity).toEqual(B);
  });

  it('loads without the option whatever the stamp', async () => {
    const dir = await established({ identity: A });
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 2, votedFor: 5 });
  });
});

describe('a bad identity option is ERR_INVALID_ARG_TYPE before any I/O', () => {
  const bad: [string, unknown][] = [
    ['a string', 'node-3'],
    ['null', null],
    ['an array', ['c', 3]],
    ['a missing nodeId', { clusterId: 'c' }],
    ['an extra key', { clusterId: 'c', nodeId: 3, zone: 'a' }],
    ['an empty string', { clusterId: '', nodeId: 3 }],
    ['a string of 257 characters', { clusterId: 'x'.repeat(257), nodeId: 3 }],
    ['a negative number', { clusterId: 'c', nodeId: -1 }],
    ['a fraction', { clusterId: 'c', nodeId: 1.5 }],
    ['an unsafe integer', { clusterId: 'c', nodeId: 2 ** 53 }],
    ['a boolean', { clusterId: 'c', nodeId: true }],
  ];
  for (const [what, identity] of bad) {
    it(`${what}`, async () => {
      const disk = new SimulatedDisk();
      await expect(
        MetadataManager.open('/d', { fs: disk, identity: identity as NodeIdentity }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('identity') });
      await expect(
        Metadata.load('/d', { fs: disk, identity: identity as NodeIdentity }),
      ).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG_TYPE',
      });
      expect(disk.trace).toEqual([]);
    });
  }

  it('on the real disk: the directory is not created', async () => {
    const parent = tempDir();
    const dir = join(parent, 'node');
    await expect(
      MetadataManager.open(dir, { identity: { clusterId: 'c' } as unknown as NodeIdentity }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(readdirSync(parent)).toEqual([]);
  });

  it('the largest valid parts are accepted', async () => {
    const identity = { clusterId: 'x'.repeat(256), nodeId: Number.MAX_SAFE_INTEGER };
    const dir = tempDir();
    const manager = await MetadataManager.open(dir, { identity, flushIntervalMs: 0 });
    await manager.close();
    expect(snapshotOf(dir).identity).toEqual(identity);
    expect(await Metadata.load(dir, { identity })).toMatchObject({ currentTerm: 0 });
  });
});
