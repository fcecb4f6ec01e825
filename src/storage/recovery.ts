import { join } from 'node:path';
import { CorruptionError, hasErrno, IdentityMismatchError, MultiGroupDirectoryError } from '../errors.js';
import type { DirectoryId } from '../format/directory-id.js';
import { logFiles, logName, SNAPSHOT_NAME, snapshotPath } from '../format/names.js';
import type { LogHeader, LogRecord } from '../format/record.js';
import type { SnapshotContent } from '../format/snapshot-codec.js';
import type { FileSystem } from '../fs/types.js';
import { type NodeIdentity, sameIdentity } from '../identity.js';
import { groupStateIn, type HardState, isLegalTransition, NONE_SERVER_ID, RecordKind } from '../state.js';
import { type LogScan, scanLog } from './log-reader.js';
import { readSnapshot } from './snapshot-file.js';

/** One log file as recovery found it. */
export interface RecoveredLog {
  readonly name: string;
  readonly path: string;
  /** First sequence number, from the file name (checked against the header). */
  readonly firstSeq: number;
  readonly scan: LogScan;
}

/** Everything `Metadata.load`, the manager's open and the CLI need to know about a directory. */
export interface RecoveredDirectory {
  /** Group 0's state (MetadataManager's single group): snapshot plus every valid record after it. */
  readonly state: HardState;
  /** Every live group's state (group 0 included once it left term 0 with no vote). */
  readonly groups: ReadonlyMap<number, HardState>;
  /** Removed groups and their last term (tombstones). */
  readonly removed: ReadonlyMap<number, number>;
  /**
   * The term of every group that neither {@link groups} nor {@link removed} lists, with no vote: the
   * snapshot's `floorTerm` (set by a repair), 0 without one.
   */
  readonly floorTerm: number;
  /** Sequence number of the last record the state includes (the snapshot's, if no record follows). */
  readonly lastSeq: number;
  /** The snapshot, if there is one. */
  readonly snapshot: SnapshotContent | undefined;
  /** Log files, oldest first. */
  readonly logs: readonly RecoveredLog[];
  /** False when the directory does not exist. */
  readonly exists: boolean;
  /**
   * The directory's id: the version-2 snapshot's, else the oldest version-2 log's; undefined when
   * no version-2 file exists (a new or a format-v1 directory).
   */
  readonly directoryId: DirectoryId | undefined;
  /** The node identity stamped in the snapshot, if any. */
  readonly identity: NodeIdentity | undefined;
  /** Format versions of the files read (snapshot and logs), ascending: [] for an empty directory. */
  readonly versions: readonly (1 | 2)[];
}

/** Called for each record as it is replayed (the CLI's `dump` lists them). */
export type RecordVisitor = (file: string, offset: number, record: LogRecord, applied: boolean) => void;

/**
 * The snapshot names a log that is not there: acknowledged updates after the snapshot are lost.
 * A reader racing a compaction can see this for a moment (a listing from before the compaction,
 * a snapshot from after it), so recovery reads the directory again before reporting it.
 */
class MissingLogError extends CorruptionError {}

/**
 * Reads a metadata directory without changing anything in it: the snapshot, then every log in
 * sequence order, applying the records the snapshot does not cover.
 *
 * Corruption ({@link CorruptionError}) is anything a crash cannot produce: a damaged snapshot, a
 * damaged log header, damage followed by later writes, a torn tail in a log that is not the last
 * one unless the next log continues right after its last valid record (a restart after a crash
 * does exactly that) or the snapshot covers all its valid records (a retired log whose unlink a
 * crash undid), a gap in the sequence numbers, records that break Raft's rules (a term
 * going down, two votes in one term), and files of another directory: a version-2 log or record
 * whose directory id is not this directory's, a version-1 log where this directory already moved
 * to version 2, or a snapshot whose `nextLog` is missing. Replay never skips over damage to an
 * older state.
 */
export async function recoverDirectory(
  fs: FileSystem,
  dir: string,
  visit?: RecordVisitor,
): Promise<RecoveredDirectory> {
  // A reader next to a running manager (Metadata.load, the CLI) can list a log that a compaction
  // deletes before the reader opens it, or read a snapshot newer than its listing. The compaction
  // wrote a snapshot covering that log first, so reading the directory again gives the state.
  // With a visitor the error is the caller's to handle, since it has seen part of the records.
  for (let attempt = 1; ; attempt++) {
    try {
      return await recoverOnce(fs, dir, visit);
    } catch (err) {
      const retry = hasErrno(err, 'ENOENT') || err instanceof MissingLogError;
      if (visit !== undefined || attempt >= MAX_ATTEMPTS || !retry) throw err;
    }
  }
}

const MAX_ATTEMPTS = 10;
const FRESH: HardState = Object.freeze({ currentTerm: 0, votedFor: NONE_SERVER_ID });

async function recoverOnce(fs: FileSystem, dir: string, visit?: RecordVisitor): Promise<RecoveredDirectory> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) {
      return {
        state: FRESH,
        groups: new Map(),
        removed: new Map(),
        floorTerm: 0,
        lastSeq: 0,
        snapshot: undefined,
        logs: [],
        exists: false,
        directoryId: undefined,
        identity: undefined,
        versions: [],
      };
    }
    throw err;
  }
  const snapshot = await readSnapshot(fs, dir);
  const replay = new GroupReplay(snapshot);
  const covered = snapshot?.lastSeq ?? 0;
  let lastSeq = covered;
  const versions = new Set<1 | 2>(snapshot ? [snapshot.version] : []);
  // Whose directory this is: the version-2 snapshot says; without one, the oldest version-2 log.
  let owner: { id: DirectoryId; from: string } | undefined =
    snapshot?.directoryId !== undefined ? { id: snapshot.directoryId, from: SNAPSHOT_NAME } : undefined;
  let sawV2Log = false;

  const found = logFiles(names);

  const logs: RecoveredLog[] = [];
  for (const [index, { name, firstSeq }] of found.entries()) {
    const path = join(dir, name);
    let layoutVersion: 1 | 2 | undefined;
    const onHeader = (header: LogHeader): void => {
      layoutVersion = header.layout.version;
      versions.add(layoutVersion);
      if (header.directoryId !== undefined) {
        sawV2Log = true;
        if (owner === undefined) owner = { id: header.directoryId, from: name };
        else if (header.directoryId !== owner.id) {
          throw new CorruptionError(
            path,
            24,
            `log belongs to another directory than ${owner.from}: the log's directory id is ${header.directoryId}, ${owner.from}'s is ${owner.id}. One of them was copied from another directory (a restored backup, another node's file); \`raft-metadata inspect\` shows each file's id`,
          );
        }
      } else if (sawV2Log) {
        throw new CorruptionError(
          path,
          8,
          'a format-v1 log after a format-v2 log: it does not belong to this directory',
        );
      }
    };
    const scan = await scanLog(
      fs,
      path,
      (record, offset) => {
        const applied = record.seq > covered;
        if (applied) {
          if (layoutVersion === 1 && snapshot?.version === 2) {
            throw new CorruptionError(
              path,
              offset,
              `format-v1 record (seq ${record.seq}) after the format-v2 snapshot, which covers up to ${covered}: it does not belong to this directory`,
            );
          }
          if (record.seq !== lastSeq + 1) {
            throw new CorruptionError(
              path,
              offset,
              `sequence gap: expected record ${lastSeq + 1}, found ${record.seq}`,
            );
          }
          replay.apply(record, path, offset);
          lastSeq = record.seq;
        }
        visit?.(path, offset, record, applied);
      },
      onHeader,
    );
    if (scan.header?.firstSeq !== undefined && scan.header.firstSeq !== firstSeq) {
      throw new CorruptionError(
        path,
        16,
        `header says the log starts at ${scan.header.firstSeq}, its name says ${firstSeq}`,
      );
    }
    if (scan.firstSeq !== undefined && scan.firstSeq !== firstSeq) {
      const header = scan.header?.layout.headerSize ?? 0;
      throw new CorruptionError(
        path,
        header,
        `the log's first record is ${scan.firstSeq}, its name says the log starts at ${firstSeq} (a renamed log?)`,
      );
    }
    const next = found[index + 1];
    if (scan.end.kind === 'torn' && next !== undefined) {
      // A torn tail is normal only in the log that was being written when the process died. An
      // older log may keep one if the restart after that crash started the next log right after
      // its last valid record: the torn bytes were never acknowledged and nothing refers to them.
      // Or if the snapshot covers every valid record of it: such a log is one a compaction retired,
      // and its unlink, like every unlink of a covered log, has no directory fsync of its own, so a
      // crash can undo it while the unlink of the log that continued it stays done. Its torn bytes
      // are never applied, and whatever came after them is in the snapshot or, past it, checked
      // by the sequence (a gap is corruption) and by the snapshot's next log.
      const resumesAt = (scan.lastSeq ?? firstSeq - 1) + 1;
      const coveredBySnapshot = resumesAt - 1 <= covered;
      if (next.firstSeq !== resumesAt && !coveredBySnapshot) {
        throw new CorruptionError(
          path,
          scan.end.offset,
          `${scan.end.reason} in a log that is not the last one`,
        );
      }
    }
    logs.push({ name, path, firstSeq, scan });
  }
  if (snapshot?.version === 2) assertNextLog(dir, snapshot, logs);
  const tables = { groups: replay.groups, removed: replay.removed, floorTerm: replay.unlisted.currentTerm };
  return {
    // A removed group 0 (only a MetadataStore removes it) is at its tombstone's term, never term 0.
    state: groupStateIn(tables, 0),
    ...tables,
    lastSeq,
    snapshot,
    logs,
    exists: true,
    directoryId: (owner as { id: DirectoryId } | undefined)?.id,
    identity: snapshot?.identity,
    versions: [...versions].sort(),
  };
}

/**
 * A version-2 snapshot names the log that follows it (`log-<lastSeq + 1>`), and every compaction
 * makes that log durable before the snapshot that names it (see engine/compactor.ts), so in every
 * crash state it is there, with a version-2 header of this directory (the header of a log reaches
 * the disk before its name does: storage/log-writer.ts). Missing: acknowledged updates after the
 * snapshot are gone (a backup without the logs, an `rm`); never report the snapshot's older state.
 */
function assertNextLog(dir: string, snapshot: SnapshotContent, logs: readonly RecoveredLog[]): void {
  const expected = logName(snapshot.lastSeq + 1);
  const log = logs.find((l) => l.firstSeq === snapshot.lastSeq + 1);
  if (log === undefined) {
    throw new MissingLogError(
      snapshotPath(dir),
      0,
      `log ${expected} is missing: the snapshot covers records up to ${snapshot.lastSeq} and names ${expected} as the log after them, so updates acknowledged after the snapshot may be lost (restore the directory's logs from the same backup, or run \`raft-metadata repair\`)`,
    );
  }
  if (log.scan.header === undefined) {
    throw new CorruptionError(log.path, 0, `log ${expected}, named by the snapshot, has no header`);
  }
  if (log.scan.header.directoryId === undefined) {
    throw new CorruptionError(
      log.path,
      8,
      `log ${expected} is a format-v1 log, but the format-v2 snapshot names it as the log after it: it does not belong to this directory`,
    );
  }
}

/**
 * Replays records per group, checking each against Raft's rules for that group's state; throws
 * {@link CorruptionError} when the log breaks them.
 */
/** A group's state during replay: this replay's own object, updated in place record after record. */
interface ReplayState {
  currentTerm: number;
  votedFor: number;
}

class GroupReplay {
  readonly groups: Map<number, ReplayState>;
  readonly removed: Map<number, number>;
  /** The state of a group neither map lists: term 0, or the snapshot's `floorTerm`; no vote. */
  readonly unlisted: HardState;

  constructor(snapshot: SnapshotContent | undefined) {
    this.groups = new Map();
    for (const [id, state] of snapshot?.groups ?? []) {
      this.groups.set(id, { currentTerm: state.currentTerm, votedFor: state.votedFor });
    }
    this.removed = new Map(snapshot?.removed);
    const floorTerm = snapshot?.floorTerm ?? 0;
    this.unlisted = floorTerm === 0 ? FRESH : Object.freeze(termOnly(floorTerm));
  }

  /**
   * The hot loop of a load: one map lookup for a live group (a second only while tombstones exist),
   * and its entry updated in place: a million records over 10,000 groups allocate nothing that
   * outlives the record.
   */
  apply(record: LogRecord, file: string, offset: number): void {
    const { group } = record;
    const live = this.groups.get(group);
    const tombstone = live === undefined && this.removed.size > 0 ? this.removed.get(group) : undefined;
    const state = live ?? (tombstone === undefined ? this.unlisted : termOnly(tombstone));
    const problem = ruleProblem(state, record, record.kind, tombstone, live !== undefined);
    if (problem !== undefined) {
      throw new CorruptionError(file, offset, group === 0 ? problem : `group ${group}: ${problem}`);
    }
    if (record.kind === RecordKind.Remove) {
      this.groups.delete(group);
      this.removed.set(group, record.currentTerm);
      return;
    }
    if (live !== undefined) {
      live.currentTerm = record.currentTerm;
      live.votedFor = record.votedFor;
      return;
    }
    if (tombstone !== undefined) this.removed.delete(group);
    this.groups.set(group, { currentTerm: record.currentTerm, votedFor: record.votedFor });
  }
}

function termOnly(term: number): HardState {
  return { currentTerm: term, votedFor: NONE_SERVER_ID };
}

function ruleProblem(
  state: HardState,
  next: HardState,
  kind: RecordKind,
  tombstone: number | undefined,
  live: boolean,
): string | undefined {
  switch (kind) {
    case RecordKind.Term:
      if (next.currentTerm <= state.currentTerm)
        return `term record ${next.currentTerm} does not raise the term ${state.currentTerm}`;
      return next.votedFor !== NONE_SERVER_ID ? 'term record carries a vote' : undefined;
    case RecordKind.Vote:
      if (next.currentTerm !== state.currentTerm)
        return `vote record for term ${next.currentTerm} while the term is ${state.currentTerm}`;
      if (tombstone !== undefined && next.currentTerm === tombstone)
        return `vote in term ${tombstone}, the term the group was removed in`;
      if (next.votedFor === NONE_SERVER_ID || !isLegalTransition(state, next))
        return `second vote in term ${state.currentTerm}: ${state.votedFor} then ${next.votedFor}`;
      return undefined;
    case RecordKind.Remove:
      if (!live) return 'removal of a group that holds no state';
      if (next.currentTerm !== state.currentTerm)
        return `removal record for term ${next.currentTerm} while the term is ${state.currentTerm}`;
      return next.votedFor !== NONE_SERVER_ID ? 'removal record carries a vote' : undefined;
  }
}

/**
 * The check every reader and opener makes when given an identity: `ERR_IDENTITY_MISMATCH` when the
 * directory is stamped with another one (an unstamped directory passes). `dir` is for the message.
 */
export function assertIdentity(
  dir: string,
  recovered: RecoveredDirectory,
  expected: NodeIdentity | undefined,
): void {
  if (
    expected !== undefined &&
    recovered.identity !== undefined &&
    !sameIdentity(expected, recovered.identity)
  ) {
    throw new IdentityMismatchError(dir, expected, recovered.identity);
  }
}

/**
 * The single-group APIs' check: `ERR_MULTI_GROUP_DIRECTORY` when any group other than 0 is live or
 * removed, or group 0 is removed. A tombstone is a MetadataStore's state (no vote in its term, ever)
 * that MetadataManager cannot keep: opened as a manager, group 0 would be at its term with a vote
 * allowed there, or, at a compaction, lose the tombstone altogether.
 */
export function assertSingleGroup(dir: string, recovered: RecoveredDirectory): void {
  const others = [...recovered.groups.keys(), ...recovered.removed.keys()].filter((g) => g !== 0);
  // A floor term (set by a repair of a store's directory) is store state too: a manager's
  // compaction would drop it.
  if (others.length > 0 || recovered.removed.has(0) || recovered.floorTerm > 0)
    throw new MultiGroupDirectoryError(
      dir,
      others.sort((a, b) => a - b),
      recovered.removed.get(0),
      recovered.floorTerm > 0 ? recovered.floorTerm : undefined,
    );
}
