import { describe, expect, it } from 'vitest';
import { Metadata, MetadataStore } from '../../src/index.js';
import { readOnlyProbe } from '../../src/testing/conformance/open-load.js';
import { describeCrashPlan, enumerateCrashPlans, SimulatedDisk } from '../../src/testing/index.js';
import { forEachCrashState, isMutation } from './crash-states.js';

/**
 * Exhaustive crash points of a MetadataStore holding several groups (like crash-points.test.ts
 * for the manager):
 *
 * 1. Record a workload on the simulated disk: open a store, updates of four groups interleaved in
 *    shared batches (one write and one fdatasync for several groups), a removeGroup in a batch with
 *    updates of other groups, a compaction (sync()), the removed group resumed and more mixed
 *    batches, close.
 * 2. For every prefix of the trace and every crash state there (each unsynced write kept, dropped
 *    or torn at a sector, the torn variants of a long write bounded to {@link MAX_TORN_POINTS};
 *    each unsynced directory operation kept or lost): `MetadataStore.load` and
 *    `Metadata.load(dir, { group })` must not write, must agree, and must give every group a state
 *    between its last acknowledged and its last submitted one at that point (removed or not:
 *    `MetadataStore.load` lists live groups only), never a report of corruption. The terms are
 *    distinct across groups, so a group that showed another group's record would show a state
 *    never submitted for it. And the states together are a prefix of the records (one log).
 * 3. For each distinct crashed disk: open the store (it must show what load showed), one more
 *    batch updating every group, close; a harsh crash right after must keep that batch. For every
 *    {@link RECOVERY_SAMPLE}-th of them, also every crash state inside that recovery.
 */

const DIR = '/srv/raft/multi';
const MAX_TORN_POINTS = 6;
const GROUPS = [1, 2, 3, 40] as const;
/** Crashes inside the recovery are enumerated for every RECOVERY_SAMPLE-th distinct crashed disk. */
const RECOVERY_SAMPLE = 6;

interface State {
  readonly term: number;
  readonly vote: number;
  readonly live: boolean;
}

const FRESH: State = { term: 0, vote: 0, live: false };
const show = (s: State): string => `(${s.term}, ${s.vote}${s.live ? '' : ', not listed'})`;
const same = (a: State, b: State): boolean => a.term === b.term && a.vote === b.vote && a.live === b.live;

interface Recorded {
  readonly disk: SimulatedDisk;
  /** Per group: states[0] is FRESH, states[i] the state after the group's i-th change. */
  readonly states: Map<number, State[]>;
  /** Per group: trace length when the change to states[i] was submitted / acknowledged. */
  readonly submittedAt: Map<number, number[]>;
  readonly ackedAt: Map<number, number[]>;
  /** Every change in call order (= record order): which group, which index. */
  readonly order: { group: number; index: number }[];
}

async function recordWorkload(): Promise<Recorded> {
  const disk = new SimulatedDisk();
  const states = new Map<number, State[]>(GROUPS.map((g) => [g, [FRESH]]));
  const submittedAt = new Map<number, number[]>(GROUPS.map((g) => [g, [0]]));
  const ackedAt = new Map<number, number[]>(GROUPS.map((g) => [g, [0]]));
  const order: { group: number; index: number }[] = [];
  const store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });

  const change = (group: number, next: State, call: () => Promise<void>): Promise<void> => {
    const list = states.get(group) as State[];
    list.push(next);
    const index = list.length - 1;
    (submittedAt.get(group) as number[])[index] = disk.trace.length;
    order.push({ group, index });
    return call().then(() => {
      (ackedAt.get(group) as number[])[index] = disk.trace.length;
    });
  };
  const current = (group: number): State => (states.get(group) as State[]).at(-1) as State;
  const term = (group: number, t: number): Promise<void> =>
    change(group, { term: t, vote: 0, live: true }, () => store.group(group).updateCurrentTerm(t));
  const vote = (group: number, v: number): Promise<void> =>
    change(group, { term: current(group).term, vote: v, live: true }, () =>
      store.group(group).updateVotedFor(v),
    );
  const remove = (group: number): Promise<void> =>
    change(group, { term: current(group).term, vote: 0, live: false }, () => store.removeGroup(group));

  // Every term is used by one group only (and every group's terms rise): a record of one group
  // replayed into another shows as a state never submitted for it.
  await Promise.all([term(1, 11), term(2, 21), term(3, 31), term(40, 41)]);
  await Promise.all([vote(1, 7), vote(3, 9), term(2, 22), vote(40, 1)]);
  await Promise.all([remove(3), term(1, 12), vote(2, 4)]);
  await store.sync();
  // Group 3 resumes from its tombstone (term 31): a vote in 31 would be refused, a new term is not.
  await expect(store.group(3).updateVotedFor(5)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
  await Promise.all([term(3, 32), vote(3, 2), term(40, 42), vote(1, 3)]);
  // Two group commits in flight at once: the second batch is submitted while the first is written.
  const first = Promise.all([term(2, 23), vote(40, 6)]);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await Promise.all([first, remove(1), vote(2, 8), term(3, 33)]);
  await store.close();
  return { disk, states, submittedAt, ackedAt, order };
}

/** Per group, the indices a crash after `k` operations may leave: [last acked, last submitted]. */
function allowedRange(rec: Recorded, group: number, k: number): { from: number; to: number } {
  let from = 0;
  let to = 0;
  (rec.states.get(group) as State[]).forEach((_, i) => {
    if (((rec.ackedAt.get(group) as number[])[i] ?? Number.POSITIVE_INFINITY) <= k) from = Math.max(from, i);
    if (((rec.submittedAt.get(group) as number[])[i] ?? Number.POSITIVE_INFINITY) <= k) to = Math.max(to, i);
  });
  return { from, to };
}

/**
 * Both loaders, read-only; they must agree. Every group's state, as the loaders see it. With
 * `everyGroup` false (inside the recovery, for speed), `Metadata.load({ group })` only reads the
 * groups `MetadataStore.load` does not list (for their tombstones).
 */
async function loadReadOnly(
  fs: SimulatedDisk,
  everyGroup = true,
  before = fs.fingerprint(),
): Promise<Map<number, State>> {
  const probe = readOnlyProbe(fs);
  const all = await MetadataStore.load(DIR, { fs: probe.fs });
  const out = new Map<number, State>();
  for (const group of GROUPS) {
    const listed = all.get(group);
    const one =
      everyGroup || listed === undefined ? await Metadata.load(DIR, { fs: probe.fs, group }) : listed;
    if (listed && (listed.currentTerm !== one.currentTerm || listed.votedFor !== one.votedFor)) {
      throw new Error(
        `group ${group}: MetadataStore.load (${listed.currentTerm}, ${listed.votedFor}), Metadata.load (${one.currentTerm}, ${one.votedFor})`,
      );
    }
    out.set(group, { term: one.currentTerm, vote: one.votedFor, live: listed !== undefined });
  }
  const stray = [...all.keys()].filter((g) => !(GROUPS as readonly number[]).includes(g));
  if (stray.length > 0) throw new Error(`MetadataStore.load lists groups never used: ${stray}`);
  if (probe.mutations.length > 0) throw new Error(`the loaders wrote: ${probe.mutations.join(', ')}`);
  if (fs.fingerprint() !== before) throw new Error('the loaders changed the disk');
  return out;
}

/** The states of all groups as indices into their chains, or an error naming the first bad group. */
function indicesOf(rec: Recorded, loaded: Map<number, State>, k: number): Map<number, number> | string {
  const out = new Map<number, number>();
  for (const group of GROUPS) {
    const chain = rec.states.get(group) as State[];
    const state = loaded.get(group) as State;
    const i = chain.findIndex((s) => same(s, state));
    const range = allowedRange(rec, group, k);
    if (i < 0 || i < range.from || i > range.to) {
      const owner = [...rec.states].find(
        ([g, c]) => g !== group && c.some((s) => s.term !== 0 && same(s, state)),
      );
      return (
        `group ${group} shows ${show(state)}; allowed ${chain
          .slice(range.from, range.to + 1)
          .map(show)
          .join(', ')}` +
        (i >= 0 && i < range.from ? ' (an acknowledged update was lost)' : '') +
        (owner ? ` (a state of group ${owner[0]})` : '')
      );
    }
    out.set(group, i);
  }
  // One log: the latest change shown by any group; every change submitted before it shows too.
  let cut = -1;
  rec.order.forEach((c, n) => {
    if ((out.get(c.group) as number) >= c.index) cut = Math.max(cut, n);
  });
  for (let n = 0; n <= cut; n++) {
    const c = rec.order[n] as { group: number; index: number };
    if ((out.get(c.group) as number) < c.index) {
      const later = rec.order[cut] as { group: number; index: number };
      return `group ${later.group} shows its change #${later.index} (record ${cut + 1}) but group ${c.group} lacks its change #${c.index} (record ${n + 1}): not a prefix of the log`;
    }
  }
  return out;
}

/**
 * Recovery from `crashed` (whose loaders gave `loaded`): open (must show the same), one batch that
 * raises every group's term, close; then a crash dropping everything unsynced must keep the batch.
 * With `crashInside`, also every crash state at every point of that recovery (the open's new log
 * and snapshot, the batch; long writes kept or dropped, not torn): each group shows its loaded
 * state or, once submitted, its new term (always once acknowledged), and the new terms that
 * survive are a prefix of the batch. Returns the crash states checked inside the recovery.
 */
async function checkRecovery(
  crashed: SimulatedDisk,
  loaded: Map<number, State>,
  crashInside: boolean,
): Promise<number> {
  const disk = crashed.stateAt(0);
  const store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });
  const listed = new Set(store.groups());
  for (const group of GROUPS) {
    const got = store.group(group).get();
    const state: State = { term: got.currentTerm, vote: got.votedFor, live: listed.has(group) };
    if (!same(state, loaded.get(group) as State)) {
      throw new Error(
        `open shows group ${group} as ${show(state)}, load as ${show(loaded.get(group) as State)}`,
      );
    }
  }
  const removed = GROUPS.filter((g) => !listed.has(g) && (loaded.get(g) as State).term > 0).length;
  if (store.stats().removedGroups !== removed) {
    throw new Error(`open: ${store.stats().removedGroups} tombstones; ${removed} groups were removed`);
  }
  const submitted = disk.trace.length;
  await Promise.all(GROUPS.map((g) => store.group(g).updateCurrentTerm((loaded.get(g) as State).term + 100)));
  const acked = disk.trace.length;
  await store.close();
  const pending = disk.pending();
  const after = await loadReadOnly(
    disk.crashWith({ writes: pending.writes.map(() => 'drop'), dirOps: pending.dirOps.map(() => false) }),
  );
  for (const group of GROUPS) {
    const want: State = { term: (loaded.get(group) as State).term + 100, vote: 0, live: true };
    const got = after.get(group) as State;
    if (!same(got, want))
      throw new Error(
        `after recovery, an update and a crash: group ${group} is ${show(got)}, expected ${show(want)}`,
      );
  }
  if (!crashInside) return 0;
  let checked = 0;
  const trace = disk.trace;
  // Loaded states per distinct crashed disk (a fingerprint): equal disks load alike, so each is
  // loaded once, and every crash state is still checked against its own point.
  const loadedBy = new Map<string, Map<number, State>>();
  for (let j = 0; j <= trace.length; j++) {
    const last = trace[j - 1];
    if (last && !isMutation(last) && j !== submitted && j !== acked) continue;
    const atJ = disk.stateAt(j);
    for (const plan of enumerateCrashPlans(atJ.pending(), { maxTornPointsPerWrite: 0 })) {
      checked++;
      const where = `crash during recovery after op ${j} (${last?.op} ${last?.path}), ${describeCrashPlan(plan)}`;
      const crashedAgain = atJ.stateAt(0).crashWith(plan);
      const fingerprint = crashedAgain.fingerprint();
      let again = loadedBy.get(fingerprint);
      if (again === undefined) {
        again = await loadReadOnly(crashedAgain, false, fingerprint);
        loadedBy.set(fingerprint, again);
      }
      let newSeen = true;
      for (const group of GROUPS) {
        const before = loaded.get(group) as State;
        const next: State = { term: before.term + 100, vote: 0, live: true };
        const got = again.get(group) as State;
        const isNext = same(got, next);
        const ok = j >= acked ? isNext : same(got, before) || (j >= submitted && isNext);
        if (!ok) throw new Error(`${where}: group ${group} is ${show(got)}; recovered from ${show(before)}`);
        if (isNext && !newSeen)
          throw new Error(`${where}: group ${group} has the new term, an earlier group of the batch not`);
        newSeen = isNext;
      }
    }
  }
  return checked;
}

describe('exhaustive crash points of a MetadataStore with four groups in shared batches', () => {
  it('every crash state at every point gives every group an allowed state, and recovers', async () => {
    const rec = await recordWorkload();
    const trace = rec.disk.trace;
    let recoveryCrashStates = 0;
    /** Crash states in which some group showed a state not yet acknowledged (an unacked record kept). */
    let unackedKept = 0;
    /** Crash states with a group removed (a tombstone survived) */
    let tombstones = 0;
    const { crashStates, distinct, failures } = await forEachCrashState(rec.disk, {
      maxTornPoints: MAX_TORN_POINTS,
      moved: (k) =>
        GROUPS.some((g) => {
          const a = allowedRange(rec, g, k);
          const b = allowedRange(rec, g, k - 1);
          return a.from !== b.from || a.to !== b.to;
        }),
      load: async (crashed, fingerprint, nth) => {
        const loaded = await loadReadOnly(crashed, true, fingerprint);
        recoveryCrashStates += await checkRecovery(crashed, loaded, nth % RECOVERY_SAMPLE === 1);
        return loaded;
      },
      check: (loaded, k) => {
        const indices = indicesOf(rec, loaded, k);
        if (typeof indices === 'string') return indices;
        if (GROUPS.some((g) => (indices.get(g) as number) > allowedRange(rec, g, k).from)) unackedKept++;
        if (GROUPS.some((g) => !loaded.get(g)?.live && loaded.get(g)?.term !== 0)) tombstones++;
        return undefined;
      },
    });
    console.log(
      `store crash points: ${trace.length} operations, ${crashStates} crash states checked (${distinct} distinct disks), ` +
        `${unackedKept} keep a record not yet acknowledged, ${tombstones} hold a tombstone; ` +
        `${recoveryCrashStates} crash states during recovery`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    // Guards against an enumeration that silently collapses.
    expect(crashStates).toBeGreaterThan(150);
    expect(unackedKept).toBeGreaterThan(10);
    expect(tombstones).toBeGreaterThan(10);
    expect(recoveryCrashStates).toBeGreaterThan(500);
    // About 10 s of CPU; room for a busy machine.
  }, 120_000);
});
