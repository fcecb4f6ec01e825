import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The thread that holds the directory locks: flock(2) calls, through the koffi FFI (Node has no
 * flock), and the descriptors they lock.
 *
 * Why flock: the kernel holds the lock for an open file description and drops it when the last
 * descriptor of that description is closed, which happens by itself when the process dies
 * (SIGKILL, OOM, power-off of a container). No pid is interpreted and nothing is "taken over", so
 * there is no stale-lock race. Two opens of one file are two descriptions, and flock makes them
 * conflict even inside one process or across its worker threads, and whatever path (a symlink,
 * `..`, a bind mount) led to the file. On Linux, NFS clients emulate flock with POSIX byte-range
 * locks held by the server's lock manager, unless mounted with `local_lock=flock` or `nolock`,
 * where the lock is local to one client (see docs/crash-safety.md).
 *
 * Why a thread of its own: koffi, once loaded in a thread, flushes that thread's stdout and stderr
 * with fsync(2) when the thread's environment is torn down. Loaded on the main thread, that would
 * put fsync calls on the main thread at exit; loaded here, they stay on this thread. The thread
 * opens the LOCK file itself (descriptors are per isolate on some runtimes) and keeps the
 * descriptor for as long as the lock is held, or until the thread's environment goes away (the
 * worker thread that loaded this module was terminated), when Node closes it. It is started on the first lock request, is never
 * stopped while a lock is held, and does not keep the process alive when idle.
 *
 * koffi loads only in this thread and only when a lock is asked for, so code that never locks
 * (Metadata.load, the read-only CLI commands) works where the native module cannot load; a lock
 * asked for there fails with ENOSYS, never silently unlocked. Preloads given to the process with
 * `-r`/`--require` also run in this thread (so a test can stand in for a missing module).
 */

/** What {@link LockThread.lock} did. */
export type LockAttempt =
  | { readonly kind: 'locked'; readonly token: number }
  /** Another open file description holds a conflicting lock (EWOULDBLOCK). */
  | { readonly kind: 'busy' }
  | { readonly kind: 'error'; readonly error: LockThreadError };

/** What {@link LockThread.probe} saw. */
export type ProbeResult =
  | { readonly kind: 'free' | 'held' | 'missing' }
  | { readonly kind: 'error'; readonly error: LockThreadError };

/** A Node-style system error, as the thread reported it. */
export interface LockThreadError {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly message: string;
}

type Request =
  | { readonly op: 'lock'; readonly path: string }
  | { readonly op: 'unlock'; readonly token: number }
  | { readonly op: 'probe'; readonly path: string };

type Reply = LockAttempt | ProbeResult | { readonly kind: 'unlocked' };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { errno: E } = require('node:os').constants;
const LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
let flock, lastErrno, loadError;
try {
  if (process.platform === 'win32') throw new Error('flock(2) does not exist on Windows');
  if (workerData.koffi === undefined) throw new Error('the koffi package is not installed');
  const koffi = require(workerData.koffi);
  let lib, failure;
  for (const name of [null, 'libc.so.6', 'libc.so', '/usr/lib/libSystem.B.dylib', 'libc.so.7']) {
    try { lib = koffi.load(name); flock = lib.func('int flock(int fd, int operation)'); break; }
    catch (e) { failure = e; }
  }
  if (flock === undefined) throw failure;
  lastErrno = () => koffi.errno();
} catch (e) {
  loadError = 'the koffi native module (needed for flock) failed to load: ' + (e && e.message || e);
}
const held = new Map();
let nextToken = 1;
const codeOf = (n) => Object.keys(E).find((k) => E[k] === n) || 'EIO';
function sysError(code, errno, syscall, path, detail) {
  return { code, errno: -Math.abs(errno), syscall,
    message: code + ': ' + syscall + ' failed, ' + syscall + " '" + path + "'" + (detail ? ' (' + detail + ')' : '') };
}
function fromThrown(e, syscall, path) {
  return { code: e.code || 'EIO', errno: typeof e.errno === 'number' ? e.errno : -5,
    syscall: e.syscall || syscall, message: e.message || String(e) };
}
function call(fd, op) {
  if (flock(fd, op) === 0) return 'ok';
  const n = lastErrno();
  return n === E.EWOULDBLOCK || n === E.EAGAIN ? 'busy' : n;
}
// Locks are held on FileHandles: if this thread's environment is torn down without an unlock (the
// worker that started it was terminated), Node closes them, and the kernel drops the locks, as it
// would for a process that died.
async function lock(path) {
  if (loadError !== undefined) return { kind: 'error', error: sysError('ENOSYS', E.ENOSYS || 38, 'flock', path, loadError) };
  let handle;
  try { handle = await fs.promises.open(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644); }
  catch (e) { return { kind: 'error', error: fromThrown(e, 'open', path) }; }
  const r = call(handle.fd, LOCK_EX | LOCK_NB);
  if (r === 'ok') { const token = nextToken++; held.set(token, handle); return { kind: 'locked', token }; }
  await handle.close();
  if (r === 'busy') return { kind: 'busy' };
  return { kind: 'error', error: sysError(codeOf(r), r, 'flock', path) };
}
async function probe(path) {
  if (loadError !== undefined) return { kind: 'error', error: sysError('ENOSYS', E.ENOSYS || 38, 'flock', path, loadError) };
  let handle;
  try { handle = await fs.promises.open(path, fs.constants.O_RDONLY); }
  catch (e) {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return { kind: 'missing' };
    return { kind: 'error', error: fromThrown(e, 'open', path) };
  }
  try {
    // A shared lock succeeds unless someone holds the exclusive one; it is dropped at once.
    const r = call(handle.fd, LOCK_SH | LOCK_NB);
    if (r === 'busy') return { kind: 'held' };
    if (r !== 'ok') return { kind: 'error', error: sysError(codeOf(r), r, 'flock', path) };
    call(handle.fd, LOCK_UN);
    return { kind: 'free' };
  } finally { await handle.close(); }
}
async function unlock(token) {
  const handle = held.get(token);
  held.delete(token);
  // Closing the descriptor is what drops the kernel lock.
  if (handle !== undefined) await handle.close();
  return { kind: 'unlocked' };
}
parentPort.on('message', ({ id, request }) => {
  const run = request.op === 'lock' ? lock(request.path) : request.op === 'probe' ? probe(request.path) : unlock(request.token);
  run.then(
    (reply) => parentPort.postMessage({ id, reply }),
    (e) => parentPort.postMessage({ id, reply: { kind: 'error', error: fromThrown(e, 'flock', '') } }),
  );
});
`;

/** `-r`/`--require` preloads of this process, which the lock thread runs too. */
function preloads(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if ((arg === '-r' || arg === '--require') && i + 1 < args.length) out.push(arg, args[++i] as string);
    else if (arg.startsWith('--require=')) out.push(arg);
  }
  return out;
}

function koffiPath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('koffi');
  } catch {
    return undefined;
  }
}

class LockThread {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve(reply: Reply): void; reject(err: unknown): void }>();

  lock(path: string): Promise<LockAttempt> {
    return this.#send({ op: 'lock', path }) as Promise<LockAttempt>;
  }

  probe(path: string): Promise<ProbeResult> {
    return this.#send({ op: 'probe', path }) as Promise<ProbeResult>;
  }

  async unlock(token: number): Promise<void> {
    await this.#send({ op: 'unlock', token });
  }

  #send(request: Request): Promise<Reply> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      // Referenced while a request is out: an awaited open() must not let the process exit.
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, request });
    });
  }

  #settle(id: number): { resolve(reply: Reply): void; reject(err: unknown): void } | undefined {
    const waiter = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker?.unref();
    return waiter;
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { koffi: koffiPath() },
      // Only preloads: other flags of the parent (e.g. --input-type=module) must not change how
      // the CommonJS worker source is evaluated.
      execArgv: preloads(),
    });
    worker.unref();
    worker.on('message', ({ id, reply }: { id: number; reply: Reply }) => this.#settle(id)?.resolve(reply));
    const died = (cause: unknown): void => {
      if (this.#worker !== worker) return;
      // Requests in flight fail; a later request starts a new thread. The thread exits only with
      // its parent's environment (the worker that loaded this module ends, and its managers with
      // it) or through a bug: every request is caught in the thread, and a crash of the native
      // code takes the whole process. Its FileHandles close with it, dropping its locks.
      this.#worker = undefined;
      const error = Object.assign(new Error('EIO: the lock thread stopped', { cause }), {
        code: 'EIO',
        errno: -5,
        syscall: 'flock',
      });
      for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(error);
    };
    worker.on('error', died);
    worker.on('exit', died);
    this.#worker = worker;
    return worker;
  }
}

let shared: LockThread | undefined;

/** The process's (more exactly, this module instance's) lock thread. */
export function lockThread(): LockThread {
  shared ??= new LockThread();
  return shared;
}

export type { LockThread };
