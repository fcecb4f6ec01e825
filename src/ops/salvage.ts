import { join } from 'node:path';
import { hasErrno } from '../errors.js';
import { type DirectoryId, directoryIdFromBytes } from '../format/directory-id.js';
import {
  type HeaderDefect,
  LAYOUT_V1,
  LAYOUT_V2,
  type LogHeader,
  type LogLayout,
  type LogRecord,
  RecordDecoder,
  viewOf,
} from '../format/record.js';
import {
  decodeSnapshot,
  type GroupClaim,
  type SnapshotContent,
  type SnapshotProblem,
  snapshotClaims,
  snapshotFloorClaim,
  snapshotGroupClaims,
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

/**
 * A whole, well-formed record that was written for another directory (format v2: its integrity
 * checksum holds, its ownership checksum, salted with the directory id, does not). Neither state
 * nor damage: it is reported on its own and never counted.
 */
export interface ForeignRecord {
  readonly offset: number;
  readonly seq: number;
}

/** One log file, slot by slot, whatever the damage. */
export interface SalvagedLog {
  readonly size: number;
  /** The decoded header, or undefined when it does not decode. */
  readonly header: LogHeader | undefined;
  /**
   * The layout the slots were decoded with: the header's, or (header damaged) the one its version
   * field names (v1 when it says 1, else v2).
   */
  readonly layout: LogLayout;
  /**
   * The directory id the records' ownership checksums were checked against (format v2): the
   * header's, or (header damaged) the id the caller believes is the directory's; undefined for v1.
   */
  readonly checkedAgainst: DirectoryId | undefined;
  /** Why the header does not decode ({@link headerNeverWritten}: never written, not damage). */
  readonly headerProblem: HeaderDefect | undefined;
  /** Every CRC-valid record in file order, including those after damage. */
  readonly records: readonly SalvagedRecord[];
  readonly damage: readonly DamagedRange[];
  /** Whole records written for another directory than {@link checkedAgainst}. */
  readonly foreign: readonly ForeignRecord[];
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
  readonly unverified: SnapshotClaims | undefined;
  /** For a damaged snapshot whose text still parses: every group its JSON names (unverified, like `unverified`). */
  readonly unverifiedGroups: ReadonlyMap<number, GroupClaim> | undefined;
  /** For a damaged snapshot whose text still parses: the `floorTerm` it claims above 0 (unverified). */
  readonly unverifiedFloorTerm: number | undefined;
}

/** What a snapshot's JSON claims for group 0, checksum or not ({@link snapshotClaims}). */
export type SnapshotClaims = NonNullable<ReturnType<typeof snapshotClaims>>;

/** The layout a damaged header's version field (offset 8) names: v1 when it says 1, else v2. */
function layoutOfDamaged(bytes: Uint8Array): LogLayout {
  return bytes.byteLength >= 12 && viewOf(bytes).getUint32(8, true) === 1 ? LAYOUT_V1 : LAYOUT_V2;
}

/**
 * Decodes every slot of a log file with the format module, past any damage. Unlike
 * {@link scanLog} it never throws for damage: it reports it. `directoryId` is the id the caller
 * takes for the directory's own: with a damaged version-2 header, records are checked against it
 * (the header's own id is not trusted then).
 */
export async function salvageLog(
  fs: FileSystem,
  path: string,
  directoryId?: DirectoryId,
): Promise<SalvagedLog> {
  const handle = await fs.open(path, 'read');
  try {
    const size = await handle.size();
    const { bytes: headBytes, decoded } = await readHeader(handle);
    const header = 'problem' in decoded ? undefined : decoded;
    const headerProblem = 'problem' in decoded ? decoded.problem : undefined;
    const layout = header?.layout ?? layoutOfDamaged(headBytes);
    // A damaged v2 header: the caller's id for the directory, else the id bytes the header holds.
    const rawId = headBytes.byteLength >= 40 ? directoryIdFromBytes(headBytes.subarray(24, 40)) : undefined;
    const checkedAgainst = layout.version === 1 ? undefined : (header?.directoryId ?? directoryId ?? rawId);
    const decoder = new RecordDecoder({ layout, directoryId: checkedAgainst });
    const records: SalvagedRecord[] = [];
    const damage: DamagedRange[] = [];
    const foreign: ForeignRecord[] = [];
    let run: { offset: number; length: number; reason: string; nonZeroBytes: number } | undefined;
    await forEachSlot(handle, decoder, layout.headerSize, size, (slot, offset, bytes) => {
      if (slot.type === 'bad') {
        const nonZero = countNonZero(bytes);
        // The zeros of a preallocation that is not a whole number of slots (a MetadataStore's
        // log): the file's end, not damage.
        if (nonZero === 0 && bytes.byteLength < layout.recordSize) return;
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
      else if (slot.type === 'foreign') foreign.push({ offset, seq: slot.seq });
    });
    if (run !== undefined) damage.push(run);
    return { size, header, layout, checkedAgainst, headerProblem, records, damage, foreign };
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
    return {
      name,
      size: bytes.byteLength,
      content: decoded,
      problem: undefined,
      unverified: undefined,
      unverifiedGroups: undefined,
      unverifiedFloorTerm: undefined,
    };
  }
  // The checksum (or a field) is wrong. Keep whatever numbers the JSON still holds: they are not
  // trusted as state, only counted as "seen" by a repair, which must stay above every term seen.
  const unverified = snapshotClaims(bytes);
  const unverifiedGroups = snapshotGroupClaims(bytes);
  const unverifiedFloorTerm = snapshotFloorClaim(bytes);
  return {
    name,
    size: bytes.byteLength,
    content: undefined,
    problem: decoded,
    unverified,
    unverifiedGroups,
    unverifiedFloorTerm,
  };
}
