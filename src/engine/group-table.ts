import type { LogRecord } from '../format/record.js';
import { type HardState, NONE_SERVER_ID, RecordKind } from '../state.js';

const FRESH: HardState = Object.freeze({ currentTerm: 0, votedFor: NONE_SERVER_ID });

/**
 * The durable state of every group: live groups and their state, removed groups and the term
 * they were removed in (tombstones). What the snapshot holds, kept up to date by every durable
 * batch. MetadataManager's table holds group 0 only.
 *
 * Memory: one Map entry per live group (a small object of two numbers) or tombstone (a number).
 */
/** A live group's durable state; `status` lets the store use the entry as its own view, unchanged. */
export interface LiveState extends HardState {
  readonly status: 'live';
}

export class GroupTable {
  readonly live: Map<number, LiveState>;
  readonly removed: Map<number, number>;

  constructor(live?: ReadonlyMap<number, HardState>, removed?: ReadonlyMap<number, number>) {
    this.live = new Map();
    for (const [id, s] of live ?? [])
      this.live.set(id, { status: 'live', currentTerm: s.currentTerm, votedFor: s.votedFor });
    this.removed = new Map(removed);
  }

  /** A group's state: live, or its tombstone's term with no vote, or term 0 with no vote. */
  stateOf(group: number): HardState {
    const live = this.live.get(group);
    if (live !== undefined) return live;
    const tombstone = this.removed.get(group);
    return tombstone === undefined ? FRESH : { currentTerm: tombstone, votedFor: NONE_SERVER_ID };
  }

  /**
   * Applies a record that was validated when it was submitted and is now durable. `entry`: an
   * immutable object holding the record's state to keep as the group's entry (saves one object per
   * update); a new one is made otherwise.
   */
  apply(record: LogRecord, entry?: HardState & { readonly status: string }): void {
    if (record.kind === RecordKind.Remove) {
      this.live.delete(record.group);
      this.removed.set(record.group, record.currentTerm);
      return;
    }
    this.removed.delete(record.group);
    const live: LiveState =
      entry?.status === 'live'
        ? (entry as LiveState)
        : { status: 'live', currentTerm: record.currentTerm, votedFor: record.votedFor };
    this.live.set(record.group, live);
  }

  /** A copy, for a snapshot written while later batches keep changing this table. */
  clone(): GroupTable {
    const copy = new GroupTable();
    // The entries are never mutated (apply replaces them), so the copy shares them.
    for (const [id, state] of this.live) copy.live.set(id, state);
    for (const [id, term] of this.removed) copy.removed.set(id, term);
    return copy;
  }
}
