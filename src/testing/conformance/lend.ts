import type { FileHandle, FileSystem } from '../../fs/types.js';
import { systemError } from '../sim/errors.js';

/**
 * The file systems a conformance run lends to the store under test and its loader, taken back when
 * the run ends. Internal to raft-metadata/testing.
 *
 * A run abandons stores the way a machine does: a crash or a SIGKILL closes nothing. A store that
 * stays reachable after its run (a flush timer that holds it strongly, a cache at module level)
 * must not keep the run's simulated disk with it: the disk holds every file's bytes, every write
 * in its trace and, through its successor after a crash, every later disk of the run, hundreds of
 * KB a run, for the rest of the process (16 GB after 25,000 runs of a store whose flush interval
 * held it). So the store gets a forwarding view, which the run revokes when it is over; a revoked
 * view and its handles reach nothing and reject every call with EIO, as the dead disk or killed
 * process behind them would.
 *
 * An error the disk rejected with would hold it too: until an error's stack is first read, V8 keeps
 * each frame's receiver (the disk, its kernel, its namespace). So the view rejects with a copy of a
 * system error, made in its own frame (reading the original's stack instead would cost a
 * source-mapped stack trace per failed call under vitest, a tenth of a conformance run's time).
 */

/** A view of `target` for one store or loader, and how to revoke it. */
export interface Lent {
  readonly fs: FileSystem;
  revoke(): void;
}

type Cell<T> = { target: T | undefined };

const over = (op: string, path: string | undefined): Error =>
  systemError('EIO', op, path, undefined, 'the conformance run that lent this file system is over');

interface SystemErrorFields {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  path?: unknown;
  dest?: unknown;
}

/** A system error (`code` and `syscall`) copied: message, code, errno, syscall, path, dest. Others as they are. */
function copied(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { code, errno, syscall, path, dest } = error as SystemErrorFields;
  if (typeof code !== 'string' || typeof syscall !== 'string') return error;
  const copy: Error & SystemErrorFields = new Error(error.message);
  copy.code = code;
  if (errno !== undefined) copy.errno = errno;
  copy.syscall = syscall;
  if (path !== undefined) copy.path = path;
  if (dest !== undefined) copy.dest = dest;
  return copy;
}

/** A view of `target` that forwards every call (and every call on the handles it opens) until revoked. */
export function lend(target: FileSystem): Lent {
  const fs: Cell<FileSystem> = { target };
  const handles = new Set<Cell<FileHandle>>();
  /** Calls `f` on the cell's target, or rejects with EIO once the cell is revoked. */
  const via = <T, R>(
    cell: Cell<T>,
    op: string,
    path: string | undefined,
    f: (target: T) => Promise<R>,
  ): Promise<R> => {
    const target = cell.target;
    if (target === undefined) return Promise.reject(over(op, path));
    return f(target).catch((error: unknown) => {
      throw copied(error);
    });
  };
  const wrap = (handle: FileHandle, path: string): FileHandle => {
    const cell: Cell<FileHandle> = { target: fs.target === undefined ? undefined : handle };
    if (cell.target !== undefined) handles.add(cell);
    return {
      read: (buffer, offset, length, position) =>
        via(cell, 'read', path, (h) => h.read(buffer, offset, length, position)),
      write: (data, position) => via(cell, 'write', path, (h) => h.write(data, position)),
      writeDurable: (data, position) => via(cell, 'write', path, (h) => h.writeDurable(data, position)),
      datasync: () => via(cell, 'fdatasync', path, (h) => h.datasync()),
      sync: () => via(cell, 'fsync', path, (h) => h.sync()),
      size: () => via(cell, 'fstat', path, (h) => h.size()),
      close: () => via(cell, 'close', path, (h) => h.close()),
    };
  };
  const view: FileSystem = {
    open: (path, mode) => via(fs, 'open', path, async (f) => wrap(await f.open(path, mode), path)),
    openLocked: (path) =>
      via(fs, 'flock', path, async (f) => {
        const handle = await f.openLocked(path);
        return handle === undefined ? undefined : wrap(handle, path);
      }),
    probeLock: (path) => via(fs, 'flock', path, (f) => f.probeLock(path)),
    readFile: (path) => via(fs, 'read', path, (f) => f.readFile(path)),
    rename: (from, to) => via(fs, 'rename', from, (f) => f.rename(from, to)),
    unlink: (path) => via(fs, 'unlink', path, (f) => f.unlink(path)),
    readdir: (dir) => via(fs, 'scandir', dir, (f) => f.readdir(dir)),
    mkdir: (dir) => via(fs, 'mkdir', dir, (f) => f.mkdir(dir)),
    syncDir: (dir) => via(fs, 'fsync', dir, (f) => f.syncDir(dir)),
    stat: (path) => via(fs, 'stat', path, (f) => f.stat(path)),
  };
  return {
    fs: view,
    revoke() {
      fs.target = undefined;
      for (const cell of handles) cell.target = undefined;
      handles.clear();
    },
  };
}
