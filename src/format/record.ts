import { RecordKind } from '../state.js';
import { crc32, crc32Continue, crc32ZeroAdvance } from './crc.js';
import { type DirectoryId, directoryIdBytes, directoryIdFromBytes } from './directory-id.js';

/**
 * The log's byte layouts, all little-endian. docs/format.md describes the same layouts for humans;
 * change both together. Two versions exist; a reader tells them apart by the u32 at offset 8 of the
 * header (the magic before it is the same). Version 2 is what this code writes; version 1 (0.1.0)
 * is read, never written.
 *
 * Header, version 2 (48 bytes):
 *   0  8  magic "RAFTMWAL"
 *   8  4  format version (2)
 *  12  4  record size (48)
 *  16  8  created size (u64): the file's size when it was created, header and preallocated zeros;
 *         0 when not recorded (logs written before this field, or by hand). A log only grows, so a
 *         file shorter than this was cut short by something other than a crash. (The first sequence
 *         number is in the file name, `log-<first seq>.wal`: a header without it can be written,
 *         and fdatasynced, before the log's name is chosen.)
 *  24 16  directory id (random, made when the directory was created)
 *  40  4  reserved, zero
 *  44  4  CRC-32 of bytes 0..43
 *
 * Record, version 2 (48 bytes):
 *   0  4  CRC-32 of bytes 4..47: the record is whole (not torn, not damaged)
 *   4  4  CRC-32 of the 16-byte directory id followed by bytes 8..47: the record was written for
 *         this directory (a whole record from another directory passes the first check and fails
 *         this one, so it is told apart from a torn write)
 *   8  1  kind: 1 = term update, 2 = vote update, 3 = group removed
 *   9  3  reserved, zero
 *  12  4  index of this record within the write (batch) that carried it
 *  16  8  sequence number (consecutive across the directory, from 1)
 *  24  8  group id (0 for MetadataManager's single group)
 *  32  8  currentTerm of the group after the update
 *  40  8  votedFor of the group after the update
 *
 * Header, version 1 (32 bytes): magic, version (1), record size (32), first sequence number (the
 * same as in the name), 4 reserved bytes, CRC-32 of bytes 0..27.
 * Record, version 1 (32 bytes): CRC-32 of bytes 4..31, kind (1 byte), reserved (1), batch index
 * (u16), sequence number, currentTerm, votedFor (u64 each). Group 0, no directory id.
 *
 * An all-zero record slot marks the end of the log: files are preallocated with zeros and records
 * overwrite them in place. No valid record is all zeros (its CRC would not match).
 */

export const LOG_MAGIC = 'RAFTMWAL';

/** The sizes of one log format version. */
export interface LogLayout {
  readonly version: 1 | 2;
  readonly headerSize: number;
  readonly recordSize: number;
}

export const LAYOUT_V1: LogLayout = Object.freeze({ version: 1, headerSize: 32, recordSize: 32 });
export const LAYOUT_V2: LogLayout = Object.freeze({ version: 2, headerSize: 48, recordSize: 48 });
/** The version this code writes. */
export const CURRENT_LAYOUT = LAYOUT_V2;
/** Bytes of the longest header of any version: what a reader reads first. */
export const MAX_HEADER_SIZE = 48;
/** Largest batch a writer puts in one write; larger batches are split. */
export const MAX_BATCH_RECORDS = 0xffff;

/** The record kind byte of each update on disk. */
const RECORD_KIND: Readonly<Record<RecordKind, number>> = {
  [RecordKind.Term]: 1,
  [RecordKind.Vote]: 2,
  [RecordKind.Remove]: 3,
};
const KIND_V2: Readonly<Partial<Record<number, RecordKind>>> = {
  1: RecordKind.Term,
  2: RecordKind.Vote,
  3: RecordKind.Remove,
};
/** Version 1 knows terms and votes only. */
const KIND_V1: Readonly<Partial<Record<number, RecordKind>>> = { 1: RecordKind.Term, 2: RecordKind.Vote };

const MAX_HIGH_WORD = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER

export interface LogHeader {
  readonly layout: LogLayout;
  /** Version 1 only: the first sequence number (version 2 leaves it to the file name). */
  readonly firstSeq: number | undefined;
  /** The directory the log belongs to; undefined for version 1, which has none. */
  readonly directoryId: DirectoryId | undefined;
  /**
   * Version 2: the file's size when it was created (header and preallocated zeros); undefined when
   * the header does not record it (0: a log written before the field existed, or version 1).
   */
  readonly createdSize?: number | undefined;
}

export interface LogRecord {
  readonly kind: RecordKind;
  readonly batchIndex: number;
  readonly seq: number;
  /** The Raft group the record belongs to (always 0 in version 1). */
  readonly group: number;
  readonly currentTerm: number;
  readonly votedFor: number;
}

/** What one record slot holds. */
export type SlotContent =
  | { readonly type: 'record'; readonly record: LogRecord }
  | { readonly type: 'zero' }
  | { readonly type: 'bad'; readonly reason: string }
  /** A whole, well-formed record written for another directory (version 2 only). */
  | { readonly type: 'foreign'; readonly seq: number };

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x1_0000_0000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** The u64 at `offset`, or -1 if it does not fit a safe integer. */
function readU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  if (high > MAX_HIGH_WORD) return -1;
  return high * 0x1_0000_0000 + view.getUint32(offset, true);
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A version-2 header's created size: 0 (not recorded) or a safe integer of at least a header. */
function validCreatedSize(size: number): boolean {
  return Number.isSafeInteger(size) && (size === 0 || size >= LAYOUT_V2.headerSize);
}

/**
 * A version-2 header for a log of `directoryId`, created `createdSize` bytes long (header and
 * preallocated zeros; 0: not recorded).
 */
export function encodeHeader(directoryId: DirectoryId, createdSize = 0): Uint8Array {
  if (!validCreatedSize(createdSize))
    throw new RangeError(`encodeHeader: created size ${createdSize} is not 0 or at least a header`);
  const bytes = new Uint8Array(LAYOUT_V2.headerSize);
  const view = viewOf(bytes);
  bytes.set(new TextEncoder().encode(LOG_MAGIC), 0);
  view.setUint32(8, LAYOUT_V2.version, true);
  view.setUint32(12, LAYOUT_V2.recordSize, true);
  writeU64(view, 16, createdSize);
  bytes.set(directoryIdBytes(directoryId), 24);
  view.setUint32(44, crc32(bytes.subarray(0, 44)), true);
  return bytes;
}

/** Why a header does not decode. A contract between modules: match on these, never on `reason`. */
export const HeaderProblem = {
  /** Fewer bytes than a header: the header write (at log creation) never fully reached the disk. */
  Short: 'short',
  /** All zeros: the header write never reached the disk. */
  Zero: 'zero',
  /** Not the magic `RAFTMWAL`: not a raft-metadata log. */
  BadMagic: 'bad-magic',
  Checksum: 'checksum',
  UnknownVersion: 'unknown-version',
  RecordSize: 'record-size',
  FirstSeq: 'first-seq',
  /** Version 2: a reserved field is not zero. */
  Reserved: 'reserved',
} as const;
export type HeaderProblem = (typeof HeaderProblem)[keyof typeof HeaderProblem];

/** A header that does not decode: the kind, and the reason in words (for people and JSON). */
export interface HeaderDefect {
  readonly kind: HeaderProblem;
  readonly reason: string;
}

/**
 * True when the header was never (completely) written: a crash right after the log file was
 * created. Such a log holds no record; anything else wrong with a header is damage.
 */
export function headerNeverWritten(defect: HeaderDefect): boolean {
  return defect.kind === HeaderProblem.Short || defect.kind === HeaderProblem.Zero;
}

/**
 * Decodes the header at the start of `bytes` (which may be longer), of either version, or says why
 * it is not a valid header.
 */
export function decodeHeader(bytes: Uint8Array): LogHeader | { readonly problem: HeaderDefect } {
  const problem = (kind: HeaderProblem, reason: string) => ({ problem: { kind, reason } });
  // The reasons of Short and Zero are the CLI's JSON `headerProblem` values ('short header', 'zero').
  const known = bytes.byteLength >= 12 ? viewOf(bytes).getUint32(8, true) : 0;
  const layout = known === 1 ? LAYOUT_V1 : LAYOUT_V2;
  if (bytes.byteLength < layout.headerSize) {
    return problem(HeaderProblem.Short, 'short header');
  }
  const head = bytes.subarray(0, layout.headerSize);
  if (head.every((b) => b === 0)) return problem(HeaderProblem.Zero, 'zero');
  const view = viewOf(head);
  const magic = new TextDecoder().decode(head.subarray(0, 8));
  if (magic !== LOG_MAGIC)
    return problem(HeaderProblem.BadMagic, `bad magic ${JSON.stringify(magic)} (not a raft-metadata log)`);
  const crcAt = layout.headerSize - 4;
  if (view.getUint32(crcAt, true) !== crc32(head.subarray(0, crcAt)))
    return problem(HeaderProblem.Checksum, 'header checksum mismatch');
  if (known !== 1 && known !== 2)
    return problem(HeaderProblem.UnknownVersion, `unknown log format version ${known}`);
  const recordSize = view.getUint32(12, true);
  if (recordSize !== layout.recordSize)
    return problem(HeaderProblem.RecordSize, `unexpected record size ${recordSize}`);
  if (layout.version === 2) {
    if (view.getUint32(40, true) !== 0) {
      return problem(HeaderProblem.Reserved, 'reserved header bytes are not zero');
    }
    const createdSize = readU64(view, 16);
    if (!validCreatedSize(createdSize)) {
      return problem(HeaderProblem.Reserved, `invalid created size in the header`);
    }
    return {
      layout,
      firstSeq: undefined,
      directoryId: directoryIdFromBytes(head.subarray(24, 40)),
      createdSize: createdSize === 0 ? undefined : createdSize,
    };
  }
  const firstSeq = readU64(view, 16);
  if (firstSeq < 1) return problem(HeaderProblem.FirstSeq, 'invalid first sequence number');
  return { layout, firstSeq, directoryId: undefined };
}

/**
 * Encodes records for one log (version 2, its directory's id folded into every record's
 * ownership checksum).
 */
export class RecordEncoder {
  readonly #salt: number;

  constructor(directoryId: DirectoryId) {
    this.#salt = crc32(directoryIdBytes(directoryId));
  }

  /** Writes `record` into `target` at `offset` (48 bytes). */
  encodeInto(target: Uint8Array, offset: number, record: LogRecord): void {
    this.encodeAt(target, viewOf(target), offset, record, record.batchIndex);
  }

  /**
   * Writes `record` with `batchIndex` into `target` (whose DataView is `view`) at `offset`: the
   * writer's loop, one DataView per batch and no object per record.
   */
  encodeAt(target: Uint8Array, view: DataView, offset: number, record: LogRecord, batchIndex: number): void {
    const end = offset + LAYOUT_V2.recordSize;
    target.fill(0, offset, end);
    view.setUint8(offset + 8, RECORD_KIND[record.kind]);
    view.setUint32(offset + 12, batchIndex, true);
    writeU64(view, offset + 16, record.seq);
    writeU64(view, offset + 24, record.group);
    writeU64(view, offset + 32, record.currentTerm);
    writeU64(view, offset + 40, record.votedFor);
    view.setUint32(offset + 4, crc32Continue(target.subarray(offset + 8, end), this.#salt), true);
    view.setUint32(offset, crc32(target.subarray(offset + 4, end)), true);
  }

  encode(record: LogRecord): Uint8Array {
    const bytes = new Uint8Array(LAYOUT_V2.recordSize);
    this.encodeInto(bytes, 0, record);
    return bytes;
  }
}

/**
 * `own ^ whole ^ ADVANCE_44(own)` is the same number for every version-2 record of one directory,
 * where `whole` and `own` are the record's two checksums (bytes 0..3 and 4..7) and ADVANCE_44 runs
 * the CRC register over 44 zero bytes. Why: `whole` is the CRC-32 of bytes 4..7 (which hold `own`)
 * continued over bytes 8..47, and `own` is the CRC-32 of the same bytes 8..47 continued from the
 * directory's salt; CRC-32 is affine in its starting value (see crc32ZeroAdvance), so the two differ
 * by a map of `own` and the salt alone. A reader that has checked `whole` thus checks `own` with
 * four table lookups instead of a second CRC pass, and gets exactly the answer of that pass
 * (test/unit/format/record-ownership.test.ts compares both on random records and salts).
 */
let advance44: ((value: number) => number) | undefined;

/** The constant `own ^ whole ^ ADVANCE_44(own)` of the records of the directory whose salt is `salt`. */
function ownershipKey(salt: number, advance: (value: number) => number): number {
  // Any record gives it: take an all-zero body.
  const sample = new Uint8Array(LAYOUT_V2.recordSize);
  const own = crc32Continue(sample.subarray(8), salt);
  viewOf(sample).setUint32(4, own, true);
  const whole = crc32(sample.subarray(4));
  return (own ^ whole ^ advance(own)) >>> 0;
}

/** Decodes the record slots of one log, by its header's version. */
export class RecordDecoder {
  readonly layout: LogLayout;
  /** Version 2: `own ^ whole ^ ADVANCE_44(own)` of every record of this directory (see ownershipKey). */
  readonly #ownershipKey: number;
  readonly #advance: (value: number) => number;

  constructor(header: Pick<LogHeader, 'layout' | 'directoryId'>) {
    this.layout = header.layout;
    advance44 ??= crc32ZeroAdvance(44);
    this.#advance = advance44;
    const salt = header.directoryId === undefined ? 0 : crc32(directoryIdBytes(header.directoryId));
    this.#ownershipKey = ownershipKey(salt, this.#advance);
  }

  /** Decodes the slot at `offset` of `bytes` (one DataView per chunk keeps replay allocation-light). */
  decodeAt(bytes: Uint8Array, view: DataView, offset: number): SlotContent {
    const size = this.layout.recordSize;
    if (bytes.byteLength - offset < size) return { type: 'bad', reason: 'record cut short' };
    let allZero = true;
    for (let i = offset; i < offset + size; i++) {
      if (bytes[i] !== 0) {
        allZero = false;
        break;
      }
    }
    if (allZero) return { type: 'zero' };
    return this.decodeNonZeroAt(bytes, view, offset);
  }

  /**
   * {@link decodeAt} for a slot the caller has already seen whole (`recordSize` bytes from `offset`)
   * and not all zeros: the replay loop, which tests for zero slots word by word itself.
   */
  decodeNonZeroAt(bytes: Uint8Array, view: DataView, offset: number): SlotContent {
    return this.layout.version === 1 ? decodeV1(bytes, view, offset) : this.#decodeV2(bytes, view, offset);
  }

  decode(slot: Uint8Array): SlotContent {
    return this.decodeAt(slot, viewOf(slot), 0);
  }

  #decodeV2(bytes: Uint8Array, view: DataView, offset: number): SlotContent {
    const end = offset + LAYOUT_V2.recordSize;
    const whole = view.getUint32(offset, true);
    if (whole !== crc32(bytes.subarray(offset + 4, end))) {
      return { type: 'bad', reason: 'record checksum mismatch' };
    }
    const seq = readU64(view, offset + 16);
    // Equivalent to `own === crc32Continue(bytes 8..47, salt)`, given that `whole` matched above.
    const own = view.getUint32(offset + 4, true);
    if ((own ^ whole ^ this.#advance(own)) >>> 0 !== this.#ownershipKey) {
      return { type: 'foreign', seq };
    }
    const kindByte = view.getUint8(offset + 8);
    const kind = KIND_V2[kindByte];
    if (kind === undefined) return { type: 'bad', reason: `unknown record kind ${kindByte}` };
    if (view.getUint8(offset + 9) !== 0 || view.getUint16(offset + 10, true) !== 0) {
      return { type: 'bad', reason: 'reserved byte is not zero' };
    }
    const group = readU64(view, offset + 24);
    const currentTerm = readU64(view, offset + 32);
    const votedFor = readU64(view, offset + 40);
    if (seq < 1 || group < 0 || currentTerm < 0 || votedFor < 0) {
      return { type: 'bad', reason: 'number out of range' };
    }
    return {
      type: 'record',
      record: { kind, batchIndex: view.getUint32(offset + 12, true), seq, group, currentTerm, votedFor },
    };
  }
}

function decodeV1(bytes: Uint8Array, view: DataView, offset: number): SlotContent {
  if (view.getUint32(offset, true) !== crc32(bytes.subarray(offset + 4, offset + LAYOUT_V1.recordSize))) {
    return { type: 'bad', reason: 'record checksum mismatch' };
  }
  const kindByte = view.getUint8(offset + 4);
  const kind = KIND_V1[kindByte];
  if (kind === undefined) return { type: 'bad', reason: `unknown record kind ${kindByte}` };
  if (view.getUint8(offset + 5) !== 0) return { type: 'bad', reason: 'reserved byte is not zero' };
  const seq = readU64(view, offset + 8);
  const currentTerm = readU64(view, offset + 16);
  const votedFor = readU64(view, offset + 24);
  if (seq < 1 || currentTerm < 0 || votedFor < 0) {
    return { type: 'bad', reason: 'number out of range' };
  }
  return {
    type: 'record',
    record: { kind, batchIndex: view.getUint16(offset + 6, true), seq, group: 0, currentTerm, votedFor },
  };
}
