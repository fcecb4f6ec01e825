import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/errors.js';
import { logName } from '../../../src/format/names.js';
import type { LogRecord } from '../../../src/format/record.js';
import { encodeSnapshot, type SnapshotContent } from '../../../src/format/snapshot-codec.js';
import type { FileSystem } from '../../../src/fs/types.js';
import { type RecordVisitor, recoverDirectory } from '../../../src/storage/recovery.js';
import { writeSnapshot } from '../../../src/storage/snapshot-file.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import {
  cutShort,
  logBytes,
  oneWrite,
  type Slot,
  singleWrites,
  slotOffset,
  termRecord,
  voteRecord,
} from '../../fixtures/log-bytes.js';

/**
 * recoverDirectory on its own: a snapshot and logs laid out by hand on the simulated disk, replayed
 * into a state. Checks the records the snapshot covers are skipped (and not judged), logs are read
 * in sequence order, every break in the sequence or in Raft's rules is a CorruptionError naming the
 * file and offset, and a log vanishing under a concurrent compaction makes it read again.
 */

const DIR = '/d';
const logPath = (firstSeq: number): string => `${DIR}/${logName(firstSeq)}`;
const SNAPSHOT = `${DIR}/metadata.json`;

function diskWith(logs: Record<number, readonly Slot[]>, snapshot?: SnapshotContent): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.mkdirp(DIR);
  for (const [first, slots] of Object.entries(logs)) {
    disk.putFile(logPath(Number(first)), logBytes(Number(first), slots, 256));
  }
  if (snapshot) disk.putFile(SNAPSHOT, encodeSnapshot(snapshot));
  return disk;
}

interface Visit {
  readonly file: string;
  readonly offset: number;
  readonly seq: number;
  readonly applied: boolean;
}

function collector(): { visits: Visit[]; visit: RecordVisitor } {
  const visits: Visit[] = [];
  return {
    visits,
    visit: (file, offset, record, applied) => visits.push({ file, offset, seq: record.seq, applied }),
  };
}

async function expectCorrupt(fs: FileSystem, file: string, offset: number): Promise<void> {
  const err = await recoverDirectory(fs, DIR).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptionError);
  expect(err).toMatchObject({ code: 'ERR_METADATA_CORRUPT', file, offset });
}

/** Terms 1..n, each its own write; then a vote for 7 in term n. */
function termsThenVote(n: number): LogRecord[] {
  return [...singleWrites(1, n), voteRecord(n + 1, n, 7)];
}

describe('recoverDirectory: what there is', () => {
  it('a missing directory: the initial state, and exists false', async () => {
    const result = await recoverDirectory(new SimulatedDisk(), '/nowhere');
    expect(result).toEqual({
      state: { currentTerm: 0, votedFor: 0 },
      lastSeq: 0,
      snapshot: undefined,
      logs: [],
      exists: false,
    });
  });

  it('an empty directory: the initial state, and exists true', async () => {
    const result = await recoverDirectory(diskWith({}), DIR);
    expect(result).toEqual({
      state: { currentTerm: 0, votedFor: 0 },
      lastSeq: 0,
      snapshot: undefined,
      logs: [],
      exists: true,
    });
  });

  it('a snapshot alone: its state and its lastSeq', async () => {
    const snapshot = { currentTerm: 9, votedFor: 3, lastSeq: 40 };
    const result = await recoverDirectory(diskWith({}, snapshot), DIR);
    expect(result).toMatchObject({ state: { currentTerm: 9, votedFor: 3 }, lastSeq: 40, snapshot, logs: [] });
  });

  it('one log: every record replayed, the scan reported with the name', async () => {
    const result = await recoverDirectory(diskWith({ 1: termsThenVote(3) }), DIR);
    expect(result.state).toEqual({ currentTerm: 3, votedFor: 7 });
    expect(result.lastSeq).toBe(4);
    expect(result.logs).toHaveLength(1);
    expect(result.logs[0]).toMatchObject({
      name: logName(1),
      path: logPath(1),
      firstSeq: 1,
      scan: { recordCount: 4, firstSeq: 1, lastSeq: 4, end: { kind: 'clean', offset: slotOffset(4) } },
    });
  });

  it('ignores files that are not logs or the snapshot', async () => {
    const disk = diskWith({ 1: singleWrites(1, 2) });
    disk.putFile(`${DIR}/${logName(3)}.tmp`, new Uint8Array([1, 2, 3]));
    disk.putFile(`${DIR}/log-3.wal`, new Uint8Array([1, 2, 3]));
    disk.putFile(`${DIR}/metadata.json.tmp`, new Uint8Array([9, 9]));
    disk.putFile(`${DIR}/notes.txt`, new TextEncoder().encode('hello'));
    const result = await recoverDirectory(disk, DIR);
    expect(result.logs.map((l) => l.name)).toEqual([logName(1)]);
    expect(result).toMatchObject({ lastSeq: 2, snapshot: undefined });
  });

  it('writes nothing', async () => {
    const disk = diskWith(
      { 1: singleWrites(1, 3), 4: [...singleWrites(4, 5), cutShort(termRecord(6), 9)] },
      {
        currentTerm: 2,
        votedFor: 0,
        lastSeq: 2,
      },
    );
    const before = disk.fingerprint();
    await recoverDirectory(disk, DIR);
    expect(disk.fingerprint()).toBe(before);
  });

  it('a damaged snapshot is corruption of the snapshot file', async () => {
    const disk = diskWith({ 1: singleWrites(1, 2) });
    const bytes = encodeSnapshot({ currentTerm: 5, votedFor: 0, lastSeq: 1 });
    bytes[bytes.indexOf(0x35)] = 0x36; // "5" -> "6": the checksum no longer matches
    disk.putFile(SNAPSHOT, bytes);
    const err = await recoverDirectory(disk, DIR).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ file: SNAPSHOT });
  });
});

describe('recoverDirectory: snapshot and logs', () => {
  it('skips the records the snapshot covers and applies the rest, calling back for each', async () => {
    const records = [...singleWrites(1, 3), voteRecord(4, 3, 7), termRecord(5, 0, 4), voteRecord(6, 4, 9)];
    const disk = diskWith({ 1: records }, { currentTerm: 3, votedFor: 0, lastSeq: 3 });
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(result.state).toEqual({ currentTerm: 4, votedFor: 9 });
    expect(result.lastSeq).toBe(6);
    expect(visits).toEqual(
      records.map((r, i) => ({ file: logPath(1), offset: slotOffset(i), seq: r.seq, applied: r.seq > 3 })),
    );
  });

  it('does not judge the covered records by the snapshot state', async () => {
    // Terms 1..3 would not raise the snapshot's term 8; they are covered, so never applied.
    const disk = diskWith(
      { 1: [...singleWrites(1, 3), termRecord(4, 0, 9)] },
      { currentTerm: 8, votedFor: 5, lastSeq: 3 },
    );
    const result = await recoverDirectory(disk, DIR);
    expect(result).toMatchObject({ state: { currentTerm: 9, votedFor: 0 }, lastSeq: 4 });
  });

  it('a snapshot covering every log record: the snapshot state', async () => {
    const disk = diskWith({ 4: singleWrites(4, 6) }, { currentTerm: 6, votedFor: 2, lastSeq: 6 });
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(result).toMatchObject({ state: { currentTerm: 6, votedFor: 2 }, lastSeq: 6 });
    expect(visits.map((v) => v.applied)).toEqual([false, false, false]);
  });

  it('the first record after the snapshot applies on top of the snapshot state', async () => {
    const disk = diskWith({ 5: [voteRecord(5, 4, 3)] }, { currentTerm: 4, votedFor: 0, lastSeq: 4 });
    expect((await recoverDirectory(disk, DIR)).state).toEqual({ currentTerm: 4, votedFor: 3 });
  });

  it('reads several logs in sequence order', async () => {
    // Laid out newest first: the order must come from the names, not the listing.
    const disk = diskWith({ 16: singleWrites(16, 17), 9: singleWrites(9, 15), 1: singleWrites(1, 8) });
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(result.logs.map((l) => l.firstSeq)).toEqual([1, 9, 16]);
    expect(result.logs.map((l) => l.scan.lastSeq)).toEqual([8, 15, 17]);
    expect(visits.map((v) => v.seq)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
    expect(visits[8]).toEqual({ file: logPath(9), offset: slotOffset(0), seq: 9, applied: true });
    expect(result).toMatchObject({ state: { currentTerm: 17, votedFor: 0 }, lastSeq: 17 });
  });

  it('keeps reading logs that overlap the snapshot, log by log', async () => {
    // A compaction wrote the snapshot (covering 5) but crashed before unlinking the old logs.
    const disk = diskWith(
      { 1: singleWrites(1, 3), 4: singleWrites(4, 6) },
      { currentTerm: 5, votedFor: 0, lastSeq: 5 },
    );
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(visits.filter((v) => v.applied).map((v) => v.seq)).toEqual([6]);
    expect(result.lastSeq).toBe(6);
  });
});

describe('recoverDirectory: gaps and breaks', () => {
  it('a gap between two logs is corruption at the first record after it', async () => {
    await expectCorrupt(
      diskWith({ 1: singleWrites(1, 3), 5: singleWrites(5, 6) }),
      logPath(5),
      slotOffset(0),
    );
  });

  it('a gap inside a log is corruption at the record after it', async () => {
    await expectCorrupt(diskWith({ 1: [...singleWrites(1, 2), termRecord(4)] }), logPath(1), slotOffset(2));
  });

  it('logs without the snapshot that covered what came before them are corruption, not a fresh start', async () => {
    // A compaction unlinked log-1 after its snapshot; then the snapshot went missing.
    await expectCorrupt(diskWith({ 5: singleWrites(5, 6) }), logPath(5), slotOffset(0));
  });

  it('a snapshot that stops short of the first log is corruption at that log', async () => {
    await expectCorrupt(
      diskWith({ 5: singleWrites(5, 6) }, { currentTerm: 3, votedFor: 0, lastSeq: 3 }),
      logPath(5),
      slotOffset(0),
    );
    // One record further, and the same logs are whole.
    const whole = diskWith({ 5: singleWrites(5, 6) }, { currentTerm: 4, votedFor: 0, lastSeq: 4 });
    expect((await recoverDirectory(whole, DIR)).lastSeq).toBe(6);
  });

  it('a header that disagrees with the name is corruption at the header field', async () => {
    const disk = diskWith({});
    // Records that fit the name, so that only the header is wrong.
    disk.putFile(logPath(1), logBytes(2, singleWrites(1, 2), 64));
    await expectCorrupt(disk, logPath(1), 16);
  });

  it('a torn tail in the last log is dropped', async () => {
    const disk = diskWith({ 1: singleWrites(1, 3), 4: [...singleWrites(4, 5), cutShort(termRecord(6), 12)] });
    const result = await recoverDirectory(disk, DIR);
    expect(result).toMatchObject({ state: { currentTerm: 5, votedFor: 0 }, lastSeq: 5 });
    expect(result.logs[1]?.scan.end).toMatchObject({ kind: 'torn', offset: slotOffset(2) });
  });

  it('a torn tail in an older log is fine when the next log starts right after its last record', async () => {
    const torn = [...oneWrite(1, 2), cutShort(termRecord(3), 12)];
    const result = await recoverDirectory(diskWith({ 1: torn, 3: singleWrites(3, 4) }), DIR);
    expect(result).toMatchObject({ state: { currentTerm: 4, votedFor: 0 }, lastSeq: 4 });
    expect(result.logs[0]?.scan.end.kind).toBe('torn');
  });

  it('a torn tail in an older log that the next does not continue is corruption at the tear', async () => {
    // log-1 ends at 2 then tears; log-4 starts at 4: the torn record 3 was part of acknowledged data.
    const torn = [...oneWrite(1, 2), cutShort(termRecord(3), 12)];
    await expectCorrupt(diskWith({ 1: torn, 4: singleWrites(4, 5) }), logPath(1), slotOffset(2));
  });
});

describe("recoverDirectory: Raft's rules", () => {
  const cases: [string, LogRecord[], number][] = [
    ['a term record that does not raise the term', [termRecord(1, 0, 5), termRecord(2, 0, 5)], 1],
    ['a term record that lowers the term', [termRecord(1, 0, 5), termRecord(2, 0, 4)], 1],
    ['a term record carrying a vote', [termRecord(1), { ...termRecord(2, 0, 2), votedFor: 3 }], 1],
    ['a vote for another term than the current one', [termRecord(1, 0, 2), voteRecord(2, 3, 7)], 1],
    ['a second, different vote in one term', [termRecord(1), voteRecord(2, 1, 7), voteRecord(3, 1, 8)], 2],
    ['a vote for nobody', [termRecord(1), voteRecord(2, 1, 0)], 1],
  ];
  for (const [what, records, bad] of cases) {
    it(`${what} is corruption at that record`, async () => {
      await expectCorrupt(diskWith({ 1: records }), logPath(1), slotOffset(bad));
    });
  }

  it('the same vote recorded twice in one term is accepted', async () => {
    const result = await recoverDirectory(
      diskWith({ 1: [termRecord(1), voteRecord(2, 1, 7), voteRecord(3, 1, 7)] }),
      DIR,
    );
    expect(result).toMatchObject({ state: { currentTerm: 1, votedFor: 7 }, lastSeq: 3 });
  });

  it('a new term clears the vote', async () => {
    const result = await recoverDirectory(
      diskWith({ 1: [termRecord(1), voteRecord(2, 1, 7), termRecord(3, 0, 2)] }),
      DIR,
    );
    expect(result.state).toEqual({ currentTerm: 2, votedFor: 0 });
  });
});

/** `disk` seen through a FileSystem whose `readdir` calls `after` with each listing before returning it. */
function listingHook(
  disk: SimulatedDisk,
  after: (names: string[], call: number) => Promise<string[]> | string[],
): { fs: FileSystem; calls: () => number } {
  let calls = 0;
  const fs: FileSystem = {
    open: (path, mode) => disk.open(path, mode),
    readFile: (path) => disk.readFile(path),
    rename: (from, to) => disk.rename(from, to),
    unlink: (path) => disk.unlink(path),
    readdir: async (dir) => after(await disk.readdir(dir), ++calls),
    mkdir: (dir) => disk.mkdir(dir),
    syncDir: (dir) => disk.syncDir(dir),
    stat: (path) => disk.stat(path),
    openLocked: (path) => disk.openLocked(path),
    probeLock: (path) => disk.probeLock(path),
  };
  return { fs, calls: () => calls };
}

describe('recoverDirectory next to a compaction', () => {
  /** log-1 holds 1..3, log-4 holds 4..5; on the first listing, a compaction snapshots 3 and unlinks log-1. */
  function compactingUnderTheReader(): { fs: FileSystem; calls: () => number } {
    const disk = diskWith({ 1: singleWrites(1, 3), 4: singleWrites(4, 5) });
    return listingHook(disk, async (names, call) => {
      if (call === 1) {
        await writeSnapshot(disk, DIR, { currentTerm: 3, votedFor: 0, lastSeq: 3 });
        await disk.unlink(logPath(1));
        await disk.syncDir(DIR);
      }
      return names;
    });
  }

  it('reads the directory again when a listed log vanished (ENOENT), and gets the state', async () => {
    const { fs, calls } = compactingUnderTheReader();
    const result = await recoverDirectory(fs, DIR);
    expect(calls()).toBe(2);
    expect(result).toMatchObject({ state: { currentTerm: 5, votedFor: 0 }, lastSeq: 5 });
    expect(result.snapshot).toEqual({ currentTerm: 3, votedFor: 0, lastSeq: 3 });
    expect(result.logs.map((l) => l.firstSeq)).toEqual([4]);
  });

  it('with a visitor, leaves the ENOENT to the caller (it has seen records already)', async () => {
    const { fs, calls } = compactingUnderTheReader();
    const { visit } = collector();
    await expect(recoverDirectory(fs, DIR, visit)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(calls()).toBe(1);
  });

  it('gives up with the ENOENT after a bounded number of listings', async () => {
    const disk = diskWith({ 1: singleWrites(1, 2) });
    // A log that is listed but never there; past 100 listings the hook stops the loop itself.
    const { fs, calls } = listingHook(disk, (names, call) => {
      if (call > 100) throw new Error('recovery keeps listing the directory');
      return [...names, logName(3)];
    });
    await expect(recoverDirectory(fs, DIR)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(calls()).toBeGreaterThan(1);
  });

  it('does not retry other errors', async () => {
    const disk = diskWith({ 1: singleWrites(1, 2) });
    disk.failNext({ op: 'open', errno: 'EIO', path: logPath(1) });
    const { fs, calls } = listingHook(disk, (names) => names);
    await expect(recoverDirectory(fs, DIR)).rejects.toMatchObject({ code: 'EIO' });
    expect(calls()).toBe(1);
  });

  it('does not retry corruption', async () => {
    const { fs, calls } = listingHook(
      diskWith({ 1: singleWrites(1, 2), 4: singleWrites(4, 5) }),
      (names) => names,
    );
    await expect(recoverDirectory(fs, DIR)).rejects.toBeInstanceOf(CorruptionError);
    expect(calls()).toBe(1);
  });
});
