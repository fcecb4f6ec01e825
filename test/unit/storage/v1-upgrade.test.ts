import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeHeader } from '../../../src/format/record.js';
import { Metadata, MetadataManager } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

/**
 * Issue 11: a directory written by 0.1.0 (format v1, the golden copies in test/fixtures/v1) opens,
 * and once its first open has resolved every file in it is format v2: a version-2 snapshot with a
 * new directory id, logs with version-2 headers carrying that id, no version-1 log left, and the
 * same state. (test/unit/format/v1-fixtures.test.ts checks that they load and open unchanged.)
 */

const FIXTURES = join(import.meta.dirname, '../../fixtures/v1');
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Record<
  string,
  { currentTerm?: number; votedFor?: number; error?: string }
>;
const openable = Object.entries(manifest).filter(([, expected]) => expected.error === undefined);

function copyFixture(name: string): string {
  const dir = join(tempDir('raft-upgrade-'), name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

interface Versions {
  readonly snapshot: { version: number; directoryId?: string; lastSeq: number; nextLog?: string };
  readonly logs: { name: string; version: number | undefined; directoryId: string | undefined }[];
}

function versionsIn(dir: string): Versions {
  const snapshot = JSON.parse(
    readFileSync(Metadata.genMetadataFilepath(dir), 'utf8'),
  ) as Versions['snapshot'];
  const logs = readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((name) => {
      const header = decodeHeader(readFileSync(join(dir, name)));
      return 'problem' in header
        ? { name, version: undefined, directoryId: undefined }
        : { name, version: header.layout.version, directoryId: header.directoryId };
    });
  return { snapshot, logs };
}

function expectAllV2(dir: string): void {
  const { snapshot, logs } = versionsIn(dir);
  expect(snapshot.version).toBe(2);
  expect(snapshot.directoryId).toMatch(/^[0-9a-f]{32}$/);
  expect(logs.length).toBeGreaterThan(0);
  for (const log of logs)
    expect(log, log.name).toMatchObject({ version: 2, directoryId: snapshot.directoryId });
  // The log the snapshot names is there.
  expect(logs.map((l) => l.name)).toContain(snapshot.nextLog);
}

describe('a version-1 directory is rewritten as version 2 by its first open', () => {
  for (const [name, expected] of openable) {
    it(`${name}: every file is v2 once open resolves, with the same state, before and after close`, async () => {
      const dir = copyFixture(name);
      const state = { currentTerm: expected.currentTerm, votedFor: expected.votedFor };
      const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
      expect(manager.get()).toMatchObject(state);
      expectAllV2(dir);
      const { snapshot } = versionsIn(dir);
      await manager.close();
      expectAllV2(dir);
      expect(await Metadata.load(dir)).toMatchObject(state);
      // The id made at the upgrade is the directory's from now on: the next open keeps it.
      const again = await MetadataManager.open(dir, { flushIntervalMs: 0 });
      await again.updateCurrentTerm((expected.currentTerm ?? 0) + 1);
      await again.sync();
      await again.close();
      expect(versionsIn(dir).snapshot.directoryId).toBe(snapshot.directoryId);
      expectAllV2(dir);
      expect(await Metadata.load(dir)).toMatchObject({
        currentTerm: (expected.currentTerm ?? 0) + 1,
        votedFor: 0,
      });
    });
  }

  it('two copies of the same v1 directory get different ids', async () => {
    const one = copyFixture('log-only');
    const two = copyFixture('log-only');
    for (const dir of [one, two]) await (await MetadataManager.open(dir, { flushIntervalMs: 0 })).close();
    expect(versionsIn(one).snapshot.directoryId).not.toBe(versionsIn(two).snapshot.directoryId);
  });

  it('a v1 directory that load reads is left v1 by load (only an open upgrades)', async () => {
    const dir = copyFixture('snapshot-and-log');
    await Metadata.load(dir);
    expect(versionsIn(dir).snapshot.version).toBe(1);
    expect(versionsIn(dir).logs.map((l) => l.version)).toEqual([1]);
  });
});
