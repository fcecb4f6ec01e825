import { basename, dirname, join, resolve } from 'node:path';
import { CorruptionError, hasErrno } from '../errors.js';
import { LOCK_NAME, logFiles, SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME } from '../format/names.js';
import { decodeHeader, decodeSlotAt, HEADER_SIZE, type LogHeader, type LogRecord } from '../format/record.js';
import { decodeSnapshot, type SnapshotContent, type SnapshotProblem } from '../format/snapshot-codec.js';
import type { FileHandle, FileSystem } from '../fs/types.js';
import { NONE_SERVER_ID } from '../state.js';
import { type LockStatus, lockStatus } from '../storage/lock.js';
import { countNonZero, forEachSlot, type LogScan, scanLog } from '../storage/log-reader.js';
import { type RecoveredDirectory, recoverDirectory } from '../storage/recovery.js';
import { writeSnapshot } from '../storage/snapshot-file.js';

/**
 * Salvage and repair of a metadata directory, for the `raft-metadata` command line.
 *
 * The library's reader ({@link recoverDirectory}, {@link scanLog}) stops at the first damage: that is
 * what a node must do. An operator needs more: every record that is still readable, including those
 * after the damage, and the highest term any of them mentions. {@link examineDirectory} runs the
 * library's own reader for the verdict (what a node would do) and a salvage scan that decodes every
 * 32-byte slot with the same format code ({@link decodeSlotAt}, {@link decodeHeader},
 * {@link decodeSnapshot}); nothing here parses the format a second way.
 *
 * {@link planRepair} turns an examination into a plan; {@link applyRepair} carries it out under the
 * directory's lock: back up every metadata file into `DIR/backup-<time>/`, write a fresh snapshot
 * with the library's {@link writeSnapshot}, remove the logs, fsync, and load the result to check it.
 */

/** Bytes read per step when copying files into a backup. */
const CHUNK_BYTES = 1 << 20;

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
  /** Why the header does not decode (`'zero'` and `'short header'`: never written). */
  readonly headerProblem: string | undefined;
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

/** Where replay would put a record, and why. */
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

export type { LockStatus } from '../storage/lock.js';

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

/**
 * Decodes every slot of a log file with the format module, past any damage. Read-only. Unlike
 * {@link scanLog} it never throws for damage: it reports it.
 */
export async function salvageLog(fs: FileSystem, path: string): Promise<SalvagedLog> {
  const handle = await fs.open(path, 'read');
  try {
    const size = await handle.size();
    const headBytes = new Uint8Array(HEADER_SIZE);
    const headRead = await handle.read(headBytes, 0, HEADER_SIZE, 0);
    const decoded = decodeHeader(headBytes.subarray(0, headRead));
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

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
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
  let unverified: Partial<SnapshotContent> | undefined;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const obj = parsed as Record<string, unknown>;
      const found: { currentTerm?: number; votedFor?: number; lastSeq?: number } = {};
      if (isCount(obj.currentTerm)) found.currentTerm = obj.currentTerm;
      if (isCount(obj.votedFor)) found.votedFor = obj.votedFor;
      if (isCount(obj.lastSeq)) found.lastSeq = obj.lastSeq;
      if (Object.keys(found).length > 0) unverified = found;
    }
  } catch {
    // Not JSON at all: nothing can be read from it.
  }
  return { name, size: bytes.byteLength, content: undefined, problem: decoded, unverified };
}

/**
 * How many times a picture of the directory is taken again after a listed file vanished. Each try
 * takes well under a millisecond per file, so a compaction has to land in that window every time.
 */
const CAPTURE_ATTEMPTS = 200;

/**
 * The directory's listing and an open read handle on each of its metadata files, taken together.
 * An open descriptor keeps reading the file it opened after a compaction unlinks or replaces the
 * name, so the picture stays whole without holding any file's bytes in memory (a log can be
 * gigabytes long when compaction is off).
 */
interface Capture {
  readonly names: readonly string[];
  readonly files: ReadonlyMap<string, { readonly handle: FileHandle; readonly size: number }>;
  close(): Promise<void>;
}

async function captureDirectory(fs: FileSystem, dir: string): Promise<Capture> {
  for (let attempt = 1; ; attempt++) {
    const files = new Map<string, { handle: FileHandle; size: number }>();
    const close = async (): Promise<void> => {
      for (const { handle } of files.values()) await handle.close().catch(() => {});
    };
    try {
      const names = (await fs.readdir(dir)).sort();
      const wanted = [SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME, ...logFiles(names).map((f) => f.name)];
      for (const name of wanted) {
        if (!names.includes(name)) continue;
        const handle = await fs.open(join(dir, name), 'read');
        files.set(name, { handle, size: 0 }); // registered first, so that close() covers it
        files.set(name, { handle, size: await handle.size() });
      }
      return { names, files, close };
    } catch (err) {
      await close();
      // ENOENT: a listed file was removed before its open (a compaction), or the directory was.
      if (!hasErrno(err, 'ENOENT') || attempt >= CAPTURE_ATTEMPTS) throw err;
      // Let the compaction in flight finish before looking again.
      if (attempt % 10 === 0) await new Promise((done) => setTimeout(done, 1));
    }
  }
}

function enoent(syscall: string, path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${path}'`), {
    code: 'ENOENT',
    errno: -2,
    syscall,
    path,
  });
}

function readOnly(path: string): never {
  throw Object.assign(new Error(`EROFS: read-only picture of the directory, '${path}'`), {
    code: 'EROFS',
    path,
  });
}

/**
 * A read-only file system that serves `dir` from a {@link Capture}: its listing, and the files
 * opened into it, each read through its captured handle as it was when the picture was taken
 * (size included; any other name in `dir` is ENOENT, so nothing newer leaks in). Paths outside
 * `dir` go to `fs`.
 */
function captureView(fs: FileSystem, dir: string, capture: Capture): FileSystem {
  const root = resolve(dir);
  const inside = (path: string): string | undefined => {
    const full = resolve(path);
    return dirname(full) === root ? basename(full) : undefined;
  };
  const fileOf = (path: string, syscall: string): { handle: FileHandle; size: number } => {
    const name = inside(path);
    const file = name === undefined ? undefined : capture.files.get(name);
    if (file === undefined) throw enoent(syscall, path);
    return file;
  };
  const readAt = async (
    file: { handle: FileHandle; size: number },
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> => {
    const wanted = Math.max(0, Math.min(length, file.size - position));
    let done = 0;
    while (done < wanted) {
      const got = await file.handle.read(buffer, offset + done, wanted - done, position + done);
      if (got === 0) break;
      done += got;
    }
    return done;
  };
  const overrides: Partial<FileSystem> = {
    async readdir(path) {
      if (resolve(path) === root) return [...capture.names];
      return fs.readdir(path);
    },
    async readFile(path) {
      if (inside(path) === undefined) return fs.readFile(path);
      const file = fileOf(path, 'open');
      const bytes = new Uint8Array(file.size);
      const got = await readAt(file, bytes, 0, file.size, 0);
      return bytes.subarray(0, got);
    },
    async stat(path) {
      if (resolve(path) === root) return { size: 0, isFile: false, isDirectory: true };
      if (inside(path) === undefined) return fs.stat(path);
      return { size: fileOf(path, 'stat').size, isFile: true, isDirectory: false };
    },
    async open(path, mode) {
      if (inside(path) === undefined) return fs.open(path, mode);
      if (mode !== 'read') return readOnly(path);
      const file = fileOf(path, 'open');
      return {
        read: (buffer, offset, length, position) => readAt(file, buffer, offset, length, position),
        write: async () => readOnly(path),
        writeDurable: async () => readOnly(path),
        datasync: async () => readOnly(path),
        sync: async () => readOnly(path),
        size: async () => file.size,
        // The captured handle stays open for the rest of the examination.
        close: async () => {},
      };
    },
  };
  return new Proxy(fs, {
    get(target, prop, receiver) {
      const own = overrides[prop as keyof FileSystem];
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
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
 * directory taken first ({@link captureDirectory}): the listing, then each metadata file's bytes,
 * read right after it. A file that vanishes between the listing and its read (a compaction
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

// ---- repair ----------------------------------------------------------------------------------

export type RepairStrategy =
  /** Nothing to do: the directory is clean. */
  | 'none'
  /**
   * Torn tail: what an open followed by a compaction does. The state a node loads is written as the
   * snapshot, and the logs (including the torn bytes, never acknowledged) are removed.
   */
  | 'compact'
  /**
   * Corruption (or `--bump-term`): a snapshot with a term above every term seen and no vote, and
   * the logs removed. The node can vote at most once in the new term, and in no earlier term.
   */
  | 'new-term';

/** A value and where it was read. */
export interface Evidence {
  readonly value: number;
  readonly source: string;
}

export interface RepairOptions {
  /**
   * The repaired term is at least this (an operator's floor, e.g. the cluster's term + 1). Given,
   * it asks for a new term even on a clean or torn directory (like `bumpTerm`): the new term is
   * max(minTerm, highest term seen + 1), with no vote.
   */
  readonly minTerm?: number;
  /** Move to a new term with no vote even when the directory is clean or only torn. */
  readonly bumpTerm?: boolean;
}

export interface RepairPlan {
  readonly dir: string;
  readonly verdict: Verdict;
  readonly strategy: RepairStrategy;
  /** What a node loads now (undefined when it refuses to start). */
  readonly before:
    | { readonly currentTerm: number; readonly votedFor: number; readonly lastSeq: number }
    | undefined;
  /** The snapshot the repair writes (undefined for `none`, or when no new term is possible). */
  readonly after: SnapshotContent | undefined;
  /** Highest term in any readable record or snapshot (including damaged snapshots that parse). */
  readonly highestTerm: Evidence;
  /** Highest sequence number any file shows (records, snapshots, log names and headers). */
  readonly highestSeq: Evidence;
  /**
   * Whether the disk proves the end of the history: a CRC-valid record or a checksummed snapshot at
   * `highestSeq`. If not, records with the highest terms may be among the damage, and a `new-term`
   * repair needs `minTerm` from the operator.
   */
  readonly endProven: boolean;
  /** Set when the plan cannot proceed without `minTerm`. */
  readonly needsMinTerm: boolean;
  /** Names copied into the backup folder first. */
  readonly backup: readonly string[];
  /** Log names removed after the new snapshot is durable. */
  readonly remove: readonly string[];
  /** Why this plan, and why it is safe, in sentences. */
  readonly reasons: readonly string[];
  /** What the operator asked for that the plan does not do as asked (a `minTerm` too low). */
  readonly warnings: readonly string[];
}

/** Every number the directory shows, for the highest term and sequence number. */
function collectEvidence(exam: Examination): {
  terms: Evidence[];
  seqs: Evidence[];
  proofs: Evidence[];
} {
  const terms: Evidence[] = [];
  const seqs: Evidence[] = [];
  /** Sequence numbers at which the term is known for sure (a CRC-valid record or checksummed snapshot). */
  const proofs: Evidence[] = [];
  for (const snap of [exam.snapshot, exam.snapshotTemp]) {
    if (snap === undefined) continue;
    if (snap.content !== undefined) {
      const where = `${snap.name} (checksum ok)`;
      terms.push({ value: snap.content.currentTerm, source: where });
      seqs.push({ value: snap.content.lastSeq, source: where });
      proofs.push({ value: snap.content.lastSeq, source: where });
    } else if (snap.unverified !== undefined) {
      const where = `${snap.name} (damaged, unverified)`;
      if (snap.unverified.currentTerm !== undefined)
        terms.push({ value: snap.unverified.currentTerm, source: where });
      if (snap.unverified.lastSeq !== undefined) seqs.push({ value: snap.unverified.lastSeq, source: where });
    }
  }
  for (const log of exam.logs) {
    seqs.push({ value: log.nameFirstSeq - 1, source: `${log.name} (file name)` });
    const header = log.salvage.header;
    if (header !== undefined) seqs.push({ value: header.firstSeq - 1, source: `${log.name} (header)` });
    for (const record of log.salvage.records) {
      const where = `${log.name} byte ${record.offset} (seq ${record.seq})`;
      terms.push({ value: record.currentTerm, source: where });
      seqs.push({ value: record.seq, source: where });
      proofs.push({ value: record.seq, source: where });
    }
  }
  return { terms, seqs, proofs };
}

/**
 * Why the disk does not prove the highest term the node reached, or undefined when it does. Terms
 * only grow with the sequence number, so the term at the highest sequence number any file shows
 * is the highest of all, provided a CRC-valid record or a checksummed snapshot holds it and no
 * damage can hide later records.
 */
function unprovenEnd(
  exam: Examination,
  highestSeq: Evidence,
  proofs: readonly Evidence[],
): string | undefined {
  const snapshot = exam.snapshot;
  if (snapshot !== undefined && snapshot.content === undefined && exam.logs.length === 0) {
    return 'the snapshot is damaged and no log follows it';
  }
  if (highestSeq.value > 0 && !proofs.some((p) => p.value >= highestSeq.value)) {
    return `sequence number ${highestSeq.value} (${highestSeq.source}) is above every CRC-valid record and checksummed snapshot`;
  }
  const newest = exam.logs.at(-1);
  if (newest !== undefined && newest.scanError !== undefined) {
    // Damage after the last readable record of the newest log is a torn write when the library's
    // reader says so (never acknowledged); otherwise it may have held acknowledged records.
    const lastRecord = newest.salvage.records.at(-1)?.offset ?? 0;
    const trailing = newest.salvage.damage.find((d) => d.offset > lastRecord);
    if (trailing !== undefined) {
      return `${newest.name} (the newest log) is damaged at byte ${trailing.offset} after its last readable record`;
    }
  }
  return undefined;
}

function highest(list: readonly Evidence[], fallback: Evidence): Evidence {
  let best = fallback;
  for (const e of list) if (e.value > best.value) best = e;
  return best;
}

/** Decides what a repair of `exam` does. Pure: changes nothing. */
export function planRepair(exam: Examination, options: RepairOptions = {}): RepairPlan {
  const { terms, seqs, proofs } = collectEvidence(exam);
  const highestTerm = highest(terms, { value: 0, source: 'nothing readable (fresh state)' });
  const highestSeq = highest(seqs, { value: 0, source: 'nothing readable' });
  const unproven = unprovenEnd(exam, highestSeq, proofs);
  const endProven = unproven === undefined;
  const before = exam.recovered ? { ...exam.recovered.state, lastSeq: exam.recovered.lastSeq } : undefined;
  const present = [
    ...(exam.snapshot ? [SNAPSHOT_NAME] : []),
    ...(exam.snapshotTemp ? [SNAPSHOT_TEMP_NAME] : []),
    ...exam.logs.map((l) => l.name),
  ];
  const logNames = exam.logs.map((l) => l.name);
  const reasons: string[] = [];
  const base = {
    dir: exam.dir,
    verdict: exam.verdict,
    before,
    highestTerm,
    highestSeq,
    endProven,
  };

  if (exam.verdict === 'not-metadata') {
    return {
      ...base,
      strategy: 'none',
      after: undefined,
      needsMinTerm: false,
      backup: [],
      remove: [],
      reasons: ['not a metadata directory: nothing to repair'],
      warnings: [],
    };
  }
  const wantNewTerm =
    exam.verdict === 'corrupt' || options.bumpTerm === true || options.minTerm !== undefined;
  if (!wantNewTerm) {
    if (exam.verdict === 'clean' || before === undefined) {
      return {
        ...base,
        strategy: 'none',
        after: undefined,
        needsMinTerm: false,
        backup: [],
        remove: [],
        reasons: ['the directory is clean: nothing to repair'],
        warnings: [],
      };
    }
    reasons.push(
      'Only a torn tail: the last write was cut short by a crash before its fdatasync returned, so none of its records was acknowledged to anyone.',
      `The repair keeps every valid record: the state a node loads now (term ${before.currentTerm}, vote ${before.votedFor}, up to seq ${before.lastSeq}) becomes the snapshot and the logs are removed, which is what a normal open followed by a compaction does.`,
    );
    return {
      ...base,
      strategy: 'compact',
      after: { currentTerm: before.currentTerm, votedFor: before.votedFor, lastSeq: before.lastSeq },
      needsMinTerm: false,
      backup: present,
      remove: logNames,
      reasons,
      warnings: [],
    };
  }

  if (exam.verdict === 'corrupt') {
    reasons.push(
      'The directory is corrupt: the damage is not what a crash leaves, so some acknowledged updates may be unreadable, possibly a vote.',
    );
  } else if (options.bumpTerm === true) {
    reasons.push('--bump-term: moving to a new term even though the directory loads.');
  } else {
    reasons.push(
      `--min-term ${options.minTerm}: moving to a new term of at least ${options.minTerm} with no vote, even though the directory loads.`,
    );
  }
  reasons.push(
    `Every CRC-valid record in every log was read, including records after the damage, and every snapshot whose JSON still parses; the highest term seen is ${highestTerm.value} (${highestTerm.source}).`,
    `The node may have voted in term ${highestTerm.value} or in any earlier term. The repaired state is a term above all of them with no vote: the node can vote at most once in that new term and in no term it may already have voted in.`,
  );
  let needsMinTerm = false;
  if (!endProven) {
    reasons.push(
      `The disk does not prove the highest term the node reached: ${unproven}; records or a snapshot with higher terms may be lost.`,
    );
    if (options.minTerm === undefined) {
      needsMinTerm = true;
      reasons.push(
        "Pass --min-term N with N above any term the cluster has reached (for example the current leader's term + 1): the repaired term will be at least N.",
      );
    }
  }
  const candidate = highestTerm.value + 1;
  let term = candidate;
  const warnings: string[] = [];
  if (options.minTerm !== undefined && options.minTerm > term) {
    term = options.minTerm;
    reasons.push(`--min-term ${options.minTerm} is above ${candidate}: the repaired term is ${term}.`);
  } else if (options.minTerm !== undefined && options.minTerm <= highestTerm.value) {
    // Never below what the node may have voted in: the floor is ignored, not obeyed.
    warnings.push(
      `--min-term ${options.minTerm} is not above the highest term seen (${highestTerm.value}, in ${highestTerm.source}): the repaired term is ${candidate} (the highest seen + 1), not ${options.minTerm}. If the cluster is past ${highestTerm.value}, pass a higher --min-term.`,
    );
  }
  if (!Number.isSafeInteger(term)) {
    return {
      ...base,
      strategy: 'new-term',
      after: undefined,
      needsMinTerm: false,
      backup: present,
      remove: logNames,
      reasons: [
        ...reasons,
        `Impossible: the highest term seen (${highestTerm.value}) leaves no higher safe integer for a new term.`,
      ],
      warnings,
    };
  }
  reasons.push(
    `The new snapshot covers sequence number ${highestSeq.value}, the highest any file shows, so no record that might survive anywhere can be replayed over it; the logs are removed (after the backup).`,
  );
  return {
    ...base,
    strategy: 'new-term',
    after: { currentTerm: term, votedFor: NONE_SERVER_ID, lastSeq: highestSeq.value },
    needsMinTerm,
    backup: present,
    remove: logNames,
    reasons,
    warnings,
  };
}

export interface RepairResult {
  /** Absolute or dir-relative path of the backup folder (inside the directory). */
  readonly backupDir: string;
  readonly copied: readonly { readonly name: string; readonly bytes: number }[];
  readonly removed: readonly string[];
  /** The directory loaded again after the repair, through the library's reader. */
  readonly recovered: RecoveredDirectory;
}

/** `backup-20240131T031502Z`: sorts by time, never matches a name the library reads. */
export function backupName(now: Date): string {
  return `backup-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

async function copyFile(fs: FileSystem, from: string, to: string): Promise<number> {
  const source = await fs.open(from, 'read');
  try {
    const target = await fs.open(to, 'create');
    try {
      const chunk = new Uint8Array(CHUNK_BYTES);
      let position = 0;
      for (;;) {
        const got = await source.read(chunk, 0, CHUNK_BYTES, position);
        if (got === 0) break;
        await target.write(chunk.subarray(0, got), position);
        position += got;
      }
      await target.sync();
      return position;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/**
 * Carries out `plan` on `dir`. The caller must hold the directory's lock (see `acquireLock`) and
 * must have made `plan` from an examination taken under that lock.
 *
 * 1. Copies every file in `plan.backup` into a new `DIR/backup-<time>/` and fsyncs the copies and
 *    both directories. The library reads only top-level `metadata.json` and `log-*.wal`, so the
 *    backup folder is never loaded.
 * 2. Writes `plan.after` as the snapshot ({@link writeSnapshot}: temp file, fsync, rename, fsync).
 * 3. Removes the logs in `plan.remove` and fsyncs the directory. A crash before this leaves the
 *    new snapshot with the old logs: a damaged log still fails to load, and repairing again is safe
 *    (its term is then above the new snapshot's).
 * 4. Loads the directory with the library's reader and checks it is the planned state.
 */
export async function applyRepair(
  fs: FileSystem,
  plan: RepairPlan,
  now: Date = new Date(),
): Promise<RepairResult> {
  const after = plan.after;
  if (plan.strategy === 'none' || after === undefined) throw new Error('nothing to repair');
  if (plan.needsMinTerm) throw new Error('the plan needs a minimum term (--min-term)');
  const dir = plan.dir;
  let backupDir = join(dir, backupName(now));
  for (let n = 1; ; n++) {
    try {
      await fs.mkdir(backupDir);
      break;
    } catch (err) {
      if (!hasErrno(err, 'EEXIST') || n > 100) throw err;
      backupDir = join(dir, `${backupName(now)}-${n}`);
    }
  }
  const copied: { name: string; bytes: number }[] = [];
  for (const name of plan.backup) {
    const bytes = await copyFile(fs, join(dir, name), join(backupDir, name));
    copied.push({ name, bytes });
  }
  await fs.syncDir(backupDir);
  await fs.syncDir(dir);

  await writeSnapshot(fs, dir, after);
  const removed: string[] = [];
  for (const name of plan.remove) {
    try {
      await fs.unlink(join(dir, name));
      removed.push(name);
    } catch (err) {
      if (!hasErrno(err, 'ENOENT')) throw err;
    }
  }
  await fs.syncDir(dir);

  const recovered = await recoverDirectory(fs, dir);
  const ok =
    recovered.state.currentTerm === after.currentTerm &&
    recovered.state.votedFor === after.votedFor &&
    recovered.lastSeq === after.lastSeq;
  if (!ok) {
    throw new Error(
      `after the repair the directory loads term ${recovered.state.currentTerm}, vote ${recovered.state.votedFor}, seq ${recovered.lastSeq}; expected term ${after.currentTerm}, vote ${after.votedFor}, seq ${after.lastSeq}`,
    );
  }
  return { backupDir, copied, removed, recovered };
}

/** The name of the lock file, for messages. */
export const LOCK_FILE_NAME = LOCK_NAME;
