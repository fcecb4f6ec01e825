import { hasErrno, MetadataNotFoundError } from '../errors.js';
import { type DirectoryId, newDirectoryId } from '../format/directory-id.js';
import { logFiles, SNAPSHOT_NAME } from '../format/names.js';
import type { FileSystem } from '../fs/types.js';
import type { NodeIdentity } from '../identity.js';
import type { HardState } from '../state.js';
import { ensureDirectory } from '../storage/ensure-directory.js';
import { acquireLock, type DirectoryLock } from '../storage/lock.js';
import { LogWriter } from '../storage/log-writer.js';
import {
  assertIdentity,
  assertSingleGroup,
  type RecoveredDirectory,
  recoverDirectory,
} from '../storage/recovery.js';

/** What the open was asked for (the manager's options). */
export interface ResumeOptions {
  /** False: refuse a missing or empty directory instead of starting at term 0. */
  readonly createIfMissing: boolean;
  /** Checked against the directory's stamp; stamped when it has none. */
  readonly identity: NodeIdentity | undefined;
  /** False (MetadataManager): a directory holding other groups than 0 is refused. */
  readonly multiGroup: boolean;
}

/** What the open found and set up: the lock, the log to append to, what to compact. */
export interface Resumed {
  readonly lock: DirectoryLock;
  readonly writer: LogWriter;
  /** The recovered state of group 0, of every group, and the sequence number of its last record. */
  readonly state: HardState;
  readonly groups: ReadonlyMap<number, HardState>;
  readonly removed: ReadonlyMap<number, number>;
  /** The term of every group neither map lists (see RecoveredDirectory.floorTerm). */
  readonly floorTerm: number;
  readonly lastSeq: number;
  /** The directory's id: recovered, or made now for a new or a format-v1 directory. */
  readonly directoryId: DirectoryId;
  /** The identity the snapshot carries from now on (the option, or the stamp already there). */
  readonly identity: NodeIdentity | undefined;
  /**
   * `lastSeq` of the snapshot on disk when it is current (format v2, carrying {@link identity});
   * undefined when there is none or it must be rewritten (format v1, an identity to adopt).
   */
  readonly snapshotSeq: number | undefined;
  /** Logs the first compaction removes (everything but the log appended to). */
  readonly retiredLogs: string[];
  /** The open must compact before accepting anything (see below). */
  readonly mustCompact: boolean;
}

/**
 * `createIfMissing: false`, before anything is created or locked: the directory must exist and
 * hold a snapshot or a log. (Checked again under the lock, from what recovery read.)
 */
async function assertEstablished(fs: FileSystem, dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) throw new MetadataNotFoundError(dir, 'missing');
    throw err;
  }
  if (!names.includes(SNAPSHOT_NAME) && logFiles(names).length === 0) {
    throw new MetadataNotFoundError(dir, 'empty');
  }
}

/** Refusals that leave the directory as it was: checked before LOCK's text or any file changes. */
function assertMayOpen(dir: string, recovered: RecoveredDirectory, options: ResumeOptions): void {
  if (!options.createIfMissing && recovered.snapshot === undefined && recovered.logs.length === 0) {
    throw new MetadataNotFoundError(dir, 'empty');
  }
  if (!options.multiGroup) assertSingleGroup(dir, recovered);
  assertIdentity(dir, recovered, options.identity);
}

/**
 * The open's disk work: create the directory, lock it, recover it, and choose the log to append to
 * (reuse the last log, or start a fresh one). On failure, releases what it took and rethrows.
 */
export async function resumeDirectory(fs: FileSystem, dir: string, options: ResumeOptions): Promise<Resumed> {
  if (!options.createIfMissing) await assertEstablished(fs, dir);
  await ensureDirectory(fs, dir);
  const lock = await acquireLock(fs, dir);
  let writer: LogWriter | undefined;
  try {
    const recovered = await recoverDirectory(fs, dir);
    assertMayOpen(dir, recovered, options);
    // The directory is sound: only now does LOCK's text name this owner (for people and the
    // CLI; ownership is the kernel lock taken above). A refused open leaves the old text.
    await lock.announce();
    // What recovery saw may be known only to the page cache: a process killed after a rename,
    // an unlink or a log creation but before its directory fsync. Make every entry it read
    // durable before building on it (appending to a log whose name a power cut could undo).
    await fs.syncDir(dir);

    // A new directory, or a format-v1 one opened by this version for the first time, gets its id
    // now. It reaches the disk in the new log's header (below) and then in the snapshot the open
    // writes; a crash in between leaves a v2 log that carries it, and the next open reads it back.
    const directoryId = recovered.directoryId ?? newDirectoryId();
    const identity = options.identity ?? recovered.identity;
    // The snapshot on disk is current when it is format v2 and carries the identity already.
    const current =
      recovered.snapshot?.version === 2 &&
      (options.identity === undefined || recovered.identity !== undefined);

    // Records replayed from the logs were read back through the page cache, which is not proof
    // that they are on disk: after a failed fdatasync Linux marks the pages clean, a restart
    // without a reboot reads the record back, and a power cut can still lose it ("fsyncgate").
    // So whatever open() reports beyond the snapshot is rewritten from memory (a new log, a new
    // snapshot, both fsynced) before the first update is accepted, and nothing is appended
    // behind a record that may be a hole after a power cut.
    const last = recovered.logs.at(-1);
    // The last sequence number the snapshot covers (0: no snapshot, so it covers nothing).
    const snapshotCovers = recovered.snapshot?.lastSeq ?? 0;
    const unverified = recovered.lastSeq > snapshotCovers;
    const reusable =
      last !== undefined &&
      last.scan.header?.layout.version === 2 &&
      last.scan.end.kind === 'clean' &&
      (last.scan.lastSeq ?? last.firstSeq - 1) === recovered.lastSeq &&
      recovered.logs.length === 1 &&
      !unverified;
    let retiredLogs: string[] = [];
    if (last !== undefined && reusable) {
      writer = await LogWriter.reopen(fs, dir, last.firstSeq, directoryId, last.scan.end.offset);
    } else {
      // Start a fresh log after the last valid record. Its creation replaces a torn log (or an
      // empty format-v1 log) of the same name atomically (rename); the torn bytes were never
      // acknowledged. Older logs go once the compaction that follows has put everything they
      // hold into a durable snapshot.
      const created = await LogWriter.create(fs, dir, recovered.lastSeq + 1, directoryId);
      writer = created;
      retiredLogs = recovered.logs.map((log) => log.path).filter((path) => path !== created.path);
    }
    return {
      lock,
      writer,
      state: recovered.state,
      groups: recovered.groups,
      removed: recovered.removed,
      floorTerm: recovered.floorTerm,
      lastSeq: recovered.lastSeq,
      directoryId,
      identity,
      snapshotSeq: current ? recovered.snapshot?.lastSeq : undefined,
      retiredLogs,
      // Without a current snapshot (a new directory, format v1, an identity to stamp) the open
      // writes one before it returns, so that the directory's id, its identity and the log that
      // follows the snapshot are on disk before the first update is acknowledged.
      mustCompact: unverified || retiredLogs.length > 0 || !current,
    };
  } catch (err) {
    await writer?.close().catch(() => {});
    await lock.release().catch(() => {});
    throw err;
  }
}
