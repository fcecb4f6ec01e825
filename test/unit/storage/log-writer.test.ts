import { describe, expect, it } from 'vitest';
import { logName } from '../../../src/format/names.js';
import {
  encodeHeader,
  LAYOUT_V2,
  type LogRecord,
  MAX_BATCH_RECORDS,
  RecordDecoder,
} from '../../../src/format/record.js';
import { scanLog } from '../../../src/storage/log-reader.js';
import { LogWriter, PREALLOCATE_BYTES } from '../../../src/storage/log-writer.js';
import { recoverDirectory } from '../../../src/storage/recovery.js';
import {
  describeCrashPlan,
  enumerateCrashPlans,
  SimulatedDisk,
  type TraceEntry,
} from '../../../src/testing/index.js';
import {
  DIR_ID,
  GOLDEN_V2_LOG_HEX,
  HEADER_SIZE,
  hexBytes,
  logBytes,
  OTHER_DIR_ID,
  oneWrite,
  RECORD_SIZE,
  singleWrites,
  slotOffset,
  termRecord,
  voteRecord,
} from '../../fixtures/log-bytes.js';

/**
 * LogWriter on its own, on the simulated disk: the steps of create as the disk's trace shows them,
 * what append writes (one write and one fdatasync per batch, batch indices, positions, growth), and
 * what a crash at every step of create or append leaves.
 */

const DIR = '/d';
const PATH = `${DIR}/${logName(1)}`;
const TEMP = `${PATH}.tmp`;

function freshDisk(): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.mkdirp(DIR);
  return disk;
}

/** The trace without the data, for readable comparisons. */
const steps = (trace: readonly TraceEntry[]) =>
  trace.map((e) => ({
    op: e.op,
    path: e.path,
    dest: e.dest,
    mode: e.mode,
    position: e.position,
    length: e.length,
    error: e.error,
  }));

const writesIn = (trace: readonly TraceEntry[]) => trace.filter((e) => e.op === 'write');

async function recordsIn(disk: SimulatedDisk, path = PATH): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  await scanLog(disk, path, (record) => out.push(record));
  return out;
}

describe('LogWriter.create', () => {
  it('writes header and zeros to a temp name, fdatasyncs, renames, syncs the directory, reopens', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    const u = undefined;
    expect(steps(disk.trace)).toEqual([
      { op: 'unlink', path: TEMP, dest: u, mode: u, position: u, length: u, error: 'ENOENT' },
      { op: 'open', path: TEMP, dest: u, mode: 'create', position: u, length: u, error: u },
      {
        op: 'write',
        path: TEMP,
        dest: u,
        mode: u,
        position: 0,
        length: HEADER_SIZE + PREALLOCATE_BYTES,
        error: u,
      },
      { op: 'datasync', path: TEMP, dest: u, mode: u, position: u, length: u, error: u },
      { op: 'rename', path: TEMP, dest: PATH, mode: u, position: u, length: u, error: u },
      { op: 'syncDir', path: DIR, dest: u, mode: u, position: u, length: u, error: u },
      { op: 'close', path: TEMP, dest: u, mode: u, position: u, length: u, error: u },
      { op: 'open', path: PATH, dest: u, mode: 'write', position: u, length: u, error: u },
      { op: 'size', path: PATH, dest: u, mode: u, position: u, length: u, error: u },
    ]);
    const written = writesIn(disk.trace)[0]?.data;
    // The header records the size the log was created with: header and zeros.
    expect(written?.subarray(0, HEADER_SIZE)).toEqual(encodeHeader(DIR_ID, HEADER_SIZE + PREALLOCATE_BYTES));
    expect(written?.subarray(HEADER_SIZE).every((b) => b === 0)).toBe(true);
    expect(writer).toMatchObject({ path: PATH, firstSeq: 1, offset: HEADER_SIZE, recordBytes: 0 });
    // Durable under its final name, nothing under the temp name, nothing left to lose.
    expect(disk.durableFiles()).toEqual([PATH]);
    expect(Buffer.compare(disk.readDurable(PATH) ?? new Uint8Array(0), written ?? new Uint8Array(1))).toBe(0);
    expect(disk.pending()).toEqual({ writes: [], dirOps: [] });
    await writer.close();
  });

  it('names the log by its first sequence number and writes that number in the header', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 0x1234, DIR_ID);
    const path = `${DIR}/${logName(0x1234)}`;
    expect(writer.path).toBe(path);
    expect(disk.readDurable(path)?.subarray(0, HEADER_SIZE)).toEqual(
      encodeHeader(DIR_ID, HEADER_SIZE + PREALLOCATE_BYTES),
    );
    await writer.close();
  });

  it('replaces a temp file an earlier crash left', async () => {
    const disk = freshDisk();
    disk.putFile(TEMP, new Uint8Array([1, 2, 3, 4, 5]));
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    expect(disk.trace[0]).toMatchObject({ op: 'unlink', path: TEMP });
    expect(disk.trace[0]?.error).toBeUndefined();
    expect(disk.files()).toEqual([PATH]);
    expect((await scanLog(disk, PATH, () => {})).header?.directoryId).toBe(DIR_ID);
    await writer.close();
  });

  it('stops at a failing unlink other than ENOENT, creating nothing', async () => {
    const disk = freshDisk();
    disk.failNext({ op: 'unlink', errno: 'EIO' });
    await expect(LogWriter.create(disk, DIR, 1, DIR_ID)).rejects.toMatchObject({ code: 'EIO' });
    expect(disk.files()).toEqual([]);
  });

  it('never renames a log whose header and zeros are not durable', async () => {
    const disk = freshDisk();
    disk.failNext({ op: 'writeDurable', errno: 'EIO' });
    await expect(LogWriter.create(disk, DIR, 1, DIR_ID)).rejects.toMatchObject({ code: 'EIO' });
    expect(disk.trace.map((e) => e.op)).not.toContain('rename');
    expect(disk.files()).toEqual([TEMP]);
    // The temp handle is closed all the same.
    expect(disk.trace.at(-1)).toMatchObject({ op: 'close', path: TEMP });
  });

  it('a crash at any step leaves no log, or a complete empty one; after syncDir, always the log', async () => {
    const recorded = freshDisk();
    const writer = await LogWriter.create(recorded, DIR, 1, DIR_ID);
    await writer.close();
    const syncedAt = recorded.trace.findIndex((e) => e.op === 'syncDir') + 1;
    let states = 0;
    for (let k = 0; k <= recorded.trace.length; k++) {
      const at = recorded.stateAt(k);
      for (const plan of enumerateCrashPlans(at.pending(), { maxTornPointsPerWrite: 4 })) {
        const disk = recorded.stateAt(k).crashWith(plan);
        const where = `after ${k} ops, ${describeCrashPlan(plan)}`;
        states++;
        const files = disk.files();
        expect(
          files.every((f) => f === PATH || f === TEMP),
          where,
        ).toBe(true);
        if (k >= syncedAt) expect(files, where).toContain(PATH);
        if (files.includes(PATH)) {
          const scan = await scanLog(disk, PATH, () => {});
          expect(scan.header?.directoryId, where).toBe(DIR_ID);
          expect(scan.end, where).toEqual({ kind: 'clean', offset: HEADER_SIZE });
          expect(scan.fileSize, where).toBe(HEADER_SIZE + PREALLOCATE_BYTES);
        }
        // The restart creates the log again over whatever the crash left (except a log that
        // made it: then the caller reopens it, it never creates over a log).
        if (!files.includes(PATH)) {
          const again = await LogWriter.create(disk, DIR, 1, DIR_ID);
          await again.append([termRecord(1)]);
          await again.close();
          expect(await recordsIn(disk), where).toEqual([termRecord(1)]);
        }
      }
    }
    expect(states).toBeGreaterThan(recorded.trace.length);
  });
});

describe('LogWriter.append', () => {
  it('writes one batch in one write at the end, with batch indices 0.., then fdatasyncs', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    disk.clearTrace();
    // Whatever batch index the caller's records carry, the writer numbers them within the write.
    const batch = [termRecord(1, 9), termRecord(2, 9), termRecord(3, 9)];
    await writer.append(batch);
    expect(steps(disk.trace).map((s) => [s.op, s.position, s.length])).toEqual([
      ['write', HEADER_SIZE, 3 * RECORD_SIZE],
      ['datasync', undefined, undefined],
    ]);
    const data = writesIn(disk.trace)[0]?.data ?? new Uint8Array(0);
    const decoder = new RecordDecoder({ layout: LAYOUT_V2, directoryId: DIR_ID });
    const slots = [0, 1, 2].map((i) => decoder.decode(data.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE)));
    expect(slots).toEqual(oneWrite(1, 3).map((record) => ({ type: 'record', record })));
    expect(writer.offset).toBe(slotOffset(3));
    expect(writer.recordBytes).toBe(3 * RECORD_SIZE);
    expect(disk.pending().writes).toEqual([]);
    await writer.close();
  });

  it('appends each batch after the previous one, numbering each from 0', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    disk.clearTrace();
    await writer.append(singleWrites(1, 2));
    await writer.append([termRecord(3)]);
    await writer.append(singleWrites(4, 5));
    expect(writesIn(disk.trace).map((e) => [e.position, e.length])).toEqual([
      [slotOffset(0), 2 * RECORD_SIZE],
      [slotOffset(2), RECORD_SIZE],
      [slotOffset(3), 2 * RECORD_SIZE],
    ]);
    expect(await recordsIn(disk)).toEqual([...oneWrite(1, 2), termRecord(3), ...oneWrite(4, 5)]);
    const scan = await scanLog(disk, PATH, () => {});
    expect(scan.end).toEqual({ kind: 'clean', offset: slotOffset(5) });
    expect(writer.offset).toBe(slotOffset(5));
    await writer.close();
  });

  it('a batch that exactly fills the preallocation does not grow the file', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    const fit = PREALLOCATE_BYTES / RECORD_SIZE;
    disk.clearTrace();
    await writer.append(oneWrite(1, fit));
    expect(writesIn(disk.trace).map((e) => e.length)).toEqual([PREALLOCATE_BYTES]);
    expect(disk.readCurrent(PATH).byteLength).toBe(HEADER_SIZE + PREALLOCATE_BYTES);
    await writer.close();
  });

  it('a batch past the preallocation extends the file with zeros in the same write, once', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    const fit = PREALLOCATE_BYTES / RECORD_SIZE;
    await writer.append(oneWrite(1, fit - 2));
    disk.clearTrace();
    await writer.append(oneWrite(fit - 1, fit + 3)); // 5 records, 3 past the zeros
    const end = slotOffset(fit + 3);
    const [grown] = writesIn(disk.trace);
    expect(grown?.position).toBe(slotOffset(fit - 2));
    // One write: the records, then zeros reaching at least a preallocation past them.
    expect(disk.trace.map((e) => e.op)).toEqual(['write', 'datasync']);
    expect((grown?.length ?? 0) + (grown?.position ?? 0)).toBeGreaterThanOrEqual(end + PREALLOCATE_BYTES);
    expect(grown?.data?.subarray(5 * RECORD_SIZE).every((b) => b === 0)).toBe(true);
    const size = disk.readCurrent(PATH).byteLength;
    // The fdatasync made the new size durable with the records.
    expect(disk.readDurable(PATH)?.byteLength).toBe(size);
    // The next batches fit in the new zeros: no growth until they are used up.
    disk.clearTrace();
    await writer.append([termRecord(fit + 4)]);
    await writer.append(oneWrite(fit + 5, fit + 100));
    expect(writesIn(disk.trace).map((e) => e.length)).toEqual([RECORD_SIZE, 96 * RECORD_SIZE]);
    expect(disk.readCurrent(PATH).byteLength).toBe(size);
    const scan = await scanLog(disk, PATH, () => {});
    expect(scan).toMatchObject({ recordCount: fit + 100, lastSeq: fit + 100 });
    expect(scan.end).toEqual({ kind: 'clean', offset: slotOffset(fit + 100) });
    await writer.close();
  });

  it(`splits a batch of more than ${MAX_BATCH_RECORDS} records into writes numbered from 0 each`, async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    disk.clearTrace();
    const count = MAX_BATCH_RECORDS + 2;
    await writer.append(singleWrites(1, count));
    expect(disk.trace.map((e) => e.op)).toEqual(['write', 'datasync', 'write', 'datasync']);
    const [first, second] = writesIn(disk.trace);
    expect(first?.position).toBe(HEADER_SIZE);
    expect(second?.position).toBe(slotOffset(MAX_BATCH_RECORDS));
    expect(second?.length).toBe(2 * RECORD_SIZE);
    const records = await recordsIn(disk);
    expect(records).toHaveLength(count);
    expect(records.map((r) => r.batchIndex).slice(MAX_BATCH_RECORDS - 2)).toEqual([
      MAX_BATCH_RECORDS - 2,
      MAX_BATCH_RECORDS - 1,
      0,
      1,
    ]);
    expect(writer.offset).toBe(slotOffset(count));
    await writer.close();
  });

  it('does not move its position when the write fails', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    await writer.append([termRecord(1)]);
    disk.failNext({ op: 'writeDurable', errno: 'ENOSPC' });
    await expect(writer.append([termRecord(2)])).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(writer.offset).toBe(slotOffset(1));
    expect(writer.recordBytes).toBe(RECORD_SIZE);
    await writer.close();
  });

  it('a crash at any step of an append leaves the acknowledged records and a prefix of the batch', async () => {
    const recorded = freshDisk();
    const writer = await LogWriter.create(recorded, DIR, 1, DIR_ID);
    await writer.append(singleWrites(1, 2));
    // Not clearTrace(): stateAt() replays only writes through handles opened within the trace.
    const from = recorded.trace.length;
    // 38 records from byte 144: the write crosses the sector boundaries at 512, 1024 and 1536.
    await writer.append(singleWrites(3, 40));
    const syncedAt = recorded.trace.findLastIndex((e) => e.op === 'datasync') + 1;
    expect(recorded.trace.slice(from).map((e) => e.op)).toEqual(['write', 'datasync']);
    const seen = new Set<number>();
    for (let k = from; k <= recorded.trace.length; k++) {
      for (const plan of enumerateCrashPlans(recorded.stateAt(k).pending())) {
        const disk = recorded.stateAt(k).crashWith(plan);
        const where = `after ${k} ops, ${describeCrashPlan(plan)}`;
        const records = await recordsIn(disk);
        const last = records.length;
        expect(records, where).toEqual([...oneWrite(1, 2), ...oneWrite(3, 40)].slice(0, last));
        expect(last, where).toBeGreaterThanOrEqual(k >= syncedAt ? 40 : 2);
        seen.add(last);
      }
    }
    // Kept, dropped and torn at each sector boundary: 2 (dropped), 9 (cut at 512: 48 + 9 * 48 = 480),
    // 20 (cut at 1024), 31 (cut at 1536), 40.
    expect([...seen].sort((a, b) => a - b)).toEqual([2, 9, 20, 31, 40]);
    await writer.close();
  });
});

describe('the bytes LogWriter writes', () => {
  /** The golden version-2 log of docs/format.md (test/fixtures/log-bytes.ts). */
  const golden = hexBytes(GOLDEN_V2_LOG_HEX);

  it('are the golden log, byte for byte, then zeros to the preallocation', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    await writer.append([termRecord(1, 0, 5)]);
    await writer.append([voteRecord(2, 5, 101), termRecord(3, 0, 6)]);
    await writer.close();
    const file = disk.readDurable(PATH) ?? new Uint8Array(0);
    expect(golden.byteLength).toBe(slotOffset(3));
    // The golden log predates the header's created size (bytes 16..23 zero there): the records are
    // the same bytes, and the header is the golden one with the size this log was created with.
    expect(Buffer.from(file.subarray(HEADER_SIZE, golden.byteLength)).toString('hex')).toBe(
      Buffer.from(golden.subarray(HEADER_SIZE)).toString('hex'),
    );
    expect(golden.subarray(16, 24).every((b) => b === 0)).toBe(true);
    expect(file.subarray(0, HEADER_SIZE)).toEqual(encodeHeader(DIR_ID, HEADER_SIZE + PREALLOCATE_BYTES));
    expect(file.byteLength).toBe(HEADER_SIZE + PREALLOCATE_BYTES);
    expect(file.subarray(golden.byteLength).every((b) => b === 0)).toBe(true);
    expect((await recoverDirectory(disk, DIR)).state).toEqual({ currentTerm: 6, votedFor: 0 });
  });

  it('preallocates a whole number of records: 5461 of them, 262,128 bytes', () => {
    expect(PREALLOCATE_BYTES).toBe(262_128);
    expect(PREALLOCATE_BYTES % RECORD_SIZE).toBe(0);
  });

  it('are records of its own directory only: another directory reads every one as foreign', async () => {
    const disk = freshDisk();
    const writer = await LogWriter.create(disk, DIR, 1, DIR_ID);
    await writer.append(singleWrites(1, 3));
    await writer.close();
    const file = disk.readDurable(PATH) ?? new Uint8Array(0);
    const theirs = new RecordDecoder({ layout: LAYOUT_V2, directoryId: OTHER_DIR_ID });
    const ours = new RecordDecoder({ layout: LAYOUT_V2, directoryId: DIR_ID });
    for (let i = 0; i < 3; i++) {
      const slot = file.subarray(slotOffset(i), slotOffset(i + 1));
      expect(theirs.decode(slot)).toEqual({ type: 'foreign', seq: i + 1 });
      expect(ours.decode(slot)).toEqual({ type: 'record', record: termRecord(i + 1, i) });
    }
    // The header names the directory, the id LogWriter was given.
    expect((await scanLog(disk, PATH, () => {})).header?.directoryId).toBe(DIR_ID);
  });
});

describe('LogWriter.reopen', () => {
  it('appends at the given offset of an existing log', async () => {
    const disk = freshDisk();
    const first = await LogWriter.create(disk, DIR, 1, DIR_ID);
    await first.append(singleWrites(1, 3));
    await first.close();
    const writer = await LogWriter.reopen(disk, DIR, 1, DIR_ID, slotOffset(3));
    expect(writer).toMatchObject({
      path: PATH,
      firstSeq: 1,
      offset: slotOffset(3),
      recordBytes: 3 * RECORD_SIZE,
    });
    disk.clearTrace();
    await writer.append([termRecord(4)]);
    expect(writesIn(disk.trace).map((e) => [e.position, e.length])).toEqual([[slotOffset(3), RECORD_SIZE]]);
    expect((await recordsIn(disk)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    await writer.close();
  });

  it('overwrites a torn tail at the offset it is given', async () => {
    const disk = freshDisk();
    const torn = logBytes(1, [...singleWrites(1, 2), new Uint8Array([7, 7, 7, 7, 7, 7])], 1024);
    disk.putFile(PATH, torn);
    const writer = await LogWriter.reopen(disk, DIR, 1, DIR_ID, slotOffset(2));
    await writer.append([termRecord(3)]);
    const scan = await scanLog(disk, PATH, () => {});
    expect(scan.end).toEqual({ kind: 'clean', offset: slotOffset(3) });
    expect(scan.lastSeq).toBe(3);
    await writer.close();
  });

  it('takes the file size as the end of the zeros: a log without zeros grows on the next append', async () => {
    const disk = freshDisk();
    disk.putFile(PATH, logBytes(1, singleWrites(1, 3)));
    const writer = await LogWriter.reopen(disk, DIR, 1, DIR_ID, slotOffset(3));
    disk.clearTrace();
    await writer.append([termRecord(4)]);
    const [write] = writesIn(disk.trace);
    expect(write?.length).toBeGreaterThanOrEqual(RECORD_SIZE + PREALLOCATE_BYTES);
    disk.clearTrace();
    await writer.append([termRecord(5)]);
    expect(writesIn(disk.trace).map((e) => e.length)).toEqual([RECORD_SIZE]);
    await writer.close();
  });

  it('rejects for a missing log', async () => {
    await expect(LogWriter.reopen(freshDisk(), DIR, 1, DIR_ID, HEADER_SIZE)).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('closes the handle it opened when reading the size fails', async () => {
    const disk = freshDisk();
    disk.putFile(PATH, logBytes(1, [], 64));
    disk.failNext({ op: 'size', errno: 'EIO' });
    await expect(LogWriter.reopen(disk, DIR, 1, DIR_ID, HEADER_SIZE)).rejects.toMatchObject({ code: 'EIO' });
    expect(disk.trace.map((e) => e.op)).toEqual(['open', 'size', 'close']);
  });
});
