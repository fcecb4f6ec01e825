/**
 * The keys of a Map of groups in ascending order, kept from one snapshot to the next, so that a
 * compaction does not collect and sort every id again (10,000 groups: about 2 ms of the main thread
 * in one piece, right when the snapshot starts). The owner reports each key it adds and each key
 * it deletes; {@link SortedIds.of} then costs nothing when the keys did not change since the last
 * call (the steady state: the same groups update again and again), one pass over the kept ids when
 * some were deleted (a group removed, a tombstone dropped), and a sort of the new ids and one merge
 * when some were added. Only {@link reset} (the keys replaced wholesale) makes it sort them all.
 *
 * The array returned is never modified afterwards (a change makes a new one), so a reader may keep
 * it across turns of the event loop while the keys change.
 */
export class SortedIds {
  #sorted: Float64Array = new Float64Array(0);
  /** Keys added since #sorted was built, none of them in it. */
  readonly #added = new Set<number>();
  /** Keys of #sorted deleted since. */
  readonly #deleted = new Set<number>();
  /** The keys were replaced wholesale: rebuild from the map. */
  #stale = false;

  /** `id` became a key of the map (it was not one). */
  added(id: number): void {
    if (this.#stale) return;
    if (!this.#deleted.delete(id)) this.#added.add(id);
  }

  /** `id` stopped being a key of the map. */
  deleted(id: number): void {
    if (this.#stale) return;
    if (!this.#added.delete(id)) this.#deleted.add(id);
  }

  /** The map's keys were replaced wholesale (cleared, refilled). */
  reset(): void {
    this.#stale = true;
    this.#added.clear();
    this.#deleted.clear();
  }

  /** The keys of `map`, ascending: the map whose changes were reported to this object. */
  of(map: ReadonlyMap<number, unknown>): Float64Array {
    if (this.#stale) {
      this.#sorted = Float64Array.from(map.keys()).sort();
      this.#stale = false;
      return this.#sorted;
    }
    try {
      if (this.#deleted.size > 0) {
        this.#sorted = withoutSorted(this.#sorted, Float64Array.from(this.#deleted).sort());
        this.#deleted.clear();
      }
      if (this.#added.size > 0) {
        this.#sorted = mergeSorted(this.#sorted, Float64Array.from(this.#added).sort());
        this.#added.clear();
      }
    } catch (err) {
      // Reported wrong (a bug): this call fails, and the next one sorts the map's own keys.
      this.reset();
      throw err;
    }
    return this.#sorted;
  }
}

/**
 * `a` without the ids of `b`, both ascending, every id of `b` in `a`: one walk of both (no hashing,
 * no callback: a typed array's `filter` took 15-24 ms over 100,000 ids here, this well under one).
 */
function withoutSorted(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length - b.length);
  let j = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    const id = a[i] as number;
    if (j < b.length && id === b[j]) j++;
    else out[k++] = id;
  }
  // A broken report (a deleted id that was not kept) would leave zeros: a snapshot naming group 0.
  if (j !== b.length) throw new Error('SortedIds: a deleted id was not among the kept ones');
  return out;
}

/** The union of two ascending arrays with no id in both, ascending. */
function mergeSorted(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x < y) {
      out[k++] = x;
      i++;
    } else if (x === y) {
      // A broken report (an added id that was kept already) would list a group twice: a snapshot
      // the reader refuses. The compaction fails instead (abandoned: nothing written).
      throw new Error(`SortedIds: group ${x} added while kept`);
    } else {
      out[k++] = y;
      j++;
    }
  }
  out.set(a.subarray(i), k);
  out.set(b.subarray(j), k + a.length - i);
  return out;
}
