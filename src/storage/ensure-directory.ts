import { dirname, resolve } from 'node:path';
import { hasErrno } from '../errors.js';
import type { FileSystem } from '../fs/types.js';

/**
 * Makes sure `dir` exists durably: creates it and any missing parents, fsyncing the parent of each
 * new level (without that, a power cut could forget the new directory and everything in it even
 * though the files inside were fsynced). The parent of `dir` is fsynced even when `dir` already
 * existed: a process killed right after its mkdir leaves an entry that only the page cache knows.
 * (Higher levels made by such a process are not re-synced; see docs/crash-safety.md.)
 *
 * Works on `path.resolve(dir)` (`a/x/..//d` is `a/d`, lexically, whether or not `a/x` exists) and
 * returns that path: the caller must use the returned path, not `dir`, for every later call, or
 * the kernel resolves `dir` itself (`a/x/..` fails with ENOENT when `a/x` is missing, and means
 * the symlink target's parent when `a/x` is a symlink).
 */
export async function ensureDirectory(fs: FileSystem, dir: string): Promise<string> {
  const target = resolve(dir);
  const missing: string[] = [];
  let current = target;
  for (;;) {
    try {
      const stat = await fs.stat(current);
      if (!stat.isDirectory) {
        const err = new Error(`ENOTDIR: not a directory, mkdir '${current}'`) as Error & {
          code: string;
          path: string;
          syscall: string;
        };
        err.code = 'ENOTDIR';
        err.path = current;
        err.syscall = 'mkdir';
        throw err;
      }
      break;
    } catch (err) {
      if (!hasErrno(err, 'ENOENT')) throw err;
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) throw err;
      current = parent;
    }
  }
  if (missing.length === 0) await fs.syncDir(dirname(target));
  for (const level of missing.reverse()) {
    try {
      await fs.mkdir(level);
    } catch (err) {
      // Another process may create it at the same moment; that is fine.
      if (!hasErrno(err, 'EEXIST')) throw err;
    }
    await fs.syncDir(dirname(level));
  }
  return target;
}
