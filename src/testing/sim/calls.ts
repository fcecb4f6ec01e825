import type { FileHandle, FileStat, LockProbe, OpenMode } from '../../fs/types.js';
import { systemError } from './errors.js';
import { SimFileHandle } from './handle.js';
import type { Kernel } from './kernel.js';
import { DIR_SIZE, normalize } from './nodes.js';
import type { FsCall, TraceOp } from './types.js';

/**
 * The path calls of {@link FileSystem} on a simulated disk, each one {@link Kernel.step}: what it
 * traces, and what it does to the names. Internal to raft-metadata/testing.
 */

export function open(k: Kernel, path: string, mode: OpenMode): Promise<FileHandle> {
  return k.step(() => {
    const proc = k.caller;
    const p = normalize(path);
    const entry = { op: 'open', path: p, mode } as const;
    let id = 0;
    return {
      op: 'open',
      path: p,
      proc,
      syscall: 'open',
      entry,
      apply: () => {
        id = k.newHandle(p, mode, proc, false);
        return new SimFileHandle(k, id);
      },
      traced: () => ({ ...entry, handle: id }),
    };
  });
}

/**
 * flock(2) as Linux does it: the lock belongs to one handle (an open file description); another
 * handle on the same file is refused while it is open, whatever path or process it came from.
 * Traced as the `open` it performs (mode `write`, or `create` when the file is new).
 */
export function openLocked(k: Kernel, path: string): Promise<FileHandle | undefined> {
  return k.step(() => {
    const proc = k.caller;
    const p = normalize(path);
    // `write` until the call looks (an injected flock failure is traced so), then what it opens with.
    let mode: OpenMode = 'write';
    let id = 0;
    const entry = {
      op: 'open' as const,
      path: p,
      get mode(): OpenMode {
        return mode;
      },
    };
    return {
      op: 'open',
      fault: 'openLocked',
      path: p,
      proc,
      syscall: 'flock',
      entry,
      apply: (): FileHandle | undefined => {
        mode = k.ns.exists(p) ? 'write' : 'create';
        id = k.newHandle(p, mode, proc, true);
        // A refused lock: the real disk closes the descriptor it opened; the file it created stays.
        return k.handles.get(id)?.locked === true ? new SimFileHandle(k, id) : undefined;
      },
      traced: () => ({ op: 'open', path: p, mode, handle: id }),
    };
  });
}

export function probeLock(k: Kernel, path: string): Promise<LockProbe> {
  return onPath(k, 'stat', 'probeLock', path, 'flock', (p): LockProbe => {
    if (!k.ns.exists(p)) return 'missing';
    return k.lockHeld(k.ns.lookup(p, 'open').id) ? 'held' : 'free';
  });
}

export function readFile(k: Kernel, path: string): Promise<Uint8Array> {
  return onPath(k, 'readFile', 'readFile', path, 'read', (p) => {
    const node = k.ns.lookup(p, 'open');
    if (node.kind === 'dir') throw systemError('EISDIR', 'read');
    return node.data.slice();
  });
}

export function rename(k: Kernel, from: string, to: string): Promise<void> {
  return k.step(() => {
    const a = normalize(from);
    const b = normalize(to);
    const entry = { op: 'rename', path: a, dest: b } as const;
    return {
      op: 'rename',
      path: a,
      dest: b,
      proc: k.caller,
      syscall: 'rename',
      entry,
      apply: () => k.ns.rename(a, b),
    };
  });
}

export function unlink(k: Kernel, path: string): Promise<void> {
  return onPath(k, 'unlink', 'unlink', path, 'unlink', (p) => k.ns.unlink(p));
}

export function readdir(k: Kernel, dir: string): Promise<string[]> {
  return onPath(k, 'readdir', 'readdir', dir, 'scandir', (p) => {
    const node = k.ns.lookup(p, 'scandir');
    if (node.kind !== 'dir') throw systemError('ENOTDIR', 'scandir', p);
    return [...node.entries.keys()].sort();
  });
}

export function mkdir(k: Kernel, dir: string): Promise<void> {
  return onPath(k, 'mkdir', 'mkdir', dir, 'mkdir', (p) => k.ns.mkdir(p));
}

export function syncDir(k: Kernel, dir: string): Promise<void> {
  return onPath(k, 'syncDir', 'syncDir', dir, 'fsync', (p) => k.ns.syncDir(p));
}

export function stat(k: Kernel, path: string): Promise<FileStat> {
  return onPath(k, 'stat', 'stat', path, 'stat', (p): FileStat => {
    const node = k.ns.lookup(p, 'stat');
    return node.kind === 'dir'
      ? { size: DIR_SIZE, isFile: false, isDirectory: true }
      : { size: node.data.byteLength, isFile: true, isDirectory: false };
  });
}

/** A call on one path, traced as `op` with just that path; `fault` is the name rules match. */
function onPath<T>(
  k: Kernel,
  op: TraceOp,
  fault: FsCall,
  path: string,
  syscall: string,
  apply: (p: string) => T,
): Promise<T> {
  return k.step(() => {
    const p = normalize(path);
    return { op, fault, path: p, proc: k.caller, syscall, entry: { op, path: p }, apply: () => apply(p) };
  });
}
