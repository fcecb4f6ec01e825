import { resolve } from 'node:path';
import { hasErrno, LockedError } from './errors.js';
import { lockPath } from './format/names.js';
import type { FileSystem } from './fs/types.js';

/**
 * One owner per metadata directory.
 *
 * Two halves: an in-process registry (keyed by the file system's `lockScope` and the resolved
 * directory) refuses a second manager in this process; a `LOCK` file created with O_EXCL and
 * holding the owner's pid refuses other processes. A `LOCK` whose pid is not alive was left by a
 * killed process and is taken over; so is one holding our own pid that the registry does not know
 * (left by an earlier incarnation in this process, e.g. before a simulated crash).
 *
 * Limitation: Node has no flock/fcntl locks, so two processes that find the same stale lock at the
 * same instant could both take it over; after creating the file, the new owner reads it back and
 * gives up if another pid is there, which narrows but does not close that window.
 */

const held = new WeakMap<object, Set<string>>();

export interface DirectoryLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Tells whether a pid names a live process. Replaceable in tests. */
export type ProcessProbe = (pid: number) => boolean;

export const isProcessAlive: ProcessProbe = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return hasErrno(err, 'EPERM');
  }
};

/**
 * Reads the pid in a LOCK file: decimal digits and a newline. `undefined` when the file is anything
 * else: still being written, or cut short by a failed write or a crash. The newline matters: a pid
 * cut short ("1" of "12345") names another process, maybe a live one, and would lock the
 * directory forever; without its newline it is recognised as incomplete and taken over.
 */
export async function readLockPid(fs: FileSystem, path: string): Promise<number | undefined> {
  const text = new TextDecoder().decode(await fs.readFile(path));
  const match = /^(\d{1,15})\n$/.exec(text);
  const pid = Number(match?.[1]);
  return match && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

export async function acquireLock(
  fs: FileSystem,
  dir: string,
  alive: ProcessProbe = isProcessAlive,
): Promise<DirectoryLock> {
  const scope = fs.lockScope ?? fs;
  const key = resolve(dir);
  let mine = held.get(scope);
  if (mine === undefined) {
    mine = new Set();
    held.set(scope, mine);
  }
  if (mine.has(key)) throw new LockedError(dir, process.pid, 'another manager in this process owns it');
  mine.add(key);
  const path = lockPath(dir);
  try {
    await createLockFile(fs, dir, path, alive);
  } catch (err) {
    mine.delete(key);
    throw err;
  }
  const registry = mine;
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      try {
        // Not fsynced: if the unlink is lost in a power cut, the LOCK left behind names a dead pid
        // and the next open takes it over.
        await fs.unlink(path);
      } catch (err) {
        if (!hasErrno(err, 'ENOENT')) throw err;
      } finally {
        registry.delete(key);
      }
    },
  };
}

async function createLockFile(fs: FileSystem, dir: string, path: string, alive: ProcessProbe): Promise<void> {
  const text = new TextEncoder().encode(`${process.pid}\n`);
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const handle = await fs.open(path, 'create');
      try {
        await handle.write(text, 0);
      } catch (err) {
        // Leave no half-written lock behind (it would read as incomplete, and wait out the grace).
        await handle.close().catch(() => {});
        await fs.unlink(path).catch(() => {});
        throw err;
      }
      await handle.close();
      const owner = await readLockPid(fs, path);
      if (owner !== process.pid)
        throw new LockedError(dir, owner, `taken over at the same time by pid ${owner}`);
      return;
    } catch (err) {
      if (!hasErrno(err, 'EEXIST')) throw err;
    }
    let pid: number | undefined;
    try {
      pid = await readLockPid(fs, path);
    } catch (err) {
      if (hasErrno(err, 'ENOENT')) continue; // released meanwhile: try again
      throw err;
    }
    if (pid === undefined) {
      // Created but its pid not yet written, or left empty by a crash. Give a live owner time to
      // write it; after that it is stale.
      if (attempt < 10) {
        await new Promise((done) => setTimeout(done, 10));
        continue;
      }
    } else if (pid !== process.pid && alive(pid)) {
      throw new LockedError(dir, pid, `held by live process ${pid}`);
    }
    await fs.unlink(path).catch((err: unknown) => {
      if (!hasErrno(err, 'ENOENT')) throw err;
    });
  }
  throw new LockedError(dir, undefined, 'could not take the lock');
}
