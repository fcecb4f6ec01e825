import { basename, dirname, join, resolve } from 'node:path';
import { hasErrno } from '../errors.js';
import { logFiles, SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME } from '../format/names.js';
import type { FileHandle, FileSystem } from '../fs/types.js';

/**
 * A picture of a metadata directory that a running node cannot change under the reader: the
 * listing and an open read handle on each metadata file ({@link captureDirectory}), served as a
 * read-only {@link FileSystem} ({@link captureView}) so that the library's own readers run on it.
 */

/**
 * How many times a picture of the directory is taken again after a listed file vanished. Each try
 * takes well under a millisecond per file, so a compaction has to land in that window every time.
 */
const CAPTURE_ATTEMPTS = 200;

/**
 * The directory's listing and an open read handle on each of its metadata files, taken together.
 * An open descriptor keeps reading the file it opened after a compaction unlinks or replaces the
 * name, so the picture stays whole without holding any file's bytes in memory (a log can be
 * gigabytes long when compaction is off).
 */
export interface Capture {
  readonly names: readonly string[];
  readonly files: ReadonlyMap<string, { readonly handle: FileHandle; readonly size: number }>;
  close(): Promise<void>;
}

export async function captureDirectory(fs: FileSystem, dir: string): Promise<Capture> {
  for (let attempt = 1; ; attempt++) {
    const files = new Map<string, { handle: FileHandle; size: number }>();
    const close = async (): Promise<void> => {
      for (const { handle } of files.values()) await handle.close().catch(() => {});
    };
    try {
      const names = (await fs.readdir(dir)).sort();
      const wanted = [SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME, ...logFiles(names).map((f) => f.name)];
      for (const name of wanted) {
        if (!names.includes(name)) continue;
        const handle = await fs.open(join(dir, name), 'read');
        files.set(name, { handle, size: 0 }); // registered first, so that close() covers it
        files.set(name, { handle, size: await handle.size() });
      }
      return { names, files, close };
    } catch (err) {
      await close();
      // ENOENT: a listed file was removed before its open (a compaction), or the directory was.
      if (!hasErrno(err, 'ENOENT') || attempt >= CAPTURE_ATTEMPTS) throw err;
      // Let the compaction in flight finish before looking again.
      if (attempt % 10 === 0) await new Promise((done) => setTimeout(done, 1));
    }
  }
}

function enoent(syscall: string, path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${path}'`), {
    code: 'ENOENT',
    errno: -2,
    syscall,
    path,
  });
}

function readOnly(path: string): never {
  throw Object.assign(new Error(`EROFS: read-only picture of the directory, '${path}'`), {
    code: 'EROFS',
    path,
  });
}

/**
 * A read-only file system that serves `dir` from a {@link Capture}: its listing, and the files
 * opened into it, each read through its captured handle as it was when the picture was taken
 * (size included; any other name in `dir` is ENOENT, so nothing newer leaks in). Paths outside
 * `dir` go to `fs`.
 */
export function captureView(fs: FileSystem, dir: string, capture: Capture): FileSystem {
  const root = resolve(dir);
  const inside = (path: string): string | undefined => {
    const full = resolve(path);
    return dirname(full) === root ? basename(full) : undefined;
  };
  const fileOf = (path: string, syscall: string): { handle: FileHandle; size: number } => {
    const name = inside(path);
    const file = name === undefined ? undefined : capture.files.get(name);
    if (file === undefined) throw enoent(syscall, path);
    return file;
  };
  const readAt = async (
    file: { handle: FileHandle; size: number },
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> => {
    const wanted = Math.max(0, Math.min(length, file.size - position));
    let done = 0;
    while (done < wanted) {
      const got = await file.handle.read(buffer, offset + done, wanted - done, position + done);
      if (got === 0) break;
      done += got;
    }
    return done;
  };
  const overrides: Partial<FileSystem> = {
    async readdir(path) {
      if (resolve(path) === root) return [...capture.names];
      return fs.readdir(path);
    },
    async readFile(path) {
      if (inside(path) === undefined) return fs.readFile(path);
      const file = fileOf(path, 'open');
      const bytes = new Uint8Array(file.size);
      const got = await readAt(file, bytes, 0, file.size, 0);
      return bytes.subarray(0, got);
    },
    async stat(path) {
      if (resolve(path) === root) return { size: 0, isFile: false, isDirectory: true };
      if (inside(path) === undefined) return fs.stat(path);
      return { size: fileOf(path, 'stat').size, isFile: true, isDirectory: false };
    },
    async open(path, mode) {
      if (inside(path) === undefined) return fs.open(path, mode);
      if (mode !== 'read') return readOnly(path);
      const file = fileOf(path, 'open');
      return {
        read: (buffer, offset, length, position) => readAt(file, buffer, offset, length, position),
        write: async () => readOnly(path),
        writeDurable: async () => readOnly(path),
        datasync: async () => readOnly(path),
        sync: async () => readOnly(path),
        size: async () => file.size,
        // The captured handle stays open for the rest of the examination.
        close: async () => {},
      };
    },
  };
  return new Proxy(fs, {
    get(target, prop, receiver) {
      const own = overrides[prop as keyof FileSystem];
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
