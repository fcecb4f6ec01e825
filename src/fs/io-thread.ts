import { Worker } from 'node:worker_threads';

/**
 * A worker thread that runs `pwrite` + `fdatasync` for the log's hot path.
 *
 * Why not `FileHandle.write` + `datasync`: each of those goes through libuv's thread pool and back,
 * two wake-ups of the event loop per durable update. Here the main thread copies the bytes into a
 * SharedArrayBuffer, wakes the worker with `Atomics.notify`, and waits with `Atomics.waitAsync`
 * (never blocking the event loop); the worker does both syscalls back to back and answers with one
 * notify. One request is in flight at a time; callers queue behind it.
 *
 * The worker's code is an inline string (`eval: true`) so that it works the same from `dist/`
 * and from the TypeScript sources under test, with no file to locate at run time.
 */

const OP_WRITE = 1;
const OP_DATASYNC = 2;
const OP_WRITE_DATASYNC = 3;

// Control words (Int32 indices) in the shared buffer.
const STATE = 0; // 0 idle, 1 request posted, 2 answer posted, 3 quit
const OP = 1;
const FD = 2;
const LENGTH = 3;
const POSITION_LOW = 4;
const POSITION_HIGH = 5;
const RESULT = 6; // 0 ok, 1 error (code string in the error area)
const ERRNO = 7;
const CONTROL_BYTES = 64;
const ERROR_BYTES = 192;
const DATA_OFFSET = CONTROL_BYTES + ERROR_BYTES;
/** Largest payload sent through the shared buffer; larger writes take the thread pool. */
export const IO_THREAD_MAX_BYTES = 1 << 20;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctrl = new Int32Array(workerData, 0, 16);
const data = new Uint8Array(workerData, ${DATA_OFFSET});
const errArea = new Uint8Array(workerData, ${CONTROL_BYTES}, ${ERROR_BYTES});
const enc = new TextEncoder();
for (;;) {
  const s = Atomics.load(ctrl, ${STATE});
  if (s === 3) break;
  if (s !== 1) { Atomics.wait(ctrl, ${STATE}, s); continue; }
  const op = ctrl[${OP}], fd = ctrl[${FD}], len = ctrl[${LENGTH}];
  const pos = ctrl[${POSITION_LOW}] + ctrl[${POSITION_HIGH}] * 4294967296;
  try {
    if (op === ${OP_WRITE} || op === ${OP_WRITE_DATASYNC}) {
      let done = 0;
      while (done < len) done += fs.writeSync(fd, data, done, len - done, pos + done);
    }
    if (op === ${OP_DATASYNC} || op === ${OP_WRITE_DATASYNC}) fs.fdatasyncSync(fd);
    ctrl[${RESULT}] = 0;
  } catch (e) {
    ctrl[${RESULT}] = 1;
    ctrl[${ERRNO}] = typeof e.errno === 'number' ? e.errno : 0;
    const text = enc.encode(String(e.code || 'EIO') + '\\n' + String(e.syscall || 'write'));
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

export class IoThread {
  readonly #shared = new SharedArrayBuffer(DATA_OFFSET + IO_THREAD_MAX_BYTES);
  readonly #ctrl = new Int32Array(this.#shared, 0, 16);
  readonly #data = new Uint8Array(this.#shared, DATA_OFFSET);
  readonly #errArea = new Uint8Array(this.#shared, CONTROL_BYTES, ERROR_BYTES);
  readonly #worker: Worker;
  #queue: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #stopped = false;

  constructor() {
    // execArgv: [] so that flags of the parent (e.g. --input-type=module) cannot change how the
    // CommonJS worker source is evaluated.
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.#shared, execArgv: [] });
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
    this.#worker.on('error', died);
    this.#worker.on('exit', died);
    // An idle I/O thread must not keep the process alive; it is ref'd while a request is pending,
    // because a pending Atomics.waitAsync alone does not keep Node's event loop running.
    this.#worker.unref();
  }

  /** pwrite of all of `data` at `position`, then fdatasync, in the worker. */
  writeDatasync(fd: number, data: Uint8Array, position: number, path: string): Promise<void> {
    return this.#submit(OP_WRITE_DATASYNC, fd, data, position, path);
  }

  datasync(fd: number, path: string): Promise<void> {
    return this.#submit(OP_DATASYNC, fd, undefined, 0, path);
  }

  write(fd: number, data: Uint8Array, position: number, path: string): Promise<void> {
    return this.#submit(OP_WRITE, fd, data, position, path);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#queue.catch(() => {});
    Atomics.store(this.#ctrl, STATE, 3);
    Atomics.notify(this.#ctrl, STATE);
    await this.#worker.terminate();
  }

  #submit(
    op: number,
    fd: number,
    data: Uint8Array | undefined,
    position: number,
    path: string,
  ): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('I/O thread stopped'));
    if (data !== undefined && data.byteLength > IO_THREAD_MAX_BYTES) {
      return Promise.reject(new RangeError('payload larger than the I/O thread buffer'));
    }
    const run = async (): Promise<void> => {
      const ctrl = this.#ctrl;
      if (data !== undefined) this.#data.set(data, 0);
      ctrl[OP] = op;
      ctrl[FD] = fd;
      ctrl[LENGTH] = data?.byteLength ?? 0;
      ctrl[POSITION_LOW] = position % 4294967296;
      ctrl[POSITION_HIGH] = Math.floor(position / 4294967296);
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
      Atomics.store(ctrl, STATE, 0);
      if (failed) throw this.#error(errno, path);
    };
    const result = this.#queue.then(run);
    this.#queue = result.catch(() => {});
    return result;
  }

  #error(errno: number, path: string): IoThreadError {
    const end = this.#errArea.indexOf(0);
    const text = new TextDecoder().decode(this.#errArea.subarray(0, end < 0 ? undefined : end));
    const [code = 'EIO', syscall = 'write'] = text.split('\n');
    const err = new Error(`${code}: ${syscall} failed, ${syscall} '${path}'`) as IoThreadError;
    err.code = code;
    err.errno = -Math.abs(errno);
    err.syscall = syscall;
    err.path = path;
    return err;
  }
}
