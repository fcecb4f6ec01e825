import type { LogRecord } from '../format/record.js';
import type { SnapshotRows } from '../format/snapshot-codec.js';
import { type HardState, NONE_SERVER_ID, RecordKind } from '../state.js';
import { SortedIds } from './sorted-ids.js';

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
  /** Live groups. Read-only outside this class: every change goes through {@link apply} or {@link reset}. */
  readonly live: Map<number, LiveState>;
  /** Tombstones. Read-only outside this class, as {@link live}. */
  readonly removed: Map<number, number>;
  /** The ids of {@link live} and {@link removed}, ascending, kept across snapshots. */
  readonly liveIds = new SortedIds();
  readonly removedIds = new SortedIds();
  /**
   * The term of every group neither map lists (no vote): the snapshot's `floorTerm`, set by a
   * repair; 0 otherwise. Fixed for the table's life, and written into every snapshot of it.
   */
  readonly floorTerm: number;
  /** The state {@link stateOf} gives a group neither map lists. */
  readonly #unlisted: HardState;
  /** The snapshot being written, while it is: see {@link freeze}. */
  #frozen: FrozenTable | undefined;

  constructor(live?: ReadonlyMap<number, HardState>, removed?: ReadonlyMap<number, number>, floorTerm = 0) {
    this.floorTerm = floorTerm;
    this.#unlisted =
      floorTerm === 0 ? FRESH : Object.freeze({ currentTerm: floorTerm, votedFor: NONE_SERVER_ID });
    this.live = new Map();
    for (const [id, s] of live ?? [])
      this.live.set(id, { status: 'live', currentTerm: s.currentTerm, votedFor: s.votedFor });
    this.removed = new Map(removed);
    this.liveIds.reset();
    this.removedIds.reset();
  }

  /** Replaces group 0's state and drops every other entry (MetadataManager's open). Not while frozen. */
  reset(state: HardState | undefined): void {
    if (this.#frozen !== undefined) throw new Error('GroupTable.reset: frozen');
    this.live.clear();
    this.removed.clear();
    if (state !== undefined)
      this.live.set(0, { status: 'live', currentTerm: state.currentTerm, votedFor: state.votedFor });
    this.liveIds.reset();
    this.removedIds.reset();
  }

  /**
   * A group's state: live, or its tombstone's term with no vote, or {@link floorTerm} (0 unless a
   * repair raised it) with no vote.
   */
  stateOf(group: number): HardState {
    const live = this.live.get(group);
    if (live !== undefined) return live;
    const tombstone = this.removed.get(group);
    return tombstone === undefined ? this.#unlisted : { currentTerm: tombstone, votedFor: NONE_SERVER_ID };
  }

  /**
   * Applies a record that was validated when it was submitted and is now durable. `entry`: an
   * immutable object holding the record's state to keep as the group's entry (saves one object per
   * update); a new one is made otherwise.
   */
  apply(record: LogRecord, entry?: HardState & { readonly status: string }): void {
    const { group } = record;
    const prior = this.live.get(group);
    // Copy on write: the group's entry as it was when the table was frozen, kept for the snapshot.
    this.#frozen?.keep(group, prior, this.removed.get(group));
    if (record.kind === RecordKind.Remove) {
      if (this.live.delete(group)) this.liveIds.deleted(group);
      if (!this.removed.has(group)) this.removedIds.added(group);
      this.removed.set(group, record.currentTerm);
      return;
    }
    if (this.removed.size > 0 && this.removed.delete(group)) this.removedIds.deleted(group);
    const live: LiveState =
      entry?.status === 'live'
        ? (entry as LiveState)
        : { status: 'live', currentTerm: record.currentTerm, votedFor: record.votedFor };
    if (prior === undefined) this.liveIds.added(group);
    this.live.set(group, live);
  }

  /**
   * The table as it is now, for a snapshot written while later batches keep changing it: taken in
   * constant time (the compactor takes it while appends are held), kept by copy on write (each
   * later {@link apply} first saves the entry it replaces, once per group), until
   * {@link FrozenTable.thaw}. One at a time.
   */
  freeze(): FrozenTable {
    if (this.#frozen !== undefined) throw new Error('GroupTable.freeze: already frozen');
    const frozen = new FrozenTable(this, () => {
      if (this.#frozen === frozen) this.#frozen = undefined;
    });
    this.#frozen = frozen;
    return frozen;
  }
}

/** A group's entries when a table was frozen (undefined: none). */
interface SavedEntry {
  readonly live: LiveState | undefined;
  readonly removed: number | undefined;
}

/**
 * A {@link GroupTable} as it was when frozen, read while the table goes on changing: an entry the
 * table replaced since is read from the copy saved then; every other one from the table itself.
 * Its memory is one saved entry per group changed while frozen (the few milliseconds a snapshot
 * takes to encode), not one per group.
 */
export class FrozenTable {
  readonly #table: GroupTable;
  readonly #onThaw: () => void;
  /** Groups changed since the freeze: their live entry and tombstone then (undefined: none). */
  readonly #saved = new Map<number, SavedEntry>();
  #thawed = false;

  constructor(table: GroupTable, onThaw: () => void) {
    this.#table = table;
    this.#onThaw = onThaw;
  }

  /** The table's {@link GroupTable.floorTerm} (fixed for its life). */
  get floorTerm(): number {
    return this.#table.floorTerm;
  }

  /** @internal GroupTable.apply: saves a group's entries before their first change. */
  keep(group: number, live: LiveState | undefined, removed: number | undefined): void {
    if (!this.#saved.has(group)) this.#saved.set(group, { live, removed });
  }

  /** Live groups at the freeze. */
  readonly live: SnapshotRows<HardState> = {
    sortedIds: () =>
      this.#idsAtFreeze(this.#table.live, this.#table.liveIds, (saved) => saved.live !== undefined),
    get: (id) => {
      const saved = this.#savedOf(id);
      return saved === undefined ? this.#table.live.get(id) : saved.live;
    },
  };

  /** Tombstones at the freeze. */
  readonly removed: SnapshotRows<number> = {
    sortedIds: () =>
      this.#idsAtFreeze(this.#table.removed, this.#table.removedIds, (saved) => saved.removed !== undefined),
    get: (id) => {
      const saved = this.#savedOf(id);
      return saved === undefined ? this.#table.removed.get(id) : saved.removed;
    },
  };

  /** Stops the copy on write: the rows must not be read after. */
  thaw(): void {
    this.#thawed = true;
    this.#onThaw();
  }

  #savedOf(id: number): SavedEntry | undefined {
    if (this.#thawed) throw new Error('FrozenTable: read after thaw');
    return this.#saved.get(id);
  }

  /**
   * The ids `current` had at the freeze, ascending. The table's own sorted ids when no group
   * changed membership since (the usual case: changes while frozen update groups that stay live);
   * otherwise those ids with the membership at the freeze put back, from the saved entries.
   */
  #idsAtFreeze<V>(
    current: ReadonlyMap<number, V>,
    ids: SortedIds,
    had: (saved: SavedEntry) => boolean,
  ): Float64Array {
    if (this.#thawed) throw new Error('FrozenTable: read after thaw');
    const now = ids.of(current);
    let changed = false;
    for (const [id, saved] of this.#saved) {
      if (had(saved) !== current.has(id)) {
        changed = true;
        break;
      }
    }
    if (!changed) return now;
    const then: number[] = [];
    for (const id of now) if (!this.#saved.has(id)) then.push(id);
    for (const [id, saved] of this.#saved) if (had(saved)) then.push(id);
    return Float64Array.from(then).sort();
  }
}
