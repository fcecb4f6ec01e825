import { constants } from 'node:os';

/** Error codes the simulated disk produces, as Node's `fs` would. */
export type SimErrorCode =
  | 'EIO'
  | 'ENOSPC'
  | 'EDQUOT'
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EBADF'
  | 'EINVAL'
  | 'ENOLCK'
  | 'EOPNOTSUPP'
  | 'EMFILE';

/** The errnos a test may inject with `SimulatedDisk.failNext`. */
export type FaultErrno = 'EIO' | 'ENOSPC' | 'EDQUOT' | 'ENOLCK' | 'EOPNOTSUPP' | 'EMFILE';

/** A Node-style system error: what `node:fs/promises` rejects with. */
export interface SimSystemError extends Error {
  readonly code: SimErrorCode;
  /** Negative, as in Node (`-5` for EIO on Linux). */
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;
}

const DESCRIPTIONS: Record<SimErrorCode, string> = {
  EIO: 'i/o error',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EBADF: 'bad file descriptor',
  EINVAL: 'invalid argument',
  ENOLCK: 'no locks available',
  EOPNOTSUPP: 'operation not supported on socket',
  EMFILE: 'too many open files',
};

// Fallbacks for platforms whose os.constants.errno lacks a code (EDQUOT on some builds).
const FALLBACK_ERRNO: Record<SimErrorCode, number> = {
  EIO: 5,
  ENOSPC: 28,
  EDQUOT: 122,
  ENOENT: 2,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  ENOTEMPTY: 39,
  EBADF: 9,
  EINVAL: 22,
  ENOLCK: 37,
  EOPNOTSUPP: 95,
  EMFILE: 24,
};

/**
 * Builds the error Node would: message `CODE: description, syscall 'path' -> 'dest'`, negative
 * `errno`, `code`, `syscall`, and `path`/`dest` when given.
 */
export function systemError(
  code: SimErrorCode,
  syscall: string,
  path?: string,
  dest?: string,
  detail?: string,
): SimSystemError {
  const errnos = constants.errno as Partial<Record<string, number>>;
  const errno = -(errnos[code] ?? FALLBACK_ERRNO[code]);
  let message = `${code}: ${DESCRIPTIONS[code]}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  if (detail !== undefined) message += ` (${detail})`;
  const error = new Error(message) as Error & {
    code: SimErrorCode;
    errno: number;
    syscall: string;
    path?: string;
    dest?: string;
  };
  error.code = code;
  error.errno = errno;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  if (dest !== undefined) error.dest = dest;
  return error;
}
