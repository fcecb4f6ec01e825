import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SortedIds } from '../../../src/engine/sorted-ids.js';

/**
 * SortedIds keeps a Map's keys sorted from one snapshot to the next, told of each key added and
 * deleted. Model: the Map itself, whose keys, sorted, it must always give. PROPERTY_RUNS sets the
 * runs (test/setup-fast-check.ts).
 */
const step = fc.oneof(
  fc.record({ op: fc.constant('set' as const), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('read' as const) }),
  fc.record({ op: fc.constant('reset' as const), ids: fc.uniqueArray(fc.integer({ min: 0, max: 40 })) }),
);

describe('SortedIds', () => {
  it('always gives the map keys ascending, and never changes an array it gave', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const map = new Map<number, true>();
        const ids = new SortedIds();
        const given: [Float64Array, number[]][] = [];
        for (const s of steps) {
          if (s.op === 'set') {
            if (!map.has(s.id)) ids.added(s.id);
            map.set(s.id, true);
          } else if (s.op === 'delete') {
            if (map.delete(s.id)) ids.deleted(s.id);
          } else if (s.op === 'reset') {
            map.clear();
            for (const id of s.ids) map.set(id, true);
            ids.reset();
          } else {
            const sorted = ids.of(map);
            expect([...sorted]).toEqual([...map.keys()].sort((a, b) => a - b));
            given.push([sorted, [...sorted]]);
          }
        }
        expect([...ids.of(map)]).toEqual([...map.keys()].sort((a, b) => a - b));
        for (const [array, copy] of given) expect([...array]).toEqual(copy);
      }),
    );
  });

  it('gives the same array again while the keys do not change (the steady state costs nothing)', () => {
    const map = new Map([
      [5, 1],
      [2, 1],
    ]);
    const ids = new SortedIds();
    ids.reset();
    const first = ids.of(map);
    expect([...first]).toEqual([2, 5]);
    map.set(5, 2); // an update of a key that is there: no report
    expect(ids.of(map)).toBe(first);
    map.set(3, 1);
    ids.added(3);
    const merged = ids.of(map);
    expect([...merged]).toEqual([2, 3, 5]);
    expect([...first]).toEqual([2, 5]);
  });

  it('reads the map only after a reset: additions and deletions are applied to the kept ids', () => {
    let reads = 0;
    class CountingMap extends Map<number, number> {
      override keys(): MapIterator<number> {
        reads++;
        return super.keys();
      }
    }
    const map = new CountingMap(Array.from({ length: 1000 }, (_, i) => [i * 2, 1] as const));
    const ids = new SortedIds();
    ids.reset();
    expect(ids.of(map)).toHaveLength(1000);
    expect(reads).toBe(1);
    map.delete(10);
    ids.deleted(10);
    map.set(11, 1);
    ids.added(11);
    const next = ids.of(map);
    expect(reads).toBe(1);
    expect([...next.subarray(4, 7)]).toEqual([8, 11, 12]);
  });

  it('throws on a report that breaks what it keeps, rather than give ids a snapshot could not hold', () => {
    const map = new Map([[4, 1]]);
    const twice = new SortedIds();
    twice.reset();
    twice.of(map);
    twice.added(4); // 4 is kept already: the snapshot would list group 4 twice
    expect(() => twice.of(map)).toThrow(/added while kept/);
    expect([...twice.of(map)]).toEqual([4]); // the next call sorts the map's own keys
    const never = new SortedIds();
    never.reset();
    never.of(map);
    never.deleted(9); // 9 was never kept: the array would end in a zero, a group 0 that is not there
    expect(() => never.of(map)).toThrow(/not among the kept/);
  });
});
