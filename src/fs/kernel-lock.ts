import { createRequire } from 'node:module';
import { constants } from 'node:os';

/**
 * flock(2) for Node, Bun and Deno, called through the koffi FFI (Node has no flock).
 *
 * Why flock: the kernel holds the lock for an open file description and drops it when the last
 * descriptor of that description is closed, which happens by itself when the process dies
 * (SIGKILL, OOM, power-off of a container). No pid is interpreted and nothing is "taken over", so
 * there is no stale-lock race. Two opens of one file are two descriptions, and flock makes them
 * conflict even inside one process or across its worker threads, and whatever path (a symlink,
 * `..`, a bind mount) led to the file. On Linux NFS clients emulate flock with POSIX byte-range
 * locks held by the server's lock manager (since 2.6.12), unless mounted with `local_lock=flock`
 * or `nolock`, where it is local to one client (see docs/crash-safety.md).
 *
 * koffi is loaded on first use, so that code that never locks (Metadata.load, the read-only CLI
 * commands) works where the native module cannot load; a lock asked for there fails with
 * {@link KernelLockUnavailable}, never silently unlocked.
 */

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type Flock = (fd: number, operation: number) => number;

interface Binding {
  readonly flock: Flock;
  readonly errno: () => number;
}

/** The kernel lock cannot be had here: the native module did not load, or the platform has no flock. */
export class KernelLockUnavailable extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KernelLockUnavailable';
  }
}

let binding: Binding | KernelLockUnavailable | undefined;

/** Libraries that export flock, tried in order: the process itself first (libc is always linked in). */
const LIBRARIES: readonly (string | null)[] = [
  null,
  'libc.so.6',
  'libc.so',
  '/usr/lib/libSystem.B.dylib',
  'libc.so.7',
];

function load(): Binding {
  if (binding === undefined) binding = bind();
  if (binding instanceof KernelLockUnavailable) throw binding;
  return binding;
}

function bind(): Binding | KernelLockUnavailable {
  if (process.platform === 'win32') {
    return new KernelLockUnavailable(
      'flock(2) does not exist on Windows; raft-metadata supports POSIX systems',
    );
  }
  let koffi: typeof import('koffi');
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch (err) {
    return new KernelLockUnavailable('the koffi native module (needed for flock) failed to load', err);
  }
  let lastError: unknown;
  for (const name of LIBRARIES) {
    try {
      const lib = koffi.load(name);
      const flock = lib.func('int flock(int fd, int operation)') as Flock;
      return { flock, errno: () => koffi.errno() };
    } catch (err) {
      lastError = err;
    }
  }
  return new KernelLockUnavailable('no C library exporting flock(2) could be loaded', lastError);
}

/** What one flock(2) call did. */
export type FlockResult =
  | { readonly kind: 'locked' }
  /** Another open file description holds a conflicting lock (EWOULDBLOCK). */
  | { readonly kind: 'busy' }
  /** The call failed for another reason: the file system refuses locks (ENOLCK, EOPNOTSUPP...). */
  | { readonly kind: 'error'; readonly errno: number; readonly code: string };

function call(fd: number, operation: number): FlockResult {
  const lib = load();
  if (lib.flock(fd, operation) === 0) return { kind: 'locked' };
  const errno = lib.errno();
  if (errno === constants.errno.EWOULDBLOCK || errno === constants.errno.EAGAIN) return { kind: 'busy' };
  return { kind: 'error', errno, code: errnoName(errno) };
}

/** flock(fd, LOCK_EX | LOCK_NB): never waits. */
export function tryLockExclusive(fd: number): FlockResult {
  return call(fd, LOCK_EX | LOCK_NB);
}

/** flock(fd, LOCK_SH | LOCK_NB): never waits. Used only to probe whether an exclusive holder exists. */
export function tryLockShared(fd: number): FlockResult {
  return call(fd, LOCK_SH | LOCK_NB);
}

/** flock(fd, LOCK_UN). Closing the descriptor does the same. */
export function unlock(fd: number): FlockResult {
  return call(fd, LOCK_UN);
}

/** Makes sure flock can be called here; throws {@link KernelLockUnavailable} if not. */
export function assertKernelLockAvailable(): void {
  load();
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return 'EIO';
}
