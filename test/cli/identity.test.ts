import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newDirectoryId } from '../../src/format/directory-id.js';
import { decodeHeader } from '../../src/format/record.js';
import { MetadataManager, NodeFileSystem } from '../../src/index.js';
import { LogWriter } from '../../src/storage/log-writer.js';
import { recoverDirectory } from '../../src/storage/recovery.js';
import {
  cli,
  cliJson,
  contents,
  flipByte,
  foreignLogDirectory,
  foreignRecordsDirectory,
  HISTORY,
  logNames,
  makeDirectory,
  missingLogDirectory,
  multiGroupDirectory,
  newestLog,
  slot,
  snapshotDirectoryId,
  tempDir,
  v1Copy,
} from './helpers.js';

/**
 * The CLI on format v1 and v2, and on directories that mix files of two identities (issue 11):
 * it says which version each file is in and whose directory it is, reports files and records of
 * another directory as such (never as this node's state, never as torn damage), and `repair`
 * keeps the directory's identity and sets foreign files aside.
 */

const fs = new NodeFileSystem();
afterAll(() => fs.dispose());

type Json = Record<string, unknown>;

function snapshotJson(dir: string): Json {
  return JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as Json;
}

/** The directory id in a log's header (format v2). */
function logDirectoryId(path: string): string | undefined {
  const decoded = decodeHeader(readFileSync(path));
  if ('problem' in decoded) throw new Error(`${path}: ${decoded.problem.reason}`);
  return decoded.directoryId;
}

describe.concurrent('format versions', () => {
  it('a format-v1 directory (0.1.0): every file v1, no directory id, no identity; read-only', async () => {
    const dir = v1Copy('snapshot-and-log');
    const before = contents(dir);
    const { code, json } = await cliJson('inspect', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      verdict: 'clean',
      state: { currentTerm: 7, votedFor: 0 },
      logs: [{ name: 'log-0000000000000003.wal', formatVersion: 1 }],
      format: {
        summary: 'v1',
        versions: [1],
        directoryId: null,
        identity: null,
        snapshot: { name: 'metadata.json', version: 1, directoryId: null },
        logs: [{ name: 'log-0000000000000003.wal', version: 1, directoryId: null, foreign: false }],
        foreignFiles: [],
      },
    });
    const text = await cli('inspect', dir);
    expect(text.stdout).toMatch(/format\s+v1 \(written by 0\.1\.0\): the next open rewrites it as v2/);
    expect(text.stdout).toMatch(/directory id\s+none \(format v1 has none/);
    expect(text.stdout).toContain('metadata.json: format v1, covers seq 1..');
    expect(text.stdout).toContain('log-0000000000000003.wal: format v1,');
    const verify = await cli('verify', dir);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('(metadata.json v1, log-0000000000000003.wal v1)');
    expect(contents(dir)).toEqual(before); // the CLI's read commands never upgrade
  });

  it('v1 and v2 together: "upgrade in progress", and compact finishes it', async () => {
    const dir = v1Copy('snapshot-and-log');
    // What a crash during the first open by this version leaves: the new v2 log, before the snapshot.
    const recovered = await recoverDirectory(fs, dir);
    const id = newDirectoryId();
    await (await LogWriter.create(fs, dir, recovered.lastSeq + 1, id)).close();
    const { json } = await cliJson('inspect', dir);
    expect(json).toMatchObject({
      verdict: 'clean',
      format: {
        summary: 'v1-and-v2',
        message: 'v1 and v2: upgrade in progress, the next open/compaction finishes it',
        versions: [1, 2],
        directoryId: id,
        foreignFiles: [],
      },
    });
    expect((await cli('inspect', dir)).stdout).toMatch(
      /format\s+v1 and v2: upgrade in progress, the next open\/compaction finishes it/,
    );
    expect((await cli('dump', dir)).stdout).toContain(`directory id ${id}`);
    const compacted = await cli('compact', dir);
    expect(compacted.code).toBe(0);
    expect(compacted.stdout).toMatch(/format\s+v1 and v2: upgrade in progress, .*; now v2\n/);
    const after = await cliJson('inspect', dir);
    expect(after.json).toMatchObject({
      state: { currentTerm: 7, votedFor: 0 },
      format: { summary: 'v2', versions: [2], directoryId: id },
    });
  });

  it('a format-v2 directory stamped with a node identity shows it', async () => {
    const dir = join(tempDir(), 'meta');
    const manager = await MetadataManager.open(dir, {
      flushIntervalMs: 0,
      identity: { clusterId: 'prod', nodeId: 3 },
    });
    await manager.updateCurrentTerm(2);
    await manager.close();
    const { json } = await cliJson('verify', dir);
    expect(json.format).toMatchObject({ summary: 'v2', identity: { clusterId: 'prod', nodeId: 3 } });
    expect((await cli('inspect', dir)).stdout).toMatch(/identity\s+\{clusterId: "prod", nodeId: 3\}/);
  });
});

describe.concurrent('files and records of another directory', () => {
  it("another directory's log in place of ours: corrupt, reported as foreign, never this node's state", async () => {
    const { dir, otherId } = await foreignLogDirectory();
    const before = contents(dir);
    const verify = await cliJson('verify', dir);
    expect(verify.code).toBe(2);
    expect(verify.json.corruption).toMatchObject({
      file: 'log-0000000000000003.wal',
      reason: expect.stringContaining('log belongs to another directory'),
    });
    const { json } = await cliJson('dump', dir);
    expect(json).toMatchObject({
      state: null,
      format: {
        summary: 'v2',
        directoryId: snapshotDirectoryId(dir),
        directoryIdFrom: 'metadata.json',
        foreignFiles: [
          { name: 'log-0000000000000003.wal', version: 2, directoryId: otherId, reason: 'other-directory' },
        ],
        logs: [{ name: 'log-0000000000000003.wal', directoryId: otherId, foreign: true }],
      },
    });
    const [log] = json.logs as { records: { status: string }[]; damage: unknown[] }[];
    expect(log?.records.map((r) => r.status)).toEqual(['foreign', 'foreign', 'foreign', 'foreign']);
    expect(log?.damage).toEqual([]);
    const text = await cli('inspect', dir);
    expect(text.stdout).toMatch(/FOREIGN\s+log-0000000000000003.wal belongs to another directory/);
    expect(text.stdout).toContain('BELONGS TO ANOTHER DIRECTORY');
    expect(contents(dir)).toEqual(before);
  });

  it('whole records of another directory after our last record: foreign, not torn damage', async () => {
    const dir = await foreignRecordsDirectory();
    const verify = await cliJson('verify', dir);
    expect(verify.code).toBe(2);
    expect(verify.json.corruption).toMatchObject({
      offset: slot(4),
      reason: expect.stringContaining('record (seq 3) belongs to another directory'),
    });
    const { json } = await cliJson('dump', dir);
    const [log] = json.logs as { readableRecords: number; damage: unknown[]; records: { seq: number }[] }[];
    expect(log?.readableRecords).toBe(4); // this directory's own four, not the foreign two
    expect(log?.damage).toEqual([]);
    expect(json.format).toMatchObject({
      foreignFiles: [],
      logs: [
        {
          foreign: false,
          foreignRecords: [
            { offset: slot(4), seq: 3 },
            { offset: slot(5), seq: 4 },
          ],
        },
      ],
    });
    const text = await cli('dump', dir);
    expect(text.stdout).toMatch(
      new RegExp(`${slot(4)}\\s+3\\s+-\\s+FOREIGN\\s+-\\s+-\\s+a whole record of another directory`),
    );
    expect(text.stdout).toContain('2 whole records of another directory');
  });

  it('a missing newest log ("log ... is missing") is corrupt, and repair will not guess the term', async () => {
    const dir = await missingLogDirectory();
    const verify = await cli('verify', dir);
    expect(verify.code).toBe(2);
    expect(verify.stdout).toContain('log log-0000000000000007.wal is missing');
    const before = contents(dir);
    const refused = await cliJson('repair', '--yes', dir);
    expect(refused.code).toBe(5);
    expect(refused.json).toMatchObject({ needsMinTerm: true, endProven: false });
    expect((refused.json.reasons as string[]).join('\n')).toContain(
      'the snapshot names log-0000000000000007.wal as the log after seq 6, and it is missing',
    );
    expect(contents(dir)).toEqual(before);
    const id = snapshotDirectoryId(dir);
    const { code, json } = await cliJson('repair', '--yes', '--min-term', '9', dir);
    expect(code).toBe(0);
    // Not log-...07: creating the very log the old snapshot names would let a crash before the new
    // snapshot leave a directory that loads the old state. One sequence number is skipped.
    expect(json).toMatchObject({
      after: { currentTerm: 9, votedFor: 0, lastSeq: 7 },
      createFile: 'log-0000000000000008.wal',
    });
    expect(logNames(dir)).toEqual(['log-0000000000000008.wal']);
    expect(snapshotDirectoryId(dir)).toBe(id);
    expect(logDirectoryId(newestLog(dir))).toBe(id);
    expect((await cli('verify', dir)).code).toBe(0);
  });
});

describe.concurrent('repair keeps the identity and sets foreign files aside', () => {
  it('a foreign log: needs --min-term, then moved into backup/foreign/, never adopted', async () => {
    const { dir, otherId, otherLog } = await foreignLogDirectory();
    const id = snapshotDirectoryId(dir);
    const plan = await cliJson('repair', '--yes', dir);
    expect(plan.code).toBe(5); // the foreign log may stand in for ours: the disk proves no term
    expect(plan.json).toMatchObject({
      needsMinTerm: true,
      setAside: [{ name: 'log-0000000000000003.wal', directoryId: otherId, reason: 'other-directory' }],
      keep: { directoryId: id, newDirectoryId: false },
      // None of the foreign log's numbers counts: the highest term is our snapshot's.
      highestTerm: { value: 3, source: 'metadata.json (checksum ok)' },
    });
    const text = await cli('repair', '--min-term', '20', dir);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/set aside\s+log-0000000000000003.wal \(directory id [0-9a-f]{32}\)/);
    expect(text.stdout).toContain("(another directory's) into its foreign/");

    const { code, json } = await cliJson('repair', '--yes', '--min-term', '20', dir);
    expect(code).toBe(0);
    const result = json.result as { backupDir: string };
    expect(json).toMatchObject({
      // The new log does not replace the foreign one (a crash in between would load our old
      // snapshot alone): it starts one later, and the foreign log is removed after the snapshot.
      after: { currentTerm: 20, votedFor: 0, lastSeq: 3 },
      repaired: {
        created: 'log-0000000000000004.wal',
        directoryId: id,
        identity: null,
        setAside: [
          {
            name: 'log-0000000000000003.wal',
            directoryId: otherId,
            movedTo: join(result.backupDir, 'foreign', 'log-0000000000000003.wal'),
          },
        ],
      },
    });
    // Moved aside byte for byte, not into the backup's own files.
    expect(readFileSync(join(result.backupDir, 'foreign', 'log-0000000000000003.wal')).equals(otherLog)).toBe(
      true,
    );
    expect(existsSync(join(result.backupDir, 'log-0000000000000003.wal'))).toBe(false);
    // The only log is this directory's (empty, our id); the directory loads term 20.
    expect(logNames(dir)).toEqual(['log-0000000000000004.wal']);
    expect(logDirectoryId(newestLog(dir))).toBe(id);
    const loaded = await recoverDirectory(fs, dir);
    expect(loaded).toMatchObject({ state: { currentTerm: 20, votedFor: 0 }, directoryId: id });
    expect((await cli('verify', dir)).code).toBe(0);
  });

  it('keeps the node identity and the directory id of a damaged v2 directory', async () => {
    const dir = join(tempDir(), 'meta');
    const identity = { clusterId: 'prod', nodeId: 7 };
    const manager = await MetadataManager.open(dir, { flushIntervalMs: 0, identity });
    await manager.updateCurrentTerm(3);
    await manager.updateVotedFor(2);
    await manager.sync();
    await manager.updateCurrentTerm(4);
    await manager.updateVotedFor(5);
    await manager.updateCurrentTerm(7);
    await manager.updateVotedFor(1);
    await manager.close();
    const id = snapshotDirectoryId(dir);
    flipByte(newestLog(dir), slot(1) + 20);
    const { code, json } = await cliJson('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      keep: { directoryId: id, identity },
      repaired: { directoryId: id, identity, created: 'log-0000000000000007.wal', setAside: [] },
    });
    expect(snapshotJson(dir)).toMatchObject({ version: 2, directoryId: id, identity, lastSeq: 6 });
    expect(logDirectoryId(join(dir, 'log-0000000000000007.wal'))).toBe(id);
    // The node opens it with its identity, and another node's identity is refused.
    const reopened = await MetadataManager.open(dir, { flushIntervalMs: 0, identity });
    expect(reopened.get()).toMatchObject({ currentTerm: 8, votedFor: 0 });
    await reopened.close();
    await expect(
      MetadataManager.open(dir, { flushIntervalMs: 0, identity: { clusterId: 'prod', nodeId: 8 } }),
    ).rejects.toMatchObject({ code: 'ERR_IDENTITY_MISMATCH' });
  });

  it('a damaged format-v1 directory gets a new directory id, written as v2', async () => {
    const dir = v1Copy('damaged');
    const { code, json } = await cliJson('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({ keep: { directoryId: null, newDirectoryId: true } });
    const made = (json.repaired as { directoryId: string }).directoryId;
    expect(made).toMatch(/^[0-9a-f]{32}$/);
    expect(snapshotJson(dir)).toMatchObject({ version: 2, directoryId: made, identity: null });
    const logs = logNames(dir);
    expect(logs).toHaveLength(1);
    expect(logDirectoryId(join(dir, logs[0] ?? ''))).toBe(made);
    const inspect = await cliJson('inspect', dir);
    expect(inspect.json).toMatchObject({ verdict: 'clean', format: { summary: 'v2', directoryId: made } });
    expect(readdirSync(dir).some((n) => n.startsWith('backup-'))).toBe(true);
  });

  it('a torn v1 directory: the compact repair keeps the vote and upgrades to v2', async () => {
    const dir = v1Copy('torn-tail');
    const { code, json } = await cliJson('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({ strategy: 'compact', result: { state: { currentTerm: 5, votedFor: 2 } } });
    expect(snapshotJson(dir)).toMatchObject({ version: 2, groups: [[0, 5, 2]] });
    expect((await cli('verify', dir)).code).toBe(0);
  });

  it('a --bump-term repair of a compacted directory starts after the empty log the snapshot named', async () => {
    const dir = await makeDirectory([...HISTORY, 'sync']);
    const id = snapshotDirectoryId(dir);
    const { code, json } = await cliJson('repair', '--yes', '--bump-term', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      after: { currentTerm: 8, lastSeq: 7 },
      createFile: 'log-0000000000000008.wal',
      removeFiles: ['log-0000000000000007.wal'],
    });
    expect(logNames(dir)).toEqual(['log-0000000000000008.wal']);
    expect(snapshotDirectoryId(dir)).toBe(id);
  });
});

describe.concurrent('a multi-group directory (MetadataStore)', () => {
  it('dump shows each record with its group and the removal; compact and a per-group repair', async () => {
    const dir = await multiGroupDirectory();
    const before = contents(dir);
    const { code, json } = await cliJson('dump', dir);
    expect(code).toBe(0);
    const records = (
      json.logs as { records: { kind: string; group?: number; currentTerm: number }[] }[]
    ).flatMap((log) => log.records);
    expect(records).toContainEqual(expect.objectContaining({ kind: 'term', group: 5, currentTerm: 4 }));
    expect(records).toContainEqual(expect.objectContaining({ kind: 'remove', group: 9, currentTerm: 3 }));
    // Group 0's records carry no `group` field (the shape 0.1.0's schema knows).
    expect(records.filter((r) => r.group === undefined).every((r) => r.kind !== 'remove')).toBe(true);
    expect(json.state).toMatchObject({ currentTerm: 2, votedFor: 1 }); // group 0's
    expect((await cli('dump', dir)).stdout).toMatch(/remove@g9/);

    expect(contents(dir)).toEqual(before);
    // compact opens it as a MetadataStore; repair decides per group (test/cli/groups.test.ts).
    const compact = await cliJson('compact', dir);
    expect(compact.code).toBe(0);
    expect(compact.json).toMatchObject({ refusal: null, groups: { multiGroup: true, live: 2, removed: 1 } });
    const repair = await cliJson('repair', '--yes', '--bump-term', dir);
    expect(repair.code).toBe(0);
    expect(repair.json).toMatchObject({
      otherGroups: [5, 9],
      refusal: null,
      applied: true,
      groupRepairs: { groups: 3, kept: 0, raised: 3 },
    });
  });
});
