import { dirname, resolve } from 'node:path';
import { hasErrno } from './errors.js';
import type { FileSystem } from './fs/types.js';

/**
 * Creates `dir` and any missing parents. After each new level, its parent is fsynced: without
 * that, a power cut could forget the new directory (and everything in it) even though the files
 * inside were fsynced.
 */
export async function ensureDirectory(fs: FileSystem, dir: string): Promise<void> {
  const missing: string[] = [];
  let current = resolve(dir);
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
  for (const level of missing.reverse()) {
    try {
      await fs.mkdir(level);
    } catch (err) {
      // Another process may create it at the same moment; that is fine.
      if (!hasErrno(err, 'EEXIST')) throw err;
    }
    await fs.syncDir(dirname(level));
  }
}
