import { basename, dirname, resolve } from 'node:path';
import type { NodeIdentity } from '../identity.js';
import {
  type CorruptionInfo,
  type DirectoryKind,
  type Examination,
  type ExaminedLog,
  type ExaminedRecord,
  type ForeignFile,
  type ForeignReason,
  type FormatSummary,
  groupsNamed,
  isMultiGroup,
  type Verdict,
} from '../ops/examine.js';
import type { RepairPlan } from '../ops/repair-plan.js';
import type { DamagedRange, ForeignRecord, SalvagedSnapshot } from '../ops/salvage.js';
import { groupStateIn, NONE_SERVER_ID, type RecordKind } from '../state.js';
import type { LockOwner, LockStatus } from '../storage/lock.js';
import type { CommandName } from './help.js';

/**
 * The one JSON document every `--json` run prints on stdout, whatever happens: success, a refusal,
 * a usage error, an I/O error, an internal error. Every document starts with the same envelope;
 * the rest depends on the command. docs/operations.md describes the shapes and docs/schema/ holds
 * a JSON Schema per command. Within a schema version, fields are only ever added.
 *
 * This module builds every part of a document that more than one command prints, or that comes
 * from an examination or a plan (ops/); a command assembles its document from these parts and
 * never serialises an ops type itself. Text is text.ts's job. (About 320 lines: one job, the JSON
 * contract, kept in one place so that its field names are reviewed together.)
 */

export const SCHEMA_VERSION = 1;

/** Why a command failed (exit 64, 70, 74): a bad command line, a system call, a bug. */
export interface ErrorJson {
  /** `ERR_USAGE`, a system error code (`EACCES`, `EIO`...), a library code, or `ERR_INTERNAL`. */
  readonly code: string;
  readonly message: string;
  /** The file a failed system call was about. */
  readonly path?: string;
  /** The failed system call (`open`, `read`...). */
  readonly syscall?: string;
}

export interface LockOwnerJson {
  readonly pid: number;
  readonly hostname: string;
  /** ISO 8601. */
  readonly startedAt: string;
}

/** The directory's kernel lock, as seen without taking it. */
export type LockJson =
  | { readonly state: 'free'; readonly lastOwner: LockOwnerJson | null }
  | { readonly state: 'held'; readonly owner: LockOwnerJson | null }
  | { readonly state: 'missing' }
  | { readonly state: 'unknown'; readonly reason: string };

/** Why a command that writes (compact, repair) or measures (doctor) did not do it. */
export type RefusalReason =
  | 'locked'
  | 'corrupt'
  | 'not-metadata'
  | 'not-a-directory'
  | 'needs-min-term'
  | 'no-term-left'
  /**
   * Never produced any more: printed by an earlier version that refused a multi-group directory in
   * `compact` and a new-term `repair` (both now handle one). Kept so that the schemas, which only
   * grow within a `schemaVersion`, still describe those documents.
   */
  | 'multi-group';

export interface RefusalJson {
  readonly reason: RefusalReason;
  readonly message: string;
  /** For `locked`: who holds the lock. */
  readonly lock?: LockJson;
}

/** The fields every document starts with. */
export interface Envelope {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  /** null for the top level (`raft-metadata --help`, `--version`, a missing or unknown command). */
  readonly command: CommandName | null;
  /** DIR, absolute; null when the command line did not get that far. */
  readonly dir: string | null;
  /** The process's exit code. */
  readonly exitCode: number;
  /** exitCode is 0. */
  readonly ok: boolean;
  /** Set when the command failed (exit 64, 70, 74; see each command for others). */
  readonly error: ErrorJson | null;
}

export function envelope(
  command: CommandName | null,
  dir: string | null,
  exitCode: number,
  body: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const error = body.error ?? null;
  return { schemaVersion: SCHEMA_VERSION, command, dir, exitCode, ok: exitCode === 0, ...body, error };
}

function ownerJson(owner: LockOwner | undefined): LockOwnerJson | null {
  return owner === undefined
    ? null
    : { pid: owner.pid, hostname: owner.hostname, startedAt: owner.startedAt };
}

export function lockJson(lock: LockStatus): LockJson {
  switch (lock.state) {
    case 'free':
      return { state: 'free', lastOwner: ownerJson(lock.lastOwner) };
    case 'held':
      return { state: 'held', owner: ownerJson(lock.owner) };
    case 'missing':
      return { state: 'missing' };
    case 'unknown':
      return { state: 'unknown', reason: lock.reason };
  }
}

/** A thrown value as an {@link ErrorJson} (`message` in place of the error's own, when given). */
export function errorJson(err: unknown, fallbackCode = 'ERR_INTERNAL', message?: string): ErrorJson {
  const own = err instanceof Error ? err.message : String(err);
  const fields = typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : {};
  const code = typeof fields.code === 'string' ? fields.code : fallbackCode;
  return {
    code,
    message: message ?? own,
    ...(typeof fields.path === 'string' ? { path: fields.path } : {}),
    ...(typeof fields.syscall === 'string' ? { syscall: fields.syscall } : {}),
  };
}

/** `file` relative to `dir` when it is directly inside it (the library's errors carry full paths). */
export function nameIn(dir: string, file: string): string {
  return resolve(dirname(file)) === resolve(dir) ? basename(file) : file;
}

// ---- an examined directory (inspect, verify, dump; repair and compact take parts) ---------------

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
  readonly format: FormatJson;
  /** How many groups a node loads and their terms. */
  readonly groups: GroupsJson;
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
  // Group 0's state: live; else removed (its tombstone's term) or not written down (the floor, 0
  // without one), with no vote.
  const group0 = snapshot.content ? groupStateIn(snapshot.content, 0) : undefined;
  return {
    name: snapshot.name,
    size: snapshot.size,
    checksumOk: snapshot.content !== undefined,
    currentTerm: group0?.currentTerm ?? null,
    votedFor: group0?.votedFor ?? null,
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
    formatVersion: header?.layout.version ?? null,
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
    format: formatJson(exam),
    groups: groupsJson(exam),
  };
}

// ---- groups (a MetadataStore's directory: inspect, verify, dump) ------------------------------

/** One group as a node loads it (`--group N`). */
export interface GroupStateJson {
  readonly group: number;
  /** `live`: it has state; `removed`: a tombstone (it resumes at its last term, no vote); `none`: never updated. */
  readonly status: 'live' | 'removed' | 'none';
  readonly currentTerm: number;
  readonly votedFor: number;
  /** The sequence number of the last record the directory's state includes (every group's). */
  readonly lastSeq: number;
}

/** A group and its state, in the summary's list of the highest terms. */
export interface GroupTermJson {
  readonly group: number;
  readonly currentTerm: number;
  readonly votedFor: number;
}

/** How many groups a node loads and their terms (every directory: one written by MetadataManager has group 0 at most). */
export interface GroupsJson {
  /** The directory's own files name groups other than 0 (written by a multi-group MetadataStore). */
  readonly multiGroup: boolean;
  /** Distinct groups (live or removed) the directory's own readable files name, loadable or not. */
  readonly named: number;
  /** Whether a node loads the directory; the counts below are null when it refuses to start. */
  readonly loaded: boolean;
  /** Live groups (group 0 included once it left term 0 with no vote). */
  readonly live: number | null;
  /** Removed groups (tombstones). */
  readonly removed: number | null;
  /** Live groups that hold a vote in their current term. */
  readonly voted: number | null;
  /** The lowest and highest current term among live groups, or null when there is none. */
  readonly termRange: { readonly min: number; readonly max: number } | null;
  /** The live groups with the highest terms (at most {@link HIGHEST_GROUPS}), highest first, ties by group. */
  readonly highest: readonly GroupTermJson[];
  /**
   * The term every group the snapshot does not list starts from, with no vote (0 unless a repair
   * raised it: format.md, `floorTerm`); null when a node refuses to start.
   */
  readonly floorTerm: number | null;
}

/** How many groups the summary's `highest` lists. */
export const HIGHEST_GROUPS = 5;

export function groupsJson(exam: Examination): GroupsJson {
  const named = groupsNamed(exam);
  const recovered = exam.recovered;
  const base = { multiGroup: isMultiGroup(exam), named: named.length };
  if (recovered === undefined) {
    return {
      ...base,
      loaded: false,
      live: null,
      removed: null,
      voted: null,
      termRange: null,
      highest: [],
      floorTerm: null,
    };
  }
  let voted = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  const all: GroupTermJson[] = [];
  for (const [group, state] of recovered.groups) {
    if (state.votedFor !== NONE_SERVER_ID) voted++;
    min = Math.min(min, state.currentTerm);
    max = Math.max(max, state.currentTerm);
    all.push({ group, currentTerm: state.currentTerm, votedFor: state.votedFor });
  }
  all.sort((a, b) => b.currentTerm - a.currentTerm || a.group - b.group);
  return {
    ...base,
    loaded: true,
    live: recovered.groups.size,
    removed: recovered.removed.size,
    voted,
    termRange: all.length === 0 ? null : { min, max },
    highest: all.slice(0, HIGHEST_GROUPS),
    floorTerm: recovered.floorTerm,
  };
}

/** Group `group` as a node loads it, or null when it refuses to start. */
export function groupStateJson(exam: Examination, group: number): GroupStateJson | null {
  const recovered = exam.recovered;
  if (recovered === undefined) return null;
  const live = recovered.groups.get(group);
  const lastSeq = recovered.lastSeq;
  if (live !== undefined) return { group, status: 'live', ...live, lastSeq };
  const tombstone = recovered.removed.get(group);
  if (tombstone !== undefined)
    return { group, status: 'removed', currentTerm: tombstone, votedFor: NONE_SERVER_ID, lastSeq };
  return { group, status: 'none', currentTerm: recovered.floorTerm, votedFor: NONE_SERVER_ID, lastSeq };
}

export interface RecordJson {
  readonly offset: number;
  readonly seq: number;
  readonly batchIndex: number;
  /** `remove`: a group removed (multi-group directories only). */
  readonly kind: RecordKind;
  /** The record's group, present only when it is not 0 (multi-group directories only). */
  readonly group?: number;
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly status: ExaminedRecord['status'];
}

export function kindName(kind: RecordKind): RecordKind {
  return kind;
}

export function recordJson(record: ExaminedRecord): RecordJson {
  return {
    offset: record.offset,
    seq: record.seq,
    batchIndex: record.batchIndex,
    kind: kindName(record.kind),
    ...(record.group === 0 ? {} : { group: record.group }),
    currentTerm: record.currentTerm,
    votedFor: record.votedFor,
    status: record.status,
  };
}

// ---- format versions and identity (inspect, verify, dump, repair) ------------------------------

export interface IdentityJson {
  readonly clusterId: string | number;
  readonly nodeId: string | number;
}

export interface ForeignFileJson {
  readonly name: string;
  readonly version: 1 | 2 | null;
  readonly directoryId: string | null;
  readonly reason: ForeignReason;
  readonly message: string;
}

/**
 * Which format each file is in and whose directory this is. A field of its own (not inside `logs[]`
 * or `snapshot`, whose shapes are closed in schema version 1), so that every document a 0.1.0
 * schema accepted still validates.
 */
export interface FormatJson {
  readonly summary: FormatSummary;
  /** The summary in words (`v1 and v2: upgrade in progress, ...`). */
  readonly message: string;
  readonly versions: readonly (1 | 2)[];
  readonly directoryId: string | null;
  readonly directoryIdFrom: string | null;
  /** The node identity stamped in the snapshot, or null (none, or the snapshot does not decode). */
  readonly identity: IdentityJson | null;
  readonly snapshot: {
    readonly name: string;
    readonly version: 1 | 2 | null;
    readonly directoryId: string | null;
  } | null;
  readonly logs: readonly {
    readonly name: string;
    readonly version: 1 | 2 | null;
    readonly directoryId: string | null;
    readonly foreign: boolean;
    /** Whole records of another directory inside this log (format v2). */
    readonly foreignRecords: readonly ForeignRecord[];
  }[];
  readonly foreignFiles: readonly ForeignFileJson[];
}

export const FORMAT_TEXT: Readonly<Record<FormatSummary, string>> = {
  none: 'unknown (no file of a known format version decodes)',
  v1: 'v1 (written by 0.1.0): the next open rewrites it as v2',
  v2: 'v2',
  'v1-and-v2': 'v1 and v2: upgrade in progress, the next open/compaction finishes it',
};

export function identityJson(identity: NodeIdentity | undefined): IdentityJson | null {
  return identity === undefined ? null : { clusterId: identity.clusterId, nodeId: identity.nodeId };
}

export function foreignFileJson(file: ForeignFile): ForeignFileJson {
  return {
    name: file.name,
    version: file.version ?? null,
    directoryId: file.directoryId ?? null,
    reason: file.reason,
    message: file.message,
  };
}

export function formatJson(exam: Examination): FormatJson {
  const format = exam.format;
  const content = exam.snapshot?.content;
  return {
    summary: format.summary,
    message: FORMAT_TEXT[format.summary],
    versions: format.versions,
    directoryId: format.directoryId ?? null,
    directoryIdFrom: format.directoryIdFrom ?? null,
    identity: identityJson(format.identity),
    snapshot: exam.snapshot
      ? {
          name: exam.snapshot.name,
          version: content?.version ?? null,
          directoryId: content?.directoryId ?? null,
        }
      : null,
    logs: exam.logs.map((log) => ({
      name: log.name,
      version: log.version ?? null,
      directoryId: log.directoryId ?? null,
      foreign: log.foreign !== undefined,
      foreignRecords: log.salvage.foreign,
    })),
    foreignFiles: format.foreignFiles.map(foreignFileJson),
  };
}

// ---- a repair plan (repair) -------------------------------------------------------------------

/** The plan's fields of the document (one shape on every exit path). */
export function planJson(plan: RepairPlan, exam: Examination) {
  return {
    verdict: plan.verdict,
    strategy: plan.strategy,
    before: plan.before ?? null,
    corruption: corruptionJson(exam.dir, exam.error),
    after: plan.after ?? null,
    highestTerm: plan.highestTerm,
    highestSeq: plan.highestSeq,
    endProven: plan.endProven,
    needsMinTerm: plan.needsMinTerm,
    backupFiles: plan.backup,
    removeFiles: plan.remove,
    reasons: plan.reasons,
    warnings: plan.warnings,
    format: formatJson(exam),
    keep: {
      directoryId: plan.keep.directoryId ?? null,
      directoryIdFrom: plan.keep.directoryIdFrom ?? null,
      newDirectoryId: plan.strategy !== 'none' && plan.keep.directoryId === undefined,
      identity: identityJson(plan.keep.identity),
    },
    setAside: plan.setAside.map(foreignFileJson),
    createFile: plan.createLog ?? null,
    otherGroups: plan.otherGroups,
    groupRepairs: groupRepairsJson(plan),
  };
}

/** A group's state in a repair plan: live (term, vote) or removed (a tombstone at its last term). */
export interface PlannedGroupStateJson {
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly removed: boolean;
}

/** A group a new-term repair of a multi-group directory raises. */
export interface RaisedGroupJson {
  readonly group: number;
  /** Its newest state the disk shows, or null when none is readable. */
  readonly before: PlannedGroupStateJson | null;
  /** The sequence number of that state (0 for none). */
  readonly knownAt: number;
  readonly highestTerm: { readonly value: number; readonly source: string };
  /** Its highest term is proven (every record it may have is readable): no --min-term needed for it. */
  readonly termProven: boolean;
  readonly reason: string;
  readonly after: PlannedGroupStateJson;
}

/** What a new-term repair of a multi-group directory does per group (null otherwise). */
export interface GroupRepairsJson {
  readonly groups: number;
  /** Groups whose state the disk proves: kept, term and vote. */
  readonly kept: number;
  readonly raised: number;
  /** The lowest and highest term the raised groups move to, or null. */
  readonly raisedTerms: { readonly min: number; readonly max: number } | null;
  readonly raisedGroups: readonly RaisedGroupJson[];
  /** The repaired snapshot's floorTerm: the term of every group it does not list, no vote (0: none). */
  readonly floorTerm: number;
}

export function groupRepairsJson(plan: RepairPlan): GroupRepairsJson | null {
  if (plan.groupRepairs.length === 0) return null;
  const raised = plan.groupRepairs.filter((g) => !g.proven);
  const terms = raised.map((g) => g.after.currentTerm);
  return {
    groups: plan.groupRepairs.length,
    kept: plan.groupRepairs.length - raised.length,
    raised: raised.length,
    raisedTerms: terms.length === 0 ? null : { min: Math.min(...terms), max: Math.max(...terms) },
    raisedGroups: raised.map((g) => ({
      group: g.group,
      before: g.before ?? null,
      knownAt: g.knownAt,
      highestTerm: g.highestTerm,
      termProven: g.termProven,
      reason: g.reason ?? '',
      after: g.after,
    })),
    floorTerm: plan.floorTerm,
  };
}
