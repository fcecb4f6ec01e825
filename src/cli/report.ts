import { resolve } from 'node:path';
import type {
  CorruptionInfo,
  DirectoryKind,
  Examination,
  ExaminedLog,
  ExaminedRecord,
  Verdict,
} from '../ops/examine.js';
import type { DamagedRange, SalvagedSnapshot } from '../ops/salvage.js';
import { UpdateKind } from '../state.js';
import { type LockJson, lockJson } from './document.js';
import { nameIn } from './text.js';

/**
 * The JSON shapes of the read commands. Field names are a contract for scripts (documented in
 * docs/operations.md): add fields, never rename or remove them.
 */

export interface StateJson {
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly lastSeq: number;
}

/** Why a node refuses to start: the library's ERR_METADATA_CORRUPT, with the file's name in DIR. */
export interface CorruptionJson {
  readonly code: 'ERR_METADATA_CORRUPT';
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
}

export interface SnapshotJson {
  readonly name: string;
  readonly size: number;
  readonly checksumOk: boolean;
  /** Checked content, or null when damaged. */
  readonly currentTerm: number | null;
  readonly votedFor: number | null;
  readonly lastSeq: number | null;
  readonly problem: { readonly offset: number; readonly reason: string } | null;
  /** What a damaged snapshot's JSON claims (not trusted), or null. */
  readonly unverified: {
    readonly currentTerm?: number;
    readonly votedFor?: number;
    readonly lastSeq?: number;
  } | null;
}

export type TailJson =
  | { readonly kind: 'clean'; readonly offset: number }
  | { readonly kind: 'torn'; readonly offset: number; readonly reason: string; readonly bytesAfter: number }
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

export interface LogJson {
  readonly name: string;
  readonly size: number;
  /** First sequence number according to the file name. */
  readonly firstSeq: number;
  /** null when the header does not decode. */
  readonly formatVersion: number | null;
  readonly headerProblem: string | null;
  /** Valid records as the library's reader counts them (up to the tail or the damage). */
  readonly recordCount: number;
  readonly firstRecordSeq: number | null;
  readonly lastRecordSeq: number | null;
  readonly tail: TailJson;
  /** Every CRC-valid record in the file, including after damage. */
  readonly readableRecords: number;
  readonly damage: readonly DamagedRange[];
}

/** What inspect (and dump, verify) report about a directory; the envelope adds `dir`. */
export interface DirectoryJson {
  readonly kind: DirectoryKind;
  readonly verdict: Verdict;
  readonly state: StateJson | null;
  readonly corruption: CorruptionJson | null;
  readonly snapshot: SnapshotJson | null;
  readonly logs: readonly LogJson[];
  readonly lock: LockJson;
  readonly otherFiles: readonly string[];
}

export function corruptionJson(dir: string, error: CorruptionInfo | undefined): CorruptionJson | null {
  if (error === undefined) return null;
  return {
    code: 'ERR_METADATA_CORRUPT',
    file: nameIn(dir, error.file),
    offset: error.offset,
    reason: error.reason,
  };
}

export function snapshotJson(snapshot: SalvagedSnapshot | undefined): SnapshotJson | null {
  if (snapshot === undefined) return null;
  return {
    name: snapshot.name,
    size: snapshot.size,
    checksumOk: snapshot.content !== undefined,
    currentTerm: snapshot.content?.currentTerm ?? null,
    votedFor: snapshot.content?.votedFor ?? null,
    lastSeq: snapshot.content?.lastSeq ?? null,
    problem: snapshot.problem ? { offset: snapshot.problem.offset, reason: snapshot.problem.problem } : null,
    unverified: snapshot.unverified ?? null,
  };
}

/** The tail of one log as the library's reader sees it (corrupt when it throws). */
export function tailJson(log: ExaminedLog): TailJson {
  if (log.scanError !== undefined) {
    return { kind: 'corrupt', offset: log.scanError.offset, reason: log.scanError.reason };
  }
  const end = log.scan?.end ?? { kind: 'clean' as const, offset: 0 };
  return end.kind === 'clean'
    ? { kind: 'clean', offset: end.offset }
    : { kind: 'torn', offset: end.offset, reason: end.reason, bytesAfter: end.bytesAfter };
}

export function logJson(log: ExaminedLog): LogJson {
  const header = log.salvage.header;
  // When the reader throws, count the valid records before the damage it reports.
  const before = log.scanError ? log.records.filter((r) => r.offset < (log.scanError?.offset ?? 0)) : [];
  return {
    name: log.name,
    size: log.salvage.size,
    firstSeq: log.nameFirstSeq,
    formatVersion: header?.version ?? null,
    headerProblem: log.salvage.headerProblem?.reason ?? null,
    recordCount: log.scan ? log.scan.recordCount : before.length,
    firstRecordSeq: log.scan ? (log.scan.firstSeq ?? null) : (before[0]?.seq ?? null),
    lastRecordSeq: log.scan ? (log.scan.lastSeq ?? null) : (before.at(-1)?.seq ?? null),
    tail: tailJson(log),
    readableRecords: log.records.length,
    damage: log.salvage.damage,
  };
}

/** What a node loads, or null when it refuses to start (or there is nothing). */
export function stateJson(exam: Examination): StateJson | null {
  const recovered = exam.recovered;
  return recovered
    ? {
        currentTerm: recovered.state.currentTerm,
        votedFor: recovered.state.votedFor,
        lastSeq: recovered.lastSeq,
      }
    : null;
}

export function directoryJson(exam: Examination): DirectoryJson {
  return {
    kind: exam.kind,
    verdict: exam.verdict,
    state: stateJson(exam),
    corruption: corruptionJson(exam.dir, exam.error),
    snapshot: snapshotJson(exam.snapshot),
    logs: exam.logs.map(logJson),
    lock: lockJson(exam.lock),
    otherFiles: exam.otherNames,
  };
}

export interface RecordJson {
  readonly offset: number;
  readonly seq: number;
  readonly batchIndex: number;
  readonly kind: 'term' | 'vote';
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly status: ExaminedRecord['status'];
}

export function kindName(kind: number): 'term' | 'vote' {
  return kind === UpdateKind.Term ? 'term' : 'vote';
}

export function recordJson(record: ExaminedRecord): RecordJson {
  return {
    offset: record.offset,
    seq: record.seq,
    batchIndex: record.batchIndex,
    kind: kindName(record.kind),
    currentTerm: record.currentTerm,
    votedFor: record.votedFor,
    status: record.status,
  };
}

/** Why DIR is not a metadata directory, in one sentence. */
export function notMetadataText(exam: Examination): string {
  const dir = resolve(exam.dir);
  switch (exam.kind) {
    case 'missing':
      return `${dir} does not exist`;
    case 'not-directory':
      return `${dir} is not a directory`;
    default: {
      const others =
        exam.otherNames.length === 0 ? 'it is empty' : `it holds only ${exam.otherNames.join(', ')}`;
      return `${dir} has no metadata.json and no log-*.wal file (${others}). A node started here would begin at term 0 with no vote: right for a brand-new node, dangerous for one that ran before (it could vote twice in a term)`;
    }
  }
}
