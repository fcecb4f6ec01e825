import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Metadata, MetadataStore } from '../../src/index.js';
import { concretize, type UpdateStep } from '../../src/testing/conformance/model.js';
import { readOnlyProbe } from '../../src/testing/conformance/open-load.js';
import { describeError, type Settled, settle } from '../../src/testing/conformance/system.js';
import {
  type CrashSchedule,
  crashScheduleArbitrary,
  type FaultRule,
  faultArbitrary,
  SimulatedDisk,
  type SimulatedDiskOptions,
  type SimulatedProcess,
  updateStepArbitrary,
} from '../../src/testing/index.js';
import { manualIntervals, propertyTimeout, replayParameters } from '../fast-timers.js';

/**
 * Model-based test of MetadataStore on the simulated disk: many groups in one directory. fast-check
 * generates commands (an update of a random group, concurrent batches mixing updates of several
 * groups with removeGroup and sync() among them, removeGroup, sync(), interval compactions,
 * injected I/O errors, crashes at a random file-system operation while a mixed batch is in flight,
 * SIGKILL of the process likewise (the page cache kept), clean restarts, MetadataStore.load and
 * Metadata.load({ group })), runs them against the store and a plain per-group model, and checks:
 *
 * - per group, after every crash and restart, the loaded state is the group's last acknowledged
 *   state or a later submitted one, never older, never one submitted only for another group (the
 *   terms a group moves to are its own: term ≡ its slot mod {@link SLOTS});
 * - removals are states like any other: an acknowledged removeGroup survives crashes and reopens
 *   (the group is not listed, resumes at its term with no vote, a vote in that term is refused);
 * - the records that survive a crash are a prefix of the submitted ones, across groups (one log);
 * - fail-stop is store-wide: after a failed update nothing later is acknowledged, for any group;
 * - get() and groups() follow the model; the loaders never write; MetadataStore.load and
 *   Metadata.load({ group }) agree; open shows what load showed.
 *
 * `PROPERTY_RUNS` sets the runs (test/setup-fast-check.ts); `PROPERTY_SEED`/`PROPERTY_PATH` replay.
 */

const DIR = '/var/lib/raft/multi';
const FLUSH_INTERVAL_MS = 50;
/** The groups the commands use: a few small ids, group 0 (the manager's) and a large one. */
const GROUP_IDS = [0, 1, 2, 3, 17, 4096] as const;
/** Term residues: group at slot s only ever moves to terms ≡ s (mod SLOTS). */
const SLOTS = 8;

type Status = 'fresh' | 'live' | 'removed';

interface GroupState {
  readonly term: number;
  readonly vote: number;
  readonly status: Status;
}

/** What the loaders can see of a group: term, vote, and whether MetadataStore.load lists it. */
interface Observed {
  readonly term: number;
  readonly vote: number;
  readonly live: boolean;
}

const FRESH: GroupState = { term: 0, vote: 0, status: 'fresh' };
const show = (s: GroupState | Observed): string =>
  `(term ${s.term}, vote ${s.vote}, ${'status' in s ? s.status : s.live ? 'live' : 'not listed'})`;
const looksLike = (s: GroupState, o: Observed): boolean =>
  s.term === o.term && s.vote === o.vote && (s.status === 'live') === o.live;

/** One group's promises: `chain[acked..]` are the states a crash may leave. */
class GroupModel {
  chain: GroupState[] = [FRESH];
  acked = 0;
  maxTerm = 0;
  readonly votes = new Map<number, number>();

  constructor(
    readonly id: number,
    readonly slot: number,
  ) {}

  get current(): GroupState {
    return this.chain[this.chain.length - 1] as GroupState;
  }

  get durable(): GroupState {
    return this.chain[this.acked] as GroupState;
  }

  submit(next: GroupState): number {
    this.chain.push(next);
    return this.chain.length - 1;
  }

  acknowledge(index: number): void {
    if (index <= this.acked) return;
    this.acked = index;
    this.#observe(this.durable);
  }

  /** The chain index `o` stands for (the first at or after `acked`), or an error message. */
  find(o: Observed): number | string {
    const index = this.chain.findIndex((s, i) => i >= this.acked && looksLike(s, o));
    if (index < 0) {
      const older = this.chain.slice(0, this.acked).some((s) => looksLike(s, o));
      const allowed = this.chain.slice(this.acked).map(show).join(', ');
      return `group ${this.id} shows ${show(o)}, ${older ? 'older than its acknowledged state (lost acknowledged update)' : 'a state never submitted for it'}; allowed: ${allowed}`;
    }
    if (o.term < this.maxTerm) return `group ${this.id}: term went down from ${this.maxTerm} to ${o.term}`;
    const vote = this.votes.get(o.term);
    if (o.vote !== 0 && vote !== undefined && vote !== o.vote)
      return `group ${this.id}: two votes in term ${o.term}: ${vote} and ${o.vote}`;
    return index;
  }

  /** The store came back with `chain[index]`: it is the new durable baseline. */
  reload(index: number): void {
    const state = this.chain[index] as GroupState;
    this.chain = [state];
    this.acked = 0;
    this.#observe(state);
  }

  #observe(s: GroupState): void {
    if (s.vote !== 0) this.votes.set(s.term, s.vote);
    this.maxTerm = Math.max(this.maxTerm, s.term);
  }
}

/** A submitted change: which group, which index of its chain. In submission (= record) order. */
interface Change {
  readonly group: number;
  readonly index: number;
}

class StoreModel {
  readonly groups = new Map<number, GroupModel>(GROUP_IDS.map((id, slot) => [id, new GroupModel(id, slot)]));
  /** Changes submitted since the last reload, in call order: the log's record order. */
  order: Change[] = [];
  open = false;
  failed = false;

  group(id: number): GroupModel {
    return this.groups.get(id) as GroupModel;
  }

  submit(id: number, next: GroupState): number {
    const index = this.group(id).submit(next);
    this.order.push({ group: id, index });
    return this.order.length - 1;
  }

  liveIds(): number[] {
    return [...this.groups.values()]
      .filter((g) => g.current.status === 'live')
      .map((g) => g.id)
      .sort((a, b) => a - b);
  }
}

class StoreSystem {
  disk: SimulatedDisk;
  store: MetadataStore | undefined;
  process: SimulatedProcess | undefined;
  openedAt = 0;
  readonly history: string[] = [];

  constructor(disk: SimulatedDisk) {
    this.disk = disk;
  }

  note(line: string): void {
    this.history.push(line);
    if (this.history.length > 200) this.history.shift();
  }

  faultFiredSinceOpen(): boolean {
    return this.disk.trace.slice(this.openedAt).some((e) => e.injected);
  }

  fail(message: string): never {
    throw new Error(
      `${message}\n  recent steps:\n    ${this.history.slice(-16).join('\n    ')}\n  disk:\n    ${this.disk.describe().replaceAll('\n', '\n    ')}`,
    );
  }
}

/** What the runs exercised, printed at the end (and a guard that crashes did cut batches). */
const seen = {
  runs: 0,
  crashes: 0,
  /** Crashes during a batch where some changes were acknowledged and some failed. */
  crashesMidBatch: 0,
  /** Crashes during a batch whose changes spanned several groups. */
  crashesMultiGroup: 0,
  acknowledgedChanges: 0,
  tombstonesAfterCrash: 0,
  failedStores: 0,
};

// ---- operations and what the model expects of them ----------------------------------------------

/** An operation of a command: an update step of a group, a removal, or a sync(). */
type Op =
  | { readonly type: 'update'; readonly group: number; readonly step: UpdateStep }
  | { readonly type: 'remove'; readonly group: number }
  | { readonly type: 'sync' }
  /** Later operations wait a macrotask: the group commit of the earlier ones starts first. */
  | { readonly type: 'yield' };

const showOp = (op: Op): string =>
  op.type === 'sync' || op.type === 'yield'
    ? op.type
    : op.type === 'remove'
      ? `remove(${op.group})`
      : `g${op.group}:${JSON.stringify(op.step)}`;

interface Planned {
  readonly label: string;
  readonly kind: 'change' | 'noop' | 'refused' | 'sync';
  readonly group?: number;
  readonly refusedCode?: string;
  /** change: its position in `order`; noop: the group's chain index it waits for; sync: order length - 1. */
  readonly position: number;
  readonly promise: Promise<Settled>;
}

/** The smallest term above `min` that belongs to `slot` (term ≡ slot mod SLOTS). */
function slotTerm(min: number, slot: number): number {
  return min + ((((slot - min) % SLOTS) + SLOTS) % SLOTS);
}

/**
 * Submits operations as concurrent callers do: without waiting for their results, in waves split
 * by `yield` (each wave its own group commit, the next one submitted while it is being written).
 */
async function submitAll(m: StoreModel, store: MetadataStore, ops: readonly Op[]): Promise<Planned[]> {
  const planned: Planned[] = [];
  for (const op of ops) {
    if (op.type === 'yield') await new Promise<void>((resolve) => setImmediate(resolve));
    else planned.push(submit(m, store, op));
  }
  return planned;
}

/** Submits one operation without waiting, and plans its outcome. */
function submit(m: StoreModel, store: MetadataStore, op: Exclude<Op, { type: 'yield' }>): Planned {
  if (op.type === 'sync') {
    return {
      label: 'sync()',
      kind: 'sync',
      position: m.order.length - 1,
      promise: settleCall(() => store.sync()),
    };
  }
  const g = m.group(op.group);
  const cur = g.current;
  if (op.type === 'remove') {
    // A removal at term 0 would leave a tombstone that no loader can tell from a fresh group (both
    // term 0, no vote, not listed): the model could not say after a crash whether a vote is allowed.
    if (cur.status !== 'live' || cur.term === 0) {
      if (cur.status === 'live') {
        // Not called; a barrier instead, so the command still waits for what is in flight.
        return {
          label: `(skipped remove(${op.group}) at term 0)`,
          kind: 'noop',
          group: op.group,
          position: g.chain.length - 1,
          promise: settleCall(() => store.group(op.group).updateCurrentTerm(0)),
        };
      }
      return {
        label: `removeGroup(${op.group})`,
        kind: 'noop',
        group: op.group,
        position: g.chain.length - 1,
        promise: settleCall(() => store.removeGroup(op.group)),
      };
    }
    const position = m.submit(op.group, { term: cur.term, vote: 0, status: 'removed' });
    return {
      label: `removeGroup(${op.group})`,
      kind: 'change',
      group: op.group,
      position,
      promise: settleCall(() => store.removeGroup(op.group)),
    };
  }
  let update = concretize({ currentTerm: cur.term, votedFor: cur.vote }, op.step);
  if (op.step.kind === 'term' && op.step.change === 'up') {
    update = { kind: 'term', value: slotTerm(cur.term + op.step.by, g.slot) };
  }
  const handle = store.group(op.group);
  const label = `g${op.group}.${update.kind === 'term' ? 'updateCurrentTerm' : 'updateVotedFor'}(${update.value})`;
  const promise = settleCall(() =>
    update.kind === 'term' ? handle.updateCurrentTerm(update.value) : handle.updateVotedFor(update.value),
  );
  const noop = (): Planned => ({
    label,
    kind: 'noop',
    group: op.group,
    position: g.chain.length - 1,
    promise,
  });
  const refused = (code: string): Planned => ({
    label,
    kind: 'refused',
    group: op.group,
    refusedCode: code,
    position: -1,
    promise,
  });
  if (update.kind === 'term') {
    if (update.value < cur.term) return refused('ERR_TERM_REGRESSION');
    if (update.value === cur.term) return noop();
    const position = m.submit(op.group, { term: update.value, vote: 0, status: 'live' });
    return { label, kind: 'change', group: op.group, position, promise };
  }
  if (cur.status === 'removed' && update.value !== 0) return refused('ERR_VOTE_CONFLICT');
  if (update.value === cur.vote) return noop();
  if (cur.vote !== 0) return refused('ERR_VOTE_CONFLICT');
  const position = m.submit(op.group, { term: cur.term, vote: update.value, status: 'live' });
  return { label, kind: 'change', group: op.group, position, promise };
}

function settleCall(call: () => Promise<unknown>): Promise<Settled> {
  try {
    return settle(call());
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

const codeOf = (r: Settled): unknown =>
  r.ok ? undefined : (r.error as { code?: unknown } | undefined)?.code;

/**
 * Awaits planned calls and checks them: refusals carry their code, no call resolves on a failed
 * store, a failure needs a fault or a crash, and after a failed update nothing later is
 * acknowledged (store-wide fail-stop). Acknowledges what resolved.
 */
async function checkPlanned(
  m: StoreModel,
  real: StoreSystem,
  planned: readonly Planned[],
  crashed: () => boolean,
): Promise<void> {
  const results = await Promise.all(planned.map((p) => p.promise));
  const failedBefore = m.failed;
  let firstFailed = Number.POSITIVE_INFINITY;
  let lastResolved = -1;
  let sawFailure = false;
  const excused = (): boolean => failedBefore || crashed() || real.faultFiredSinceOpen();
  planned.forEach((p, i) => {
    const r = results[i] as Settled;
    real.note(`  ${p.label} -> ${r.ok ? 'resolved' : describeError(r.error)}`);
    if (r.ok && failedBefore) real.fail(`${p.label} resolved on a store that had failed before`);
    if (!r.ok && codeOf(r) === 'ERR_MANAGER_FAILED' && excused()) {
      sawFailure = true;
      if (p.kind === 'change') firstFailed = Math.min(firstFailed, p.position);
      return;
    }
    if (p.kind === 'refused') {
      if (codeOf(r) !== p.refusedCode)
        real.fail(`${p.label}: ${r.ok ? 'resolved' : describeError(r.error)}; expected ${p.refusedCode}`);
      return;
    }
    if (r.ok) {
      if (p.kind === 'noop') {
        const g = m.group(p.group as number);
        if (!failedBefore) g.acknowledge(p.position);
      } else lastResolved = Math.max(lastResolved, p.position);
      return;
    }
    // A sync() whose compaction failed before it changed anything: abandoned, the store serves on.
    const syscall = (r.error as { syscall?: unknown } | undefined)?.syscall;
    if (p.kind === 'sync' && real.faultFiredSinceOpen() && !crashed() && typeof syscall === 'string') return;
    if (!excused())
      real.fail(`${p.label} rejected with ${describeError(r.error)} although no fault fired and no crash`);
    if (!crashed())
      real.fail(`${p.label} rejected with ${describeError(r.error)}; expected ERR_MANAGER_FAILED`);
    sawFailure = true;
    if (p.kind === 'change') firstFailed = Math.min(firstFailed, p.position);
  });
  if (lastResolved >= firstFailed) {
    real.fail(
      `change #${lastResolved} was acknowledged although change #${firstFailed} failed before it (store-wide fail-stop broken)`,
    );
  }
  if (!failedBefore) {
    // A resolved call acknowledges its own change (and its group's earlier ones); a resolved
    // sync() everything submitted before it.
    for (const p of planned) {
      const r = results[planned.indexOf(p)] as Settled;
      if (!r.ok) continue;
      if (p.kind === 'change') {
        const c = m.order[p.position] as Change;
        m.group(c.group).acknowledge(c.index);
      } else if (p.kind === 'sync') acknowledgeUpTo(m, p.position);
    }
  }
  if (sawFailure && !failedBefore) seen.failedStores++;
  if (sawFailure) m.failed = true;
  const acknowledged = planned.filter((p, i) => p.kind === 'change' && (results[i] as Settled).ok).length;
  seen.acknowledgedChanges += acknowledged;
  if (crashed() && !failedBefore) {
    const changes = planned.filter((p) => p.kind === 'change');
    if (acknowledged > 0 && acknowledged < changes.length) seen.crashesMidBatch++;
    if (new Set(changes.map((p) => p.group)).size > 1) seen.crashesMultiGroup++;
  }
}

/** Everything submitted at positions <= `position` is acknowledged. */
function acknowledgeUpTo(m: StoreModel, position: number): void {
  for (let i = 0; i <= position; i++) {
    const c = m.order[i] as Change;
    m.group(c.group).acknowledge(c.index);
  }
}

/** get() and groups() show the latest accepted state, or after a failure the durable one. */
function checkView(m: StoreModel, real: StoreSystem, what: string): void {
  const store = real.store as MetadataStore;
  for (const g of m.groups.values()) {
    const want = m.failed ? g.durable : g.current;
    const got = store.group(g.id).get();
    if (got.currentTerm !== want.term || got.votedFor !== want.vote) {
      real.fail(
        `${what}: group(${g.id}).get() is (${got.currentTerm}, ${got.votedFor}); expected ${show(want)}`,
      );
    }
  }
  if (!m.failed) {
    const ids = store.groups();
    const want = m.liveIds();
    if (ids.join() !== want.join()) real.fail(`${what}: groups() is [${ids}]; expected [${want}]`);
  }
}

// ---- loading and opening ------------------------------------------------------------------------

/**
 * MetadataStore.load and Metadata.load({ group }) for every group, read-only: each group's state
 * must be allowed, the two loaders agree, and the states together are a prefix of the submitted
 * records. Returns the chain index of each group, or undefined after an injected read error.
 */
async function checkedLoad(
  m: StoreModel,
  real: StoreSystem,
  what: string,
): Promise<Map<number, number> | undefined> {
  const disk = real.disk;
  const before = disk.fingerprint();
  const traceBefore = disk.trace.length;
  const probe = readOnlyProbe(disk);
  let all: Map<number, Metadata>;
  const one = new Map<number, Metadata>();
  try {
    all = await MetadataStore.load(DIR, { fs: probe.fs });
    for (const id of GROUP_IDS) one.set(id, await Metadata.load(DIR, { fs: probe.fs, group: id }));
  } catch (error) {
    if (probe.mutations.length === 0 && disk.trace.slice(traceBefore).some((e) => e.injected))
      return undefined;
    real.fail(`${what}: load failed: ${describeError(error)}`);
  }
  if (probe.mutations.length > 0) real.fail(`${what}: load wrote: ${probe.mutations.join(', ')}`);
  if (disk.trace.length - traceBefore === probe.traced() && disk.fingerprint() !== before) {
    real.fail(`${what}: load changed the disk`);
  }
  const stray = [...all.keys()].filter((id) => !m.groups.has(id));
  if (stray.length > 0) real.fail(`${what}: MetadataStore.load lists groups [${stray}] that were never used`);
  const found = new Map<number, number>();
  for (const g of m.groups.values()) {
    const single = one.get(g.id) as Metadata;
    const listed = all.get(g.id);
    if (listed && (listed.currentTerm !== single.currentTerm || listed.votedFor !== single.votedFor)) {
      real.fail(
        `${what}: group ${g.id}: MetadataStore.load (${listed.currentTerm}, ${listed.votedFor}), Metadata.load (${single.currentTerm}, ${single.votedFor})`,
      );
    }
    const observed: Observed = {
      term: single.currentTerm,
      vote: single.votedFor,
      live: listed !== undefined,
    };
    const index = g.find(observed);
    if (typeof index === 'string') {
      const owner = [...m.groups.values()].find(
        (o) => o !== g && o.chain.some((s) => s.term !== 0 && looksLike(s, observed)),
      );
      real.fail(`${what}: ${index}${owner ? ` (a state submitted for group ${owner.id})` : ''}`);
    }
    found.set(g.id, index);
  }
  checkPrefix(m, real, what, found);
  real.note(
    `  load -> ${[...found].map(([id, i]) => `g${id}=${show(m.group(id).chain[i] as GroupState)}`).join(' ')}`,
  );
  return found;
}

/**
 * One log: the records a crash keeps are a prefix of the submitted ones. Take the latest change
 * any group shows; every change submitted before it must show too, in every group.
 */
function checkPrefix(m: StoreModel, real: StoreSystem, what: string, found: Map<number, number>): void {
  let cut = -1;
  m.order.forEach((c, i) => {
    if ((found.get(c.group) ?? 0) >= c.index) cut = Math.max(cut, i);
  });
  for (let i = 0; i <= cut; i++) {
    const c = m.order[i] as Change;
    if ((found.get(c.group) ?? 0) < c.index) {
      const later = m.order[cut] as Change;
      real.fail(
        `${what}: group ${later.group} shows its change #${later.index} (record ${cut} since the last open) but group ${c.group} lacks its change #${c.index} submitted before it (record ${i}): not a prefix of the log`,
      );
    }
  }
}

/** Opens the store on the current disk and makes its state every group's durable baseline. */
async function checkedOpen(
  m: StoreModel,
  real: StoreSystem,
  what: string,
  loaded: Map<number, number> | undefined,
  mayFail: boolean,
): Promise<void> {
  const process = real.disk.process();
  const traceBefore = real.disk.trace.length;
  let store: MetadataStore;
  try {
    store = await MetadataStore.open(DIR, { fs: process, flushIntervalMs: FLUSH_INTERVAL_MS });
  } catch (error) {
    const injected = real.disk.trace.slice(traceBefore).some((e) => e.injected);
    if (mayFail && (injected || real.disk.crashed)) {
      real.note(`  open -> ${describeError(error)}`);
      m.open = false;
      return;
    }
    real.fail(`${what}: open failed: ${describeError(error)}`);
  }
  const listed = new Set(store.groups());
  const found = new Map<number, number>();
  for (const g of m.groups.values()) {
    const got = store.group(g.id).get();
    const observed: Observed = { term: got.currentTerm, vote: got.votedFor, live: listed.has(g.id) };
    const index = g.find(observed);
    if (typeof index === 'string') real.fail(`${what}: open: ${index}`);
    if (loaded && loaded.get(g.id) !== index) {
      real.fail(
        `${what}: open shows group ${g.id} as ${show(observed)}, load as ${show(g.chain[loaded.get(g.id) as number] as GroupState)}`,
      );
    }
    found.set(g.id, index);
  }
  checkPrefix(m, real, `${what}: open`, found);
  for (const [id, index] of found) m.group(id).reload(index);
  m.order = [];
  const removed = [...m.groups.values()].filter((g) => g.current.status === 'removed').length;
  if (store.stats().removedGroups !== removed) {
    real.fail(
      `${what}: open: stats().removedGroups is ${store.stats().removedGroups}; the model has ${removed} tombstones`,
    );
  }
  real.store = store;
  real.process = process;
  real.openedAt = real.disk.trace.length;
  m.open = true;
  m.failed = false;
  real.note(`  open -> [${store.groups()}]`);
}

async function closeStore(m: StoreModel, real: StoreSystem, allowFailure: boolean): Promise<void> {
  const store = real.store;
  real.store = undefined;
  m.open = false;
  m.failed = false;
  if (!store) return;
  const r = await settle(Promise.resolve().then(() => store.close()));
  real.note(`  close -> ${r.ok ? 'resolved' : describeError(r.error)}`);
  if (!r.ok && !allowFailure && !real.faultFiredSinceOpen())
    real.fail(`close failed: ${describeError(r.error)}`);
}

// ---- commands -----------------------------------------------------------------------------------

type Cmd = fc.AsyncCommand<StoreModel, StoreSystem>;

let intervals: ReturnType<typeof manualIntervals> | undefined;

/** Operations submitted together (one or several group commits), then awaited and checked. */
class OpsCommand implements Cmd {
  constructor(readonly ops: readonly Op[]) {}
  check(m: Readonly<StoreModel>): boolean {
    return m.open;
  }
  async run(m: StoreModel, real: StoreSystem): Promise<void> {
    const store = real.store as MetadataStore;
    real.note(this.toString());
    const planned = await submitAll(m, store, this.ops);
    await checkPlanned(m, real, planned, () => false);
    checkView(m, real, 'after the calls');
  }
  toString(): string {
    return `Ops(${this.ops.map(showOp).join(', ')})`;
  }
}

/** The flush timer fires: a proportional compaction may start, not awaited. */
class IntervalCommand implements Cmd {
  check(m: Readonly<StoreModel>): boolean {
    return m.open;
  }
  async run(_m: StoreModel, real: StoreSystem): Promise<void> {
    real.note('interval');
    intervals?.fire();
  }
  toString(): string {
    return 'Interval';
  }
}

class FaultCommand implements Cmd {
  constructor(readonly rule: FaultRule) {}
  check(): boolean {
    return true;
  }
  async run(_m: StoreModel, real: StoreSystem): Promise<void> {
    real.note(this.toString());
    real.disk.failNext(this.rule);
  }
  toString(): string {
    return `Fault(${JSON.stringify(this.rule)})`;
  }
}

/** Both loaders while the store runs (maybe mid-compaction): read-only, allowed states. */
class LoadCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: StoreModel, real: StoreSystem): Promise<void> {
    real.note('load');
    await checkedLoad(m, real, 'load');
  }
  toString(): string {
    return 'Load';
  }
}

/** A clean restart: close, load, open. */
class ReopenCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: StoreModel, real: StoreSystem): Promise<void> {
    real.note('restart');
    await closeStore(m, real, true);
    const loaded = await checkedLoad(m, real, 'restart');
    await checkedOpen(m, real, 'restart', loaded, true);
    if (m.open) checkView(m, real, 'after the restart');
  }
  toString(): string {
    return 'Reopen';
  }
}

/** A power cut after `afterOps` operations while `during` is in flight; load and reopen. */
class CrashCommand implements Cmd {
  constructor(
    readonly schedule: CrashSchedule,
    readonly during: readonly Op[],
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: StoreModel, real: StoreSystem): Promise<void> {
    const disk = real.disk;
    real.note(this.toString());
    const rebooted = disk.scheduleCrash(this.schedule);
    if (m.open && real.store) {
      const store = real.store;
      const planned = await submitAll(m, store, this.during);
      await checkPlanned(m, real, planned, () => disk.crashed);
    }
    if (!disk.crashed) disk.crash(this.schedule.seed);
    real.disk = await rebooted;
    seen.crashes++;
    await closeStore(m, real, true);
    real.note(`  rebooted: ${real.disk.toString()}`);
    const loaded = await checkedLoad(m, real, 'after crash');
    await checkedOpen(m, real, 'after crash', loaded, true);
    if (m.open) checkView(m, real, 'after the crash');
    seen.tombstonesAfterCrash += [...m.groups.values()].filter((g) => g.current.status === 'removed').length;
  }
  toString(): string {
    return `Crash(${JSON.stringify(this.schedule)}, during=[${this.during.map(showOp).join(', ')}])`;
  }
}

/**
 * The process dies (SIGKILL) after `afterOps` operations while `during` is in flight; the machine
 * does not crash, so the page cache keeps what it wrote. A new process loads and opens the store.
 */
class KillCommand implements Cmd {
  constructor(
    readonly afterOps: number,
    readonly during: readonly Op[],
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: StoreModel, real: StoreSystem): Promise<void> {
    real.note(this.toString());
    const process = real.process;
    if (m.open && real.store && process) {
      const killed = real.disk.scheduleKill(process, this.afterOps);
      const planned = await submitAll(m, real.store, this.during);
      await checkPlanned(m, real, planned, () => process.killed);
      process.kill();
      await killed;
    }
    // A killed process closes nothing: its store is simply gone.
    real.store = undefined;
    real.process = undefined;
    m.open = false;
    m.failed = false;
    const loaded = await checkedLoad(m, real, 'after SIGKILL');
    await checkedOpen(m, real, 'after SIGKILL', loaded, true);
    if (m.open) checkView(m, real, 'after SIGKILL');
  }
  toString(): string {
    return `Kill(after ${this.afterOps} ops, during=[${this.during.map(showOp).join(', ')}])`;
  }
}

const groupArbitrary = fc.constantFrom(...GROUP_IDS);
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      type: fc.constant('update' as const),
      group: groupArbitrary,
      step: updateStepArbitrary(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('remove' as const), group: groupArbitrary }) },
  { weight: 1, arbitrary: fc.constant({ type: 'sync' } as const) },
  { weight: 2, arbitrary: fc.constant({ type: 'yield' } as const) },
);
const batchArbitrary = fc.array(opArbitrary, { minLength: 2, maxLength: 12 });

function storeCommands(faults: boolean): fc.Arbitrary<Cmd>[] {
  const single = opArbitrary.map((op) => new OpsCommand([op]));
  const commands: fc.Arbitrary<Cmd>[] = [
    single,
    single,
    batchArbitrary.map((ops) => new OpsCommand(ops)),
    batchArbitrary.map((ops) => new OpsCommand(ops)),
    groupArbitrary.map((group) => new OpsCommand([{ type: 'remove', group }])),
    fc.constant(new OpsCommand([{ type: 'sync' }])),
    fc.constant(new IntervalCommand()),
    fc.constant(new LoadCommand()),
    fc.constant(new ReopenCommand()),
    // Mostly inside the batch in flight (a group commit is a write and an fdatasync), sometimes later.
    fc
      .tuple(crashScheduleArbitrary({ maxOps: 12 }), fc.array(opArbitrary, { minLength: 2, maxLength: 12 }))
      .map(([schedule, during]) => new CrashCommand(schedule, during)),
    fc
      .tuple(crashScheduleArbitrary({ maxOps: 40 }), fc.array(opArbitrary, { maxLength: 12 }))
      .map(([schedule, during]) => new CrashCommand(schedule, during)),
    fc
      .tuple(fc.nat({ max: 16 }), fc.array(opArbitrary, { minLength: 2, maxLength: 12 }))
      .map(([afterOps, during]) => new KillCommand(afterOps, during)),
  ];
  if (faults) commands.push(faultArbitrary().map((rule) => new FaultCommand(rule)));
  return commands;
}

async function runModel(cmds: Iterable<Cmd>, options: SimulatedDiskOptions): Promise<void> {
  seen.runs++;
  const model = new StoreModel();
  const real = new StoreSystem(new SimulatedDisk(options));
  await checkedOpen(model, real, 'first open', undefined, false);
  try {
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    // The harshest crash: everything not durable is lost. Every acknowledged state survives.
    real.note('final crash (dropping everything not durable)');
    const pending = real.disk.pending();
    real.disk = real.disk.crashWith({
      writes: pending.writes.map(() => 'drop'),
      dirOps: pending.dirOps.map(() => false),
    });
    await closeStore(model, real, true);
    const loaded = await checkedLoad(model, real, 'after the final crash');
    await checkedOpen(model, real, 'after the final crash', loaded, false);
    checkView(model, real, 'after the final crash');
    await closeStore(model, real, false);
  } finally {
    await real.store?.close().catch(() => {});
  }
}

describe('MetadataStore against a per-group model, on a crashing disk', () => {
  beforeEach(() => {
    intervals = manualIntervals();
  });
  afterEach(() => {
    intervals?.restore();
  });
  afterAll(() => {
    console.log(`store model: ${JSON.stringify(seen)}`);
    // With the default 100 runs per property, crashes cut mixed batches many times; a model whose
    // crashes never land inside a batch would pass without testing what it is for.
    if (seen.runs >= 200) {
      expect(seen.crashesMidBatch).toBeGreaterThan(0);
      expect(seen.crashesMultiGroup).toBeGreaterThan(0);
      expect(seen.tombstonesAfterCrash).toBeGreaterThan(0);
    }
  });

  it(
    'every group keeps its promises through mixed batches, removals, compactions and crashes',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(storeCommands(false), { maxCommands: 20 }), (cmds) =>
          runModel(cmds, {}),
        ),
        { timeout: 30_000, ...replayParameters() },
      );
    },
    propertyTimeout(200),
  );

  it(
    'and with injected I/O errors (store-wide fail-stop; failed fsyncs leave data in limbo)',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(storeCommands(true), { maxCommands: 20 }), (cmds) =>
          runModel(cmds, { failedSync: 'limbo' }),
        ),
        { timeout: 30_000, ...replayParameters() },
      );
    },
    propertyTimeout(200),
  );
});
