import { join } from 'node:path';
import { CorruptionError, hasErrno } from '../errors.js';
import { logFiles } from '../format/names.js';
import type { LogRecord } from '../format/record.js';
import type { SnapshotContent } from '../format/snapshot-codec.js';
import type { FileSystem } from '../fs/types.js';
import { type HardState, isLegalTransition, NONE_SERVER_ID, UpdateKind } from '../state.js';
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
  /** The state a node resumes from: snapshot plus every valid log record after it. */
  readonly state: HardState;
  /** Sequence number of the last record the state includes (the snapshot's, if no record follows). */
  readonly lastSeq: number;
  /** The snapshot, if there is one. */
  readonly snapshot: SnapshotContent | undefined;
  /** Log files, oldest first. */
  readonly logs: readonly RecoveredLog[];
  /** False when the directory does not exist. */
  readonly exists: boolean;
}

/** Called for each record as it is replayed (the CLI's `dump` lists them). */
export type RecordVisitor = (file: string, offset: number, record: LogRecord, applied: boolean) => void;

/**
 * Reads a metadata directory without changing anything in it: the snapshot, then every log in
 * sequence order, applying the records the snapshot does not cover.
 *
 * Corruption ({@link CorruptionError}) is anything a crash cannot produce: a damaged snapshot, a
 * damaged log header, damage followed by later writes, a torn tail in a log that is not the last
 * one unless the next log continues right after its last valid record (a restart after a crash
 * does exactly that), a gap in the sequence numbers, or records that break Raft's rules (a term
 * going down, two votes in one term). Replay never skips over damage to an older state.
 */
export async function recoverDirectory(
  fs: FileSystem,
  dir: string,
  visit?: RecordVisitor,
): Promise<RecoveredDirectory> {
  // A reader next to a running manager (Metadata.load, the CLI) can list a log that a compaction
  // deletes before the reader opens it. The compaction wrote a snapshot covering that log first,
  // so reading the directory again gives the state. With a visitor the error is the caller's to
  // handle, since it has seen part of the records already.
  for (let attempt = 1; ; attempt++) {
    try {
      return await recoverOnce(fs, dir, visit);
    } catch (err) {
      if (visit !== undefined || attempt >= MAX_ATTEMPTS || !hasErrno(err, 'ENOENT')) throw err;
    }
  }
}

const MAX_ATTEMPTS = 10;

async function recoverOnce(fs: FileSystem, dir: string, visit?: RecordVisitor): Promise<RecoveredDirectory> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) {
      return {
        state: { currentTerm: 0, votedFor: NONE_SERVER_ID },
        lastSeq: 0,
        snapshot: undefined,
        logs: [],
        exists: false,
      };
    }
    throw err;
  }
  const snapshot = await readSnapshot(fs, dir);
  let state: HardState = snapshot
    ? { currentTerm: snapshot.currentTerm, votedFor: snapshot.votedFor }
    : { currentTerm: 0, votedFor: NONE_SERVER_ID };
  const covered = snapshot?.lastSeq ?? 0;
  let lastSeq = covered;

  const found = logFiles(names);
  const logs: RecoveredLog[] = [];
  for (const [index, { name, firstSeq }] of found.entries()) {
    const path = join(dir, name);
    const scan = await scanLog(fs, path, (record, offset) => {
      const applied = record.seq > covered;
      if (applied) {
        if (record.seq !== lastSeq + 1) {
          throw new CorruptionError(
            path,
            offset,
            `sequence gap: expected record ${lastSeq + 1}, found ${record.seq}`,
          );
        }
        state = replayRecord(state, record, path, offset);
        lastSeq = record.seq;
      }
      visit?.(path, offset, record, applied);
    });
    if (scan.header && scan.header.firstSeq !== firstSeq) {
      throw new CorruptionError(
        path,
        16,
        `header says the log starts at ${scan.header.firstSeq}, its name says ${firstSeq}`,
      );
    }
    const next = found[index + 1];
    if (scan.end.kind === 'torn' && next !== undefined) {
      // A torn tail is normal only in the log that was being written when the process died. An
      // older log may keep one if the restart after that crash started the next log right after
      // its last valid record: the torn bytes were never acknowledged and nothing refers to them.
      const resumesAt = (scan.lastSeq ?? firstSeq - 1) + 1;
      if (next.firstSeq !== resumesAt) {
        throw new CorruptionError(
          path,
          scan.end.offset,
          `${scan.end.reason} in a log that is not the last one`,
        );
      }
    }
    logs.push({ name, path, firstSeq, scan });
  }
  return { state, lastSeq, snapshot, logs, exists: true };
}

/** Applies one replayed record, checking it against Raft's rules; throws if the log breaks them. */
function replayRecord(state: HardState, record: LogRecord, file: string, offset: number): HardState {
  const next = { currentTerm: record.currentTerm, votedFor: record.votedFor };
  const problem =
    record.kind === UpdateKind.Term
      ? next.currentTerm <= state.currentTerm
        ? `term record ${next.currentTerm} does not raise the term ${state.currentTerm}`
        : next.votedFor !== NONE_SERVER_ID
          ? 'term record carries a vote'
          : undefined
      : next.currentTerm !== state.currentTerm
        ? `vote record for term ${next.currentTerm} while the term is ${state.currentTerm}`
        : next.votedFor === NONE_SERVER_ID || !isLegalTransition(state, next)
          ? `second vote in term ${state.currentTerm}: ${state.votedFor} then ${next.votedFor}`
          : undefined;
  if (problem !== undefined) throw new CorruptionError(file, offset, problem);
  return next;
}
