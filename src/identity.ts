import { InvalidArgumentError } from './errors.js';

/**
 * Whose directory this is: the Raft cluster and the node in it. Given to
 * `MetadataManager.open(dir, { identity })`, stamped into the directory's snapshot when it is
 * created (or adopted by a directory that has no stamp yet), checked on every later open and, when
 * given, on `Metadata.load`. Each field is a non-empty string of at most 256 characters or a safe
 * non-negative integer; `3` and `"3"` are different identities.
 */
export interface NodeIdentity {
  readonly clusterId: string | number;
  readonly nodeId: string | number;
}

const MAX_ID_LENGTH = 256;

function isIdPart(value: unknown): value is string | number {
  if (typeof value === 'string') return value.length > 0 && value.length <= MAX_ID_LENGTH;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** `value` as a NodeIdentity (a fresh plain object), or undefined when it is not one. */
export function parseIdentity(value: unknown): NodeIdentity | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 2 || !keys.includes('clusterId') || !keys.includes('nodeId')) return undefined;
  const { clusterId, nodeId } = value as Record<string, unknown>;
  if (!isIdPart(clusterId) || !isIdPart(nodeId)) return undefined;
  return { clusterId, nodeId };
}

/** The `identity` option, checked before any I/O. */
export function validateIdentity(value: unknown): NodeIdentity | undefined {
  if (value === undefined) return undefined;
  const identity = parseIdentity(value);
  if (identity === undefined) {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARG_TYPE',
      'The "identity" option must be { clusterId, nodeId }, each a non-empty string of at most ' +
        `${MAX_ID_LENGTH} characters or a safe non-negative integer. Received ${describe(value)}`,
    );
  }
  return identity;
}

export function sameIdentity(a: NodeIdentity, b: NodeIdentity): boolean {
  return a.clusterId === b.clusterId && a.nodeId === b.nodeId;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
