import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/errors.js';
import { logName } from '../../../src/format/names.js';
import type { LogRecord } from '../../../src/format/record.js';
import {
  encodeSnapshot,
  type SnapshotContent,
  type SnapshotToWrite,
  snapshotJsonV1,
} from '../../../src/format/snapshot-codec.js';
import type { FileSystem } from '../../../src/fs/types.js';
import type { NodeIdentity } from '../../../src/identity.js';
import { RecordKind } from '../../../src/state.js';
import { type RecordVisitor, recoverDirectory } from '../../../src/storage/recovery.js';
import { writeSnapshot } from '../../../src/storage/snapshot-file.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import {
  cutShort,
  DIR_ID,
  foreignRecord,
  logBytes,
  logBytesV1,
  OTHER_DIR_ID,
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
 * file and offset, files and records of another directory are refused, a version-2 snapshot's next
 * log must be there, and a log vanishing under a concurrent compaction makes it read again.
 */

const DIR = '/d';
const logPath = (firstSeq: number): string => `${DIR}/${logName(firstSeq)}`;
const SNAPSHOT = `${DIR}/metadata.json`;

/** A version-2 snapshot of this directory: group 0 at `currentTerm`/`votedFor`, covering up to `lastSeq`. */
function snap(
  currentTerm: number,
  votedFor: number,
  lastSeq: number,
  identity?: NodeIdentity,
): SnapshotToWrite {
  const groups = new Map<number, { currentTerm: number; votedFor: number }>();
  if (currentTerm !== 0 || votedFor !== 0) groups.set(0, { currentTerm, votedFor });
  return { directoryId: DIR_ID, identity, lastSeq, groups, removed: new Map(), floorTerm: 0 };
}
/** What recovery reports as the snapshot for `written`. */
const asRead = (written: SnapshotToWrite): SnapshotContent => ({ version: 2, ...written });
/** A version-1 snapshot's bytes (0.1.0, or `JSON.stringify(metadata)` written by hand). */
const snapV1 = (currentTerm: number, votedFor: number, lastSeq: number): Uint8Array =>
  new TextEncoder().encode(JSON.stringify(snapshotJsonV1({ currentTerm, votedFor, lastSeq })));

function diskWith(
  logs: Record<number, readonly Slot[]>,
  snapshot?: SnapshotToWrite | Uint8Array,
): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.mkdirp(DIR);
  for (const [first, slots] of Object.entries(logs)) {
    disk.putFile(logPath(Number(first)), logBytes(Number(first), slots, 288));
  }
  if (snapshot) disk.putFile(SNAPSHOT, snapshot instanceof Uint8Array ? snapshot : encodeSnapshot(snapshot));
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

async function corruption(fs: FileSystem): Promise<unknown> {
  return recoverDirectory(fs, DIR).then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function expectCorrupt(fs: FileSystem, file: string, offset: number, says?: string): Promise<void> {
  const err = await corruption(fs);
  expect(err).toBeInstanceOf(CorruptionError);
  expect(err).toMatchObject({ code: 'ERR_METADATA_CORRUPT', file, offset });
  if (says !== undefined) expect((err as Error).message).toContain(says);
}

/** Terms 1..n, each its own write; then a vote for 7 in term n. */
function termsThenVote(n: number): LogRecord[] {
  return [...singleWrites(1, n), voteRecord(n + 1, n, 7)];
}

const NOTHING = {
  state: { currentTerm: 0, votedFor: 0 },
  groups: new Map(),
  removed: new Map(),
  floorTerm: 0,
  lastSeq: 0,
  snapshot: undefined,
  logs: [],
  directoryId: undefined,
  identity: undefined,
  versions: [],
};

describe('recoverDirectory: what there is', () => {
  it('a missing directory: the initial state, and exists false', async () => {
    const result = await recoverDirectory(new SimulatedDisk(), '/nowhere');
    expect(result).toEqual({ ...NOTHING, exists: false });
  });

  it('an empty directory: the initial state, and exists true', async () => {
    const result = await recoverDirectory(diskWith({}), DIR);
    expect(result).toEqual({ ...NOTHING, exists: true });
  });

  it('a version-2 snapshot and its empty next log: its state, its lastSeq, its id and identity', async () => {
    const snapshot = snap(9, 3, 40, { clusterId: 'c1', nodeId: 'n2' });
    const result = await recoverDirectory(diskWith({ 41: [] }, snapshot), DIR);
    expect(result).toMatchObject({
      state: { currentTerm: 9, votedFor: 3 },
      lastSeq: 40,
      snapshot: asRead(snapshot),
      directoryId: DIR_ID,
      identity: { clusterId: 'c1', nodeId: 'n2' },
      versions: [2],
    });
    expect(result.logs.map((l) => l.name)).toEqual([logName(41)]);
  });

  it('a version-1 snapshot alone (the hand-written seed): its state, no directory id', async () => {
    const result = await recoverDirectory(diskWith({}, snapV1(9, 3, 40)), DIR);
    expect(result).toMatchObject({
      state: { currentTerm: 9, votedFor: 3 },
      lastSeq: 40,
      logs: [],
      directoryId: undefined,
      identity: undefined,
      versions: [1],
    });
    expect(result.snapshot).toMatchObject({ version: 1, lastSeq: 40 });
  });

  it('one log: every record replayed, the scan reported with the name, the id taken from its header', async () => {
    const result = await recoverDirectory(diskWith({ 1: termsThenVote(3) }), DIR);
    expect(result.state).toEqual({ currentTerm: 3, votedFor: 7 });
    expect(result.groups).toEqual(new Map([[0, { currentTerm: 3, votedFor: 7 }]]));
    expect(result.lastSeq).toBe(4);
    expect(result).toMatchObject({ directoryId: DIR_ID, versions: [2], identity: undefined });
    expect(result.logs).toHaveLength(1);
    expect(result.logs[0]).toMatchObject({
      name: logName(1),
      path: logPath(1),
      firstSeq: 1,
      scan: { recordCount: 4, firstSeq: 1, lastSeq: 4, end: { kind: 'clean', offset: slotOffset(4) } },
    });
  });

  it('a version-1 directory (0.1.0): its state, versions [1], no directory id', async () => {
    const disk = diskWith({});
    disk.putFile(logPath(3), logBytesV1(3, [termRecord(3, 0, 6), voteRecord(4, 6, 2)], 320));
    disk.putFile(SNAPSHOT, snapV1(5, 0, 2));
    const result = await recoverDirectory(disk, DIR);
    expect(result).toMatchObject({
      state: { currentTerm: 6, votedFor: 2 },
      lastSeq: 4,
      directoryId: undefined,
      versions: [1],
    });
  });

  it('an upgrade cut short (v1 snapshot and log, then the first v2 log): the state, and the v2 log’s id', async () => {
    const disk = diskWith({ 5: [termRecord(5, 0, 8)] }, snapV1(5, 0, 2));
    disk.putFile(logPath(3), logBytesV1(3, [termRecord(3, 0, 6), voteRecord(4, 6, 2)], 320));
    const result = await recoverDirectory(disk, DIR);
    expect(result).toMatchObject({
      state: { currentTerm: 8, votedFor: 0 },
      lastSeq: 5,
      directoryId: DIR_ID,
      versions: [1, 2],
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
      snap(3, 0, 3),
    );
    const before = disk.fingerprint();
    await recoverDirectory(disk, DIR);
    expect(disk.fingerprint()).toBe(before);
  });

  it('writes nothing when it refuses', async () => {
    const disk = diskWith({ 1: singleWrites(1, 3) }, { ...snap(3, 0, 3), directoryId: OTHER_DIR_ID });
    const before = disk.fingerprint();
    await expect(recoverDirectory(disk, DIR)).rejects.toBeInstanceOf(CorruptionError);
    expect(disk.fingerprint()).toBe(before);
  });

  it('a damaged snapshot is corruption of the snapshot file', async () => {
    const disk = diskWith({ 2: singleWrites(2, 3) });
    const bytes = new TextEncoder().encode(
      new TextDecoder().decode(encodeSnapshot(snap(5, 0, 1))).replace('[[0,5,0]]', '[[0,6,0]]'),
    );
    disk.putFile(SNAPSHOT, bytes);
    const err = await recoverDirectory(disk, DIR).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ file: SNAPSHOT, message: expect.stringContaining('checksum') });
  });
});

describe('recoverDirectory: snapshot and logs', () => {
  it('skips the records the snapshot covers and applies the rest, calling back for each', async () => {
    // A compaction wrote the snapshot (covering 3) and crashed before unlinking log-1.
    const covered = singleWrites(1, 3);
    const after = [voteRecord(4, 3, 7), termRecord(5, 0, 4), voteRecord(6, 4, 9)];
    const disk = diskWith({ 1: covered, 4: after }, snap(3, 0, 3));
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(result.state).toEqual({ currentTerm: 4, votedFor: 9 });
    expect(result.lastSeq).toBe(6);
    expect(visits).toEqual([
      ...covered.map((r, i) => ({ file: logPath(1), offset: slotOffset(i), seq: r.seq, applied: false })),
      ...after.map((r, i) => ({ file: logPath(4), offset: slotOffset(i), seq: r.seq, applied: true })),
    ]);
  });

  it('skips covered records inside one log under a version-1 snapshot', async () => {
    // JSON.stringify(metadata) written over a directory with logs: replay goes on after its lastSeq.
    const records = [...singleWrites(1, 3), voteRecord(4, 3, 7), termRecord(5, 0, 4), voteRecord(6, 4, 9)];
    const disk = diskWith({ 1: records }, snapV1(3, 0, 3));
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(result.state).toEqual({ currentTerm: 4, votedFor: 9 });
    expect(visits.map((v) => v.applied)).toEqual(records.map((r) => r.seq > 3));
  });

  it('does not judge the covered records by the snapshot state', async () => {
    // Terms 1..3 would not raise the snapshot's term 8; they are covered, so never applied.
    const disk = diskWith({ 1: singleWrites(1, 3), 4: [termRecord(4, 0, 9)] }, snap(8, 5, 3));
    const result = await recoverDirectory(disk, DIR);
    expect(result).toMatchObject({ state: { currentTerm: 9, votedFor: 0 }, lastSeq: 4 });
  });

  it('a snapshot covering every log record: the snapshot state', async () => {
    const disk = diskWith({ 4: singleWrites(4, 6), 7: [] }, snap(6, 2, 6));
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(result).toMatchObject({ state: { currentTerm: 6, votedFor: 2 }, lastSeq: 6 });
    expect(visits.map((v) => v.applied)).toEqual([false, false, false]);
  });

  it('the first record after the snapshot applies on top of the snapshot state', async () => {
    const disk = diskWith({ 5: [voteRecord(5, 4, 3)] }, snap(4, 0, 4));
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
    // A compaction rotated to log-6, wrote the snapshot (covering 5), crashed before unlinking.
    const disk = diskWith(
      { 1: singleWrites(1, 3), 4: singleWrites(4, 5), 6: [termRecord(6)] },
      snap(5, 0, 5),
    );
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(visits.filter((v) => v.applied).map((v) => v.seq)).toEqual([6]);
    expect(result.lastSeq).toBe(6);
  });

  it('a version-1 snapshot inside a log (hand-written): the records after it in that log apply', async () => {
    const disk = diskWith({ 1: singleWrites(1, 3), 4: singleWrites(4, 6) }, snapV1(5, 0, 5));
    const { visits, visit } = collector();
    const result = await recoverDirectory(disk, DIR, visit);
    expect(visits.filter((v) => v.applied).map((v) => v.seq)).toEqual([6]);
    expect(result).toMatchObject({ lastSeq: 6, directoryId: DIR_ID, versions: [1, 2] });
  });
});

describe('recoverDirectory: the log a version-2 snapshot names', () => {
  it('missing (every log deleted after a compaction) is corruption of the snapshot: "log … is missing"', async () => {
    const err = await corruption(diskWith({}, snap(7, 2, 12)));
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ code: 'ERR_METADATA_CORRUPT', file: SNAPSHOT, offset: 0 });
    const message = (err as Error).message;
    expect(message).toContain(`log ${logName(13)} is missing`);
    expect(message).toContain('restore');
  });

  it('missing while older logs the snapshot covers are there is the same corruption', async () => {
    const err = await corruption(
      diskWith({ 1: singleWrites(1, 3), 4: singleWrites(4, 12) }, snap(12, 0, 12)),
    );
    expect(err).toMatchObject({
      file: SNAPSHOT,
      message: expect.stringContaining(`log ${logName(13)} is missing`),
    });
  });

  it('is looked for again before it is reported missing (a listing older than the snapshot)', async () => {
    const disk = diskWith({ 13: [] }, snap(7, 2, 12));
    // The first listing misses log-13, as one taken before a compaction created it would.
    const { fs, calls } = listingHook(disk, (names, call) =>
      call === 1 ? names.filter((n) => !n.endsWith('.wal')) : names,
    );
    const result = await recoverDirectory(fs, DIR);
    expect(calls()).toBe(2);
    expect(result).toMatchObject({ state: { currentTerm: 7, votedFor: 2 }, lastSeq: 12 });
  });

  it('reported missing after a bounded number of listings', async () => {
    const { fs, calls } = listingHook(diskWith({}, snap(7, 2, 12)), (names, call) => {
      if (call > 100) throw new Error('recovery keeps listing the directory');
      return names;
    });
    await expect(recoverDirectory(fs, DIR)).rejects.toMatchObject({ file: SNAPSHOT });
    expect(calls()).toBeGreaterThan(1);
  });

  it('a version-1 log in its place does not belong to this directory', async () => {
    const disk = diskWith({}, snap(7, 2, 12));
    disk.putFile(logPath(13), logBytesV1(13, [], 320));
    await expectCorrupt(disk, logPath(13), 8, 'format-v1 log');
  });

  it('without a header (never possible after a crash: a log is renamed into place whole) is corruption', async () => {
    const disk = diskWith({}, snap(7, 2, 12));
    disk.putFile(logPath(13), new Uint8Array(48 + 480));
    await expectCorrupt(disk, logPath(13), 0, 'has no header');
  });
});

describe('recoverDirectory: files and records of another directory', () => {
  it('a log whose header names another directory than the snapshot is refused, at the id', async () => {
    const disk = diskWith({ 4: [] }, snap(3, 0, 3));
    disk.putFile(logPath(4), logBytes(4, [voteRecord(4, 3, 9)], 288, OTHER_DIR_ID));
    await expectCorrupt(disk, logPath(4), 24, 'belongs to another directory');
    const message = ((await corruption(disk)) as Error).message;
    expect(message).toContain(OTHER_DIR_ID);
    expect(message).toContain(DIR_ID);
  });

  it('another directory’s snapshot over our logs: our logs are refused as not the snapshot’s', async () => {
    const disk = diskWith({ 4: singleWrites(4, 5) }, { ...snap(3, 0, 3), directoryId: OTHER_DIR_ID });
    await expectCorrupt(disk, logPath(4), 24, 'belongs to another directory');
  });

  it('without a snapshot, the oldest log says whose directory it is: a later foreign log is refused', async () => {
    const disk = diskWith({ 1: singleWrites(1, 3) });
    disk.putFile(logPath(4), logBytes(4, singleWrites(4, 5), 288, OTHER_DIR_ID));
    await expectCorrupt(disk, logPath(4), 24, logName(1));
  });

  it('a foreign record in our log is refused at that record, never replayed', async () => {
    const slots: Slot[] = [...singleWrites(1, 2), foreignRecord(termRecord(3)), termRecord(4)];
    await expectCorrupt(diskWith({ 1: slots }), logPath(1), slotOffset(2), 'belongs to another directory');
  });

  it('a foreign record in a log the snapshot covers is refused too', async () => {
    const slots: Slot[] = [termRecord(1), foreignRecord(termRecord(2)), termRecord(3)];
    await expectCorrupt(diskWith({ 1: slots, 4: [] }, snap(3, 0, 3)), logPath(1), slotOffset(1));
  });

  it('a version-1 log after a version-2 log does not belong to this directory', async () => {
    const disk = diskWith({ 1: singleWrites(1, 3) });
    disk.putFile(logPath(4), logBytesV1(4, singleWrites(4, 5)));
    await expectCorrupt(disk, logPath(4), 8, 'format-v1 log after a format-v2 log');
  });

  it('version-1 records the version-2 snapshot does not cover do not belong to this directory', async () => {
    const disk = diskWith({ 4: [] }, snap(3, 0, 3));
    disk.putFile(logPath(1), logBytesV1(1, singleWrites(1, 5)));
    await expectCorrupt(disk, logPath(1), 32 + 3 * 32, 'format-v1 record (seq 4)');
  });

  it('version-1 records the version-2 snapshot covers are the upgrade’s old log: fine', async () => {
    const disk = diskWith({ 4: [voteRecord(4, 3, 1)] }, snap(3, 0, 3));
    disk.putFile(logPath(1), logBytesV1(1, singleWrites(1, 3)));
    const result = await recoverDirectory(disk, DIR);
    expect(result).toMatchObject({ state: { currentTerm: 3, votedFor: 1 }, lastSeq: 4, versions: [1, 2] });
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
    await expectCorrupt(diskWith({ 5: singleWrites(5, 6) }, snap(3, 0, 3)), logPath(5), slotOffset(0));
    // One record further, and the same logs are whole.
    const whole = diskWith({ 5: singleWrites(5, 6) }, snap(4, 0, 4));
    expect((await recoverDirectory(whole, DIR)).lastSeq).toBe(6);
  });

  it('a log whose first record is not the one its name gives (a renamed log) is corruption at that record', async () => {
    const disk = diskWith({});
    // Records 1 and 2 follow each other (no gap), but the file says it starts at 2.
    disk.putFile(logPath(2), logBytes(1, singleWrites(1, 2), 64));
    await expectCorrupt(disk, logPath(2), 48); // the first record, right after the 48-byte header
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

  it('a torn tail in an older log is fine when the snapshot covers every valid record of it (a retired log whose unlink a crash undid)', async () => {
    // The restart after the tear wrote record 3 into log-3, a later compaction's snapshot covers 3
    // and names log-4, and the crash kept the unlink of log-3 but undid the one of log-1 (unlinks
    // of covered logs get no directory fsync of their own). Found by the manager's model-based
    // property on a format-v1 torn-tail directory (seed -855992465).
    const torn = [...oneWrite(1, 2), cutShort(termRecord(3), 12)];
    const result = await recoverDirectory(diskWith({ 1: torn, 4: singleWrites(4, 5) }, snap(3, 0, 3)), DIR);
    expect(result).toMatchObject({ state: { currentTerm: 5, votedFor: 0 }, lastSeq: 5 });
    expect(result.logs[0]?.scan.end.kind).toBe('torn');
  });

  it('a covered torn log does not excuse a gap after the snapshot', async () => {
    // The snapshot covers 3 and names log-4, but log-4 starts at 5: record 4 is missing.
    const torn = [...oneWrite(1, 2), cutShort(termRecord(3), 12)];
    const disk = diskWith({ 1: torn, 4: singleWrites(5, 6) }, snap(3, 0, 3));
    expect(await corruption(disk)).toBeInstanceOf(CorruptionError);
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
        await writeSnapshot(disk, DIR, snap(3, 0, 3));
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
    expect(result.snapshot).toEqual(asRead(snap(3, 0, 3)));
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

describe('recoverDirectory: groups', () => {
  const removal = (seq: number, term: number, group: number): LogRecord => ({
    ...termRecord(seq, 0, term, group),
    kind: RecordKind.Remove,
  });

  it('replays each group on its own state; group 0 is the state', async () => {
    const records = [
      termRecord(1, 0, 2),
      termRecord(2, 0, 5, 7),
      voteRecord(3, 5, 4, 0, 7),
      voteRecord(4, 2, 9),
      termRecord(5, 0, 1, 3),
    ];
    const result = await recoverDirectory(diskWith({ 1: records }), DIR);
    expect(result.state).toEqual({ currentTerm: 2, votedFor: 9 });
    expect(result.groups).toEqual(
      new Map([
        [0, { currentTerm: 2, votedFor: 9 }],
        [7, { currentTerm: 5, votedFor: 4 }],
        [3, { currentTerm: 1, votedFor: 0 }],
      ]),
    );
  });

  it('a removal leaves a tombstone with the last term; a later term brings the group back', async () => {
    const records = [termRecord(1, 0, 4, 7), removal(2, 4, 7)];
    const gone = await recoverDirectory(diskWith({ 1: records }), DIR);
    expect(gone.groups.has(7)).toBe(false);
    expect(gone.removed).toEqual(new Map([[7, 4]]));
    const back = await recoverDirectory(diskWith({ 1: [...records, termRecord(3, 0, 5, 7)] }), DIR);
    expect(back.groups.get(7)).toEqual({ currentTerm: 5, votedFor: 0 });
    expect(back.removed.has(7)).toBe(false);
  });

  const cases: [string, LogRecord[], number][] = [
    [
      'a term in one group that does not raise that group’s term',
      [termRecord(1, 0, 5, 2), termRecord(2, 0, 3, 2)],
      1,
    ],
    [
      'a second vote in a group’s term',
      [termRecord(1, 0, 1, 2), voteRecord(2, 1, 7, 0, 2), voteRecord(3, 1, 8, 0, 2)],
      2,
    ],
    [
      'a vote in the term a group was removed in',
      [termRecord(1, 0, 4, 2), removal(2, 4, 2), voteRecord(3, 4, 1, 0, 2)],
      2,
    ],
    [
      'a term that does not pass a removed group’s last term',
      [termRecord(1, 0, 4, 2), removal(2, 4, 2), termRecord(3, 0, 4, 2)],
      2,
    ],
    ['the removal of a group that holds no state', [termRecord(1), removal(2, 0, 2)], 1],
    ['a removal for another term than the group’s', [termRecord(1, 0, 4, 2), removal(2, 5, 2)], 1],
  ];
  for (const [what, records, bad] of cases) {
    it(`${what} is corruption at that record`, async () => {
      await expectCorrupt(diskWith({ 1: records }), logPath(1), slotOffset(bad));
    });
  }

  it('a group’s vote does not count against another group in the same term', async () => {
    const records = [
      termRecord(1, 0, 3),
      voteRecord(2, 3, 1),
      termRecord(3, 0, 3, 4),
      voteRecord(4, 3, 2, 0, 4),
    ];
    const result = await recoverDirectory(diskWith({ 1: records }), DIR);
    expect(result.groups.get(4)).toEqual({ currentTerm: 3, votedFor: 2 });
    expect(result.state).toEqual({ currentTerm: 3, votedFor: 1 });
  });
});
