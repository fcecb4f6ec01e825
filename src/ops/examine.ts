import { join } from 'node:path';
import { CorruptionError, hasErrno } from '../errors.js';
import { logFiles, SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME } from '../format/names.js';
import type { FileSystem } from '../fs/types.js';
import { type LockStatus, lockStatus } from '../storage/lock.js';
import { type LogScan, scanLog } from '../storage/log-reader.js';
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
  | 'not-reached';

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

export interface ExaminedLog {
  readonly name: string;
  readonly path: string;
  /** First sequence number according to the file name. */
  readonly nameFirstSeq: number;
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
    const salvage = await salvageLog(fs, path);
    const records = salvage.records.map((record): ExaminedRecord => {
      const applied = visited.get(`${path}\u0000${record.offset}`);
      let status: RecordStatus;
      if (applied !== undefined) status = applied ? 'applied' : 'covered';
      else if (error !== undefined && index === errorIndex && record.offset === error.offset)
        status = 'rejected';
      else if (error !== undefined && (errorIndex < 0 || index >= errorIndex)) status = 'not-reached';
      else status = 'torn';
      return { ...record, status };
    });
    logs.push({ name, path, nameFirstSeq: firstSeq, scan, scanError, salvage, records });
  }

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
  };
}
