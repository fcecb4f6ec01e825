import { UpdateKind } from '../state.js';

/** The record kind byte of each update on disk (offset 4 of a record): 1 = term, 2 = vote. */
const RECORD_KIND: Readonly<Record<UpdateKind, number>> = { [UpdateKind.Term]: 1, [UpdateKind.Vote]: 2 };
const UPDATE_KIND: Readonly<Partial<Record<number, UpdateKind>>> = { 1: UpdateKind.Term, 2: UpdateKind.Vote };

import { crc32 } from './crc.js';

/**
 * The log's byte layout: a 32-byte header, then fixed-size 32-byte records, all little-endian.
 * docs/format.md describes the same layout for humans; change both together.
 *
 * Header (offset, size, field):
 *   0  8  magic "RAFTMWAL"
 *   8  4  format version (1)
 *  12  4  record size (32)
 *  16  8  first sequence number this log holds
 *  24  4  reserved, zero
 *  28  4  CRC-32 of bytes 0..27
 *
 * Record:
 *   0  4  CRC-32 of bytes 4..31
 *   4  1  kind: 1 = term update, 2 = vote update
 *   5  1  reserved, zero
 *   6  2  index of this record within the write (batch) that carried it
 *   8  8  sequence number (consecutive, from 1)
 *  16  8  currentTerm after the update
 *  24  8  votedFor after the update
 *
 * An all-zero record slot marks the end of the log: files are preallocated with zeros and records
 * overwrite them in place. No valid record is all zeros (its CRC would not match).
 */

export const LOG_MAGIC = 'RAFTMWAL';
export const LOG_FORMAT_VERSION = 1;
export const HEADER_SIZE = 32;
export const RECORD_SIZE = 32;
/** Largest batch index that fits the 16-bit field; the writer splits larger batches. */
export const MAX_BATCH_RECORDS = 0xffff;

const MAX_HIGH_WORD = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER

export interface LogHeader {
  readonly version: number;
  readonly recordSize: number;
  readonly firstSeq: number;
}

export interface LogRecord {
  readonly kind: UpdateKind;
  readonly batchIndex: number;
  readonly seq: number;
  readonly currentTerm: number;
  readonly votedFor: number;
}

/** What one 32-byte slot holds. */
export type SlotContent =
  | { readonly type: 'record'; readonly record: LogRecord }
  | { readonly type: 'zero' }
  | { readonly type: 'bad'; readonly reason: string };

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

export function encodeHeader(firstSeq: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = viewOf(bytes);
  bytes.set(new TextEncoder().encode(LOG_MAGIC), 0);
  view.setUint32(8, LOG_FORMAT_VERSION, true);
  view.setUint32(12, RECORD_SIZE, true);
  writeU64(view, 16, firstSeq);
  view.setUint32(28, crc32(bytes.subarray(0, 28)), true);
  return bytes;
}

/** Why a header does not decode. A contract between modules: match on these, never on `reason`. */
export const HeaderProblem = {
  /** Fewer than HEADER_SIZE bytes: the header write (at log creation) never fully reached the disk. */
  Short: 'short',
  /** All zeros: the header write never reached the disk. */
  Zero: 'zero',
  /** Not the magic `RAFTMWAL`: not a raft-metadata log. */
  BadMagic: 'bad-magic',
  Checksum: 'checksum',
  UnknownVersion: 'unknown-version',
  RecordSize: 'record-size',
  FirstSeq: 'first-seq',
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

/** Decodes a header, or says why the bytes are not a valid version-1 header. */
export function decodeHeader(bytes: Uint8Array): LogHeader | { readonly problem: HeaderDefect } {
  const problem = (kind: HeaderProblem, reason: string) => ({ problem: { kind, reason } });
  // The reasons of Short and Zero are the CLI's JSON `headerProblem` values ('short header', 'zero').
  if (bytes.byteLength < HEADER_SIZE) return problem(HeaderProblem.Short, 'short header');
  const head = bytes.subarray(0, HEADER_SIZE);
  if (head.every((b) => b === 0)) return problem(HeaderProblem.Zero, 'zero');
  const view = viewOf(head);
  const magic = new TextDecoder().decode(head.subarray(0, 8));
  if (magic !== LOG_MAGIC)
    return problem(HeaderProblem.BadMagic, `bad magic ${JSON.stringify(magic)} (not a raft-metadata log)`);
  if (view.getUint32(28, true) !== crc32(head.subarray(0, 28)))
    return problem(HeaderProblem.Checksum, 'header checksum mismatch');
  const version = view.getUint32(8, true);
  if (version !== LOG_FORMAT_VERSION)
    return problem(HeaderProblem.UnknownVersion, `unknown log format version ${version}`);
  const recordSize = view.getUint32(12, true);
  if (recordSize !== RECORD_SIZE)
    return problem(HeaderProblem.RecordSize, `unexpected record size ${recordSize}`);
  const firstSeq = readU64(view, 16);
  if (firstSeq < 1) return problem(HeaderProblem.FirstSeq, 'invalid first sequence number');
  return { version, recordSize, firstSeq };
}

/** Writes `record` into `target` at `offset` (RECORD_SIZE bytes). */
export function encodeRecordInto(target: Uint8Array, offset: number, record: LogRecord): void {
  const slot = target.subarray(offset, offset + RECORD_SIZE);
  slot.fill(0);
  const view = viewOf(slot);
  view.setUint8(4, RECORD_KIND[record.kind]);
  view.setUint16(6, record.batchIndex, true);
  writeU64(view, 8, record.seq);
  writeU64(view, 16, record.currentTerm);
  writeU64(view, 24, record.votedFor);
  view.setUint32(0, crc32(slot.subarray(4)), true);
}

export function encodeRecord(record: LogRecord): Uint8Array {
  const bytes = new Uint8Array(RECORD_SIZE);
  encodeRecordInto(bytes, 0, record);
  return bytes;
}

/** Decodes the slot at `offset` of `bytes` (one DataView per chunk keeps replay allocation-light). */
export function decodeSlotAt(bytes: Uint8Array, view: DataView, offset: number): SlotContent {
  if (bytes.byteLength - offset < RECORD_SIZE) return { type: 'bad', reason: 'record cut short' };
  let allZero = true;
  for (let i = offset; i < offset + RECORD_SIZE; i++) {
    if (bytes[i] !== 0) {
      allZero = false;
      break;
    }
  }
  if (allZero) return { type: 'zero' };
  if (view.getUint32(offset, true) !== crc32(bytes.subarray(offset + 4, offset + RECORD_SIZE))) {
    return { type: 'bad', reason: 'record checksum mismatch' };
  }
  const kindByte = view.getUint8(offset + 4);
  const kind = UPDATE_KIND[kindByte];
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
    record: { kind, batchIndex: view.getUint16(offset + 6, true), seq, currentTerm, votedFor },
  };
}

/** Decodes one slot: a checked record, an all-zero slot, or damage with its reason. */
export function decodeSlot(slot: Uint8Array): SlotContent {
  return decodeSlotAt(slot, viewOf(slot), 0);
}
