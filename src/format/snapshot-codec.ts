import { crc32OfString } from './crc.js';

/**
 * The snapshot file (`metadata.json`) is one JSON object:
 *
 *   {"format":"raft-metadata","version":1,"currentTerm":5,"votedFor":101,"lastSeq":12,"crc32":"1c291ca3"}
 *
 * - `lastSeq`: the sequence number of the last log record the snapshot covers; replay skips
 *   records up to it, so a log that outlives a compaction is never applied twice.
 * - `crc32`: 8 lowercase hex digits, CRC-32 of the UTF-8 text of
 *   `JSON.stringify(["raft-metadata", version, currentTerm, votedFor, lastSeq])`.
 * Keys may come in any order and whitespace is free, so a snapshot written by hand with
 * `JSON.stringify(metadata)` loads. docs/format.md describes the same thing; change both together.
 */

export const SNAPSHOT_FORMAT = 'raft-metadata';
export const SNAPSHOT_VERSION = 1;

export interface SnapshotContent {
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly lastSeq: number;
}

export interface SnapshotJson {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: number;
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly lastSeq: number;
  readonly crc32: string;
}

function checksum(version: number, content: SnapshotContent): string {
  const covered = JSON.stringify([
    SNAPSHOT_FORMAT,
    version,
    content.currentTerm,
    content.votedFor,
    content.lastSeq,
  ]);
  return crc32OfString(covered).toString(16).padStart(8, '0');
}

export function snapshotJson(content: SnapshotContent): SnapshotJson {
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    currentTerm: content.currentTerm,
    votedFor: content.votedFor,
    lastSeq: content.lastSeq,
    crc32: checksum(SNAPSHOT_VERSION, content),
  };
}

export function encodeSnapshot(content: SnapshotContent): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(snapshotJson(content))}\n`);
}

/** A snapshot problem: byte offset in the file and what is wrong. */
export interface SnapshotProblem {
  readonly offset: number;
  readonly problem: string;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Decodes and checks a snapshot file's bytes. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotContent | SnapshotProblem {
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
  const obj = parsed as Record<string, unknown>;
  if (obj.format !== SNAPSHOT_FORMAT)
    return { offset: 0, problem: 'snapshot has no "format":"raft-metadata" field' };
  if (obj.version !== SNAPSHOT_VERSION) {
    return { offset: 0, problem: `unknown snapshot format version ${JSON.stringify(obj.version)}` };
  }
  const { currentTerm, votedFor, lastSeq } = obj;
  if (!isCount(currentTerm) || !isCount(votedFor) || !isCount(lastSeq)) {
    return { offset: 0, problem: 'currentTerm, votedFor and lastSeq must be safe non-negative integers' };
  }
  const content = { currentTerm, votedFor, lastSeq };
  if (obj.crc32 !== checksum(SNAPSHOT_VERSION, content)) {
    return { offset: 0, problem: 'snapshot checksum mismatch' };
  }
  return content;
}

/**
 * The numbers a snapshot's JSON claims, whatever else is wrong with it (a checksum mismatch, a
 * missing field, bytes that are not UTF-8): undefined when the text does not parse as a JSON object
 * or holds none. Never state: the CLI's salvage counts them as seen, since a node may have acted on
 * them. The one other reading of a snapshot besides {@link decodeSnapshot}, and it lives here too.
 */
export function snapshotClaims(bytes: Uint8Array): Partial<SnapshotContent> | undefined {
  let parsed: unknown;
  try {
    // Lenient decoding on purpose: a damaged byte in a string must not hide the numbers.
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined; // Not JSON at all: nothing can be read from it.
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const obj = parsed as Record<string, unknown>;
  const found: { currentTerm?: number; votedFor?: number; lastSeq?: number } = {};
  if (isCount(obj.currentTerm)) found.currentTerm = obj.currentTerm;
  if (isCount(obj.votedFor)) found.votedFor = obj.votedFor;
  if (isCount(obj.lastSeq)) found.lastSeq = obj.lastSeq;
  return Object.keys(found).length > 0 ? found : undefined;
}
