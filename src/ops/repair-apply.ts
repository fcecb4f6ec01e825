import { join } from 'node:path';
import { hasErrno, RepairError } from '../errors.js';
import type { FileSystem } from '../fs/types.js';
import { CHUNK_BYTES } from '../storage/log-reader.js';
import { type RecoveredDirectory, recoverDirectory } from '../storage/recovery.js';
import { writeSnapshot } from '../storage/snapshot-file.js';
import type { RepairPlan } from './repair-plan.js';

/**
 * Carries out a {@link RepairPlan} under the directory's lock: back up every metadata file into
 * `DIR/backup-<time>/`, write a fresh snapshot with the library's {@link writeSnapshot}, remove the
 * logs, fsync, and load the result with the library's reader to check it.
 */

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
  if (plan.strategy === 'none' || after === undefined)
    throw new RepairError('ERR_REPAIR_REFUSED', 'nothing to repair');
  if (plan.needsMinTerm)
    throw new RepairError('ERR_REPAIR_REFUSED', 'the plan needs a minimum term (--min-term)');
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
    throw new RepairError(
      'ERR_REPAIR_FAILED',
      `after the repair the directory loads term ${recovered.state.currentTerm}, vote ${recovered.state.votedFor}, seq ${recovered.lastSeq}; expected term ${after.currentTerm}, vote ${after.votedFor}, seq ${after.lastSeq}`,
    );
  }
  return { backupDir, copied, removed, recovered };
}
