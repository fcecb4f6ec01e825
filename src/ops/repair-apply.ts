import { join } from 'node:path';
import { CorruptionError, hasErrno, RepairError } from '../errors.js';
import { type DirectoryId, newDirectoryId } from '../format/directory-id.js';
import type { FileSystem } from '../fs/types.js';
import { type NodeIdentity, sameIdentity } from '../identity.js';
import { CHUNK_BYTES } from '../storage/log-reader.js';
import { LogWriter } from '../storage/log-writer.js';
import { type RecoveredDirectory, recoverDirectory } from '../storage/recovery.js';
import { writeSnapshot } from '../storage/snapshot-file.js';
import type { RepairPlan } from './repair-plan.js';

/**
 * Carries out a {@link RepairPlan} under the directory's lock: back up every metadata file into
 * `DIR/backup-<time>/` (files of another directory into its `foreign/`), create the empty log the
 * new snapshot names, write the snapshot with the library's {@link writeSnapshot}, remove the old
 * logs and the foreign files, fsync, and load the result with the library's reader to check it.
 */

/** The subfolder of the backup folder that receives the files of another directory. */
export const FOREIGN_FOLDER = 'foreign';

export interface RepairResult {
  /** Absolute or dir-relative path of the backup folder (inside the directory). */
  readonly backupDir: string;
  readonly copied: readonly { readonly name: string; readonly bytes: number }[];
  readonly removed: readonly string[];
  /** Files of another directory, now only in `<backupDir>/foreign/`, with the id they carry. */
  readonly setAside: readonly { readonly name: string; readonly directoryId: DirectoryId | undefined }[];
  /** The empty log created for the new snapshot. */
  readonly created: string;
  /** The repaired directory's id (kept, or made now for a format-v1 directory). */
  readonly directoryId: DirectoryId;
  readonly identity: NodeIdentity | undefined;
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
 * must have made `plan` from an examination taken under that lock. Each step says what a crash
 * right after it leaves; in every case the old files stay in the directory until the new snapshot
 * is durable, and running `repair` again is safe.
 *
 * 1. Copies every file in `plan.backup` into a new `DIR/backup-<time>/` (files of another
 *    directory into its `foreign/`) and fsyncs the copies and the directories. The library reads
 *    only top-level `metadata.json` and `log-*.wal`, so the backup is never loaded. Crash: the
 *    directory is untouched, plus a (maybe partial) backup folder.
 * 2. Creates the empty format-v2 log `plan.createLog` (`log-<lastSeq+1>`) with the directory's id
 *    ({@link LogWriter.create}: temp name, header, fdatasync, rename, directory fsync). Crash: the
 *    old snapshot and logs plus one log without records. A `new-term` plan names a log that
 *    replaces no file and is not the one the old snapshot names (planRepair), so this changes no
 *    state a load can return: a directory that was refused is still refused, one that loaded
 *    still loads the same state (a `compact` plan may replace a torn or empty log of that name,
 *    whose bytes are in the backup: the same state again), and a repair again sees the same.
 * 3. Writes the new snapshot ({@link writeSnapshot}: temp file, fsync, rename, fsync), with the
 *    directory's id and node identity, naming the log of step 2 as the one after it. Crash: the
 *    new snapshot with the old logs, whose records it covers (a damaged or foreign one still makes
 *    the load fail; repairing again then moves to a term above the new snapshot's).
 * 4. Removes the old logs and the foreign files (their copies are in the backup) and fsyncs.
 *    Crash: some of them remain; as after step 3.
 * 5. Loads the directory with the library's reader and checks it is the planned state, directory
 *    id and identity, with only the log of step 2 (`ERR_REPAIR_FAILED` otherwise).
 */
export async function applyRepair(
  fs: FileSystem,
  plan: RepairPlan,
  now: Date = new Date(),
): Promise<RepairResult> {
  const after = plan.after;
  const createLog = plan.createLog;
  if (plan.strategy === 'none' || after === undefined || createLog === undefined)
    throw new RepairError('ERR_REPAIR_REFUSED', 'nothing to repair');
  if (plan.needsMinTerm)
    throw new RepairError('ERR_REPAIR_REFUSED', 'the plan needs a minimum term (--min-term)');
  const dir = plan.dir;
  const directoryId = plan.keep.directoryId ?? newDirectoryId();
  const identity = plan.keep.identity;

  // 1. The backup.
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
  const foreign = new Set(plan.setAside.map((f) => f.name));
  const foreignDir = join(backupDir, FOREIGN_FOLDER);
  if (foreign.size > 0) await fs.mkdir(foreignDir);
  const copied: { name: string; bytes: number }[] = [];
  for (const name of plan.backup) {
    const target = foreign.has(name) ? join(foreignDir, name) : join(backupDir, name);
    const bytes = await copyFile(fs, join(dir, name), target);
    copied.push({ name: foreign.has(name) ? `${FOREIGN_FOLDER}/${name}` : name, bytes });
  }
  if (foreign.size > 0) await fs.syncDir(foreignDir);
  await fs.syncDir(backupDir);
  await fs.syncDir(dir);

  // 2. The log the new snapshot names (durable under its name before the snapshot exists).
  const firstSeq = after.lastSeq + 1;
  const writer = await LogWriter.create(fs, dir, firstSeq, directoryId);
  await writer.close();

  // 3. The snapshot.
  await writeSnapshot(fs, dir, {
    directoryId,
    identity,
    lastSeq: after.lastSeq,
    groups: plan.groups,
    removed: plan.removed,
    floorTerm: plan.floorTerm,
  });

  // 4. The old logs and the foreign files.
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

  // 5. The check, through the library's reader.
  let recovered: RecoveredDirectory;
  try {
    recovered = await recoverDirectory(fs, dir);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    throw new RepairError(
      'ERR_REPAIR_FAILED',
      `after the repair the directory does not load: ${err.message}`,
    );
  }
  const problems: string[] = [];
  const state = recovered.state;
  if (
    state.currentTerm !== after.currentTerm ||
    state.votedFor !== after.votedFor ||
    recovered.lastSeq !== after.lastSeq
  ) {
    problems.push(
      `it loads term ${state.currentTerm}, vote ${state.votedFor}, seq ${recovered.lastSeq}; expected term ${after.currentTerm}, vote ${after.votedFor}, seq ${after.lastSeq}`,
    );
  }
  const groupProblems = groupMismatches(plan, recovered);
  if (groupProblems.length > 0) {
    const shown = groupProblems.slice(0, 5).join('; ');
    problems.push(
      `${groupProblems.length} group${groupProblems.length === 1 ? '' : 's'} not as planned: ${shown}${groupProblems.length > 5 ? '; ...' : ''}`,
    );
  }
  if (recovered.directoryId !== directoryId) {
    problems.push(`its directory id is ${recovered.directoryId ?? 'none'}; expected ${directoryId}`);
  }
  const sameStamp =
    identity === undefined || recovered.identity === undefined
      ? identity === recovered.identity
      : sameIdentity(identity, recovered.identity);
  if (!sameStamp) problems.push('its node identity is not the one the directory had');
  const logs = recovered.logs.map((log) => log.name);
  if (logs.length !== 1 || logs[0] !== createLog) {
    problems.push(`its logs are ${logs.length > 0 ? logs.join(', ') : 'none'}; expected ${createLog} alone`);
  }
  if (problems.length > 0) {
    throw new RepairError(
      'ERR_REPAIR_FAILED',
      `after the repair the directory is not as planned: ${problems.join('; ')}`,
    );
  }
  const setAside = plan.setAside.map((f) => ({ name: f.name, directoryId: f.directoryId }));
  return { backupDir, copied, removed, setAside, created: createLog, directoryId, identity, recovered };
}

/** Every live group and tombstone the reload gives that is not the plan's, in words. */
function groupMismatches(plan: RepairPlan, recovered: RecoveredDirectory): string[] {
  const out: string[] = [];
  const said = (state: { currentTerm: number; votedFor: number } | undefined): string =>
    state === undefined ? 'no state' : `term ${state.currentTerm}, vote ${state.votedFor}`;
  for (const id of new Set([...plan.groups.keys(), ...recovered.groups.keys()])) {
    const want = plan.groups.get(id);
    const got = recovered.groups.get(id);
    if (want?.currentTerm !== got?.currentTerm || want?.votedFor !== got?.votedFor)
      out.push(`group ${id} loads ${said(got)}, expected ${said(want)}`);
  }
  for (const id of new Set([...plan.removed.keys(), ...recovered.removed.keys()])) {
    const want = plan.removed.get(id);
    const got = recovered.removed.get(id);
    if (want !== got)
      out.push(
        `group ${id} ${got === undefined ? 'is not removed' : `is removed at term ${got}`}, expected ${want === undefined ? 'not removed' : `removed at term ${want}`}`,
      );
  }
  if (plan.floorTerm !== recovered.floorTerm)
    out.push(`groups it does not list start from term ${recovered.floorTerm}, expected ${plan.floorTerm}`);
  return out;
}
