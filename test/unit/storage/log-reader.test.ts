import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/errors.js';
import { crc32 } from '../../../src/format/crc.js';
import {
  encodeHeader,
  LAYOUT_V1,
  LAYOUT_V2,
  type LogHeader,
  type LogRecord,
  RecordDecoder,
  type SlotContent,
  viewOf,
} from '../../../src/format/record.js';
import { CHUNK_BYTES, forEachSlot, type LogScan, scanLog } from '../../../src/storage/log-reader.js';
import { PREALLOCATE_BYTES } from '../../../src/storage/log-writer.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import {
  cutShort,
  DIR_ID,
  damaged,
  encodeRecord,
  foreignRecord,
  HEADER_SIZE,
  logBytes,
  logBytesV1,
  nonZero,
  OTHER_DIR_ID,
  oneWrite,
  RECORD_SIZE,
  type Slot,
  singleWrites,
  slotOffset,
  termRecord,
  voteRecord,
  zeroSlot,
} from '../../fixtures/log-bytes.js';

/**
 * scanLog and forEachSlot on their own: logs built byte by byte with the format's encoders, read
 * from a simulated disk. What a crash can leave (zeros, a torn last write) must come back as a
 * `LogScan`; what it cannot (damage under a later write, a foreign header) as a CorruptionError
 * naming the file and the byte where the valid data ends.
 */

const PATH = '/d/log-0000000000000001.wal';
/** Slots of the reader's second chunk start at HEADER_SIZE + CHUNK_BYTES. */
const SLOTS_PER_CHUNK = CHUNK_BYTES / RECORD_SIZE;
/** What LogWriter preallocates: a whole number of version-2 slots. */
const PREALLOCATED = PREALLOCATE_BYTES;
/** The header scanLog reports for a log of ours starting at `firstSeq`. */
/** A version-2 header names no sequence number (the file name does): the same for every log. */
const headerOf = (_firstSeq: number): LogHeader => ({
  layout: LAYOUT_V2,
  firstSeq: undefined,
  directoryId: DIR_ID,
});

interface Seen {
  readonly record: LogRecord;
  readonly offset: number;
}

function diskWith(bytes: Uint8Array): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.putFile(PATH, bytes);
  return disk;
}

async function scan(bytes: Uint8Array): Promise<{ result: LogScan; seen: Seen[] }> {
  const seen: Seen[] = [];
  const result = await scanLog(diskWith(bytes), PATH, (record, offset) => seen.push({ record, offset }));
  return { result, seen };
}

async function scanError(bytes: Uint8Array): Promise<unknown> {
  return scanLog(diskWith(bytes), PATH, () => {}).then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** Expects a CorruptionError of `PATH` at `offset`. */
async function expectCorruptAt(bytes: Uint8Array, offset: number): Promise<void> {
  const err = await scanError(bytes);
  expect(err).toBeInstanceOf(CorruptionError);
  expect(err).toMatchObject({ code: 'ERR_METADATA_CORRUPT', file: PATH, offset });
}

/** A header for `firstSeq` with `edit` applied to its fields and a correct checksum. */
function headerWith(firstSeq: number, edit: (view: DataView) => void): Uint8Array {
  const bytes = encodeHeader(DIR_ID);
  const view = viewOf(bytes);
  edit(view);
  view.setUint32(44, crc32(bytes.subarray(0, 44)), true);
  return bytes;
}

describe('scanLog: clean ends', () => {
  it('reads every record in order, with its offset, up to the end of the file', async () => {
    const records = singleWrites(1, 3);
    const { result, seen } = await scan(logBytes(1, records));
    expect(seen).toEqual(records.map((record, i) => ({ record, offset: slotOffset(i) })));
    expect(result).toEqual({
      header: headerOf(1),
      end: { kind: 'clean', offset: slotOffset(3) },
      fileSize: slotOffset(3),
      recordCount: 3,
      firstSeq: 1,
      lastSeq: 3,
    });
  });

  it('ends at the first zero slot of the preallocation', async () => {
    const records = oneWrite(1, 4);
    const { result, seen } = await scan(logBytes(1, records, PREALLOCATED));
    expect(seen.map((s) => s.record)).toEqual(records);
    expect(result.end).toEqual({ kind: 'clean', offset: slotOffset(4) });
    expect(result.fileSize).toBe(slotOffset(4) + PREALLOCATED);
    expect(result).toMatchObject({ recordCount: 4, firstSeq: 1, lastSeq: 4 });
  });

  it('takes the first and last sequence numbers from the records of a later log', async () => {
    const { result } = await scan(logBytes(41, singleWrites(41, 43), 64));
    expect(result).toMatchObject({ recordCount: 3, firstSeq: 41, lastSeq: 43 });
    expect(result.header?.firstSeq).toBeUndefined(); // version 2: the name's, not the header's
  });

  it('an empty log (header and zeros) has a header, no records and ends after the header', async () => {
    const { result, seen } = await scan(logBytes(7, [], PREALLOCATED));
    expect(seen).toEqual([]);
    expect(result).toEqual({
      header: headerOf(7),
      end: { kind: 'clean', offset: HEADER_SIZE },
      fileSize: HEADER_SIZE + PREALLOCATED,
      recordCount: 0,
      firstSeq: undefined,
      lastSeq: undefined,
    });
  });

  it('does not look past the first zero slot for records (zeros then zeros is clean)', async () => {
    // Zeros in the middle of zeros: nothing was written there, whatever the slot's position.
    const { result } = await scan(logBytes(1, [...singleWrites(1, 2), zeroSlot(), zeroSlot()], 96));
    expect(result.end).toEqual({ kind: 'clean', offset: slotOffset(2) });
    expect(result.lastSeq).toBe(2);
  });

  it('writes nothing and closes its handle', async () => {
    const disk = diskWith(logBytes(1, singleWrites(1, 3), 128));
    const before = disk.fingerprint();
    await scanLog(disk, PATH, () => {});
    expect(disk.fingerprint()).toBe(before);
    const ops = disk.trace.map((e) => e.op);
    expect(ops[0]).toBe('open');
    expect(ops.at(-1)).toBe('close');
    expect(ops).not.toContain('write');
  });
});

describe('scanLog: a torn last write', () => {
  it('a batch whose first record is damaged but whose later records landed is a torn tail', async () => {
    const [three, four, five] = oneWrite(3, 5) as [LogRecord, LogRecord, LogRecord];
    const bad = damaged(three);
    const { result, seen } = await scan(logBytes(1, [...singleWrites(1, 2), bad, four, five], 64));
    expect(seen.map((s) => s.record.seq)).toEqual([1, 2]);
    expect(result.end).toMatchObject({
      kind: 'torn',
      offset: slotOffset(2),
      bytesAfter: nonZero(bad, encodeRecord(four), encodeRecord(five)),
    });
    expect(result).toMatchObject({ recordCount: 2, lastSeq: 2 });
  });

  it('a batch with a lost (zero) middle record is torn from that slot on', async () => {
    const [three, , five] = oneWrite(3, 5) as [LogRecord, LogRecord, LogRecord];
    const { result } = await scan(logBytes(1, [...singleWrites(1, 2), three, zeroSlot(), five], 64));
    // Zero slots count no bytes: only the surviving record after the hole does.
    expect(result.end).toMatchObject({
      kind: 'torn',
      offset: slotOffset(3),
      bytesAfter: nonZero(encodeRecord(five)),
    });
    expect(result).toMatchObject({ recordCount: 3, lastSeq: 3 });
  });

  it('a record of the same batch that began before the damage keeps it torn', async () => {
    // One write carried 2..5; 2 landed, 3 is damaged, 5 landed: 5's batch starts at 2 <= 3.
    const [two, three, , five] = oneWrite(2, 5) as [LogRecord, LogRecord, LogRecord, LogRecord];
    const { result } = await scan(logBytes(1, [termRecord(1), two, damaged(three), zeroSlot(), five]));
    expect(result.end).toMatchObject({ kind: 'torn', offset: slotOffset(2) });
    expect(result.lastSeq).toBe(2);
  });

  it('a record cut short at the end of the file is a torn tail', async () => {
    const piece = cutShort(termRecord(4), 10);
    const { result } = await scan(logBytes(1, [...singleWrites(1, 3), piece]));
    expect(result.end).toMatchObject({ kind: 'torn', offset: slotOffset(3), bytesAfter: nonZero(piece) });
    expect(result.fileSize).toBe(slotOffset(3) + 10);
    expect(result).toMatchObject({ recordCount: 3, lastSeq: 3 });
  });

  it('junk after the last record, followed by zeros, is a torn tail', async () => {
    const junk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const { result } = await scan(logBytes(1, [...singleWrites(1, 3), junk], 128));
    expect(result.end).toMatchObject({ kind: 'torn', offset: slotOffset(3), bytesAfter: nonZero(junk) });
  });
});

describe('scanLog: damage that a crash cannot explain', () => {
  it('a damaged record followed by a record of a later write is corruption at the damage', async () => {
    const records = singleWrites(1, 4);
    const slots: Slot[] = [...records];
    slots[1] = damaged(records[1] as LogRecord);
    await expectCorruptAt(logBytes(1, slots, 64), slotOffset(1));
  });

  it('a zeroed record followed by a later write is corruption at the zero slot', async () => {
    await expectCorruptAt(
      logBytes(1, [termRecord(1), zeroSlot(), termRecord(3), termRecord(4)]),
      slotOffset(1),
    );
  });

  it('the batch rule is exact: a write starting right after the last good record is torn, one later is not', async () => {
    // Last good: 2. A record of the write that starts at 3 (seq 4, index 1) is a piece of the torn write.
    const torn = await scan(logBytes(1, [...singleWrites(1, 2), zeroSlot(), termRecord(4, 1)]));
    expect(torn.result.end).toMatchObject({ kind: 'torn', offset: slotOffset(2) });
    // A record of a write that starts at 4 (seq 4, index 0): that write began after 3 was durable.
    await expectCorruptAt(logBytes(1, [...singleWrites(1, 2), zeroSlot(), termRecord(4, 0)]), slotOffset(2));
  });

  it('an old record after the damage (seq not past the last good one) is corruption', async () => {
    await expectCorruptAt(
      logBytes(1, [...singleWrites(1, 3), damaged(termRecord(4)), termRecord(3, 0)]),
      slotOffset(3),
    );
  });

  it('closes its handle when it throws', async () => {
    const disk = diskWith(logBytes(1, [termRecord(1), zeroSlot(), termRecord(3)]));
    await expect(scanLog(disk, PATH, () => {})).rejects.toBeInstanceOf(CorruptionError);
    expect(disk.trace.at(-1)?.op).toBe('close');
  });
});

describe('scanLog: the header', () => {
  it('an empty file has no header and ends cleanly at 0', async () => {
    const { result } = await scan(new Uint8Array(0));
    expect(result).toEqual({
      header: undefined,
      end: { kind: 'clean', offset: 0 },
      fileSize: 0,
      recordCount: 0,
      firstSeq: undefined,
      lastSeq: undefined,
    });
  });

  it('all zeros (the header write never landed) has no header and ends cleanly at 0', async () => {
    const { result } = await scan(new Uint8Array(HEADER_SIZE + PREALLOCATED));
    expect(result).toMatchObject({ header: undefined, end: { kind: 'clean', offset: 0 }, recordCount: 0 });
  });

  it('a header cut short is torn at 0, counting the bytes that landed', async () => {
    const piece = encodeHeader(DIR_ID).slice(0, 20);
    const { result } = await scan(piece);
    expect(result.header).toBeUndefined();
    expect(result.end).toMatchObject({ kind: 'torn', offset: 0, bytesAfter: nonZero(piece) });
  });

  it('a zero header with data after it is corruption at 0', async () => {
    const bytes = new Uint8Array(HEADER_SIZE + 4 * RECORD_SIZE);
    bytes.set(encodeRecord(termRecord(1)), HEADER_SIZE);
    await expectCorruptAt(bytes, 0);
  });

  it('a zero header with data past the first read chunk is corruption at 0', async () => {
    const bytes = new Uint8Array(HEADER_SIZE + CHUNK_BYTES + 4 * RECORD_SIZE);
    bytes[HEADER_SIZE + CHUNK_BYTES + 5] = 1;
    await expectCorruptAt(bytes, 0);
  });

  it('a foreign magic is corruption at 0, whatever follows', async () => {
    const bytes = logBytes(1, singleWrites(1, 2));
    bytes.set(new TextEncoder().encode('SQLITE3\0'), 0);
    await expectCorruptAt(bytes, 0);
  });

  it('an unknown format version (with a valid checksum) is corruption at 0', async () => {
    const bytes = logBytes(1, singleWrites(1, 2));
    bytes.set(
      headerWith(1, (v) => v.setUint32(8, 3, true)),
      0,
    );
    await expectCorruptAt(bytes, 0);
  });

  it('a header checksum mismatch is corruption at 0', async () => {
    const bytes = logBytes(1, singleWrites(1, 2));
    bytes[17] = (bytes[17] ?? 0) ^ 1;
    await expectCorruptAt(bytes, 0);
  });

  it('another record size (with a valid checksum) is corruption at 0', async () => {
    const bytes = logBytes(1, []);
    bytes.set(
      headerWith(1, (v) => v.setUint32(12, 64, true)),
      0,
    );
    await expectCorruptAt(bytes, 0);
  });
});

describe('scanLog across read chunks', () => {
  it('reads a log longer than one chunk with every record at its offset', async () => {
    const count = SLOTS_PER_CHUNK + 5000;
    const { result, seen } = await scan(logBytes(1, oneWrite(1, count), 4096));
    expect(result).toMatchObject({ recordCount: count, firstSeq: 1, lastSeq: count });
    expect(result.end).toEqual({ kind: 'clean', offset: slotOffset(count) });
    expect(seen.length).toBe(count);
    // Chunks are whole slots: the records either side of the edge are read whole, in place.
    for (const i of [SLOTS_PER_CHUNK - 1, SLOTS_PER_CHUNK, count - 1]) {
      expect(seen[i]).toEqual({ record: termRecord(i + 1, i), offset: slotOffset(i) });
    }
    expect(seen.every((s, i) => s.offset === slotOffset(i) && s.record.seq === i + 1)).toBe(true);
  });

  it('a torn write whose lost slot is the first of the second chunk is torn there', async () => {
    // One write carried the last 8 slots of chunk one and the first 8 of chunk two; the first slot
    // of chunk two was lost, the rest of the write landed.
    const before = singleWrites(1, SLOTS_PER_CHUNK - 8);
    const write = oneWrite(SLOTS_PER_CHUNK - 7, SLOTS_PER_CHUNK + 8);
    const slots: Slot[] = [...before, ...write];
    slots[SLOTS_PER_CHUNK] = zeroSlot();
    const { result } = await scan(logBytes(1, slots, 1024));
    expect(result.end).toMatchObject({ kind: 'torn', offset: HEADER_SIZE + CHUNK_BYTES });
    expect(result.end).toMatchObject({ bytesAfter: nonZero(...write.slice(9).map((r) => encodeRecord(r))) });
    expect(result.lastSeq).toBe(SLOTS_PER_CHUNK);
  });

  it('damage at the last slot of a chunk, with a later write in the next, is corruption there', async () => {
    const slots: Slot[] = singleWrites(1, SLOTS_PER_CHUNK + 3);
    slots[SLOTS_PER_CHUNK - 1] = damaged(termRecord(SLOTS_PER_CHUNK));
    await expectCorruptAt(logBytes(1, slots), slotOffset(SLOTS_PER_CHUNK - 1));
  });

  it('a record cut short just past the chunk edge at the end of the file is torn there', async () => {
    const piece = cutShort(termRecord(SLOTS_PER_CHUNK + 1), 12);
    const { result } = await scan(logBytes(1, [...singleWrites(1, SLOTS_PER_CHUNK), piece]));
    expect(result.end).toMatchObject({
      kind: 'torn',
      offset: HEADER_SIZE + CHUNK_BYTES,
      bytesAfter: nonZero(piece),
    });
    expect(result.lastSeq).toBe(SLOTS_PER_CHUNK);
  });
});

describe('forEachSlot', () => {
  const decoder = new RecordDecoder({ layout: LAYOUT_V2, directoryId: DIR_ID });

  interface Visited {
    readonly slot: SlotContent;
    readonly offset: number;
    readonly bytes: Uint8Array;
  }

  async function visitAll(bytes: Uint8Array, from: number, to: number): Promise<Visited[]> {
    const disk = diskWith(bytes);
    const handle = await disk.open(PATH, 'read');
    const out: Visited[] = [];
    try {
      // The bytes are a view of the reader's buffer, valid during the call: copy them.
      await forEachSlot(handle, decoder, from, to, (slot, offset, raw) =>
        out.push({ slot, offset, bytes: raw.slice() }),
      );
    } finally {
      await handle.close();
    }
    return out;
  }

  it('visits each slot of [from, to) with its offset, decoded content and raw bytes', async () => {
    const one = termRecord(1);
    const junk = damaged(termRecord(2));
    const bytes = logBytes(1, [one, junk, zeroSlot(), termRecord(3)]);
    const out = await visitAll(bytes, HEADER_SIZE, bytes.byteLength);
    expect(out.map((v) => v.offset)).toEqual([0, 1, 2, 3].map(slotOffset));
    expect(out[0]).toEqual({
      slot: { type: 'record', record: one },
      offset: slotOffset(0),
      bytes: encodeRecord(one),
    });
    expect(out[1]?.slot.type).toBe('bad');
    expect(out[1]?.bytes).toEqual(junk);
    expect(out[2]).toEqual({
      slot: { type: 'zero' },
      offset: slotOffset(2),
      bytes: new Uint8Array(RECORD_SIZE),
    });
    expect(out[3]?.slot).toEqual({ type: 'record', record: termRecord(3) });
  });

  it('honours a window inside the file', async () => {
    const bytes = logBytes(1, singleWrites(1, 10));
    const out = await visitAll(bytes, slotOffset(3), slotOffset(6));
    expect(out.map((v) => (v.slot.type === 'record' ? v.slot.record.seq : -1))).toEqual([4, 5, 6]);
  });

  it('hands a slot cut short by the window or the file end as bad, with the bytes there are', async () => {
    const bytes = logBytes(1, singleWrites(1, 3));
    const out = await visitAll(bytes, HEADER_SIZE, slotOffset(2) + 7);
    expect(out).toHaveLength(3);
    expect(out[2]).toMatchObject({ offset: slotOffset(2), slot: { type: 'bad' } });
    expect(out[2]?.bytes).toEqual(encodeRecord(termRecord(3)).slice(0, 7));
  });

  it('hands a short all-zero end as a short bad slot, not as a zero slot', async () => {
    const bytes = logBytes(1, [termRecord(1), new Uint8Array(10)]);
    const out = await visitAll(bytes, HEADER_SIZE, bytes.byteLength);
    expect(out).toHaveLength(2);
    expect(out[1]).toMatchObject({ offset: slotOffset(1), slot: { type: 'bad' } });
    expect(out[1]?.bytes).toEqual(new Uint8Array(10));
  });

  it('stops at the end of the file when `to` lies beyond it', async () => {
    const bytes = logBytes(1, singleWrites(1, 2));
    const out = await visitAll(bytes, HEADER_SIZE, bytes.byteLength + 10 * CHUNK_BYTES);
    expect(out).toHaveLength(2);
  });

  it('visits every slot of a range longer than a chunk, once, in order', async () => {
    const slots = SLOTS_PER_CHUNK * 2 + 3;
    const bytes = logBytes(1, [termRecord(1)], (slots - 1) * RECORD_SIZE);
    const out: number[] = [];
    const disk = diskWith(bytes);
    const handle = await disk.open(PATH, 'read');
    await forEachSlot(handle, decoder, HEADER_SIZE, bytes.byteLength, (_slot, offset) => out.push(offset));
    await handle.close();
    expect(out).toHaveLength(slots);
    expect(out.every((offset, i) => offset === slotOffset(i))).toBe(true);
  });
});

describe('scanLog: records of another directory', () => {
  /** Expects the reader to refuse the foreign record at `offset`, naming it as another directory's. */
  async function expectForeignAt(bytes: Uint8Array, offset: number, seq: number): Promise<void> {
    const seen: number[] = [];
    const err = await scanLog(diskWith(bytes), PATH, (record) => seen.push(record.seq)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ code: 'ERR_METADATA_CORRUPT', file: PATH, offset });
    expect((err as Error).message).toContain(`record (seq ${seq}) belongs to another directory`);
    // Nothing of it was handed on as ours.
    expect(seen.every((s) => s < seq)).toBe(true);
  }

  it('a foreign record as the first record', async () => {
    await expectForeignAt(logBytes(1, [foreignRecord(termRecord(1))], 256), slotOffset(0), 1);
  });

  it('a foreign record continuing our sequence in the middle of the log', async () => {
    const slots: Slot[] = [...singleWrites(1, 2), foreignRecord(termRecord(3)), ...singleWrites(4, 5)];
    await expectForeignAt(logBytes(1, slots, 256), slotOffset(2), 3);
  });

  it('foreign records copied over the zero tail right after our last record, never a torn tail', async () => {
    const copied = oneWrite(4, 6).map((r) => foreignRecord(r));
    await expectForeignAt(logBytes(1, [...singleWrites(1, 3), ...copied], 256), slotOffset(3), 4);
  });

  it('a foreign record after a torn write, far past the end of the valid records', async () => {
    const [three] = oneWrite(3, 4) as [LogRecord];
    const slots: Slot[] = [
      ...singleWrites(1, 2),
      damaged(three),
      zeroSlot(),
      zeroSlot(),
      foreignRecord(termRecord(9)),
    ];
    await expectForeignAt(logBytes(1, slots, 256), slotOffset(5), 9);
  });

  it('a foreign record past the first read chunk', async () => {
    const slots: Slot[] = [
      ...singleWrites(1, SLOTS_PER_CHUNK + 1),
      foreignRecord(termRecord(SLOTS_PER_CHUNK + 2)),
    ];
    await expectForeignAt(logBytes(1, slots), slotOffset(SLOTS_PER_CHUNK + 1), SLOTS_PER_CHUNK + 2);
  });

  it('a whole log of another directory reads as that directory’s (judging the header is the caller’s job)', async () => {
    const { result, seen } = await scan(logBytes(1, singleWrites(1, 2), 96, OTHER_DIR_ID));
    expect(result.header).toEqual({ layout: LAYOUT_V2, firstSeq: undefined, directoryId: OTHER_DIR_ID });
    expect(seen.map((s) => s.record)).toEqual(singleWrites(1, 2));
  });

  it('a damaged copy of a foreign record at the tail is only a torn tail (its integrity fails first)', async () => {
    const piece = foreignRecord(termRecord(4));
    piece[30] = (piece[30] ?? 0) ^ 0x10;
    const { result } = await scan(logBytes(1, [...singleWrites(1, 3), piece], 96));
    expect(result.end).toMatchObject({ kind: 'torn', offset: slotOffset(3) });
  });
});

describe('scanLog: the header callback', () => {
  it('is called once with the header before any record', async () => {
    const calls: string[] = [];
    await scanLog(
      diskWith(logBytes(5, singleWrites(5, 6), 96)),
      PATH,
      (record) => calls.push(`record ${record.seq}`),
      (header) => calls.push(`header v${header.layout.version} ${header.directoryId}`),
    );
    expect(calls).toEqual([`header v2 ${DIR_ID}`, 'record 5', 'record 6']);
  });

  it('is not called for a header that was never written', async () => {
    let called = false;
    await scanLog(
      diskWith(new Uint8Array(HEADER_SIZE + 96)),
      PATH,
      () => {},
      () => {
        called = true;
      },
    );
    expect(called).toBe(false);
  });

  it('refusing the header stops the scan before any record, and closes the handle', async () => {
    const disk = diskWith(logBytes(1, singleWrites(1, 2), 96));
    const seen: LogRecord[] = [];
    const refusal = new CorruptionError(PATH, 24, 'not ours');
    await expect(
      scanLog(
        disk,
        PATH,
        (r) => seen.push(r),
        () => {
          throw refusal;
        },
      ),
    ).rejects.toBe(refusal);
    expect(seen).toEqual([]);
    expect(disk.trace.at(-1)?.op).toBe('close');
  });
});

describe('scanLog: version-1 logs (0.1.0)', () => {
  const H1 = LAYOUT_V1.headerSize;
  const R1 = LAYOUT_V1.recordSize;

  it('reads every record of a v1 log, at 32-byte offsets, up to its zeros', async () => {
    const records = [...singleWrites(1, 3), voteRecord(4, 3, 8)];
    const { result, seen } = await scan(logBytesV1(1, records, 32 * 64));
    expect(seen).toEqual(records.map((record, i) => ({ record, offset: H1 + i * R1 })));
    expect(result).toEqual({
      header: { layout: LAYOUT_V1, firstSeq: 1, directoryId: undefined },
      end: { kind: 'clean', offset: H1 + 4 * R1 },
      fileSize: H1 + 4 * R1 + 32 * 64,
      recordCount: 4,
      firstSeq: 1,
      lastSeq: 4,
    });
  });

  it('a v1 log cut in its last record is torn there', async () => {
    const bytes = logBytesV1(1, singleWrites(1, 3)).subarray(0, H1 + 2 * R1 + 11);
    const { result } = await scan(bytes);
    expect(result.end).toMatchObject({ kind: 'torn', offset: H1 + 2 * R1 });
    expect(result.lastSeq).toBe(2);
  });

  it('damage under a later v1 write is corruption at the damage', async () => {
    const bytes = logBytesV1(1, singleWrites(1, 4));
    bytes[H1 + R1 + 17] = (bytes[H1 + R1 + 17] ?? 0) ^ 1;
    await expectCorruptAt(bytes, H1 + R1);
  });
});
