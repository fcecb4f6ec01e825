import { join } from 'node:path';
import { hasErrno } from '../errors.js';
import { HEADER_SIZE, type HeaderDefect, type LogHeader, type LogRecord } from '../format/record.js';
import {
  decodeSnapshot,
  type SnapshotContent,
  type SnapshotProblem,
  snapshotClaims,
} from '../format/snapshot-codec.js';
import type { FileSystem } from '../fs/types.js';
import { countNonZero, forEachSlot, readHeader } from '../storage/log-reader.js';

/**
 * The salvage scan: what is still readable in a metadata file, past any damage. The library's
 * reader ({@link scanLog}) stops at the first damage, which is what a node must do; an operator
 * needs every record still readable and the highest term any of them mentions. Every byte is
 * decoded with the format module ({@link forEachSlot}, {@link decodeHeader}, {@link decodeSnapshot},
 * {@link snapshotClaims}); nothing here parses the format a second way. Read-only.
 */

/** A CRC-valid record found by the salvage scan, with its byte offset in the file. */
export interface SalvagedRecord extends LogRecord {
  readonly offset: number;
}

/** A run of consecutive non-zero slots that do not decode as records. */
export interface DamagedRange {
  readonly offset: number;
  readonly length: number;
  /** Why the first slot of the run does not decode. */
  readonly reason: string;
  readonly nonZeroBytes: number;
}

/** One log file, slot by slot, whatever the damage. */
export interface SalvagedLog {
  readonly size: number;
  /** The decoded header, or undefined when it does not decode. */
  readonly header: LogHeader | undefined;
  /** Why the header does not decode ({@link headerNeverWritten}: never written, not damage). */
  readonly headerProblem: HeaderDefect | undefined;
  /** Every CRC-valid record in file order, including those after damage. */
  readonly records: readonly SalvagedRecord[];
  readonly damage: readonly DamagedRange[];
}

/** The snapshot file as found: checked content, or the problem and what its JSON says anyway. */
export interface SalvagedSnapshot {
  readonly name: string;
  readonly size: number;
  /** The content when the file decodes and its checksum matches. */
  readonly content: SnapshotContent | undefined;
  readonly problem: SnapshotProblem | undefined;
  /**
   * For a damaged snapshot whose text still parses as JSON: the numbers it claims. Unverified (the
   * checksum failed), but a repair counts its term as seen: a node may have acted on it.
   */
  readonly unverified: Partial<SnapshotContent> | undefined;
}

/**
 * Decodes every slot of a log file with the format module, past any damage. Unlike
 * {@link scanLog} it never throws for damage: it reports it.
 */
export async function salvageLog(fs: FileSystem, path: string): Promise<SalvagedLog> {
  const handle = await fs.open(path, 'read');
  try {
    const size = await handle.size();
    const { decoded } = await readHeader(handle);
    const header = 'problem' in decoded ? undefined : decoded;
    const headerProblem = 'problem' in decoded ? decoded.problem : undefined;
    const records: SalvagedRecord[] = [];
    const damage: DamagedRange[] = [];
    let run: { offset: number; length: number; reason: string; nonZeroBytes: number } | undefined;
    await forEachSlot(handle, HEADER_SIZE, size, (slot, offset, bytes) => {
      if (slot.type === 'bad') {
        const nonZero = countNonZero(bytes);
        if (run === undefined) {
          run = { offset, length: bytes.byteLength, reason: slot.reason, nonZeroBytes: nonZero };
        } else {
          run.length += bytes.byteLength;
          run.nonZeroBytes += nonZero;
        }
        return;
      }
      if (run !== undefined) {
        damage.push(run);
        run = undefined;
      }
      if (slot.type === 'record') records.push({ ...slot.record, offset });
    });
    if (run !== undefined) damage.push(run);
    return { size, header, headerProblem, records, damage };
  } finally {
    await handle.close();
  }
}

/** Reads a snapshot file (`metadata.json` or its temp file); undefined when there is none. */
export async function salvageSnapshot(
  fs: FileSystem,
  dir: string,
  name: string,
): Promise<SalvagedSnapshot | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(join(dir, name));
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  const decoded = decodeSnapshot(bytes);
  if (!('problem' in decoded)) {
    return { name, size: bytes.byteLength, content: decoded, problem: undefined, unverified: undefined };
  }
  // The checksum (or a field) is wrong. Keep whatever numbers the JSON still holds: they are not
  // trusted as state, only counted as "seen" by a repair, which must stay above every term seen.
  const unverified = snapshotClaims(bytes);
  return { name, size: bytes.byteLength, content: undefined, problem: decoded, unverified };
}
