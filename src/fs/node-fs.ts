import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { IO_THREAD_MAX_BYTES, IoThread } from './io-thread.js';
import type { FileHandle, FileStat, FileSystem, OpenMode } from './types.js';

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
  write: constants.O_RDWR,
};

const REAL_DISK = Object.freeze({ name: 'real disk' });

/**
 * The real disk, through `node:fs/promises`. No call blocks the event loop: fsyncs run on libuv's
 * thread pool, and the log's write+fdatasync hot path on a dedicated I/O thread ({@link IoThread},
 * started on first use).
 */
export class NodeFileSystem implements FileSystem {
  /** Every instance sees the same real files, so all share one lock scope. */
  readonly lockScope: object = REAL_DISK;
  #io: IoThread | undefined;

  #ioThread(): IoThread {
    this.#io ??= new IoThread();
    return this.#io;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await fsp.open(path, OPEN_FLAGS[mode], 0o644);
    return new NodeFileHandle(handle, path, () => this.#ioThread());
  }

  async readFile(path: string): Promise<Uint8Array> {
    return fsp.readFile(path);
  }

  rename(from: string, to: string): Promise<void> {
    return fsp.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fsp.unlink(path);
  }

  readdir(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  mkdir(dir: string): Promise<void> {
    return fsp.mkdir(dir);
  }

  async syncDir(dir: string): Promise<void> {
    // fsync(2) on a directory opened read-only is how Linux persists its entries.
    const handle = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async stat(path: string): Promise<FileStat> {
    const s = await fsp.stat(path);
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory() };
  }

  async dispose(): Promise<void> {
    const io = this.#io;
    this.#io = undefined;
    await io?.stop();
  }
}

class NodeFileHandle implements FileHandle {
  readonly #handle: fsp.FileHandle;
  readonly #path: string;
  readonly #io: () => IoThread;

  constructor(handle: fsp.FileHandle, path: string, io: () => IoThread) {
    this.#handle = handle;
    this.#path = path;
    this.#io = io;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.#handle.read(buffer, offset, length, position);
    return bytesRead;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.#handle.write(data, done, data.byteLength - done, position + done);
      done += bytesWritten;
    }
  }

  async writeDurable(data: Uint8Array, position: number): Promise<void> {
    if (data.byteLength > IO_THREAD_MAX_BYTES) {
      await this.write(data, position);
      await this.datasync();
      return;
    }
    await this.#io().writeDatasync(this.#handle.fd, data, position, this.#path);
  }

  datasync(): Promise<void> {
    return this.#handle.datasync();
  }

  sync(): Promise<void> {
    return this.#handle.sync();
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
