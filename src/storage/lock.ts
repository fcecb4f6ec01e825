import { hostname } from 'node:os';
import { hasErrno, LockedError, LockUnavailableError } from '../errors.js';
import { decodeLockOwner, encodeLockOwner, LOCK_OWNER_BYTES, type LockOwner } from '../format/lock-owner.js';
import { lockPath } from '../format/names.js';
import type { FileHandle, FileSystem } from '../fs/types.js';

export type { LockOwner } from '../format/lock-owner.js';

/**
 * One owner per metadata directory: an exclusive kernel lock (flock(2)) on `<dir>/LOCK`, taken
 * without waiting and held on an open descriptor for the owner's whole life.
 *
 * - The kernel decides: a second open of the file (another process, a worker thread, this thread,
 *   through any path: a symlink, `..`, another mount of the same file system) is refused for as long
 *   as the holder's descriptor is open, and the kernel drops the lock when the holder closes it or
 *   dies. There is no pid to interpret and no stale lock to take over.
 * - LOCK is never deleted. Unlinking it on release would open a race: a process that opened the old
 *   file just before the unlink would lock a file no longer in the directory while the next process
 *   creates and locks a new one, and both would own the directory. (An operator who deletes LOCK
 *   under a running node opens that same hole; docs/operations.md says never to.)
 * - The text of LOCK names the owner (pid, hostname, start time) for people and the CLI only
 *   (format/lock-owner.ts). A crash anywhere leaves at most a LOCK that names an old owner and that
 *   nobody holds: the next open locks it and overwrites the text.
 */

export interface DirectoryLock {
  readonly path: string;
  readonly owner: LockOwner;
  /**
   * Writes {@link owner} into LOCK. Separate from taking the lock so that an open refused after
   * the lock (a corrupt directory) leaves LOCK's text as it was: the owner is named only once the
   * directory has been found sound.
   */
  announce(): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes the directory's lock. `dir` must exist.
 * @throws `ERR_METADATA_LOCKED` ({@link LockedError}) if another open holds it;
 *   `ERR_LOCK_UNAVAILABLE` ({@link LockUnavailableError}) if the file system or platform cannot lock.
 */
export async function acquireLock(fs: FileSystem, dir: string): Promise<DirectoryLock> {
  const path = lockPath(dir);
  let handle: FileHandle | undefined;
  try {
    handle = await fs.openLocked(path);
  } catch (err) {
    if (isFlockFailure(err)) throw new LockUnavailableError(dir, err);
    throw err;
  }
  if (handle === undefined) throw new LockedError(dir, await readOwner(fs, path));
  const held = handle;
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  let announced: Promise<void> | undefined;
  let released: Promise<void> | undefined;
  return {
    path,
    owner,
    announce() {
      // Not synced: the text is for people. A crash before it reaches the disk leaves the previous
      // owner's text (or an empty file) in a LOCK that nobody holds any more.
      announced ??= held.write(encodeLockOwner(owner), 0);
      return announced;
    },
    release() {
      // Closing the descriptor is what drops the kernel lock. The file and its text stay.
      released ??= held.close();
      return released;
    },
  };
}

/** Who holds a directory's lock, as seen from outside without taking it. */
export type LockStatus =
  /** No process holds the lock. `lastOwner`: what LOCK says of its last holder, if anything. */
  | { readonly state: 'free'; readonly lastOwner?: LockOwner }
  /** A process holds the lock; `owner` as LOCK names it (missing while it has not written yet). */
  | { readonly state: 'held'; readonly owner?: LockOwner }
  /** There is no LOCK file (or no directory): nobody has opened the directory with this version. */
  | { readonly state: 'missing' }
  /** The lock cannot be probed here (no flock on this file system or platform). */
  | { readonly state: 'unknown'; readonly reason: string };

/** Reports the directory's lock without taking it and without writing anything. */
export async function lockStatus(fs: FileSystem, dir: string): Promise<LockStatus> {
  const path = lockPath(dir);
  let probe: Awaited<ReturnType<FileSystem['probeLock']>>;
  try {
    probe = await fs.probeLock(path);
  } catch (err) {
    if (hasErrno(err, 'ENOENT') || hasErrno(err, 'ENOTDIR')) return { state: 'missing' };
    if (isFlockFailure(err))
      return { state: 'unknown', reason: err instanceof Error ? err.message : String(err) };
    throw err;
  }
  if (probe === 'missing') return { state: 'missing' };
  if (probe === 'held') {
    const owner = await readOwner(fs, path);
    return owner === undefined ? { state: 'held' } : { state: 'held', owner };
  }
  const last = await readOwner(fs, path, 'last');
  return last === undefined ? { state: 'free' } : { state: 'free', lastOwner: last };
}

/**
 * The owner LOCK names (`last`), or (`holder`) only if that can be the process holding the lock now. A holder that has just
 * taken the lock and not yet written its name leaves the previous owner's text in place; when that
 * previous owner was on this host and its pid is gone, the text is not the holder's and is not
 * reported as such. (Only for messages: ownership is the kernel's.)
 */
async function readOwner(
  fs: FileSystem,
  path: string,
  which: 'holder' | 'last' = 'holder',
): Promise<LockOwner | undefined> {
  let owner: LockOwner | undefined;
  try {
    owner = decodeLockOwner((await fs.readFile(path)).subarray(0, LOCK_OWNER_BYTES));
  } catch {
    // A LOCK that cannot be read names no owner.
    return undefined;
  }
  if (which === 'last' || owner === undefined) return owner;
  return owner.hostname === hostname() && !processExists(owner.pid) ? undefined : owner;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by another user.
    return hasErrno(err, 'EPERM');
  }
}

/** A rejection of {@link FileSystem.openLocked}/`probeLock` that came from flock itself. */
function isFlockFailure(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { syscall?: unknown }).syscall === 'flock';
}
