import { join } from 'node:path';
import { CorruptionError, hasErrno } from '../errors.js';
import type { DirectoryId } from '../format/directory-id.js';
import { logFiles, SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME } from '../format/names.js';
import type { LogHeader } from '../format/record.js';
import type { FileSystem } from '../fs/types.js';
import type { NodeIdentity } from '../identity.js';
import { RecordKind } from '../state.js';
import { type LockStatus, lockStatus } from '../storage/lock.js';
import { type LogScan, readHeader, scanLog } from '../storage/log-reader.js';
import { type RecoveredDirectory, recoverDirectory } from '../storage/recovery.js';
import { type Capture, captureDirectory, captureView } from './capture.js';
import {
  type SalvagedLog,
  type SalvagedRecord,
  type SalvagedSnapshot,
  salvageLog,
  salvageSnapshot,
} from './salvage.js';

/**
 * The examination of a metadata directory, for the `raft-metadata` command line: the library's own
 * reader ({@link recoverDirectory}) for the verdict (what a node would do), the log reader
 * ({@link scanLog}) on each log alone, the salvage scan ({@link salvageLog}) for everything still
 * readable, what replay does with each record, and the lock. Read-only.
 */

export type RecordStatus =
  /** Replayed on top of the snapshot: part of the state a node loads. */
  | 'applied'
  /** Sequence number at or below the snapshot's `lastSeq`: replay skips it, the snapshot has it. */
  | 'covered'
  /** Inside a torn tail: the last write was cut short and never acknowledged; an open discards it. */
  | 'torn'
  /** The record at which replay stopped with ERR_METADATA_CORRUPT (a gap or a broken Raft rule). */
  | 'rejected'
  /** After the point where replay stopped with ERR_METADATA_CORRUPT: readable, but never loaded. */
  | 'not-reached'
  /** In a log of another directory ({@link ExaminedLog.foreign}): never this node's state. */
  | 'foreign';

export interface ExaminedRecord extends SalvagedRecord {
  readonly status: RecordStatus;
}

/** What the library's own error says: file, byte offset, problem. */
export interface CorruptionInfo {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  readonly message: string;
}

/** Why a whole file is taken for another directory's (see {@link ownDirectoryId} for "ours"). */
export type ForeignReason =
  /** A format-v2 file whose directory id is not this directory's. */
  | 'other-directory'
  /**
   * A format-v1 log where this directory already moved to v2: after a v2 log of this directory,
   * holding records after the v2 snapshot, or named as the log after it. No upgrade leaves one.
   */
  | 'v1-after-v2';

export interface ForeignFile {
  readonly name: string;
  /** The format version of its header (undefined: it does not decode). */
  readonly version: 1 | 2 | undefined;
  /** The directory id it carries (format v2), undefined for v1. */
  readonly directoryId: DirectoryId | undefined;
  readonly reason: ForeignReason;
  /** The same in a sentence. */
  readonly message: string;
}

export interface ExaminedLog {
  readonly name: string;
  readonly path: string;
  /** First sequence number according to the file name. */
  readonly nameFirstSeq: number;
  /** Format version of the header (undefined when it does not decode). */
  readonly version: 1 | 2 | undefined;
  /** The directory id in the header (format v2). */
  readonly directoryId: DirectoryId | undefined;
  /** Set when the whole log belongs to another directory: its records are never this node's. */
  readonly foreign: ForeignFile | undefined;
  /** What the library's log reader says about this file on its own, or its error. */
  readonly scan: LogScan | undefined;
  readonly scanError: CorruptionInfo | undefined;
  readonly salvage: SalvagedLog;
  readonly records: readonly ExaminedRecord[];
}

export type DirectoryKind =
  | 'missing'
  | 'not-directory'
  /** An existing directory with no metadata.json and no log file. */
  | 'no-metadata'
  | 'metadata';

export type Verdict = 'clean' | 'torn' | 'corrupt' | 'not-metadata';

/**
 * Which format versions this directory's own files are in: `v1-and-v2` is an upgrade in progress
 * (a crash during the first open or compaction by this version), finished by the next one.
 */
export type FormatSummary = 'none' | 'v1' | 'v2' | 'v1-and-v2';

/** Whose directory this is, and in which format its files are. */
export interface DirectoryFormat {
  /** Format versions of the directory's own files that decode (snapshot and logs), ascending. */
  readonly versions: readonly (1 | 2)[];
  readonly summary: FormatSummary;
  /** The directory's id ({@link ownDirectoryId}); undefined when no format-v2 file decodes. */
  readonly directoryId: DirectoryId | undefined;
  /** Where that id was read (`metadata.json`, or a log and how many v2 logs carry it). */
  readonly directoryIdFrom: string | undefined;
  /** The node identity stamped in the snapshot (undefined: none, or the snapshot does not decode). */
  readonly identity: NodeIdentity | undefined;
  /** Files of another directory (whole logs); their records are never counted. */
  readonly foreignFiles: readonly ForeignFile[];
}

export interface Examination {
  readonly dir: string;
  readonly kind: DirectoryKind;
  /** clean: loads, nothing to discard; torn: loads, an open discards a torn tail; corrupt: does not load. */
  readonly verdict: Verdict;
  /** What a node would load (undefined when it would refuse to start, or there is no directory). */
  readonly recovered: RecoveredDirectory | undefined;
  /** Why a node would refuse to start. */
  readonly error: CorruptionInfo | undefined;
  readonly snapshot: SalvagedSnapshot | undefined;
  /** A leftover `metadata.json.tmp` (the reader ignores it; a repair counts its terms as seen). */
  readonly snapshotTemp: SalvagedSnapshot | undefined;
  readonly logs: readonly ExaminedLog[];
  /** Names the library ignores (LOCK, temp files, backups, anything else). */
  readonly otherNames: readonly string[];
  readonly lock: LockStatus;
  readonly format: DirectoryFormat;
}

const NO_FORMAT: DirectoryFormat = Object.freeze({
  versions: [],
  summary: 'none',
  directoryId: undefined,
  directoryIdFrom: undefined,
  identity: undefined,
  foreignFiles: [],
});

function summaryOf(versions: readonly (1 | 2)[]): FormatSummary {
  if (versions.includes(1) && versions.includes(2)) return 'v1-and-v2';
  if (versions.includes(2)) return 'v2';
  return versions.includes(1) ? 'v1' : 'none';
}

/**
 * The directory's own id, by this rule (docs/operations.md, "Files of another directory"): the
 * version-2 snapshot's when it decodes (its checksum covers the id); otherwise the id most
 * version-2 log headers carry, a tie going to the oldest of those logs; undefined when no
 * version-2 file decodes (a format-v1 directory has no id).
 */
export function ownDirectoryId(
  snapshot: SalvagedSnapshot | undefined,
  headers: readonly { readonly name: string; readonly header: LogHeader | undefined }[],
): { readonly id: DirectoryId; readonly from: string } | undefined {
  const fromSnapshot = snapshot?.content?.directoryId;
  if (fromSnapshot !== undefined) return { id: fromSnapshot, from: snapshot?.name ?? SNAPSHOT_NAME };
  const counts = new Map<DirectoryId, { count: number; oldest: string }>();
  for (const { name, header } of headers) {
    const id = header?.directoryId;
    if (id === undefined) continue;
    const seen = counts.get(id);
    if (seen) seen.count++;
    else counts.set(id, { count: 1, oldest: name });
  }
  const v2Logs = [...counts.values()].reduce((sum, c) => sum + c.count, 0);
  let best: { id: DirectoryId; count: number; oldest: string } | undefined;
  // Map order is first-seen order, i.e. oldest log first: a tie keeps the earlier one.
  for (const [id, { count, oldest }] of counts)
    if (best === undefined || count > best.count) best = { id, count, oldest };
  if (best === undefined) return undefined;
  return { id: best.id, from: `${best.oldest} (carried by ${best.count} of ${v2Logs} format-v2 logs)` };
}

function corruptionInfo(err: CorruptionError): CorruptionInfo {
  return { file: err.file, offset: err.offset, reason: err.reason, message: err.message };
}

async function isDirectoryNow(fs: FileSystem, dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Examines a metadata directory without changing anything: the library's verdict (what a node
 * would load, or why it would refuse), each log as the library's reader sees it, every readable
 * record with what replay does with it, and the lock.
 *
 * A running node compacts (writes a snapshot, starts a log, deletes the old one) as often as every
 * `flushIntervalMs`, which can be a few milliseconds: far shorter than reading every file three
 * times (library reader, per-log scan, salvage). So the examination works on a picture of the
 * directory taken first ({@link captureDirectory}): the listing, then a read handle on each metadata
 * file, opened right after it. A file that vanishes between the listing and its open (a compaction
 * removed it) makes the picture start over; the rest of the examination reads only the picture.
 */
export async function examineDirectory(real: FileSystem, dir: string): Promise<Examination> {
  const empty = {
    dir,
    verdict: 'not-metadata' as const,
    recovered: undefined,
    error: undefined,
    snapshot: undefined,
    snapshotTemp: undefined,
    logs: [],
    otherNames: [],
    lock: { state: 'missing' } as const,
    format: NO_FORMAT,
  };
  let isDirectory: boolean;
  try {
    isDirectory = (await real.stat(dir)).isDirectory;
  } catch (err) {
    if (hasErrno(err, 'ENOENT') || hasErrno(err, 'ENOTDIR')) return { ...empty, kind: 'missing' };
    throw err;
  }
  if (!isDirectory) return { ...empty, kind: 'not-directory' };
  const lock = await lockStatus(real, dir);
  let capture: Capture;
  try {
    capture = await captureDirectory(real, dir);
  } catch (err) {
    // Removed since the stat: report what is there now.
    if (hasErrno(err, 'ENOENT') && !(await isDirectoryNow(real, dir))) return { ...empty, kind: 'missing' };
    throw err;
  }
  try {
    return await examineCapture(real, dir, capture, lock, empty);
  } finally {
    await capture.close();
  }
}

async function examineCapture(
  real: FileSystem,
  dir: string,
  capture: Capture,
  lock: LockStatus,
  empty: Omit<Examination, 'kind'>,
): Promise<Examination> {
  // From here on, every read is of the picture: a compaction in the meantime changes nothing.
  const fs = captureView(real, dir, capture);
  const names = [...capture.names];
  const found = logFiles(names);
  const snapshot = await salvageSnapshot(fs, dir, SNAPSHOT_NAME);
  const snapshotTemp = await salvageSnapshot(fs, dir, SNAPSHOT_TEMP_NAME);
  const known = new Set<string>([SNAPSHOT_NAME, ...found.map((f) => f.name)]);
  const otherNames = names.filter((n) => !known.has(n));
  if (snapshot === undefined && found.length === 0) {
    return { ...empty, kind: 'no-metadata', snapshotTemp, otherNames, lock };
  }

  // Whose directory this is, from the snapshot and the log headers, before reading any record.
  const headers: { name: string; header: LogHeader | undefined }[] = [];
  for (const { name } of found) headers.push({ name, header: await headerOf(fs, join(dir, name)) });
  const own = ownDirectoryId(snapshot, headers);
  const foreignOf = foreignJudge(snapshot, own?.id);

  // The library's verdict, and what replay does with each record it reaches.
  const visited = new Map<string, boolean>();
  let recovered: RecoveredDirectory | undefined;
  let error: CorruptionInfo | undefined;
  try {
    recovered = await recoverDirectory(fs, dir, (file, offset, _record, applied) => {
      visited.set(`${file}\u0000${offset}`, applied);
    });
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    error = corruptionInfo(err);
  }
  const errorIndex = error === undefined ? -1 : found.findIndex((f) => join(dir, f.name) === error.file);

  const logs: ExaminedLog[] = [];
  for (const [index, { name, firstSeq }] of found.entries()) {
    const path = join(dir, name);
    let scan: LogScan | undefined;
    let scanError: CorruptionInfo | undefined;
    try {
      scan = await scanLog(fs, path, () => {});
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      scanError = corruptionInfo(err);
    }
    const salvage = await salvageLog(fs, path, own?.id);
    const header = salvage.header;
    const foreign = foreignOf(name, firstSeq, header, salvage);
    const records = salvage.records.map((record): ExaminedRecord => {
      const applied = visited.get(`${path}\u0000${record.offset}`);
      let status: RecordStatus;
      if (foreign !== undefined) status = 'foreign';
      else if (applied !== undefined) status = applied ? 'applied' : 'covered';
      else if (error !== undefined && index === errorIndex && record.offset === error.offset)
        status = 'rejected';
      else if (error !== undefined && (errorIndex < 0 || index >= errorIndex)) status = 'not-reached';
      else status = 'torn';
      return { ...record, status };
    });
    logs.push({
      name,
      path,
      nameFirstSeq: firstSeq,
      version: header?.layout.version,
      directoryId: header?.directoryId,
      foreign,
      scan,
      scanError,
      salvage,
      records,
    });
  }

  const versions = new Set<1 | 2>();
  if (snapshot?.content) versions.add(snapshot.content.version);
  for (const log of logs)
    if (log.foreign === undefined && log.version !== undefined) versions.add(log.version);
  const sorted = [...versions].sort();
  const format: DirectoryFormat = {
    versions: sorted,
    summary: summaryOf(sorted),
    directoryId: own?.id,
    directoryIdFrom: own?.from,
    identity: snapshot?.content?.identity,
    foreignFiles: logs.flatMap((log) => (log.foreign ? [log.foreign] : [])),
  };

  let verdict: Verdict = 'clean';
  if (error !== undefined) verdict = 'corrupt';
  else if (recovered?.logs.some((log) => log.scan.end.kind === 'torn')) verdict = 'torn';
  return {
    dir,
    kind: 'metadata',
    verdict,
    recovered,
    error,
    snapshot,
    snapshotTemp,
    logs,
    otherNames,
    lock,
    format,
  };
}

/** A log's header, or undefined when it does not decode. */
async function headerOf(fs: FileSystem, path: string): Promise<LogHeader | undefined> {
  const handle = await fs.open(path, 'read');
  try {
    const { decoded } = await readHeader(handle);
    return 'problem' in decoded ? undefined : decoded;
  } finally {
    await handle.close();
  }
}

/**
 * Judges each log, in sequence order, against the directory's id `own`: a version-2 log of another
 * id, or a version-1 log where this directory already moved to version 2 (after one of its v2
 * logs, with records after its v2 snapshot, or named as that snapshot's next log), is foreign.
 */
function foreignJudge(
  snapshot: SalvagedSnapshot | undefined,
  own: DirectoryId | undefined,
): (
  name: string,
  firstSeq: number,
  header: LogHeader | undefined,
  salvage: SalvagedLog,
) => ForeignFile | undefined {
  const v2Snapshot = snapshot?.content?.version === 2 ? snapshot.content : undefined;
  let sawOwnV2 = false;
  return (name, firstSeq, header, salvage) => {
    if (header === undefined) return undefined; // damage, reported as such
    const { version } = header.layout;
    const directoryId = header.directoryId;
    if (directoryId !== undefined) {
      if (own === undefined || directoryId === own) {
        sawOwnV2 = true;
        return undefined;
      }
      return {
        name,
        version,
        directoryId,
        reason: 'other-directory',
        message: `${name} belongs to another directory: its directory id is ${directoryId}, this directory's is ${own}`,
      };
    }
    const after = v2Snapshot?.lastSeq;
    const why = sawOwnV2
      ? 'it comes after a format-v2 log of this directory'
      : after !== undefined && salvage.records.some((r) => r.seq > after)
        ? `it holds records after seq ${after}, which the format-v2 snapshot covers up to`
        : after !== undefined && firstSeq === after + 1
          ? 'the format-v2 snapshot names it as the log after it, and this version writes that log as v2'
          : undefined;
    if (why === undefined) return undefined;
    return {
      name,
      version,
      directoryId: undefined,
      reason: 'v1-after-v2',
      message: `${name} is a format-v1 log in a directory that moved to format v2 (${why}): it does not belong to this directory`,
    };
  };
}

/**
 * Every group the directory's own readable files name: the snapshot's and a whole temp snapshot's
 * live groups and tombstones, and the group of every readable record of its own logs (foreign
 * files excluded), ascending. A directory written by `MetadataManager` names group 0 at most.
 */
export function groupsNamed(exam: Examination): number[] {
  const groups = new Set<number>();
  for (const snap of [exam.snapshot, exam.snapshotTemp]) {
    for (const id of snap?.content?.groups.keys() ?? []) groups.add(id);
    for (const id of snap?.content?.removed.keys() ?? []) groups.add(id);
  }
  for (const log of exam.logs) {
    if (log.foreign === undefined) for (const record of log.salvage.records) groups.add(record.group);
  }
  for (const id of exam.recovered?.groups.keys() ?? []) groups.add(id);
  for (const id of exam.recovered?.removed.keys() ?? []) groups.add(id);
  return [...groups].sort((a, b) => a - b);
}

/**
 * Whether the directory is a multi-group `MetadataStore`'s: it names groups other than 0 (a damaged
 * snapshot's JSON included), group 0 removed (a tombstone, in the snapshot or in a removal record),
 * or a floor term for the groups its snapshot does not list: what only a store keeps.
 */
export function isMultiGroup(exam: Examination): boolean {
  if (groupsNamed(exam).some((id) => id !== 0)) return true;
  if (exam.recovered?.removed.has(0) === true || (exam.recovered?.floorTerm ?? 0) > 0) return true;
  for (const snap of [exam.snapshot, exam.snapshotTemp]) {
    if (snap?.content?.removed.has(0) === true) return true;
    if ((snap?.content?.floorTerm ?? 0) > 0 || (snap?.unverifiedFloorTerm ?? 0) > 0) return true;
    for (const id of snap?.unverifiedGroups?.keys() ?? []) if (id !== 0) return true;
  }
  return exam.logs.some(
    (log) => log.foreign === undefined && log.salvage.records.some((r) => r.kind === RecordKind.Remove),
  );
}
