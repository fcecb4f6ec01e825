import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PREALLOCATE_BYTES } from '../../src/storage/log-writer.js';
import {
  cli,
  cliJson,
  contents,
  flipByte,
  HISTORY,
  holdOpen,
  makeDirectory,
  newestLog,
  nonZeroIn,
  RECORD_BYTES,
  slot,
  snapshotDirectoryId,
  tempDir,
  writeAt,
} from './helpers.js';

// The usual directory: metadata.json covers seq 1..2 (term 3, vote 2); log-...03.wal (format v2)
// holds seq 3..6 in slots 0..3:
//   slot(0) seq 3 term 4 | slot(1) seq 4 vote 5 | slot(2) seq 5 term 7 | slot(3) seq 6 vote 1
// then preallocated zeros from slot(4). Offsets come from the layout (48-byte header and records).
const END = slot(4);
const SIZE = slot(0) + PREALLOCATE_BYTES;

/** A torn tail: 10 junk bytes where the next record would go (a write cut short by a crash). */
async function tornDirectory(): Promise<string> {
  const dir = await makeDirectory(HISTORY);
  writeAt(newestLog(dir), END, new Uint8Array(10).fill(7));
  return dir;
}

/** A flipped byte in the vote record at slot(1), followed by records of later writes: corruption. */
async function flippedDirectory(): Promise<string> {
  const dir = await makeDirectory(HISTORY);
  flipByte(newestLog(dir), slot(1) + 20);
  return dir;
}

describe.concurrent('inspect', () => {
  it('shows the state, the snapshot, each log and the lock of a clean directory', async () => {
    const dir = await makeDirectory(HISTORY);
    const { code, stdout } = await cli('inspect', dir);
    expect(code).toBe(0);
    expect(stdout).toContain('term 7, vote 1, last seq 6 (what a node loads)');
    expect(stdout).toMatch(/verdict\s+clean/);
    expect(stdout).toContain('metadata.json: format v2, covers seq 1..2, term 3, vote 2, checksum ok');
    expect(stdout).toContain(`log-0000000000000003.wal: format v2, 4 records (seq 3..6), ${SIZE} bytes`);
    expect(stdout).toContain(`tail: clean (valid records end at byte ${END})`);
    expect(stdout).toMatch(/lock\s+free/);
    expect(stdout).toMatch(/format\s+v2\n/);
    expect(stdout).toMatch(
      new RegExp(`directory id\\s+${snapshotDirectoryId(dir)} \\(from metadata.json\\)`),
    );
    expect(stdout).toMatch(/identity\s+none \(not stamped/);
  });

  it('--json has the documented shape', async () => {
    const dir = await tornDirectory();
    const { code, json } = await cliJson('inspect', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      command: 'inspect',
      dir,
      kind: 'metadata',
      verdict: 'torn',
      state: { currentTerm: 7, votedFor: 1, lastSeq: 6 },
      corruption: null,
      error: null,
      snapshot: {
        name: 'metadata.json',
        checksumOk: true,
        currentTerm: 3,
        votedFor: 2,
        lastSeq: 2,
        problem: null,
      },
      logs: [
        {
          name: 'log-0000000000000003.wal',
          size: SIZE,
          firstSeq: 3,
          formatVersion: 2,
          recordCount: 4,
          firstRecordSeq: 3,
          lastRecordSeq: 6,
          tail: { kind: 'torn', offset: END, reason: 'record checksum mismatch', bytesAfter: 10 },
          readableRecords: 4,
          damage: [{ offset: END, length: RECORD_BYTES, nonZeroBytes: 10 }],
        },
      ],
      lock: { state: 'free', lastOwner: { pid: expect.any(Number) } },
      otherFiles: ['LOCK'], // the library leaves it, naming its last owner
      format: {
        summary: 'v2',
        versions: [2],
        directoryId: snapshotDirectoryId(dir),
        directoryIdFrom: 'metadata.json',
        identity: null,
        snapshot: { name: 'metadata.json', version: 2, directoryId: snapshotDirectoryId(dir) },
        logs: [
          {
            name: 'log-0000000000000003.wal',
            version: 2,
            directoryId: snapshotDirectoryId(dir),
            foreign: false,
            foreignRecords: [],
          },
        ],
        foreignFiles: [],
      },
    });
  });

  it('says why a node refuses to start on a corrupt directory, and still describes every file', async () => {
    const dir = await flippedDirectory();
    const { code, stdout } = await cli('inspect', dir);
    expect(code).toBe(0);
    expect(stdout).toContain('none: a node refuses to start (ERR_METADATA_CORRUPT)');
    expect(stdout).toContain(
      `log-0000000000000003.wal: corrupt at byte ${slot(1)}: record checksum mismatch, followed by a valid record (seq 5) at byte ${slot(2)}`,
    );
    expect(stdout).toContain('1 record (seq 3)');
    expect(stdout).toContain('3 readable records in all, counting those after the damage');
  });

  it('shows who holds the lock (pid, host, since when), and who held it last', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    let since: string;
    try {
      const held = await cliJson('inspect', dir);
      expect(held.json.lock).toEqual({
        state: 'held',
        owner: { pid: holder.pid, hostname: hostname(), startedAt: expect.any(String) },
      });
      since = (held.json.lock as { owner: { startedAt: string } }).owner.startedAt;
      const { stdout } = await cli('inspect', dir);
      expect(stdout).toMatch(
        new RegExp(`lock\\s+held by pid ${holder.pid} on host ${hostname()} since ${since}\n`),
      );
    } finally {
      await holder.stop();
    }
    const { stdout } = await cli('inspect', dir);
    expect(stdout).toContain(`free (last held by pid ${holder.pid} on host ${hostname()} since ${since})`);
  });

  it('exits 3 with a reason on stderr for a missing directory', async () => {
    const { code, stderr, stdout } = await cli('inspect', join(tempDir(), 'nope'));
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/not a metadata directory: .*nope does not exist/);
  });
});

describe.concurrent('verify', () => {
  it('exits 0 on a clean directory', async () => {
    const dir = await makeDirectory(HISTORY);
    const { code, stdout } = await cli('verify', dir);
    expect(code).toBe(0);
    expect(stdout).toBe(
      `OK: ${dir} is clean; a node loads term 7, vote 1, last seq 6.\n` +
        `Format: v2 (metadata.json v2, log-0000000000000003.wal v2); directory id ${snapshotDirectoryId(dir)} (from metadata.json); node identity none (not stamped: the next MetadataManager.open with the identity option stamps it).\n`,
    );
  });

  it('exits 1 on a torn tail and says where, how much, and what the next open does', async () => {
    const dir = await tornDirectory();
    const before = contents(dir);
    const { code, stdout } = await cli('verify', dir);
    expect(code).toBe(1);
    expect(stdout).toContain('TORN TAIL (recoverable)');
    expect(stdout).toContain(
      `log-0000000000000003.wal: torn at byte ${END} (record checksum mismatch), 10 non-zero bytes after it.`,
    );
    expect(stdout).toContain('starts a new log after seq 6 and removes the torn log');
    expect(contents(dir)).toEqual(before); // read-only
  });

  it('exits 2 on a flipped byte mid-log, naming file, byte and problem', async () => {
    const dir = await flippedDirectory();
    const { code, json } = await cliJson('verify', dir);
    expect(code).toBe(2);
    expect(json).toMatchObject({
      command: 'verify',
      verdict: 'corrupt',
      exitCode: 2,
      state: null,
      corruption: {
        code: 'ERR_METADATA_CORRUPT',
        file: 'log-0000000000000003.wal',
        offset: slot(1),
        reason: `record checksum mismatch, followed by a valid record (seq 5) at byte ${slot(2)}`,
      },
      error: null,
      format: { summary: 'v2', directoryId: snapshotDirectoryId(dir), foreignFiles: [] },
    });
    expect(json.message).toContain('`npx raft-metadata repair '); // a command the user can run
    expect(json.message).toMatch(
      new RegExp(`^CORRUPT: log-0000000000000003.wal: corrupt at byte ${slot(1)}`),
    );
  });

  it('exits 2 on an edited snapshot', async () => {
    const dir = await makeDirectory(HISTORY);
    const path = join(dir, 'metadata.json');
    // Group 0's row [group, term, vote]: term 3 edited to 2, the checksum no longer matches.
    writeFileSync(path, readFileSync(path, 'utf8').replace('"groups":[[0,3,2]]', '"groups":[[0,2,2]]'));
    const { code, stdout } = await cli('verify', dir);
    expect(code).toBe(2);
    expect(stdout).toContain('CORRUPT: metadata.json: corrupt at byte 0: snapshot checksum mismatch');
    expect(stdout).toContain(
      'metadata.json: its JSON still claims lastSeq 2, currentTerm 2, votedFor 2 (unverified)',
    );
  });

  it('exits 3 for a missing path, a file, an empty directory and a directory of other things', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'file'), 'x');
    mkdirSync(join(base, 'empty'));
    mkdirSync(join(base, 'other'));
    writeFileSync(join(base, 'other', 'notes.txt'), 'x');
    const missing = await cli('verify', join(base, 'missing'));
    expect(missing).toMatchObject({ code: 3, stdout: expect.stringContaining('does not exist') });
    expect((await cli('verify', join(base, 'file'))).stdout).toContain('is not a directory');
    const empty = await cliJson('verify', join(base, 'empty'));
    expect(empty.code).toBe(3);
    expect(empty.json).toMatchObject({ verdict: 'not-metadata', exitCode: 3 });
    expect(empty.json.message).toContain('it is empty');
    const other = await cli('verify', join(base, 'other'));
    expect(other.code).toBe(3);
    expect(other.stdout).toContain('it holds only notes.txt');
  });

  it('--quiet prints nothing', async () => {
    const dir = await tornDirectory();
    expect(await cli('verify', '--quiet', dir)).toEqual({ code: 1, stdout: '', stderr: '' });
  });

  it('notes a live lock holder (a write in flight can look torn)', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    try {
      const { code, stdout } = await cli('verify', dir);
      expect(code).toBe(0);
      expect(stdout).toContain(`Note: pid ${holder.pid} on host ${hostname()} since `);
      expect(stdout).toContain('holds the lock');
    } finally {
      await holder.stop();
    }
  });
});

describe.concurrent('dump', () => {
  it('lists every record with offset, seq, batch, kind, value and status, and where valid records stop', async () => {
    const dir = await makeDirectory(HISTORY);
    const { code, stdout } = await cli('dump', dir);
    expect(code).toBe(0);
    const lines = stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toContain('offset seq batch kind term vote status');
    expect(lines).toContain(`${slot(0)} 3 0 term 4 none applied`);
    expect(lines).toContain(`${slot(1)} 4 0 vote 4 5 applied`);
    expect(lines).toContain(`${slot(3)} 6 0 vote 7 1 applied`);
    expect(stdout).toContain(
      `valid records stop at byte ${END}; then zeros to the end of the file (byte ${SIZE})`,
    );
    expect(stdout).toContain(
      `log-0000000000000003.wal  (format v2, directory id ${snapshotDirectoryId(dir)}, ${SIZE} bytes)`,
    );
    expect(stdout).toContain('Format: v2 (metadata.json v2, log-0000000000000003.wal v2)');
    expect(stdout).toContain('a node loads: term 7, vote 1, last seq 6');
  });

  it('marks records a snapshot covers (an old log that outlived a compaction)', async () => {
    const dir = await makeDirectory([{ term: 2 }, { vote: 1 }]);
    const log = readFileSync(newestLog(dir));
    // Put the snapshot ahead of the log, as a crash between snapshot and unlink leaves it.
    const { MetadataManager } = await import('../../src/index.js');
    const m = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    await m.sync();
    await m.close();
    writeFileSync(join(dir, 'log-0000000000000001.wal'), log);
    const { json } = await cliJson('dump', dir);
    const logs = json.logs as { name: string; records: { seq: number; status: string }[] }[];
    expect(logs[0]?.records.map((r) => r.status)).toEqual(['covered', 'covered']);
  });

  it('keeps dumping past corruption and marks the damage and the records after it', async () => {
    const dir = await flippedDirectory();
    const damaged = nonZeroIn(newestLog(dir), 1);
    const { code, json } = await cliJson('dump', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({ command: 'dump', verdict: 'corrupt', state: null });
    const [log] = json.logs as Record<string, unknown>[];
    expect(log).toMatchObject({
      name: 'log-0000000000000003.wal',
      validUntil: slot(1),
      tail: { kind: 'corrupt', offset: slot(1) },
      damage: [
        { offset: slot(1), length: RECORD_BYTES, reason: 'record checksum mismatch', nonZeroBytes: damaged },
      ],
      records: [
        {
          offset: slot(0),
          seq: 3,
          batchIndex: 0,
          kind: 'term',
          currentTerm: 4,
          votedFor: 0,
          status: 'applied',
        },
        {
          offset: slot(2),
          seq: 5,
          batchIndex: 0,
          kind: 'term',
          currentTerm: 7,
          votedFor: 0,
          status: 'not-reached',
        },
        {
          offset: slot(3),
          seq: 6,
          batchIndex: 0,
          kind: 'vote',
          currentTerm: 7,
          votedFor: 1,
          status: 'not-reached',
        },
      ],
    });
    const text = await cli('dump', dir);
    expect(text.stdout).toContain(
      `the library's reader stops at byte ${slot(1)}: CORRUPT: record checksum mismatch`,
    );
    expect(text.stdout).toMatch(
      new RegExp(
        `${slot(1)}\\s+-\\s+-\\s+DAMAGE\\s+-\\s+-\\s+${RECORD_BYTES} bytes do not decode \\(record checksum mismatch; ${damaged} non-zero\\)`,
      ),
    );
  });

  it('marks the torn tail and a rejected record (a second vote in one term)', async () => {
    const dir = await tornDirectory();
    const torn = await cli('dump', dir);
    expect(torn.stdout).toContain(`valid records stop at byte ${END}; then a torn tail`);

    // A valid record breaking Raft's rules: a vote for 9 in term 7 after the vote for 1 (seq 7),
    // written for this directory (its ownership checksum holds).
    const { RecordEncoder } = await import('../../src/format/record.js');
    const { parseDirectoryId } = await import('../../src/format/directory-id.js');
    const dir2 = await makeDirectory(HISTORY);
    const id = parseDirectoryId(snapshotDirectoryId(dir2));
    if (id === undefined) throw new Error('no directory id');
    writeAt(
      newestLog(dir2),
      END,
      new RecordEncoder(id).encode({
        kind: 'vote',
        batchIndex: 0,
        seq: 7,
        group: 0,
        currentTerm: 7,
        votedFor: 9,
      }),
    );
    const { json } = await cliJson('dump', dir2);
    const [log] = json.logs as { records: { seq: number; status: string }[] }[];
    expect(log?.records.at(-1)).toMatchObject({ seq: 7, status: 'rejected' });
    expect(json.corruption).toMatchObject({ offset: END, reason: 'second vote in term 7: 1 then 9' });
  });
});
