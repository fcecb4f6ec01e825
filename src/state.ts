import { InvalidArgumentError, RaftRuleError } from './errors.js';

/**
 * A Raft node's hard state and the rules every change to it obeys.
 *
 * Invariants (checked on every update, on replay of the log and by the CLI's repair):
 * 1. `currentTerm` never decreases.
 * 2. A new, higher term clears the vote (`votedFor` becomes {@link NONE_SERVER_ID}).
 * 3. At most one vote per term: once `votedFor` is set in a term, only the same vote is accepted
 *    until the term changes. A vote is never withdrawn (voting {@link NONE_SERVER_ID} over a vote
 *    is a conflict), otherwise a node could vote again in the same term.
 */

/** `votedFor` when the node has not voted in `currentTerm`. */
export const NONE_SERVER_ID = 0;

export interface HardState {
  readonly currentTerm: number;
  readonly votedFor: number;
}

/** What a snapshot or a recovered directory holds of every group: live ones, tombstones, the floor. */
export interface GroupTables {
  readonly groups: ReadonlyMap<number, HardState>;
  readonly removed: ReadonlyMap<number, number>;
  /** The term of every group neither map lists (0 unless a repair set a floor). */
  readonly floorTerm: number;
}

/**
 * Group `id`'s state in `tables`: live; else removed (its tombstone's term) or not listed (the
 * floor), with no vote. The one reading of the three every reader shares.
 */
export function groupStateIn(tables: GroupTables, id: number): HardState {
  return (
    tables.groups.get(id) ?? {
      currentTerm: tables.removed.get(id) ?? tables.floorTerm,
      votedFor: NONE_SERVER_ID,
    }
  );
}

/** What an update changes. (Its number on disk is the format's business: format/record.ts.) */
export const UpdateKind = { Term: 'term', Vote: 'vote' } as const;
export type UpdateKind = (typeof UpdateKind)[keyof typeof UpdateKind];

/**
 * What a log record says: an update, or (MetadataStore) that a group was removed, keeping its last
 * term as a tombstone so that it never votes again in a term it may have voted in.
 */
export const RecordKind = { ...UpdateKind, Remove: 'remove' } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** Throws `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` unless `value` is a safe non-negative integer. */
export function validateCount(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARG_TYPE',
      `The "${name}" argument must be of type number. Received ${describe(value)}`,
    );
  }
  if (!Number.isInteger(value)) {
    throw new InvalidArgumentError(
      'ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be an integer. Received ${String(value)}`,
    );
  }
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(
      'ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be >= 0 && <= ${Number.MAX_SAFE_INTEGER}. Received ${String(value)}`,
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `type bigint (${value}n)`;
  if (typeof value === 'object') return 'an instance of Object';
  if (typeof value === 'string') return `type string ('${value.slice(0, 20)}')`;
  return `type ${typeof value} (${String(value)})`;
}

/**
 * The state after applying `update` to `state`, `undefined` if the update changes nothing, or a
 * thrown {@link RaftRuleError} if Raft forbids it. Pure: the caller decides what to persist.
 */
export function applyUpdate(state: HardState, kind: UpdateKind, value: number): HardState | undefined {
  if (kind === UpdateKind.Term) {
    if (value < state.currentTerm) {
      throw new RaftRuleError(
        'ERR_TERM_REGRESSION',
        `term ${value} is lower than the current term ${state.currentTerm}`,
      );
    }
    if (value === state.currentTerm) return undefined;
    return { currentTerm: value, votedFor: NONE_SERVER_ID };
  }
  if (value === state.votedFor) return undefined;
  if (state.votedFor !== NONE_SERVER_ID) {
    throw new RaftRuleError(
      'ERR_VOTE_CONFLICT',
      `already voted for ${state.votedFor} in term ${state.currentTerm}; refusing a vote for ${value}`,
    );
  }
  return { currentTerm: state.currentTerm, votedFor: value };
}

/**
 * Whether `next` may follow `prev` in Raft's rules (used where a whole state is proposed at once:
 * the manager's `initial` Metadata, the replay of a log, a repair).
 */
export function isLegalTransition(prev: HardState, next: HardState): boolean {
  if (next.currentTerm < prev.currentTerm) return false;
  if (next.currentTerm > prev.currentTerm) return true;
  return prev.votedFor === NONE_SERVER_ID || prev.votedFor === next.votedFor;
}
