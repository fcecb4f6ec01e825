import { CorruptionError } from '../errors.js';
import { parseLogName } from '../format/names.js';
import {
  decodeHeader,
  headerNeverWritten,
  type LogHeader,
  type LogRecord,
  MAX_HEADER_SIZE,
  RecordDecoder,
  type SlotContent,
  viewOf,
} from '../format/record.js';
import type { FileHandle, FileSystem } from '../fs/types.js';

/**
 * Bytes read per step: memory stays flat whatever the log's length. A multiple of every version's
 * record size (32 and 48). The CLI's backup copies files in steps of the same size.
 */
export const CHUNK_BYTES = 3 << 19; // 1.5 MiB

/** Where the valid records of a log end. */
export type LogEnd =
  /** Nothing but zeros (preallocated space) or end of file after the last record. */
  | { readonly kind: 'clean'; readonly offset: number }
  /**
   * A torn last write: damage at `offset` that no later write depends on (what a crash in the
   * middle of an append leaves). `bytesAfter` non-zero bytes follow, up to the end of the file.
   */
  | { readonly kind: 'torn'; readonly offset: number; readonly reason: string; readonly bytesAfter: number };

export interface LogScan {
  /** Undefined when the header itself never reached the disk (file shorter than a header, or zeros). */
  readonly header: LogHeader | undefined;
  readonly end: LogEnd;
  readonly fileSize: number;
  readonly recordCount: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
}

/**
 * Reads a log file from start to end, calling `onRecord` for every valid record in order, and
 * classifies what follows the last one. Read-only.
 *
 * Torn or corrupt? Records carry their index within the write (batch) that carried them, so the
 * reader can tell, at the first bad or zero slot X after the last good record L:
 * - every valid record found after X belongs to the same write as the slot at X (its batch starts at
 *   or before L+1): that write was still in flight when the process died, nothing in it was
 *   acknowledged, and everything from X on is a torn tail;
 * - a valid record of a later write exists after X: later writes start only after the earlier ones
 *   were fdatasync'ed, so the damage hit acknowledged data: {@link CorruptionError}.
 * Throws {@link CorruptionError} for a foreign or unknown-version header too, and for a whole
 * record written for another directory (version 2: its ownership checksum fails), wherever it is.
 */
export async function scanLog(
  fs: FileSystem,
  path: string,
  onRecord: (record: LogRecord, offset: number) => void,
  onHeader?: (header: LogHeader) => void,
  /** The first sequence number the file's name gives (`log-<first seq>.wal`); a version-2 header has none. */
  nameFirstSeq: number = firstSeqOfPath(path),
): Promise<LogScan> {
  const handle = await fs.open(path, 'read');
  try {
    const fileSize = await handle.size();
    const { bytes: headBytes, decoded } = await readHeader(handle);
    if ('problem' in decoded) {
      if (headerNeverWritten(decoded.problem)) {
        // The header write (made at log creation, before any record) never fully reached the disk.
        const bytesAfter = countNonZero(headBytes);
        const end: LogEnd =
          bytesAfter === 0
            ? { kind: 'clean', offset: 0 }
            : { kind: 'torn', offset: 0, reason: 'log header was never completely written', bytesAfter };
        const headerSize = headBytes.byteLength;
        if (fileSize > headerSize) await assertZeroFrom(handle, headerSize, fileSize, path);
        return { header: undefined, end, fileSize, recordCount: 0, firstSeq: undefined, lastSeq: undefined };
      }
      throw new CorruptionError(path, 0, decoded.problem.reason);
    }

    // Before any record: the caller may refuse the whole log by its header (another directory's).
    onHeader?.(decoded);
    // A log is created whole (header and zeros, fsynced under a temp name, then renamed) and only
    // grows: no crash leaves it shorter than the size its header records. Shorter, it was cut (a
    // bad copy, a truncate), and records past the cut may have been acknowledged.
    if (decoded.createdSize !== undefined && fileSize < decoded.createdSize) {
      throw new CorruptionError(
        path,
        fileSize,
        `log cut short: ${fileSize} bytes, but it was created with ${decoded.createdSize} (header and preallocated zeros), and a log only grows; records past byte ${fileSize} may be lost`,
      );
    }
    const startSeq = decoded.firstSeq ?? nameFirstSeq;
    let lastSeq = startSeq - 1;
    let recordCount = 0;
    let firstRecordSeq = startSeq;
    let damage = undefined as { offset: number; reason: string } | undefined;
    let bytesAfter = 0;
    const decoder = new RecordDecoder(decoded);
    await forEachSlot(handle, decoder, decoded.layout.headerSize, fileSize, (slot, offset, bytes) => {
      if (slot.type === 'foreign') {
        throw new CorruptionError(
          path,
          offset,
          `record (seq ${slot.seq}) belongs to another directory: it is whole, but was not written for directory ${decoded.directoryId} (bytes copied from another node's log?). \`raft-metadata inspect\` shows where this log's own records end; restore the log from a backup of this directory, or run \`raft-metadata repair\``,
        );
      }
      if (damage === undefined) {
        if (slot.type === 'record') {
          if (recordCount === 0) firstRecordSeq = slot.record.seq;
          onRecord(slot.record, offset);
          lastSeq = slot.record.seq;
          recordCount++;
          return;
        }
        damage = { offset, reason: slot.type === 'zero' ? 'zeroed record' : slot.reason };
      }
      // Past the end of the valid records: only zeros or pieces of the same torn write may follow.
      if (slot.type === 'record') {
        const batchStart = slot.record.seq - slot.record.batchIndex;
        if (batchStart > lastSeq + 1 || slot.record.seq <= lastSeq) {
          throw new CorruptionError(
            path,
            damage.offset,
            `${damage.reason}, followed by a valid record (seq ${slot.record.seq}) at byte ${offset}`,
          );
        }
      }
      if (slot.type !== 'zero') bytesAfter += countNonZero(bytes);
    });

    const firstSeq = recordCount > 0 ? firstRecordSeq : undefined;
    const last = recordCount > 0 ? lastSeq : undefined;
    const end: LogEnd =
      damage === undefined || bytesAfter === 0
        ? { kind: 'clean', offset: damage?.offset ?? fileSize }
        : { kind: 'torn', offset: damage.offset, reason: damage.reason, bytesAfter };
    return { header: decoded, end, fileSize, recordCount, firstSeq, lastSeq: last };
  } finally {
    await handle.close();
  }
}

/** The header bytes of a log (fewer when the file is shorter) and what they decode to. */
export async function readHeader(
  handle: Pick<FileHandle, 'read'>,
): Promise<{ readonly bytes: Uint8Array; readonly decoded: ReturnType<typeof decodeHeader> }> {
  const bytes = new Uint8Array(MAX_HEADER_SIZE);
  const got = await handle.read(bytes, 0, MAX_HEADER_SIZE, 0);
  const decoded = decodeHeader(bytes.subarray(0, got));
  // The bytes of the header itself: as many as its version's header has (or all that were read).
  const size = 'problem' in decoded ? Math.min(got, headerSizeGuess(bytes, got)) : decoded.layout.headerSize;
  return { bytes: bytes.subarray(0, size), decoded };
}

/** A damaged header's size: version 1's when its version field says 1, else version 2's. */
function headerSizeGuess(bytes: Uint8Array, got: number): number {
  return got >= 12 && viewOf(bytes).getUint32(8, true) === 1 ? 32 : MAX_HEADER_SIZE;
}

/**
 * Reads `handle` from `from` to `to` in chunks and calls `visit` for each 32-byte slot, decoded,
 * with its file offset and raw bytes (shorter at a cut-short end). The one loop over slots that
 * the log reader and the CLI's salvage scan share.
 */
export async function forEachSlot(
  handle: Pick<FileHandle, 'read'>,
  decoder: RecordDecoder,
  from: number,
  to: number,
  visit: (slot: SlotContent, offset: number, bytes: Uint8Array) => void,
): Promise<void> {
  const size = decoder.layout.recordSize;
  const slotWords = size / 4;
  const zeroBytes = size === ZERO_SLOT_BYTES_V1.byteLength ? ZERO_SLOT_BYTES_V1 : ZERO_SLOT_BYTES_V2;
  const chunk = new Uint8Array(CHUNK_BYTES);
  // Most of a log is preallocated zeros: a slot of eight zero words is recognised without decoding
  // it or allocating, which keeps opening a fresh 256 KiB log cheap.
  const words = new Uint32Array(chunk.buffer, chunk.byteOffset, CHUNK_BYTES / 4);
  for (let position = from; position < to; ) {
    const got = await handle.read(chunk, 0, Math.min(CHUNK_BYTES, to - position), position);
    if (got === 0) return;
    const bytes = chunk.subarray(0, got);
    const view = viewOf(bytes);
    for (let at = 0; at < got; at += size) {
      if (at + size <= got && isZeroSlot(words, at >>> 2, slotWords)) {
        visit(ZERO_SLOT, position + at, zeroBytes);
        continue;
      }
      const slot =
        at + size <= got ? decoder.decodeNonZeroAt(bytes, view, at) : decoder.decodeAt(bytes, view, at);
      visit(slot, position + at, bytes.subarray(at, at + size));
    }
    position += got;
  }
}

const ZERO_SLOT: SlotContent = Object.freeze({ type: 'zero' });
const ZERO_SLOT_BYTES_V1 = new Uint8Array(32);
const ZERO_SLOT_BYTES_V2 = new Uint8Array(48);

function isZeroSlot(words: Uint32Array, first: number, slotWords: number): boolean {
  for (let i = first; i < first + slotWords; i++) if (words[i] !== 0) return false;
  return true;
}

export function countNonZero(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if (b !== 0) n++;
  return n;
}

async function assertZeroFrom(
  handle: { read(b: Uint8Array, o: number, l: number, p: number): Promise<number> },
  from: number,
  to: number,
  path: string,
): Promise<void> {
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (let position = from; position < to; ) {
    const got = await handle.read(chunk, 0, Math.min(CHUNK_BYTES, to - position), position);
    if (got === 0) return;
    const index = chunk.subarray(0, got).findIndex((b) => b !== 0);
    if (index >= 0) {
      throw new CorruptionError(path, 0, `log header missing but data found at byte ${position + index}`);
    }
    position += got;
  }
}

/** The first sequence number in a log path's file name (1 when the name is not a log's: tests, tools). */
function firstSeqOfPath(path: string): number {
  return parseLogName(path.slice(path.lastIndexOf('/') + 1)) ?? 1;
}
