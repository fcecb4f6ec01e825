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
export class GroupTable {
  readonly live: Map<number, HardState>;
  readonly removed: Map<number, number>;

  constructor(live?: ReadonlyMap<number, HardState>, removed?: ReadonlyMap<number, number>) {
    this.live = new Map(live);
    this.removed = new Map(removed);
  }

  /** A group's state: live, or its tombstone's term with no vote, or term 0 with no vote. */
  stateOf(group: number): HardState {
    const live = this.live.get(group);
    if (live !== undefined) return live;
    const tombstone = this.removed.get(group);
    return tombstone === undefined ? FRESH : { currentTerm: tombstone, votedFor: NONE_SERVER_ID };
  }

  /** Applies a record that was validated when it was submitted and is now durable. */
  apply(record: LogRecord): void {
    if (record.kind === RecordKind.Remove) {
      this.live.delete(record.group);
      this.removed.set(record.group, record.currentTerm);
      return;
    }
    this.removed.delete(record.group);
    this.live.set(record.group, { currentTerm: record.currentTerm, votedFor: record.votedFor });
  }

  /** A copy, for a snapshot written while later batches keep changing this table. */
  clone(): GroupTable {
    return new GroupTable(this.live, this.removed);
  }
}
