import { ManagerStateError, type MetadataError } from '../errors.js';

/** `ERR_MANAGER_CLOSED`: a call after close(). */
export function closedError(): MetadataError {
  return new ManagerStateError('ERR_MANAGER_CLOSED', 'the metadata manager is closed');
}

/** `ERR_MANAGER_FAILED` with the system error that stopped the manager as `cause` (fail-stop). */
export function failedError(cause: unknown): MetadataError {
  if (cause instanceof ManagerStateError && cause.code === 'ERR_MANAGER_FAILED') return cause;
  const what = cause instanceof Error ? cause.message : String(cause);
  return new ManagerStateError(
    'ERR_MANAGER_FAILED',
    `the metadata manager stopped after a failed write or fsync (${what}); it accepts no more updates`,
    cause,
  );
}
