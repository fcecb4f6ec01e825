import { type NodeIdentity, parseIdentity } from '../identity.js';
import type { HardState } from '../state.js';
import { crc32Continue, crc32OfString } from './crc.js';
import { type DirectoryId, parseDirectoryId } from './directory-id.js';
import { JsonRowsWriter } from './json-rows.js';
import { logName } from './names.js';

/**
 * The snapshot file (`metadata.json`) is one JSON object. docs/format.md describes the same thing;
 * change both together. A reader tells the versions apart by `version`.
 *
 * Version 2 (written by this code):
 *
 *   {"format":"raft-metadata","version":2,"directoryId":"<32 hex>","identity":null,
 *    "lastSeq":12,"nextLog":"log-000000000000000d.wal","groups":[[0,5,101]],"removed":[],
 *    "crc32":"…"}
 *
 * - `directoryId`: the directory's identity, the same as in every log header.
 * - `identity`: `{"clusterId":…,"nodeId":…}` stamped by the `identity` option, or null.
 * - `lastSeq`: the sequence number of the last log record the snapshot covers; replay skips
 *   records up to it, so a log that outlives a compaction is never applied twice.
 * - `nextLog`: the log that must follow: the one whose first record is `lastSeq + 1`. A directory
 *   whose snapshot names a log that is not there has lost acknowledged updates, and says so.
 * - `groups`: `[group, currentTerm, votedFor]` of every live group, ascending by group
 *   (MetadataManager's single group is 0; a group still at term 0 with no vote is left out).
 * - `removed`: `[group, lastTerm]` of every removed group (tombstones), ascending.
 * - `floorTerm` (present only when above 0, before `crc32`): the term every group that neither
 *   `groups` nor `removed` lists starts from, with no vote. A repair sets it when a lost record may
 *   have belonged to a group that no readable file names, so that such a group cannot vote again in
 *   a term it may have voted in. A reader without this field's support sees a checksum mismatch.
 * - `crc32`: 8 lowercase hex digits, CRC-32 of the UTF-8 text of
 *   `JSON.stringify(["raft-metadata", 2, directoryId, identity, lastSeq, nextLog, groups, removed])`,
 *   with `floorTerm` as a ninth element when present.
 *
 * Version 1 (0.1.0, and what `JSON.stringify(metadata)` gives, so that a snapshot written by hand
 * loads): `{"format":"raft-metadata","version":1,"currentTerm":5,"votedFor":101,"lastSeq":12,
 * "crc32":"…"}`, CRC-32 of `JSON.stringify(["raft-metadata", 1, currentTerm, votedFor, lastSeq])`.
 * Keys may come in any order and whitespace is free in both versions.
 */

export const SNAPSHOT_FORMAT = 'raft-metadata';
export const SNAPSHOT_VERSION = 2;

/** A decoded snapshot, of either version. */
export interface SnapshotContent {
  readonly version: 1 | 2;
  /** Version 2 only. */
  readonly directoryId: DirectoryId | undefined;
  readonly identity: NodeIdentity | undefined;
  readonly lastSeq: number;
  /** Live groups and their state (version 1: group 0, unless it is still at term 0 with no vote). */
  readonly groups: ReadonlyMap<number, HardState>;
  /** Removed groups and their last term. */
  readonly removed: ReadonlyMap<number, number>;
  /** The term of every group neither map lists (no vote): 0 unless a repair raised it. */
  readonly floorTerm: number;
}

/** What a version-2 snapshot holds, to be written. */
export interface SnapshotToWrite {
  readonly directoryId: DirectoryId;
  readonly identity: NodeIdentity | undefined;
  readonly lastSeq: number;
  readonly groups: ReadonlyMap<number, HardState>;
  readonly removed: ReadonlyMap<number, number>;
  /** See {@link SnapshotContent.floorTerm}; written only when above 0. */
  readonly floorTerm: number;
}

/**
 * What {@link encodeSnapshotInSteps} reads of a set of rows: the ids once, ascending, in one
 * synchronous call, then each row by id, over several turns of the event loop (the compactor's
 * frozen view of a table that keeps changing meanwhile; {@link mapRows} for a Map). The array of
 * ids must not change after the call.
 */
export interface SnapshotRows<V> {
  sortedIds(): Float64Array;
  get(id: number): V | undefined;
}

/** A Map's rows as {@link SnapshotRows} (sorted when read). */
export function mapRows<V>(map: ReadonlyMap<number, V>): SnapshotRows<V> {
  return { sortedIds: () => Float64Array.from(map.keys()).sort(), get: (id) => map.get(id) };
}

/** {@link SnapshotToWrite} with rows read as {@link SnapshotRows}. */
export interface SnapshotRowsToWrite extends Omit<SnapshotToWrite, 'groups' | 'removed'> {
  readonly groups: SnapshotRows<HardState>;
  readonly removed: SnapshotRows<number>;
}

/** The version-1 JSON object (what `Metadata.toJSON()` gives). */
export interface SnapshotJsonV1 {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: 1;
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly lastSeq: number;
  readonly crc32: string;
}

function hex(text: string): string {
  return crc32OfString(text).toString(16).padStart(8, '0');
}

function checksumV1(currentTerm: number, votedFor: number, lastSeq: number): string {
  return hex(JSON.stringify([SNAPSHOT_FORMAT, 1, currentTerm, votedFor, lastSeq]));
}

function checksumV2(
  directoryId: string,
  identity: NodeIdentity | null,
  lastSeq: number,
  nextLog: string,
  groups: readonly (readonly number[])[],
  removed: readonly (readonly number[])[],
  floorTerm: number,
): string {
  const covered = [SNAPSHOT_FORMAT, 2, directoryId, identity, lastSeq, nextLog, groups, removed];
  if (floorTerm > 0) covered.push(floorTerm);
  return hex(JSON.stringify(covered));
}

/** The version-1 object for one group's state (the seed's hand-written snapshot). */
export function snapshotJsonV1(state: HardState & { readonly lastSeq: number }): SnapshotJsonV1 {
  return {
    format: SNAPSHOT_FORMAT,
    version: 1,
    currentTerm: state.currentTerm,
    votedFor: state.votedFor,
    lastSeq: state.lastSeq,
    crc32: checksumV1(state.currentTerm, state.votedFor, state.lastSeq),
  };
}

function sortedEntries<V>(map: ReadonlyMap<number, V>): [number, V][] {
  return [...map.entries()].sort((a, b) => a[0] - b[0]);
}

/** The version-2 file's bytes. */
export function encodeSnapshot(content: SnapshotToWrite): Uint8Array {
  const identity = content.identity === undefined ? null : { ...content.identity };
  const nextLog = logName(content.lastSeq + 1);
  const groups = sortedEntries(content.groups).map(([id, s]) => [id, s.currentTerm, s.votedFor]);
  const removed = sortedEntries(content.removed).map(([id, term]) => [id, term]);
  const { floorTerm } = content;
  const json = {
    format: SNAPSHOT_FORMAT,
    version: 2,
    directoryId: content.directoryId,
    identity,
    lastSeq: content.lastSeq,
    nextLog,
    groups,
    removed,
    ...(floorTerm > 0 ? { floorTerm } : {}),
    crc32: checksumV2(content.directoryId, identity, content.lastSeq, nextLog, groups, removed, floorTerm),
  };
  return new TextEncoder().encode(`${JSON.stringify(json)}\n`);
}

/**
 * Rows encoded per step of {@link encodeSnapshotInSteps} before it lets the event loop run: about
 * a quarter of a millisecond of the main thread here, so that an append's answer waits that long at most.
 */
const ROWS_PER_STEP = 512;
/** Bytes checksummed per step of {@link encodeSnapshotInSteps}. */
const CRC_BYTES_PER_STEP = 1 << 16;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The bytes of `[[id,a,b],...]` (or `[[id,a],...]`) for `ids` in order, the same as the UTF-8 of
 * JSON.stringify of the rows, {@link ROWS_PER_STEP} rows per turn of the event loop.
 */
async function rowsInSteps(
  ids: Float64Array,
  write: (out: JsonRowsWriter, first: boolean, id: number) => void,
): Promise<Uint8Array> {
  const out = new JsonRowsWriter(ids.length);
  for (let start = 0; start < ids.length; start += ROWS_PER_STEP) {
    if (start > 0) await nextTurn();
    const end = Math.min(ids.length, start + ROWS_PER_STEP);
    for (let i = start; i < end; i++) write(out, i === 0, ids[i] as number);
  }
  return out.finish();
}

/** CRC-32 of `parts` one after the other, {@link CRC_BYTES_PER_STEP} bytes per turn of the event loop. */
async function crcInSteps(parts: readonly Uint8Array[]): Promise<string> {
  let crc = 0;
  let sinceTurn = 0;
  for (const part of parts) {
    for (let at = 0; at < part.length; at += CRC_BYTES_PER_STEP) {
      if (sinceTurn >= CRC_BYTES_PER_STEP) {
        await nextTurn();
        sinceTurn = 0;
      }
      const chunk = part.subarray(at, Math.min(part.length, at + CRC_BYTES_PER_STEP));
      crc = crc32Continue(chunk, crc);
      sinceTurn += chunk.length;
    }
  }
  return crc.toString(16).padStart(8, '0');
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The same bytes as {@link encodeSnapshot}, built {@link ROWS_PER_STEP} groups at a time with a turn of the
 * event loop in between, so that a compaction of 100,000 groups never holds the main thread for
 * long: appends go on being sent and acknowledged while the snapshot is encoded. The rows are
 * written as bytes (format/json-rows.ts) and checksummed as bytes; only the few fields around them
 * go through JSON.stringify. The rows `content` gives must not change meanwhile (the compactor
 * passes a frozen view of its table).
 */
export async function encodeSnapshotInSteps(content: SnapshotRowsToWrite): Promise<Uint8Array> {
  const groups = await rowsInSteps(content.groups.sortedIds(), (out, first, id) => {
    const state = content.groups.get(id) as HardState;
    out.row(first, id, state.currentTerm, state.votedFor);
  });
  const removed = await rowsInSteps(content.removed.sortedIds(), (out, first, id) => {
    out.row(first, id, content.removed.get(id) as number);
  });
  const utf8 = new TextEncoder();
  const identity = JSON.stringify(content.identity === undefined ? null : { ...content.identity });
  const nextLog = JSON.stringify(logName(content.lastSeq + 1));
  const directoryId = JSON.stringify(content.directoryId);
  const comma = utf8.encode(',');
  const floor = content.floorTerm > 0 ? `,${content.floorTerm}` : '';
  // What the checksum covers (see checksumV2): [format,2,directoryId,identity,lastSeq,nextLog,groups,removed(,floorTerm)]
  const crc = await crcInSteps([
    utf8.encode(
      `[${JSON.stringify(SNAPSHOT_FORMAT)},2,${directoryId},${identity},${content.lastSeq},${nextLog},`,
    ),
    groups,
    comma,
    removed,
    utf8.encode(`${floor}]`),
  ]);
  return concatBytes([
    utf8.encode(
      `{"format":${JSON.stringify(SNAPSHOT_FORMAT)},"version":2,"directoryId":${directoryId},"identity":${identity},` +
        `"lastSeq":${content.lastSeq},"nextLog":${nextLog},"groups":`,
    ),
    groups,
    utf8.encode(',"removed":'),
    removed,
    utf8.encode(`${content.floorTerm > 0 ? `,"floorTerm":${content.floorTerm}` : ''},"crc32":"${crc}"}\n`),
  ]);
}

/** A snapshot problem: byte offset in the file and what is wrong. */
export interface SnapshotProblem {
  readonly offset: number;
  readonly problem: string;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseObject(bytes: Uint8Array): { readonly object: Record<string, unknown> } | SnapshotProblem {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { offset: 0, problem: 'snapshot is not valid UTF-8' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec(String(err))?.[1];
    const offset = position === undefined ? bytes.byteLength : Number(position);
    const why =
      text.trim().length === 0 ? 'snapshot is empty' : 'snapshot is not valid JSON (cut short or edited)';
    return { offset, problem: why };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { offset: 0, problem: 'snapshot is not a JSON object' };
  }
  return { object: parsed as Record<string, unknown> };
}

/** Decodes and checks a snapshot file's bytes, of either version. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotContent | SnapshotProblem {
  const parsed = parseObject(bytes);
  if ('problem' in parsed) return parsed;
  const obj = parsed.object;
  if (obj.format !== SNAPSHOT_FORMAT)
    return { offset: 0, problem: 'snapshot has no "format":"raft-metadata" field' };
  if (obj.version === 1) return decodeV1(obj);
  if (obj.version === 2) return decodeV2(obj);
  return { offset: 0, problem: `unknown snapshot format version ${JSON.stringify(obj.version)}` };
}

function decodeV1(obj: Record<string, unknown>): SnapshotContent | SnapshotProblem {
  const { currentTerm, votedFor, lastSeq } = obj;
  if (!isCount(currentTerm) || !isCount(votedFor) || !isCount(lastSeq)) {
    return { offset: 0, problem: 'currentTerm, votedFor and lastSeq must be safe non-negative integers' };
  }
  if (obj.crc32 !== checksumV1(currentTerm, votedFor, lastSeq)) {
    return { offset: 0, problem: 'snapshot checksum mismatch' };
  }
  const groups = new Map<number, HardState>();
  if (currentTerm !== 0 || votedFor !== 0) groups.set(0, { currentTerm, votedFor });
  return {
    version: 1,
    directoryId: undefined,
    identity: undefined,
    lastSeq,
    groups,
    removed: new Map(),
    floorTerm: 0,
  };
}

/** Rows of `width` safe non-negative integers, strictly ascending by their first column. */
function parseRows(value: unknown, width: number): number[][] | undefined {
  if (!Array.isArray(value)) return undefined;
  const rows: number[][] = [];
  let previous = -1;
  for (const row of value) {
    if (!Array.isArray(row) || row.length !== width || !row.every(isCount)) return undefined;
    const id = row[0] as number;
    if (id <= previous) return undefined;
    previous = id;
    rows.push(row as number[]);
  }
  return rows;
}

function decodeV2(obj: Record<string, unknown>): SnapshotContent | SnapshotProblem {
  const directoryId = parseDirectoryId(obj.directoryId);
  if (directoryId === undefined) return { offset: 0, problem: 'directoryId must be 32 lowercase hex digits' };
  const identity = obj.identity === null ? null : parseIdentity(obj.identity);
  if (identity === undefined) return { offset: 0, problem: 'identity must be null or {clusterId, nodeId}' };
  const { lastSeq, nextLog } = obj;
  if (!isCount(lastSeq)) return { offset: 0, problem: 'lastSeq must be a safe non-negative integer' };
  if (typeof nextLog !== 'string') return { offset: 0, problem: 'nextLog must be a log file name' };
  const groups = parseRows(obj.groups, 3);
  const removed = parseRows(obj.removed, 2);
  if (groups === undefined || removed === undefined) {
    return {
      offset: 0,
      problem: 'groups and removed must be rows of safe non-negative integers, ascending by group',
    };
  }
  const floorTerm = obj.floorTerm ?? 0;
  if (!isCount(floorTerm) || ('floorTerm' in obj && floorTerm === 0)) {
    return { offset: 0, problem: 'floorTerm, when present, must be a safe integer above 0' };
  }
  if (obj.crc32 !== checksumV2(directoryId, identity, lastSeq, nextLog, groups, removed, floorTerm)) {
    return { offset: 0, problem: 'snapshot checksum mismatch' };
  }
  // Checked after the checksum: a whole, checksummed snapshot that breaks these was not written by
  // this code.
  if (nextLog !== logName(lastSeq + 1)) {
    return { offset: 0, problem: `nextLog ${nextLog} is not the log after lastSeq ${lastSeq}` };
  }
  const live = new Map(
    groups.map(([id, currentTerm, votedFor]) => [id as number, { currentTerm, votedFor } as HardState]),
  );
  const gone = new Map(removed.map(([id, term]) => [id as number, term as number]));
  for (const id of gone.keys()) {
    if (live.has(id)) return { offset: 0, problem: `group ${id} is both live and removed` };
  }
  return {
    version: 2,
    directoryId,
    identity: identity ?? undefined,
    lastSeq,
    groups: live,
    removed: gone,
    floorTerm,
  };
}

/**
 * The numbers a snapshot's JSON claims for group 0, whatever else is wrong with it (a checksum
 * mismatch, a missing field, bytes that are not UTF-8): undefined when the text does not parse as a
 * JSON object or holds none. Never state: the CLI's salvage counts them as seen, since a node may
 * have acted on them. The one other reading of a snapshot besides {@link decodeSnapshot}, and it
 * lives here too.
 */
export function snapshotClaims(
  bytes: Uint8Array,
): Partial<{ currentTerm: number; votedFor: number; lastSeq: number }> | undefined {
  const obj = parseLeniently(bytes);
  if (obj === undefined) return undefined;
  const found: { currentTerm?: number; votedFor?: number; lastSeq?: number } = {};
  if (isCount(obj.currentTerm)) found.currentTerm = obj.currentTerm;
  if (isCount(obj.votedFor)) found.votedFor = obj.votedFor;
  if (isCount(obj.lastSeq)) found.lastSeq = obj.lastSeq;
  if (Array.isArray(obj.groups)) {
    const row = obj.groups.find((r: unknown) => Array.isArray(r) && r[0] === 0) as unknown[] | undefined;
    if (row !== undefined && isCount(row[1])) found.currentTerm = row[1];
    if (row !== undefined && isCount(row[2])) found.votedFor = row[2];
  }
  return Object.keys(found).length > 0 ? found : undefined;
}

/** What a damaged snapshot's JSON claims for one group: its term, and whether it names it removed. */
export interface GroupClaim {
  readonly currentTerm: number;
  readonly removed: boolean;
}

/**
 * Every group a snapshot's JSON names, whatever else is wrong with it (like {@link snapshotClaims}):
 * the rows of `groups` (`[group, term, vote]`) and `removed` (`[group, lastTerm]`) whose group and
 * term are counts, the highest term per group. Undefined when the text does not parse or names no
 * group. Never state: a repair raises each such group above the term claimed, so that a group only
 * the damaged snapshot held is not forgotten (and left to vote again in a term it voted in).
 */
export function snapshotGroupClaims(bytes: Uint8Array): ReadonlyMap<number, GroupClaim> | undefined {
  const obj = parseLeniently(bytes);
  if (obj === undefined) return undefined;
  const claims = new Map<number, GroupClaim>();
  const claim = (row: unknown, removed: boolean): void => {
    if (!Array.isArray(row) || !isCount(row[0]) || !isCount(row[1])) return;
    const known = claims.get(row[0]);
    if (known === undefined || row[1] > known.currentTerm || (row[1] === known.currentTerm && removed))
      claims.set(row[0], { currentTerm: row[1], removed });
  };
  if (Array.isArray(obj.groups)) for (const row of obj.groups) claim(row, false);
  if (Array.isArray(obj.removed)) for (const row of obj.removed) claim(row, true);
  return claims.size > 0 ? claims : undefined;
}

/**
 * The `floorTerm` a damaged snapshot's JSON claims (like {@link snapshotGroupClaims}): undefined when
 * the text does not parse or holds none above 0. Never state: a repair keeps its new floor above it.
 */
export function snapshotFloorClaim(bytes: Uint8Array): number | undefined {
  const floor = parseLeniently(bytes)?.floorTerm;
  return isCount(floor) && floor > 0 ? floor : undefined;
}

/** A snapshot's text as a JSON object, decoded leniently (a damaged byte in a string must not hide the numbers). */
function parseLeniently(bytes: Uint8Array): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined; // Not JSON at all: nothing can be read from it.
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  return parsed as Record<string, unknown>;
}
