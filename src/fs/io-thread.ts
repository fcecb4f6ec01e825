import { constants } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InvalidArgumentError } from '../errors.js';

/**
 * A worker thread that runs `pwrite` + `fdatasync` for the log's hot path.
 *
 * Why not `FileHandle.write` + `datasync`: each of those goes through libuv's thread pool and back,
 * two wake-ups of the event loop per durable update. Here the main thread copies the bytes into a
 * SharedArrayBuffer, wakes the worker with `Atomics.notify`, and waits with `Atomics.waitAsync`
 * (never blocking the event loop); the worker does both syscalls back to back and answers with one
 * notify. One request is in flight at a time; callers queue behind it.
 *
 * The worker writes through descriptors it opened itself ({@link IoThread.open}): a descriptor
 * opened on the main thread is not valid in a worker on every runtime (Deno keeps one resource
 * table per isolate: a main-thread fd fails there with EBADF). One design everywhere, no runtime
 * sniffing: the fdatasync runs on the very descriptor the bytes were written through.
 *
 * The worker's code is an inline string (`eval: true`) so that it works the same from `dist/`
 * and from the TypeScript sources under test, with no file to locate at run time.
 */

/** The only data operation: pwrite of the whole payload, then fdatasync (the log's hot path). */
const OP_WRITE_DATASYNC = 3;
const OP_OPEN = 4;
const OP_CLOSE = 5;

// Int32 control words, bytes 0..31 of the shared buffer.
const STATE = 0; // 0 idle, 1 request posted, 2 answer posted, 3 quit
const OP = 1;
const FD = 2; // in: the worker-local fd; out of OP_OPEN: the fd it opened
const LENGTH = 3; // bytes of payload (for OP_OPEN: of the UTF-8 path)
const FLAGS = 4; // OP_OPEN's open(2) flags
const RESULT = 5; // 0 ok, 1 error (code and syscall in the error area)
const ERRNO = 6;
const INT_WORDS = 8;
// Float64 slots, bytes 32..63. Positions travel as doubles: exact for every integer up to
// Number.MAX_SAFE_INTEGER (2^53 - 1), where two Int32 halves went negative from 2^31 on.
const NUMBERS_OFFSET = INT_WORDS * 4;
const POSITION = 0;
const DEV = 1; // out of OP_OPEN: fstat's st_dev and st_ino, to check the worker opened the same file
const INO = 2;
const NUMBER_SLOTS = 4;
const CONTROL_BYTES = NUMBERS_OFFSET + NUMBER_SLOTS * 8;
const ERROR_BYTES = 192;
const DATA_OFFSET = CONTROL_BYTES + ERROR_BYTES;
/** Largest payload sent through the shared buffer; larger writes take the thread pool. */
export const IO_THREAD_MAX_BYTES = 1 << 20;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctrl = new Int32Array(workerData, 0, ${INT_WORDS});
const num = new Float64Array(workerData, ${NUMBERS_OFFSET}, ${NUMBER_SLOTS});
const data = new Uint8Array(workerData, ${DATA_OFFSET});
const errArea = new Uint8Array(workerData, ${CONTROL_BYTES}, ${ERROR_BYTES});
const enc = new TextEncoder();
const dec = new TextDecoder();
function fail(code, syscall) { return Object.assign(new Error(code), { code, syscall }); }
for (;;) {
  const s = Atomics.load(ctrl, ${STATE});
  if (s === 3) break;
  if (s !== 1) { Atomics.wait(ctrl, ${STATE}, s); continue; }
  const op = ctrl[${OP}], fd = ctrl[${FD}], len = ctrl[${LENGTH}];
  let syscall = 'write';
  try {
    if (op === ${OP_OPEN}) {
      syscall = 'open';
      // slice: a copy, TextDecoder does not take views of a SharedArrayBuffer everywhere.
      const opened = fs.openSync(dec.decode(data.slice(0, len)), ctrl[${FLAGS}]);
      try {
        syscall = 'fstat';
        const st = fs.fstatSync(opened);
        num[${DEV}] = Number(st.dev);
        num[${INO}] = Number(st.ino);
      } catch (e) { fs.closeSync(opened); throw e; }
      ctrl[${FD}] = opened;
    } else if (op === ${OP_CLOSE}) {
      syscall = 'close';
      fs.closeSync(fd);
    } else if (op === ${OP_WRITE_DATASYNC}) {
      const pos = num[${POSITION}];
      // Checked on the main thread too; a position that is not exact never reaches pwrite
      // (writeSync takes a negative one as "the current file position").
      if (!(Number.isSafeInteger(pos) && pos >= 0 && Number.isSafeInteger(pos + len))) throw fail('EINVAL', 'write');
      let done = 0;
      while (done < len) {
        const n = fs.writeSync(fd, data, done, len - done, pos + done);
        if (!(n > 0)) throw fail('EIO', 'write');
        done += n;
      }
      syscall = 'fdatasync';
      fs.fdatasyncSync(fd);
    } else {
      throw fail('EINVAL', 'io-thread');
    }
    ctrl[${RESULT}] = 0;
  } catch (e) {
    ctrl[${RESULT}] = 1;
    ctrl[${ERRNO}] = typeof e.errno === 'number' ? e.errno : 0;
    const text = enc.encode(String(e.code || 'EIO') + '\\n' + String(e.syscall || syscall));
    errArea.fill(0);
    errArea.set(text.subarray(0, ${ERROR_BYTES}));
  }
  Atomics.store(ctrl, ${STATE}, 2);
  Atomics.notify(ctrl, ${STATE});
}
`;

/** Node-style system error rebuilt from what the worker reported. */
export interface IoThreadError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/** What {@link IoThread.open} opened: a descriptor valid in the worker only, and its file's identity. */
export interface RemoteFile {
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
}

/**
 * Throws unless `[position, position + length)` is a range of exact byte offsets: safe,
 * non-negative integers. A position that cannot be carried exactly is refused, never rounded or
 * wrapped to another offset.
 */
export function checkPosition(position: number, length: number): void {
  if (!Number.isInteger(position)) {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARG_TYPE',
      `write position must be an integer, got ${position}`,
    );
  }
  if (position < 0 || !Number.isSafeInteger(position + length)) {
    throw new InvalidArgumentError(
      'ERR_OUT_OF_RANGE',
      `write of ${length} bytes at position ${position} is outside 0..Number.MAX_SAFE_INTEGER`,
    );
  }
}

/** Live I/O threads of this module copy: started and not yet exited (a diagnostic for tests). */
const live = new Set<IoThread>();
let started = 0;

/**
 * I/O threads of this copy of the library: `running` (started, not exited) and `started` since the
 * module loaded. Internal diagnostic, not exported from the package.
 */
export function ioThreadCounts(): { running: number; started: number } {
  return { running: live.size, started };
}

/** Resolves once every I/O thread whose stop was decided (or that has no user left) has exited. */
export async function settleIoThreads(): Promise<void> {
  // A stop decided by a release runs at the next turn of the event loop (setImmediate).
  await new Promise<void>((done) => setImmediate(done));
  await Promise.all([...live].filter((t) => t.stopping).map((t) => t.exited));
}

export class IoThread {
  readonly #shared = new SharedArrayBuffer(DATA_OFFSET + IO_THREAD_MAX_BYTES);
  readonly #ctrl = new Int32Array(this.#shared, 0, INT_WORDS);
  readonly #num = new Float64Array(this.#shared, NUMBERS_OFFSET, NUMBER_SLOTS);
  readonly #data = new Uint8Array(this.#shared, DATA_OFFSET);
  readonly #errArea = new Uint8Array(this.#shared, CONTROL_BYTES, ERROR_BYTES);
  readonly #worker: Worker;
  /** Descriptors the worker opened and nobody closed yet: closed by {@link stop}. */
  readonly #opened = new Map<number, string>();
  /** Resolves when the worker thread has exited (after {@link stop}, or if it died). */
  readonly exited: Promise<void>;
  #queue: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #stopped = false;

  constructor() {
    // execArgv: [] so that flags of the parent (e.g. --input-type=module) cannot change how the
    // CommonJS worker source is evaluated.
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.#shared, execArgv: [] });
    live.add(this);
    started++;
    // If the thread dies, the request in flight fails with EIO (the manager then stops, fail-stop)
    // instead of waiting forever, and every later request is refused.
    const died = (): void => {
      if (this.#stopped) return;
      this.#stopped = true;
      this.#errArea.fill(0);
      this.#errArea.set(new TextEncoder().encode('EIO\nio-thread'));
      this.#ctrl[RESULT] = 1;
      this.#ctrl[ERRNO] = 5;
      Atomics.store(this.#ctrl, STATE, 2);
      Atomics.notify(this.#ctrl, STATE);
    };
    this.exited = new Promise<void>((done) => {
      this.#worker.once('exit', () => {
        live.delete(this);
        died();
        done();
      });
    });
    this.#worker.on('error', died);
    // An idle I/O thread must not keep the process alive; it is ref'd while a request is pending,
    // because a pending Atomics.waitAsync alone does not keep Node's event loop running.
    this.#worker.unref();
  }

  /** True once {@link stop} was called or the thread died: every later request is refused. */
  get stopping(): boolean {
    return this.#stopped;
  }

  /**
   * open(2) of `path` in the worker with `flags` (never O_CREAT: the file exists, the main thread
   * opened it), then fstat(2) of the new descriptor. The fd is valid in the worker only.
   */
  async open(path: string, flags: number): Promise<RemoteFile> {
    const bytes = new TextEncoder().encode(path);
    let fd = -1;
    let dev = 0;
    let ino = 0;
    await this.#submit(OP_OPEN, -1, bytes, 0, path, flags, () => {
      fd = this.#ctrl[FD] ?? -1;
      dev = this.#num[DEV] ?? 0;
      ino = this.#num[INO] ?? 0;
      this.#opened.set(fd, path);
    });
    return { fd, dev, ino };
  }

  /** close(2) of a descriptor that {@link open} returned. */
  close(fd: number, path: string): Promise<void> {
    this.#opened.delete(fd);
    return this.#submit(OP_CLOSE, fd, undefined, 0, path);
  }

  /** pwrite of all of `data` at `position`, then fdatasync, in the worker. */
  writeDatasync(fd: number, data: Uint8Array, position: number, path: string): Promise<void> {
    return this.#submit(OP_WRITE_DATASYNC, fd, data, position, path);
  }

  /** Lets the request in flight finish, closes what the worker still has open, ends the thread. */
  async stop(): Promise<void> {
    if (this.#stopped) return this.exited;
    const open = [...this.#opened];
    this.#opened.clear();
    for (const [fd, path] of open) this.close(fd, path).catch(() => {});
    this.#stopped = true;
    await this.#queue.catch(() => {});
    Atomics.store(this.#ctrl, STATE, 3);
    Atomics.notify(this.#ctrl, STATE);
    await this.#worker.terminate();
    await this.exited;
  }

  #submit(
    op: number,
    fd: number,
    data: Uint8Array | undefined,
    position: number,
    path: string,
    flags = 0,
    onSuccess?: () => void,
  ): Promise<void> {
    if (this.#stopped) return Promise.reject(this.#stoppedError(path));
    if (data !== undefined && data.byteLength > IO_THREAD_MAX_BYTES) {
      return Promise.reject(new RangeError('payload larger than the I/O thread buffer'));
    }
    try {
      checkPosition(position, data?.byteLength ?? 0);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = async (): Promise<void> => {
      const ctrl = this.#ctrl;
      if (data !== undefined) this.#data.set(data, 0);
      ctrl[OP] = op;
      ctrl[FD] = fd;
      ctrl[LENGTH] = data?.byteLength ?? 0;
      ctrl[FLAGS] = flags;
      this.#num[POSITION] = position;
      if (this.#inFlight++ === 0) this.#worker.ref();
      try {
        Atomics.store(ctrl, STATE, 1);
        Atomics.notify(ctrl, STATE);
        const waited = Atomics.waitAsync(ctrl, STATE, 1);
        if (waited.async) await waited.value;
        while (Atomics.load(ctrl, STATE) === 1) {
          const again = Atomics.waitAsync(ctrl, STATE, 1);
          if (again.async) await again.value;
        }
      } finally {
        if (--this.#inFlight === 0) this.#worker.unref();
      }
      const failed = ctrl[RESULT] === 1;
      const errno = ctrl[ERRNO] ?? 0;
      if (!failed) onSuccess?.();
      Atomics.store(ctrl, STATE, 0);
      if (failed) throw this.#error(errno, path);
    };
    // Requests queued before a stop still run (stop waits for them); a stop only refuses new ones.
    const result = this.#queue.then(run);
    this.#queue = result.catch(() => {});
    return result;
  }

  #stoppedError(path: string): IoThreadError {
    const err = new Error(`EIO: I/O thread stopped, write '${path}'`) as IoThreadError;
    err.code = 'EIO';
    err.errno = -5;
    err.syscall = 'write';
    err.path = path;
    return err;
  }

  #error(errno: number, path: string): IoThreadError {
    const end = this.#errArea.indexOf(0);
    const text = new TextDecoder().decode(this.#errArea.slice(0, end < 0 ? undefined : end));
    const [code = 'EIO', syscall = 'write'] = text.split('\n');
    const err = new Error(`${code}: ${syscall} failed, ${syscall} '${path}'`) as IoThreadError;
    err.code = code;
    // Deno's node:fs errors carry no errno: take it from the code.
    const known = (constants.errno as Record<string, number | undefined>)[code];
    err.errno = -Math.abs(errno !== 0 ? errno : (known ?? 0));
    err.syscall = syscall;
    err.path = path;
    return err;
  }
}

/**
 * An I/O thread started on demand and stopped when nothing uses it: one per file system.
 * Every open handle holds a reference ({@link acquire} / {@link release}); when the last one is
 * released the thread stops at the next turn of the event loop, unless a new handle arrived in
 * between (a log is closed and the next one opened within one operation: no restart for that).
 */
export class IoThreadOwner {
  #thread: IoThread | undefined;
  #users = 0;
  #stopScheduled = false;

  /** A handle was opened: the thread may be needed until {@link release}. */
  acquire(): void {
    this.#users++;
  }

  /** A handle was closed. With no handle left, the thread stops (its idle cost is memory). */
  release(): void {
    if (--this.#users > 0 || this.#stopScheduled || this.#thread === undefined) return;
    this.#stopScheduled = true;
    setImmediate(() => {
      this.#stopScheduled = false;
      if (this.#users > 0) return;
      const thread = this.#thread;
      this.#thread = undefined;
      thread?.stop().catch(() => {});
    });
  }

  /** The running thread, started if there is none (or the last one died or was stopped). */
  thread(): IoThread {
    if (this.#thread === undefined || this.#thread.stopping) this.#thread = new IoThread();
    return this.#thread;
  }

  /** Stops the thread now, whatever still holds a reference (a later request starts a new one). */
  async dispose(): Promise<void> {
    const thread = this.#thread;
    this.#thread = undefined;
    await thread?.stop();
  }
}
