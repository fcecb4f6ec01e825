import type { FileSystem } from '../fs/types.js';
import type { HardState } from '../state.js';
import { ensureDirectory } from '../storage/ensure-directory.js';
import { acquireLock, type DirectoryLock } from '../storage/lock.js';
import { LogWriter } from '../storage/log-writer.js';
import { recoverDirectory } from '../storage/recovery.js';

/** What the open found and set up: the lock, the log to append to, what to compact. */
export interface Resumed {
  readonly lock: DirectoryLock;
  readonly writer: LogWriter;
  /** The recovered state and the sequence number of its last record. */
  readonly state: HardState;
  readonly lastSeq: number;
  /** `lastSeq` of the snapshot on disk; undefined when there is no snapshot file. */
  readonly snapshotSeq: number | undefined;
  /** Logs the first compaction removes (everything but the log appended to). */
  readonly retiredLogs: string[];
  /** The open must compact before accepting anything (see below). */
  readonly mustCompact: boolean;
}

/**
 * The open's disk work: create the directory, lock it, recover it, and choose the log to append to
 * (reuse the last log, or start a fresh one). On failure, releases what it took and rethrows.
 */
export async function resumeDirectory(fs: FileSystem, dir: string): Promise<Resumed> {
  await ensureDirectory(fs, dir);
  const lock = await acquireLock(fs, dir);
  let writer: LogWriter | undefined;
  try {
    const recovered = await recoverDirectory(fs, dir);
    // The directory is sound: only now does LOCK's text name this owner (for people and the
    // CLI; ownership is the kernel lock taken above). A refused open leaves the old text.
    await lock.announce();
    // What recovery saw may be known only to the page cache: a process killed after a rename,
    // an unlink or a log creation but before its directory fsync. Make every entry it read
    // durable before building on it (appending to a log whose name a power cut could undo).
    await fs.syncDir(dir);

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
      last.scan.header !== undefined &&
      last.scan.end.kind === 'clean' &&
      (last.scan.lastSeq ?? last.firstSeq - 1) === recovered.lastSeq &&
      recovered.logs.length === 1 &&
      !unverified;
    let retiredLogs: string[] = [];
    if (last !== undefined && reusable) {
      writer = await LogWriter.reopen(fs, dir, last.firstSeq, last.scan.end.offset);
    } else {
      // Start a fresh log after the last valid record. Its creation replaces a torn log of the
      // same name atomically (rename); the torn bytes were never acknowledged. Older logs go
      // once the compaction that follows has put everything they hold into a durable snapshot.
      const created = await LogWriter.create(fs, dir, recovered.lastSeq + 1);
      writer = created;
      retiredLogs = recovered.logs.map((log) => log.path).filter((path) => path !== created.path);
    }
    return {
      lock,
      writer,
      state: recovered.state,
      lastSeq: recovered.lastSeq,
      snapshotSeq: recovered.snapshot?.lastSeq,
      retiredLogs,
      mustCompact: unverified || retiredLogs.length > 0,
    };
  } catch (err) {
    await writer?.close().catch(() => {});
    await lock.release().catch(() => {});
    throw err;
  }
}
