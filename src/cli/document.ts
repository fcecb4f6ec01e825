import type { LockOwner, LockStatus } from '../storage/lock.js';
import type { CommandName } from './help.js';

/**
 * The one JSON document every `--json` run prints on stdout, whatever happens: success, a refusal,
 * a usage error, an I/O error, an internal error. Every document starts with the same envelope;
 * the rest depends on the command. docs/operations.md describes the shapes and docs/schema/ holds
 * a JSON Schema per command. Within a schema version, fields are only ever added.
 */

export const SCHEMA_VERSION = 1;

/** Why a command failed (exit 64, 70, 74): a bad command line, a system call, a bug. */
export interface ErrorJson {
  /** `ERR_USAGE`, a system error code (`EACCES`, `EIO`...), a library code, or `ERR_INTERNAL`. */
  readonly code: string;
  readonly message: string;
  /** The file a failed system call was about. */
  readonly path?: string;
  /** The failed system call (`open`, `read`...). */
  readonly syscall?: string;
}

export interface LockOwnerJson {
  readonly pid: number;
  readonly hostname: string;
  /** ISO 8601. */
  readonly startedAt: string;
}

/** The directory's kernel lock, as seen without taking it. */
export type LockJson =
  | { readonly state: 'free'; readonly lastOwner: LockOwnerJson | null }
  | { readonly state: 'held'; readonly owner: LockOwnerJson | null }
  | { readonly state: 'missing' }
  | { readonly state: 'unknown'; readonly reason: string };

/** Why a command that writes (compact, repair) or measures (doctor) did not do it. */
export type RefusalReason =
  | 'locked'
  | 'corrupt'
  | 'not-metadata'
  | 'not-a-directory'
  | 'needs-min-term'
  | 'no-term-left';

export interface RefusalJson {
  readonly reason: RefusalReason;
  readonly message: string;
  /** For `locked`: who holds the lock. */
  readonly lock?: LockJson;
}

/** The fields every document starts with. */
export interface Envelope {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  /** null for the top level (`raft-metadata --help`, `--version`, a missing or unknown command). */
  readonly command: CommandName | null;
  /** DIR, absolute; null when the command line did not get that far. */
  readonly dir: string | null;
  /** The process's exit code. */
  readonly exitCode: number;
  /** exitCode is 0. */
  readonly ok: boolean;
  /** Set when the command failed (exit 64, 70, 74; see each command for others). */
  readonly error: ErrorJson | null;
}

export function envelope(
  command: CommandName | null,
  dir: string | null,
  exitCode: number,
  body: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const error = body.error ?? null;
  return { schemaVersion: SCHEMA_VERSION, command, dir, exitCode, ok: exitCode === 0, ...body, error };
}

function ownerJson(owner: LockOwner | undefined): LockOwnerJson | null {
  return owner === undefined
    ? null
    : { pid: owner.pid, hostname: owner.hostname, startedAt: owner.startedAt };
}

export function lockJson(lock: LockStatus): LockJson {
  switch (lock.state) {
    case 'free':
      return { state: 'free', lastOwner: ownerJson(lock.lastOwner) };
    case 'held':
      return { state: 'held', owner: ownerJson(lock.owner) };
    case 'missing':
      return { state: 'missing' };
    case 'unknown':
      return { state: 'unknown', reason: lock.reason };
  }
}

/** A thrown value as an {@link ErrorJson}. */
export function errorJson(err: unknown, fallbackCode = 'ERR_INTERNAL'): ErrorJson {
  const message = err instanceof Error ? err.message : String(err);
  const fields = typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : {};
  const code = typeof fields.code === 'string' ? fields.code : fallbackCode;
  return {
    code,
    message,
    ...(typeof fields.path === 'string' ? { path: fields.path } : {}),
    ...(typeof fields.syscall === 'string' ? { syscall: fields.syscall } : {}),
  };
}
