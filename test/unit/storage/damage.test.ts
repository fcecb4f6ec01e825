import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DirectoryId } from '../../../src/format/directory-id.js';
import type { LogRecord } from '../../../src/format/record.js';
import { encodeHeader } from '../../../src/format/record.js';
import { encodeSnapshot, snapshotJsonV1 } from '../../../src/format/snapshot-codec.js';
import { Metadata, MetadataManager } from '../../../src/index.js';
import { RecordKind } from '../../../src/state.js';
import { encodeRecord as encodeFor, HEADER_SIZE, RECORD_SIZE } from '../../fixtures/log-bytes.js';
import { directoryContents, flipByte, logFile, tempDir, truncateFile, writeAt } from '../../helpers.js';

/** The directory id in `dir`'s snapshot: records written by hand must carry it to be the directory's own. */
function directoryIdOf(dir: string): DirectoryId {
  const snapshot = JSON.parse(readFileSync(Metadata.genMetadataFilepath(dir), 'utf8')) as {
    directoryId: DirectoryId;
  };
  return snapshot.directoryId;
}

/** `fields` as a record of group 0 written for `dir`. */
function recordFor(dir: string, fields: Omit<LogRecord, 'group'>): Uint8Array {
  return encodeFor({ ...fields, group: 0 }, directoryIdOf(dir));
}

/** A directory whose log holds terms 1..n, one record per write (so each is its own batch). */
async function logWithTerms(n: number): Promise<string> {
  const dir = tempDir();
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  for (let term = 1; term <= n; term++) await manager.updateCurrentTerm(term);
  await manager.close();
  return dir;
}

const recordAt = (i: number): number => HEADER_SIZE + i * RECORD_SIZE;

async function expectCorrupt(dir: string, file: string, offset: number): Promise<void> {
  const before = directoryContents(dir);
  const err = await Metadata.load(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code: 'ERR_METADATA_CORRUPT', file, offset });
  expect(String((err as Error).message)).toContain(file);
  // A manager refuses to start on it too, and neither touches the files.
  await expect(MetadataManager.open(dir)).rejects.toMatchObject({ code: 'ERR_METADATA_CORRUPT' });
  const after = directoryContents(dir);
  // The refused open held the kernel lock, which lives on the LOCK file: it may have created that
  // file (empty). It never names itself in it, and no other file changes.
  if (before.LOCK === undefined && after.LOCK === '') delete after.LOCK;
  expect(after).toEqual(before);
}

/** Load drops the torn tail; a new manager appends after it; the next load sees the new state. */
async function expectTornThenAppend(dir: string, expectedTerm: number): Promise<void> {
  const before = directoryContents(dir);
  expect((await Metadata.load(dir)).currentTerm).toBe(expectedTerm);
  expect(directoryContents(dir)).toEqual(before); // load never writes
  const manager = await MetadataManager.open(dir);
  expect(manager.get().currentTerm).toBe(expectedTerm);
  await manager.updateCurrentTerm(expectedTerm + 10);
  await manager.updateVotedFor(4);
  await manager.close();
  expect(await Metadata.load(dir)).toMatchObject({ currentTerm: expectedTerm + 10, votedFor: 4 });
  // And once more, after the restart that folded the torn log away.
  const again = await MetadataManager.open(dir);
  await again.updateCurrentTerm(expectedTerm + 11);
  await again.close();
  expect((await Metadata.load(dir)).currentTerm).toBe(expectedTerm + 11);
}

describe('torn last record', () => {
  it('a record cut short at the end of a log whose header records no created size is dropped', async () => {
    // A log written before the header recorded its size (or one that grew past it, where a torn
    // write can end the file mid-record): the cut record is a torn tail.
    const dir = await logWithTerms(3);
    writeAt(logFile(dir), 0, encodeHeader(directoryIdOf(dir), 0));
    truncateFile(logFile(dir), recordAt(2) + 10);
    await expectTornThenAppend(dir, 2);
  });

  for (const [what, cut] of [
    ['at a record boundary', recordAt(1)],
    ['inside a record', recordAt(1) + 10],
    ['to its header', HEADER_SIZE],
  ] as const) {
    it(`a log cut shorter than its created size ${what} is corruption, never a torn tail or a clean end`, async () => {
      const dir = await logWithTerms(3);
      truncateFile(logFile(dir), cut);
      await expectCorrupt(dir, logFile(dir), cut);
      await expect(Metadata.load(dir)).rejects.toThrow('log cut short');
    });
  }

  it('a last record followed by zeros (its write never landed) is dropped', async () => {
    const dir = await logWithTerms(3);
    writeAt(logFile(dir), recordAt(2) + 8, new Uint8Array(RECORD_SIZE - 8));
    await expectTornThenAppend(dir, 2);
  });

  it('junk after the last record is a torn tail', async () => {
    const dir = await logWithTerms(3);
    writeAt(logFile(dir), recordAt(3), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]));
    await expectTornThenAppend(dir, 3);
  });

  it('a partly written batch is torn even if later records of the same write survived', async () => {
    const dir = await logWithTerms(2);
    const path = logFile(dir);
    // A batch of three (seq 3..5) where the middle record's sector was lost.
    writeAt(
      path,
      recordAt(2),
      recordFor(dir, { kind: RecordKind.Term, batchIndex: 0, seq: 3, currentTerm: 3, votedFor: 0 }),
    );
    writeAt(
      path,
      recordAt(4),
      recordFor(dir, { kind: RecordKind.Term, batchIndex: 2, seq: 5, currentTerm: 5, votedFor: 0 }),
    );
    await expectTornThenAppend(dir, 3);
  });
});

describe('corruption', () => {
  it('a flipped byte mid-log is corruption at that record', async () => {
    const dir = await logWithTerms(5);
    flipByte(logFile(dir), recordAt(2) + 17);
    await expectCorrupt(dir, logFile(dir), recordAt(2));
  });

  it('a zeroed record followed by later writes is corruption', async () => {
    const dir = await logWithTerms(5);
    writeAt(logFile(dir), recordAt(1), new Uint8Array(RECORD_SIZE));
    await expectCorrupt(dir, logFile(dir), recordAt(1));
  });

  it('a damaged log header is corruption', async () => {
    const dir = await logWithTerms(2);
    flipByte(logFile(dir), 3);
    await expectCorrupt(dir, logFile(dir), 0);
  });

  it('an unknown log format version is corruption', async () => {
    const dir = await logWithTerms(2);
    const path = logFile(dir);
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(3, 8);
    writeFileSync(path, bytes);
    await expectCorrupt(dir, path, 0);
  });

  it('a valid record that breaks Raft (term going down) is corruption', async () => {
    const dir = await logWithTerms(3);
    writeAt(
      logFile(dir),
      recordAt(3),
      recordFor(dir, { kind: RecordKind.Term, batchIndex: 0, seq: 4, currentTerm: 2, votedFor: 0 }),
    );
    await expectCorrupt(dir, logFile(dir), recordAt(3));
  });

  it('two different votes in one term in the log is corruption', async () => {
    const dir = await logWithTerms(1);
    const path = logFile(dir);
    writeAt(
      path,
      recordAt(1),
      recordFor(dir, { kind: RecordKind.Vote, batchIndex: 0, seq: 2, currentTerm: 1, votedFor: 5 }),
    );
    writeAt(
      path,
      recordAt(2),
      recordFor(dir, { kind: RecordKind.Vote, batchIndex: 0, seq: 3, currentTerm: 1, votedFor: 6 }),
    );
    await expectCorrupt(dir, path, recordAt(2));
  });

  it('a gap in sequence numbers is corruption', async () => {
    const dir = await logWithTerms(2);
    writeAt(
      logFile(dir),
      recordAt(2),
      recordFor(dir, { kind: RecordKind.Term, batchIndex: 0, seq: 4, currentTerm: 9, votedFor: 0 }),
    );
    await expectCorrupt(dir, logFile(dir), recordAt(2));
  });

  it('an edited snapshot is corruption', async () => {
    const dir = await logWithTerms(2);
    const manager = await MetadataManager.open(dir);
    await manager.sync();
    await manager.close();
    const path = Metadata.genMetadataFilepath(dir);
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('"groups":[[0,2,0]]');
    writeFileSync(path, text.replace('"groups":[[0,2,0]]', '"groups":[[0,9,0]]'));
    await expectCorrupt(dir, path, 0);
  });

  it('a cut-short snapshot is corruption', async () => {
    const dir = await logWithTerms(2);
    const manager = await MetadataManager.open(dir);
    await manager.sync();
    await manager.close();
    const path = Metadata.genMetadataFilepath(dir);
    truncateFile(path, 30);
    await expectCorrupt(dir, path, 30);
  });

  it('an unknown snapshot version is corruption', async () => {
    const dir = tempDir();
    writeFileSync(
      Metadata.genMetadataFilepath(dir),
      JSON.stringify({
        format: 'raft-metadata',
        version: 3,
        currentTerm: 1,
        votedFor: 0,
        lastSeq: 0,
        crc32: '00000000',
      }),
    );
    await expectCorrupt(dir, Metadata.genMetadataFilepath(dir), 0);
  });

  it('a snapshot that disappeared under its logs shows as a gap, never an older state', async () => {
    const dir = await logWithTerms(3);
    const manager = await MetadataManager.open(dir);
    await manager.sync();
    await manager.updateCurrentTerm(4);
    await manager.close();
    const { unlinkSync } = await import('node:fs');
    unlinkSync(Metadata.genMetadataFilepath(dir));
    await expectCorrupt(dir, logFile(dir), HEADER_SIZE);
  });
});

describe('compaction crash states', () => {
  it('a crash between the snapshot rename and the log reset replays nothing twice', async () => {
    const dir = await logWithTerms(3);
    const oldLog = readdirSync(dir).find((n) => n.endsWith('.wal')) as string;
    const oldBytes = readFileSync(join(dir, oldLog));
    const manager = await MetadataManager.open(dir);
    await manager.updateVotedFor(8);
    await manager.sync();
    await manager.updateCurrentTerm(5);
    await manager.close();
    // Put the pre-compaction log back, as if its unlink never reached the disk.
    writeFileSync(join(dir, oldLog), oldBytes);
    expect(readdirSync(dir).filter((n) => n.endsWith('.wal'))).toHaveLength(2);
    const loaded = await Metadata.load(dir);
    expect([loaded.currentTerm, loaded.votedFor]).toEqual([5, 0]);
    const reopened = await MetadataManager.open(dir);
    expect(reopened.get()).toMatchObject({ currentTerm: 5, votedFor: 0 });
    await reopened.sync();
    await reopened.close();
    expect(readdirSync(dir).filter((n) => n.endsWith('.wal'))).toHaveLength(1);
  });

  it('a hand-written (version-1) snapshot covering records still in the log skips them (no double apply)', async () => {
    const dir = await logWithTerms(3);
    writeFileSync(
      Metadata.genMetadataFilepath(dir),
      JSON.stringify(snapshotJsonV1({ currentTerm: 3, votedFor: 0, lastSeq: 3 })),
    );
    // Replaying records 1..3 on top of the snapshot's term 3 would break Raft (terms not raised).
    expect((await Metadata.load(dir)).currentTerm).toBe(3);
    // One record less covered: record 3 applies on top of term 2.
    writeFileSync(
      Metadata.genMetadataFilepath(dir),
      JSON.stringify(snapshotJsonV1({ currentTerm: 2, votedFor: 0, lastSeq: 2 })),
    );
    expect((await Metadata.load(dir)).currentTerm).toBe(3);
  });

  it('a version-2 snapshot covering records of the log it does not name: its next log is missing', async () => {
    const dir = await logWithTerms(3);
    const directoryId = directoryIdOf(dir);
    const path = Metadata.genMetadataFilepath(dir);
    writeFileSync(
      path,
      encodeSnapshot({
        directoryId,
        identity: undefined,
        lastSeq: 3,
        groups: new Map([[0, { currentTerm: 3, votedFor: 0 }]]),
        removed: new Map(),
        floorTerm: 0,
      }),
    );
    await expectCorrupt(dir, path, 0);
    await expect(Metadata.load(dir)).rejects.toThrow('log-0000000000000004.wal is missing');
  });

  it('leftover temp files of an interrupted compaction are ignored', async () => {
    const dir = await logWithTerms(2);
    writeFileSync(join(dir, 'metadata.json.tmp'), '{"garbage":');
    writeFileSync(join(dir, 'log-0000000000000003.wal.tmp'), 'partial');
    expect((await Metadata.load(dir)).currentTerm).toBe(2);
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(3);
    await manager.sync();
    await manager.close();
    expect((await Metadata.load(dir)).currentTerm).toBe(3);
  });
});

describe('load', () => {
  it('an empty or missing directory gives fresh state and creates nothing', async () => {
    const parent = tempDir();
    expect(await Metadata.load(join(parent, 'missing'))).toMatchObject({ currentTerm: 0, votedFor: 0 });
    expect(readdirSync(parent)).toEqual([]);
    expect(await Metadata.load(parent)).toMatchObject({ currentTerm: 0, votedFor: 0 });
    expect(readdirSync(parent)).toEqual([]);
  });

  it('ignores a stale LOCK and foreign files', async () => {
    const dir = await logWithTerms(2);
    writeFileSync(join(dir, 'LOCK'), '999999999\n');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    expect((await Metadata.load(dir)).currentTerm).toBe(2);
  });
});
