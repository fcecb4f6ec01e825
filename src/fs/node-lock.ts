import { type LockThreadError, lockThread } from './lock-thread.js';
import type { FileHandle, LockProbe } from './types.js';

/** Tries before reporting the file busy: a read-only probe holds a shared lock for an instant. */
const LOCK_TRIES = 4;
const LOCK_RETRY_MS = 3;

/**
 * {@link FileSystem.openLocked} on the real disk: the lock thread opens `path` and takes the
 * exclusive flock on its own descriptor; `open` gives the handle for the owner's text, whose
 * close drops the lock.
 */
export async function openLockedFile(
  path: string,
  open: (path: string) => Promise<FileHandle>,
): Promise<FileHandle | undefined> {
  const thread = lockThread();
  let attempt = await thread.lock(path);
  for (let tries = 1; attempt.kind === 'busy' && tries < LOCK_TRIES; tries++) {
    // Busy may be a read-only probe's shared lock, held for microseconds: look again shortly.
    // A real owner holds the lock for its whole life, so this only delays a refusal.
    await new Promise((done) => setTimeout(done, LOCK_RETRY_MS * tries));
    attempt = await thread.lock(path);
  }
  if (attempt.kind === 'busy') return undefined;
  if (attempt.kind === 'error') throw systemError(attempt.error, path);
  const { token } = attempt;
  let handle: FileHandle;
  try {
    handle = await open(path);
  } catch (err) {
    await thread.unlock(token);
    throw err;
  }
  return new LockedFileHandle(handle, () => thread.unlock(token));
}

/** {@link FileSystem.probeLock} on the real disk. */
export async function probeLockFile(path: string): Promise<LockProbe> {
  const result = await lockThread().probe(path);
  if (result.kind === 'error') throw systemError(result.error, path);
  return result.kind;
}

/** A handle on LOCK whose close also drops the kernel lock. */
class LockedFileHandle implements FileHandle {
  readonly #inner: FileHandle;
  readonly #unlock: () => Promise<void>;
  #closed: Promise<void> | undefined;

  constructor(inner: FileHandle, unlock: () => Promise<void>) {
    this.#inner = inner;
    this.#unlock = unlock;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#inner.read(buffer, offset, length, position);
  }
  write(data: Uint8Array, position: number): Promise<void> {
    return this.#inner.write(data, position);
  }
  writeDurable(data: Uint8Array, position: number): Promise<void> {
    return this.#inner.writeDurable(data, position);
  }
  datasync(): Promise<void> {
    return this.#inner.datasync();
  }
  sync(): Promise<void> {
    return this.#inner.sync();
  }
  size(): Promise<number> {
    return this.#inner.size();
  }
  close(): Promise<void> {
    this.#closed ??= this.#inner.close().finally(() => this.#unlock());
    return this.#closed;
  }
}

interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path: string;
}

function systemError(error: LockThreadError, path: string): SystemError {
  return Object.assign(new Error(error.message), {
    code: error.code,
    errno: error.errno,
    syscall: error.syscall,
    path,
  });
}
