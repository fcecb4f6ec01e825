import type { LockOwner } from './format/lock-owner.js';
import type { NodeIdentity } from './identity.js';

/**
 * Every error raft-metadata throws is a {@link MetadataError} with a stable `code`. Codes are the
 * contract; messages may improve at any time. Match on `err.code`, not on `instanceof` alone (two
 * installed copies of the package have two classes) and never on the message.
 *
 * | code                     | when |
 * |--------------------------|------|
 * | `ERR_INVALID_ARG_TYPE`   | an argument has the wrong type (not a number, not an integer) |
 * | `ERR_OUT_OF_RANGE`       | a number is negative or above `Number.MAX_SAFE_INTEGER` |
 * | `ERR_TERM_REGRESSION`    | an update would lower the current term |
 * | `ERR_VOTE_CONFLICT`      | a second, different vote in the same term |
 * | `ERR_METADATA_CORRUPT`   | a file in the directory is damaged beyond a torn last record |
 * | `ERR_METADATA_LOCKED`    | another manager (any process, any thread, this one) holds the directory's lock |
 * | `ERR_LOCK_UNAVAILABLE`   | the kernel lock cannot be had here (file system without flock, native module missing) |
 * | `ERR_METADATA_NOT_FOUND` | `createIfMissing: false` and the directory is missing or holds no snapshot and no log |
 * | `ERR_IDENTITY_MISMATCH`  | the directory is stamped with another node identity than the `identity` option |
 * | `ERR_MULTI_GROUP_DIRECTORY` | a single-group API (MetadataManager, Metadata.load without `group`) on a directory holding other groups than 0 |
 * | `ERR_MANAGER_FAILED`     | a write or fsync failed earlier; the manager accepts nothing more |
 * | `ERR_MANAGER_CLOSED`     | the manager was closed |
 * | `ERR_REPAIR_REFUSED`     | (CLI repair) a plan that cannot be applied: nothing to repair, or it needs a minimum term |
 * | `ERR_REPAIR_FAILED`      | (CLI repair) after the repair, the directory does not load the planned state |
 */
export type MetadataErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_TERM_REGRESSION'
  | 'ERR_VOTE_CONFLICT'
  | 'ERR_METADATA_CORRUPT'
  | 'ERR_METADATA_LOCKED'
  | 'ERR_LOCK_UNAVAILABLE'
  | 'ERR_METADATA_NOT_FOUND'
  | 'ERR_IDENTITY_MISMATCH'
  | 'ERR_MULTI_GROUP_DIRECTORY'
  | 'ERR_MANAGER_FAILED'
  | 'ERR_MANAGER_CLOSED'
  | 'ERR_REPAIR_REFUSED'
  | 'ERR_REPAIR_FAILED';

/** Base class of every error the library throws. */
export class MetadataError extends Error {
  readonly code: MetadataErrorCode;

  constructor(code: MetadataErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bad argument, thrown before any I/O (`ERR_INVALID_ARG_TYPE` or `ERR_OUT_OF_RANGE`). */
export class InvalidArgumentError extends MetadataError {
  constructor(code: 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE', message: string) {
    super(code, message);
  }
}

/** An update that Raft forbids: a lower term, or a second vote in one term. Nothing was written. */
export class RaftRuleError extends MetadataError {
  constructor(code: 'ERR_TERM_REGRESSION' | 'ERR_VOTE_CONFLICT', message: string) {
    super(code, message);
  }
}

/** Damage on disk that is not a torn last record. Names the file, the byte offset and the problem. */
export class CorruptionError extends MetadataError {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;

  constructor(file: string, offset: number, reason: string) {
    super('ERR_METADATA_CORRUPT', `${file}: corrupt at byte ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * The directory's kernel lock is held by another open of it: another process, a worker thread, or
 * another manager in this thread. `owner` is what the LOCK file says of the holder (for people:
 * it may be missing while the holder has not written it yet).
 */
export class LockedError extends MetadataError {
  readonly dir: string;
  readonly owner: LockOwner | undefined;
  /** `owner.pid`, kept for 0.1.0 callers. */
  readonly pid: number | undefined;

  constructor(dir: string, owner: LockOwner | undefined) {
    super('ERR_METADATA_LOCKED', `${dir} is locked: ${describeOwner(owner)}`);
    this.dir = dir;
    this.owner = owner;
    this.pid = owner?.pid;
  }
}

function describeOwner(owner: LockOwner | undefined): string {
  if (owner === undefined)
    return 'another open of the directory holds its lock (its owner has not written LOCK yet)';
  return `held by pid ${owner.pid} on host ${owner.hostname} since ${owner.startedAt}`;
}

/**
 * The directory cannot be locked here, so it is not opened: running unlocked could let a second
 * manager write it. `cause` is the system error of the flock call (ENOLCK, EOPNOTSUPP, ENOSYS...).
 */
export class LockUnavailableError extends MetadataError {
  readonly dir: string;

  constructor(dir: string, cause: unknown) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super(
      'ERR_LOCK_UNAVAILABLE',
      `${dir}: cannot take the kernel lock on its LOCK file (${what}); refusing to open without it. ` +
        'Use a local file system that supports flock(2) (ext4, xfs, btrfs, APFS, tmpfs).',
      { cause },
    );
    this.dir = dir;
  }
}

/**
 * `createIfMissing: false` and the directory does not hold a node's state: it is missing
 * (`reason: 'missing'`) or holds neither a snapshot nor a log (`'empty'`): an unmounted volume, a
 * wrong path, a restore that did not happen. Nothing was created or changed.
 */
export class MetadataNotFoundError extends MetadataError {
  readonly dir: string;
  readonly reason: 'missing' | 'empty';

  constructor(dir: string, reason: 'missing' | 'empty') {
    const what =
      reason === 'missing'
        ? 'does not exist'
        : 'holds no snapshot and no log (an empty directory: a volume that is not mounted, a wrong path, a restore that did not happen?)';
    super(
      'ERR_METADATA_NOT_FOUND',
      `${dir} ${what}; refusing to start at term 0 because createIfMissing is false. ` +
        'Mount or restore the directory; open with createIfMissing: true only for a node that never ran.',
    );
    this.dir = dir;
    this.reason = reason;
  }
}

/**
 * The directory is stamped with another node's identity than the one this node gave: it belongs to
 * another node or cluster (a wrong path, a restored backup of another node). Nothing was changed.
 */
export class IdentityMismatchError extends MetadataError {
  readonly dir: string;
  /** The identity this node passed (`identity` option). */
  readonly expected: NodeIdentity;
  /** The identity stamped in the directory. */
  readonly found: NodeIdentity;

  constructor(dir: string, expected: NodeIdentity, found: NodeIdentity) {
    super(
      'ERR_IDENTITY_MISMATCH',
      `${dir} belongs to ${describeIdentity(found)}, not to this node ${describeIdentity(expected)}; ` +
        'check the path and the node configuration. A directory is never re-stamped.',
    );
    this.dir = dir;
    this.expected = expected;
    this.found = found;
  }
}

/**
 * A single-group API (MetadataManager, `Metadata.load` without `group`) was given a directory
 * that holds other groups than 0 (written by MetadataStore). Open it with MetadataStore instead.
 */
export class MultiGroupDirectoryError extends MetadataError {
  readonly dir: string;
  /** The groups other than 0 it holds, live or removed, ascending (empty when only group 0 is removed). */
  readonly groups: readonly number[];
  /** The term group 0 was removed in, when a MetadataStore removed it (a tombstone); else undefined. */
  readonly removedGroup0Term: number | undefined;
  /** The snapshot's floorTerm (the term of every group it does not list), when above 0. */
  readonly floorTerm: number | undefined;

  constructor(dir: string, groups: readonly number[], removedGroup0Term?: number, floorTerm?: number) {
    const shown = groups.slice(0, 5).join(', ') + (groups.length > 5 ? ', ...' : '');
    const what = [
      ...(groups.length > 0 ? [`${groups.length} group(s) other than 0 (${shown})`] : []),
      ...(removedGroup0Term !== undefined
        ? [`group 0 removed in term ${removedGroup0Term} (a tombstone only MetadataStore keeps)`]
        : []),
      ...(floorTerm !== undefined
        ? [`a floor term ${floorTerm} for every group its snapshot does not list (set by a repair)`]
        : []),
    ].join(' and ');
    super(
      'ERR_MULTI_GROUP_DIRECTORY',
      `${dir} holds ${what}: open it with MetadataStore, or pass { group } to Metadata.load`,
    );
    this.dir = dir;
    this.groups = groups;
    this.removedGroup0Term = removedGroup0Term;
    this.floorTerm = floorTerm;
  }
}

/** The manager stopped after a failed write or fsync (`cause` is the system error), or was closed. */
export class ManagerStateError extends MetadataError {
  constructor(code: 'ERR_MANAGER_FAILED' | 'ERR_MANAGER_CLOSED', message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
  }
}

/**
 * A repair of a metadata directory (the CLI's `repair`) that was refused before any change
 * (`ERR_REPAIR_REFUSED`), or whose result does not load as planned (`ERR_REPAIR_FAILED`: the
 * backup folder holds the original files).
 */
export class RepairError extends MetadataError {
  constructor(code: 'ERR_REPAIR_REFUSED' | 'ERR_REPAIR_FAILED', message: string) {
    super(code, message);
  }
}

/** `{clusterId: "a", nodeId: 3}` for messages. */
export function describeIdentity(identity: NodeIdentity): string {
  return `{clusterId: ${JSON.stringify(identity.clusterId)}, nodeId: ${JSON.stringify(identity.nodeId)}}`;
}

/** True when `err` is a Node system error with this `code` (ENOENT, EEXIST...). */
export function hasErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
