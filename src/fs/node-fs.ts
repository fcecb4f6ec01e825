import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { checkPosition, IO_THREAD_MAX_BYTES, type IoThread, IoThreadOwner } from './io-thread.js';
import { openLockedFile, probeLockFile } from './node-lock.js';
import type { FileHandle, FileStat, FileSystem, LockProbe, OpenMode } from './types.js';

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
  write: constants.O_RDWR,
};

/** open(2) flags of the worker's own descriptor for a handle: the main thread's, never creating. */
const REMOTE_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  create: constants.O_RDWR,
  write: constants.O_RDWR,
};

/**
 * The real disk, through `node:fs/promises`. No call blocks the event loop: fsyncs run on libuv's
 * thread pool, and the log's write+fdatasync hot path on a dedicated I/O thread ({@link IoThread}).
 * The thread starts at the first durable write and stops when the last handle of this instance
 * closes (or on {@link dispose}); each instance has its own.
 */
export class NodeFileSystem implements FileSystem {
  readonly #io = new IoThreadOwner();

  #ioThread(): IoThreadOwner {
    return this.#io;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    // The reference is taken before the open's await, so that a handle closed just before (a log
    // replaced by the next) does not stop the thread that this one is about to use.
    this.#io.acquire();
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, OPEN_FLAGS[mode], 0o644);
    } catch (err) {
      this.#io.release();
      throw err;
    }
    return new NodeFileHandle(handle, path, () => this.#ioThread(), true, REMOTE_FLAGS[mode]);
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

  async openLocked(path: string): Promise<FileHandle | undefined> {
    const handle = await openLockedFile(path, (lockPath) => this.open(lockPath, 'write'));
    // Whoever holds a directory's lock writes to it durably next (after recovery, when the open
    // creates or reuses a log): start the I/O thread now, so that its start (a worker thread:
    // tens of ms) runs beside recovery instead of before the first durable write. The lock's
    // handle holds a reference (open() above), so the thread stays up while the lock is held.
    if (handle !== undefined) this.#io.thread();
    return handle;
  }

  probeLock(path: string): Promise<LockProbe> {
    return probeLockFile(path);
  }

  /** Stops the I/O thread now; a handle still open and written durably again starts a new one. */
  async dispose(): Promise<void> {
    await this.#io.dispose();
  }
}

/** The worker's own descriptor for a handle's file, valid in that thread only. */
interface RemoteDescriptor {
  readonly thread: IoThread;
  readonly fd: number;
}

class NodeFileHandle implements FileHandle {
  readonly #handle: fsp.FileHandle;
  readonly #path: string;
  readonly #owner: IoThreadOwner;
  readonly #remoteFlags: number;
  #remote: RemoteDescriptor | undefined;
  /** Durable writes waiting for the worker's descriptor, submitted in call order once it is open. */
  #waiting: { submit(remote: RemoteDescriptor): void; fail(err: unknown): void }[] | undefined;
  /** The open of the worker's descriptor in flight (never rejects), for close() to wait on. */
  #opening: Promise<void> | undefined;
  #closed = false;

  /**
   * `io` gives the file system's thread owner; the handle holds a reference on it until closed
   * (`acquired`: the caller already took it). `remoteFlags`: how the I/O thread opens the file.
   */
  constructor(
    handle: fsp.FileHandle,
    path: string,
    io: () => IoThreadOwner,
    acquired = false,
    remoteFlags: number = constants.O_RDWR,
  ) {
    this.#handle = handle;
    this.#path = path;
    this.#owner = io();
    if (!acquired) this.#owner.acquire();
    this.#remoteFlags = remoteFlags;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.#handle.read(buffer, offset, length, position);
    return bytesRead;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    checkPosition(position, data.byteLength);
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.#handle.write(data, done, data.byteLength - done, position + done);
      done += bytesWritten;
    }
  }

  writeDurable(data: Uint8Array, position: number): Promise<void> {
    try {
      checkPosition(position, data.byteLength);
    } catch (err) {
      return Promise.reject(err);
    }
    if (data.byteLength > IO_THREAD_MAX_BYTES) return this.#writeThenDatasync(data, position);
    // The hot path: one request to the I/O thread, pwrite + fdatasync on the worker's descriptor.
    const remote = this.#remote;
    if (remote !== undefined && !remote.thread.stopping && this.#waiting === undefined) {
      return remote.thread.writeDatasync(remote.fd, data, position, this.#path);
    }
    return new Promise<void>((resolve, reject) => {
      this.#whenRemote({
        submit: (r) => r.thread.writeDatasync(r.fd, data, position, this.#path).then(resolve, reject),
        fail: reject,
      });
    });
  }

  async #writeThenDatasync(data: Uint8Array, position: number): Promise<void> {
    await this.write(data, position);
    await this.datasync();
  }

  /**
   * Runs `waiter` once the worker's descriptor for this file is open: opened on first use (and
   * again in a new thread if the old one stopped). Writes that arrive meanwhile queue here and are
   * all submitted in one go, in call order, before a later write can take the direct path.
   */
  #whenRemote(waiter: { submit(remote: RemoteDescriptor): void; fail(err: unknown): void }): void {
    if (this.#waiting !== undefined) {
      this.#waiting.push(waiter);
      return;
    }
    const waiting = [waiter];
    this.#waiting = waiting;
    // A descriptor of a thread that stopped or died was closed with it (or died with it).
    this.#remote = undefined;
    this.#opening = this.#openRemote().then(
      (remote) => {
        this.#remote = remote;
        this.#waiting = undefined;
        for (const w of waiting) w.submit(remote);
      },
      (err: unknown) => {
        this.#waiting = undefined;
        for (const w of waiting) w.fail(err);
      },
    );
  }

  async #openRemote(): Promise<RemoteDescriptor> {
    if (this.#closed) throw handleError('EBADF', 9, 'write', this.#path, 'file handle closed');
    const mine = await this.#handle.stat();
    const thread = this.#owner.thread();
    const remote = await thread.open(this.#path, this.#remoteFlags);
    // The worker opened by path: make sure the path still names the file this handle has open
    // (renamed or replaced since, the bytes would go to another file and the fdatasync with them).
    if (remote.dev !== mine.dev || remote.ino !== mine.ino) {
      await thread.close(remote.fd, this.#path).catch(() => {});
      throw handleError('ESTALE', 116, 'open', this.#path, 'the path no longer names the open file');
    }
    if (this.#closed) {
      await thread.close(remote.fd, this.#path).catch(() => {});
      throw handleError('EBADF', 9, 'write', this.#path, 'file handle closed');
    }
    return { thread, fd: remote.fd };
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

  async close(): Promise<void> {
    if (this.#closed) return this.#handle.close();
    this.#closed = true;
    try {
      await this.#opening;
      const remote = this.#remote;
      this.#remote = undefined;
      // Queued behind the durable writes still in flight on it. Closing is not a sync.
      if (remote !== undefined && !remote.thread.stopping) await remote.thread.close(remote.fd, this.#path);
    } finally {
      try {
        await this.#handle.close();
      } finally {
        this.#owner.release();
      }
    }
  }
}

/** A Node-style system error (`code`, `errno`, `syscall`, `path`) for a refusal of the handle itself. */
function handleError(code: string, errno: number, syscall: string, path: string, detail: string): Error {
  return Object.assign(new Error(`${code}: ${detail}, ${syscall} '${path}'`), {
    code,
    errno: -errno,
    syscall,
    path,
  });
}
