import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GroupTable } from '../../../src/engine/group-table.js';
import type { LogRecord } from '../../../src/format/record.js';
import { RecordKind } from '../../../src/state.js';

/**
 * The compactor freezes the group table while appends are held and encodes the snapshot from the
 * frozen view while later batches change the table (copy on write). The view must read exactly
 * as a copy taken at the freeze would, whatever changes follow and whenever the ids are read.
 * PROPERTY_RUNS sets the runs (test/setup-fast-check.ts).
 */

const change = fc.record({
  group: fc.integer({ min: 0, max: 12 }),
  remove: fc.boolean(),
  term: fc.integer({ min: 1, max: 1_000 }),
  vote: fc.integer({ min: 0, max: 5 }),
});
type Change = { group: number; remove: boolean; term: number; vote: number };

function apply(table: GroupTable, c: Change, seq: number): void {
  const record: LogRecord = {
    kind: c.remove ? RecordKind.Remove : c.vote === 0 ? RecordKind.Term : RecordKind.Vote,
    batchIndex: 0,
    seq,
    group: c.group,
    currentTerm: c.term,
    votedFor: c.remove ? 0 : c.vote,
  };
  // The table applies what the engine validated; Raft's rules do not matter to the copy on write.
  table.apply(record);
}

function rowsOf<V>(rows: { sortedIds(): Float64Array; get(id: number): V | undefined }): [number, V][] {
  return [...rows.sortedIds()].map((id) => [id, rows.get(id) as V]);
}

function plain(table: GroupTable): { live: [number, number, number][]; removed: [number, number][] } {
  return {
    live: [...table.live].sort((a, b) => a[0] - b[0]).map(([id, s]) => [id, s.currentTerm, s.votedFor]),
    removed: [...table.removed].sort((a, b) => a[0] - b[0]),
  };
}

describe('GroupTable.freeze', () => {
  it('reads as the table was at the freeze, however the table changes after, compaction after compaction', () => {
    const round = fc.record({
      before: fc.array(change, { maxLength: 20 }),
      after: fc.array(change, { maxLength: 20 }),
      readIdsAt: fc.integer({ min: 0, max: 20 }),
    });
    fc.assert(
      fc.property(fc.array(round, { minLength: 1, maxLength: 4 }), (rounds) => {
        // One table through several compactions: its sorted ids are kept from one to the next.
        const table = new GroupTable();
        let seq = 0;
        for (const { before, after, readIdsAt } of rounds) {
          for (const c of before) apply(table, c, ++seq);
          const expected = plain(table);
          const frozen = table.freeze();
          let liveIds: Float64Array | undefined;
          let removedIds: Float64Array | undefined;
          after.forEach((c, i) => {
            // The encoder takes the ids at some moment of the changes, the rows later.
            if (i === readIdsAt) {
              liveIds = frozen.live.sortedIds();
              removedIds = frozen.removed.sortedIds();
            }
            apply(table, c, ++seq);
          });
          liveIds ??= frozen.live.sortedIds();
          removedIds ??= frozen.removed.sortedIds();
          // Ascending as given (no sort here), and the rows as they were at the freeze.
          const live = [...liveIds].map((id) => {
            const s = frozen.live.get(id);
            return [id, s?.currentTerm, s?.votedFor];
          });
          const removed = [...removedIds].map((id) => [id, frozen.removed.get(id)]);
          expect({ live, removed }).toEqual(expected);
          frozen.thaw();
        }
        // Thawed: the table is the latest state, and a new freeze reads it.
        const again = table.freeze();
        expect({
          live: rowsOf(again.live).map(([id, s]) => [id, s.currentTerm, s.votedFor]),
          removed: rowsOf(again.removed),
        }).toEqual(plain(table));
        again.thaw();
      }),
    );
  });

  it('keeps one saved entry per group changed while frozen, none after the thaw', () => {
    const table = new GroupTable();
    for (let g = 0; g < 100; g++) apply(table, { group: g, remove: false, term: 1, vote: 0 }, g + 1);
    const frozen = table.freeze();
    for (let t = 2; t < 50; t++) apply(table, { group: 7, remove: false, term: t, vote: 0 }, 100 + t);
    expect(frozen.live.get(7)?.currentTerm).toBe(1);
    expect([...frozen.live.sortedIds()]).toHaveLength(100);
    frozen.thaw();
    expect(() => frozen.live.get(7)).toThrow(/after thaw/);
    expect(() => table.freeze().thaw()).not.toThrow();
  });

  it('refuses a second freeze while one is held', () => {
    const table = new GroupTable();
    const frozen = table.freeze();
    expect(() => table.freeze()).toThrow(/already frozen/);
    frozen.thaw();
  });
});
