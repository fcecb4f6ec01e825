import fc from 'fast-check';
import type { FileHandle, FileSystem } from '../fs/types.js';
import {
  type CrashSchedule,
  crashScheduleArbitrary,
  faultArbitrary,
  updateSequenceArbitrary,
  updateStepArbitrary,
} from './arbitraries.js';
import {
  type ConcreteUpdate,
  concretize,
  expectedOutcome,
  HardStateModel,
  type HardStateValue,
  sameState,
  showState,
  showUpdate,
  type UpdateStep,
} from './model.js';
import { type FaultRule, SimulatedDisk, type SimulatedDiskOptions, type SimulatedProcess } from './sim-fs.js';

/**
 * Model-based checks of a hard-state store on the simulated disk: the commands, and
 * {@link runConformance} which runs them with fast-check.
 */

/** What the checks need of a store: the MetadataManager API, or any wrapper around it. */
export interface HardStateStore {
  get(): HardStateValue;
  /** Resolves once the new term is durable; rejects a lower term. */
  updateCurrentTerm(term: number): Promise<void>;
  /** Resolves once the vote is durable; rejects a second, different vote in the term. */
  updateVotedFor(serverId: number): Promise<void>;
  /** Resolves once everything accepted before it is durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** What a store factory receives: the file system to use (a process of the simulated disk). */
export interface StoreContext {
  readonly fs: FileSystem;
}

/** Opens (creating if needed) the store in `dir` on `context.fs`. */
export type OpenStore = (dir: string, context: StoreContext) => Promise<HardStateStore>;

/** Reads the state in `dir` without changing anything (e.g. `Metadata.load`). */
export type LoadState = (dir: string, context: StoreContext) => Promise<HardStateValue>;

/** The `code`s the checks expect on rejections; `false` checks only that a rejection happens. */
export interface ErrorCodes {
  readonly termRegression: string;
  readonly voteConflict: string;
  /** After an I/O failure, every later update. */
  readonly failed: string;
  /** After close(). */
  readonly closed: string;
}

/** raft-metadata's codes. */
export const RAFT_METADATA_CODES: ErrorCodes = {
  termRegression: 'ERR_TERM_REGRESSION',
  voteConflict: 'ERR_VOTE_CONFLICT',
  failed: 'ERR_MANAGER_FAILED',
  closed: 'ERR_MANAGER_CLOSED',
};

/** The system under test, as the commands see it (fast-check's "real"). */
export class ConformanceSystem {
  disk: SimulatedDisk;
  store: HardStateStore | undefined;
  readonly dir: string;
  readonly openStore: OpenStore;
  readonly loadState: LoadState | undefined;
  readonly codes: ErrorCodes | false;
  /** The simulated process the store runs in (a new one for every open). */
  process: SimulatedProcess | undefined;
  /** Trace length of the current disk when the store was last opened. */
  openedAt = 0;
  /** What happened, for failure messages. */
  readonly history: string[] = [];

  constructor(options: {
    disk: SimulatedDisk;
    dir: string;
    openStore: OpenStore;
    loadState?: LoadState | undefined;
    codes?: ErrorCodes | false;
  }) {
    this.disk = options.disk;
    this.dir = options.dir;
    this.openStore = options.openStore;
    this.loadState = options.loadState;
    this.codes = options.codes ?? RAFT_METADATA_CODES;
  }

  /** Whether an injected fault fired on the current disk since the store was opened. */
  faultFiredSinceOpen(): boolean {
    const trace = this.disk.trace;
    for (let i = this.openedAt; i < trace.length; i++) if (trace[i]?.injected) return true;
    return false;
  }

  note(line: string): void {
    this.history.push(line);
    if (this.history.length > 200) this.history.shift();
  }
}

/** How a call ended. */
export type Settled = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

async function settle(promise: Promise<unknown>): Promise<Settled> {
  try {
    await promise;
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Calls the store for `update`; a synchronous throw becomes a rejection. */
function callUpdate(store: HardStateStore, update: ConcreteUpdate): Promise<Settled> {
  try {
    return settle(
      update.kind === 'term' ? store.updateCurrentTerm(update.value) : store.updateVotedFor(update.value),
    );
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/** Calls `store.sync()`; a synchronous throw becomes a rejection. */
function callSync(store: HardStateStore): Promise<Settled> {
  try {
    return settle(store.sync());
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = (error as { cause?: unknown }).cause;
    const causeCode = (cause as { code?: unknown } | undefined)?.code;
    return `${String(code ?? error.name)}: ${error.message}${causeCode ? ` (cause ${String(causeCode)})` : ''}`;
  }
  return String(error);
}

function fail(real: ConformanceSystem, message: string): never {
  const recent = real.history.slice(-12).join('\n    ');
  throw new Error(
    `${message}\n  recent steps:\n    ${recent}\n  disk:\n    ${real.disk.describe().replaceAll('\n', '\n    ')}`,
  );
}

function requireStore(real: ConformanceSystem): HardStateStore {
  if (!real.store) fail(real, 'the model thinks the store is open but it is not');
  return real.store;
}

function expectCode(real: ConformanceSystem, what: string, result: Settled, code: keyof ErrorCodes): void {
  if (result.ok) fail(real, `${what} resolved; expected a rejection (${code})`);
  const codes = real.codes;
  if (codes === false) return;
  const got = (result.error as { code?: unknown } | undefined)?.code;
  if (got !== codes[code])
    fail(real, `${what} rejected with ${describeError(result.error)}; expected ${codes[code]}`);
}

/** A rejection that is not a rule: only allowed as the consequence of an injected fault. */
function expectFailure(real: ConformanceSystem, what: string, result: Settled): void {
  if (result.ok) return;
  if (!real.faultFiredSinceOpen()) {
    fail(real, `${what} rejected with ${describeError(result.error)} although no I/O error was injected`);
  }
  const codes = real.codes;
  const got = (result.error as { code?: unknown } | undefined)?.code;
  if (codes !== false && got !== codes.failed) {
    fail(real, `${what} rejected with ${describeError(result.error)}; expected ${codes.failed}`);
  }
}

/** A rejection with the failed code after an injected fault fired: the store stopped meanwhile. */
function isStoppedByFault(real: ConformanceSystem, result: Settled): boolean {
  if (result.ok || real.codes === false || !real.faultFiredSinceOpen()) return false;
  return (result.error as { code?: unknown } | undefined)?.code === real.codes.failed;
}

function expectState(real: ConformanceSystem, what: string, got: HardStateValue, want: HardStateValue): void {
  if (!sameState(got, want)) fail(real, `${what} is ${showState(got)}; expected ${showState(want)}`);
}

/** A call submitted by {@link submitConcurrently}. */
export interface Planned {
  readonly label: string;
  readonly outcome: 'change' | 'noop' | 'refused' | 'sync';
  readonly refusedCode?: 'termRegression' | 'voteConflict';
  /** Chain index that is durable once this call resolves; -1 for a refused update. */
  readonly index: number;
  readonly promise: Promise<Settled>;
}

/**
 * Submits `steps` (and a `sync()` after the `syncAt`-th, if given) without waiting in between, as
 * concurrent callers would, recording in the model what each call will mean.
 */
export function submitConcurrently(
  m: HardStateModel,
  store: HardStateStore,
  steps: readonly UpdateStep[],
  syncAt: number | undefined,
): Planned[] {
  const planned: Planned[] = [];
  const syncNow = (): void => {
    planned.push({
      label: 'sync()',
      outcome: 'sync',
      index: m.chain.length - 1,
      promise: callSync(store),
    });
  };
  steps.forEach((step, i) => {
    if (syncAt === i) syncNow();
    const update = concretize(m.current, step);
    const outcome = expectedOutcome(m.current, update);
    const label = showUpdate(update);
    const promise = callUpdate(store, update);
    if (outcome.type === 'refused') {
      const refusedCode = outcome.code === 'ERR_TERM_REGRESSION' ? 'termRegression' : 'voteConflict';
      planned.push({ label, outcome: 'refused', refusedCode, index: -1, promise });
    } else if (outcome.type === 'noop') {
      planned.push({ label, outcome: 'noop', index: m.chain.length - 1, promise });
    } else {
      planned.push({ label, outcome: 'change', index: m.submit(outcome.next), promise });
    }
  });
  if (syncAt !== undefined && syncAt >= steps.length) syncNow();
  return planned;
}

/**
 * Checks the results of concurrently submitted calls: refusals carry their code, every resolved
 * call acknowledges its state, and after the first failed write nothing later is acknowledged.
 * `crashed`: the disk crashed meanwhile, so failures need no injected fault.
 */
export async function checkConcurrent(
  m: HardStateModel,
  real: ConformanceSystem,
  planned: readonly Planned[],
  crashed: () => boolean,
): Promise<void> {
  const results = await Promise.all(planned.map((p) => p.promise));
  const failedBefore = m.failed;
  let firstFailed = Number.POSITIVE_INFINITY;
  let lastResolved = -1;
  let sawFailure = false;
  const isFailedCode = (result: Settled): boolean =>
    !result.ok &&
    real.codes !== false &&
    (result.error as { code?: unknown } | undefined)?.code === real.codes.failed;
  planned.forEach((p, i) => {
    const result = results[i] as Settled;
    real.note(`  ${p.label} -> ${result.ok ? 'resolved' : describeError(result.error)}`);
    if (result.ok && failedBefore) fail(real, `${p.label} resolved on a store that had failed before`);
    if (p.outcome === 'refused') {
      // Refused by Raft's rules, unless the store had already stopped when the call arrived.
      if (!result.ok && (failedBefore || crashed() || real.faultFiredSinceOpen()) && isFailedCode(result)) {
        sawFailure = true;
        return;
      }
      if (failedBefore && !result.ok && real.codes === false) return;
      expectCode(real, p.label, result, p.refusedCode ?? 'termRegression');
      return;
    }
    if (result.ok) {
      lastResolved = Math.max(lastResolved, p.index);
      return;
    }
    if (!failedBefore && !crashed()) expectFailure(real, p.label, result);
    sawFailure = true;
    // A failed update means its state may not be durable: nothing at or after it may be
    // acknowledged. A failed sync() or no-op says nothing of the kind (what they wait for may be
    // durable already; they fail because the store stopped).
    if (p.outcome === 'change') firstFailed = Math.min(firstFailed, p.index);
  });
  if (lastResolved >= firstFailed) {
    fail(
      real,
      `a call acknowledged state #${lastResolved} although the update to state #${firstFailed} failed (fail-stop broken)`,
    );
  }
  if (!failedBefore) m.acknowledge(lastResolved);
  if (sawFailure) m.failed = true;
}

/**
 * `fs` as seen through a recorder: every call that could change the disk (open for 'create' or
 * 'write', write, writeDurable, rename, unlink, mkdir) is listed in `mutations`; `traced()` counts
 * the operations the disk traces for them.
 */
export function readOnlyProbe(fs: FileSystem): { fs: FileSystem; mutations: string[]; traced: () => number } {
  const mutations: string[] = [];
  let traced = 0;
  const count = <T>(n: number, promise: Promise<T>): Promise<T> => {
    traced += n;
    return promise;
  };
  const wrapHandle = (handle: FileHandle, path: string): FileHandle => ({
    read: (b, o, l, p) => count(1, handle.read(b, o, l, p)),
    write: (d, p) => {
      mutations.push(`write ${path}`);
      return count(1, handle.write(d, p));
    },
    writeDurable: (d, p) => {
      mutations.push(`writeDurable ${path}`);
      return count(2, handle.writeDurable(d, p));
    },
    datasync: () => count(1, handle.datasync()),
    sync: () => count(1, handle.sync()),
    size: () => count(1, handle.size()),
    close: () => count(1, handle.close()),
  });
  const probe: FileSystem = {
    open: async (path, mode) => {
      if (mode !== 'read') mutations.push(`open ${path} (${mode})`);
      return wrapHandle(await count(1, fs.open(path, mode)), path);
    },
    readFile: (path) => count(1, fs.readFile(path)),
    rename: (from, to) => {
      mutations.push(`rename ${from} -> ${to}`);
      return count(1, fs.rename(from, to));
    },
    unlink: (path) => {
      mutations.push(`unlink ${path}`);
      return count(1, fs.unlink(path));
    },
    readdir: (dir) => count(1, fs.readdir(dir)),
    mkdir: (dir) => {
      mutations.push(`mkdir ${dir}`);
      return count(1, fs.mkdir(dir));
    },
    syncDir: (dir) => count(1, fs.syncDir(dir)),
    stat: (path) => count(1, fs.stat(path)),
    lockScope: fs.lockScope ?? fs,
  };
  return { fs: probe, mutations, traced: () => traced };
}

/**
 * Runs the read-only loader through {@link readOnlyProbe}: it must call nothing that writes, and
 * when nothing else ran meanwhile the disk's fingerprint must be unchanged. Returns the loaded state
 * (validated against the model), or undefined without a loader or after an injected read error.
 */
export async function checkedLoad(
  m: HardStateModel,
  real: ConformanceSystem,
  what: string,
): Promise<HardStateValue | undefined> {
  const load = real.loadState;
  if (!load) return undefined;
  const disk = real.disk;
  const before = disk.fingerprint();
  const traceBefore = disk.trace.length;
  const probe = readOnlyProbe(disk);
  let loaded: HardStateValue | undefined;
  let failure: unknown;
  try {
    loaded = await load(real.dir, { fs: probe.fs });
  } catch (error) {
    failure = error;
  }
  if (probe.mutations.length > 0)
    fail(real, `${what}: load wrote to the disk: ${probe.mutations.join(', ')}`);
  const alone = disk.trace.length - traceBefore === probe.traced();
  if (alone && disk.fingerprint() !== before) fail(real, `${what}: load modified the disk`);
  if (loaded === undefined) {
    if (disk.trace.slice(traceBefore).some((e) => e.injected)) return undefined; // an injected read error
    fail(real, `${what}: load failed: ${describeError(failure)}`);
  }
  const state = { currentTerm: loaded.currentTerm, votedFor: loaded.votedFor };
  try {
    m.validate(state, `${what}: load`);
  } catch (error) {
    fail(real, (error as Error).message);
  }
  real.note(`  load -> ${showState(state)}`);
  return state;
}

/** Opens the store on the current disk and makes its state the model's durable baseline. */
export async function checkedOpen(
  m: HardStateModel,
  real: ConformanceSystem,
  what: string,
  loaded: HardStateValue | undefined,
  mayFail: boolean,
  process: SimulatedProcess = real.disk.process(),
): Promise<void> {
  const traceBefore = real.disk.trace.length;
  let store: HardStateStore;
  try {
    store = await real.openStore(real.dir, { fs: process });
  } catch (error) {
    const injected = real.disk.trace.slice(traceBefore).some((e) => e.injected);
    if (mayFail && (injected || real.disk.crashed || process.killed)) {
      real.note(`  open -> ${describeError(error)}`);
      m.open = false;
      return;
    }
    fail(real, `${what}: open failed: ${describeError(error)}`);
  }
  const got = store.get();
  const state = { currentTerm: got.currentTerm, votedFor: got.votedFor };
  real.note(`  open -> ${showState(state)}`);
  if (loaded && !sameState(state, loaded)) {
    fail(real, `${what}: open returned ${showState(state)} but load returned ${showState(loaded)}`);
  }
  try {
    // Once open resolves, the node acts on this state: it must be durable from now on.
    m.reload(state, `${what}: open`);
  } catch (error) {
    fail(real, (error as Error).message);
  }
  real.store = store;
  real.process = process;
  real.openedAt = real.disk.trace.length;
  m.open = true;
  m.failed = false;
}

async function closeStore(m: HardStateModel, real: ConformanceSystem, allowFailure: boolean): Promise<void> {
  const store = real.store;
  real.store = undefined;
  m.open = false;
  m.failed = false;
  if (!store) return;
  const result = await settle(Promise.resolve().then(() => store.close()));
  real.note(`  close -> ${result.ok ? 'resolved' : describeError(result.error)}`);
  if (!result.ok && !allowFailure && !real.faultFiredSinceOpen()) {
    fail(real, `close failed: ${describeError(result.error)}`);
  }
}

type Cmd = fc.AsyncCommand<HardStateModel, ConformanceSystem>;

/** One update, awaited. */
export class UpdateCommand implements Cmd {
  #label: string;
  constructor(readonly step: UpdateStep) {
    this.#label = `Update(${JSON.stringify(step)})`;
  }
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    const update = concretize(m.current, this.step);
    const outcome = expectedOutcome(m.current, update);
    const label = showUpdate(update);
    this.#label = `Update(${label})`;
    const result = await callUpdate(store, update);
    real.note(`${label} -> ${result.ok ? 'resolved' : describeError(result.error)}`);
    if (m.failed) {
      expectCode(real, `${label} after a failure`, result, 'failed');
      return;
    }
    if (outcome.type === 'refused') {
      if (isStoppedByFault(real, result)) {
        // A background step (an interval compaction) hit an injected fault: the store stopped.
        m.failed = true;
        return;
      }
      expectCode(
        real,
        label,
        result,
        outcome.code === 'ERR_TERM_REGRESSION' ? 'termRegression' : 'voteConflict',
      );
      expectState(real, `get() after a refused ${label}`, store.get(), m.current);
      return;
    }
    const index = outcome.type === 'change' ? m.submit(outcome.next) : m.chain.length - 1;
    if (result.ok) {
      m.acknowledge(index);
      expectState(real, `get() after ${label}`, store.get(), m.current);
      return;
    }
    expectFailure(real, label, result);
    m.failed = true;
  }
  toString(): string {
    return this.#label;
  }
}

/** Updates from concurrent callers (one group commit, or several), with an optional sync() among them. */
export class BatchCommand implements Cmd {
  constructor(
    readonly steps: readonly UpdateStep[],
    readonly syncAt: number | undefined,
  ) {}
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    real.note(
      `Batch of ${this.steps.length}${this.syncAt === undefined ? '' : ` with sync() at ${this.syncAt}`}`,
    );
    const planned = submitConcurrently(m, store, this.steps, this.syncAt);
    await checkConcurrent(m, real, planned, () => false);
    if (!m.failed) expectState(real, 'get() after the batch', store.get(), m.current);
  }
  toString(): string {
    return `Batch(${JSON.stringify(this.steps)}, syncAt=${this.syncAt})`;
  }
}

/** sync(): compaction; resolves once everything accepted is durable. */
export class SyncCommand implements Cmd {
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    const result = await callSync(store);
    real.note(`sync() -> ${result.ok ? 'resolved' : describeError(result.error)}`);
    if (m.failed) {
      expectCode(real, 'sync() after a failure', result, 'failed');
      return;
    }
    if (result.ok) {
      m.acknowledge(m.chain.length - 1);
      return;
    }
    expectFailure(real, 'sync()', result);
    m.failed = true;
  }
  toString(): string {
    return 'Sync';
  }
}

/** Arms an I/O error for a later call (it may never fire). */
export class FaultCommand implements Cmd {
  constructor(readonly rule: FaultRule) {}
  check(): boolean {
    return true;
  }
  async run(_m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note(`failNext(${this.toString()})`);
    real.disk.failNext(this.rule);
  }
  toString(): string {
    const r = this.rule;
    const ops = typeof r.op === 'string' ? r.op : r.op.join('|');
    const short = r.bytesWritten === undefined ? '' : `, short ${r.bytesWritten} B`;
    return `Fault(${ops} ${r.errno} #${r.nth ?? 1}${short})`;
  }
}

/** close(), then a check that updates are refused with the closed code. */
export class CloseCommand implements Cmd {
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    real.note('close()');
    const wasFailed = m.failed;
    await closeStore(m, real, wasFailed);
    const after = await callUpdate(store, { kind: 'term', value: m.current.currentTerm + 1 });
    expectCode(real, 'an update after close()', after, 'closed');
  }
  toString(): string {
    return 'Close';
  }
}

/** A clean restart on the same disk (no crash): close if open, load (read-only), open again. */
export class ReopenCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note('restart (no crash)');
    await closeStore(m, real, true);
    const loaded = await checkedLoad(m, real, 'restart');
    await checkedOpen(m, real, 'restart', loaded, true);
  }
  toString(): string {
    return 'Reopen';
  }
}

/**
 * A crash of the machine: armed to happen after `schedule.afterOps` more file-system operations
 * while `during` updates (and maybe a sync()) are in flight, then (optionally) a second crash in
 * the middle of the recovery, then load and reopen on the rebooted disk.
 */
export class CrashCommand implements Cmd {
  constructor(
    readonly schedule: CrashSchedule,
    readonly during: readonly UpdateStep[],
    readonly syncAt: number | undefined,
    readonly recoveryCrash: CrashSchedule | undefined,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const disk = real.disk;
    real.note(
      `crash after ${this.schedule.afterOps} ops (seed ${this.schedule.seed}), ${this.during.length} updates in flight`,
    );
    const rebooted = disk.scheduleCrash(this.schedule);
    if (m.open && real.store) {
      const planned = submitConcurrently(m, real.store, this.during, this.syncAt);
      await checkConcurrent(m, real, planned, () => disk.crashed);
    }
    if (!disk.crashed) disk.crash(this.schedule.seed);
    real.disk = await rebooted;
    await closeStore(m, real, true);
    real.note(`  rebooted: ${real.disk.toString()}`);

    if (this.recoveryCrash) {
      // A second power cut while the restarted node recovers.
      const again = real.disk.scheduleCrash(this.recoveryCrash);
      await checkedOpen(m, real, 'open interrupted by a crash', undefined, true);
      if (!real.disk.crashed) real.disk.crash(this.recoveryCrash.seed);
      real.disk = await again;
      await closeStore(m, real, true);
      real.note(`  rebooted again: ${real.disk.toString()}`);
    }

    const loaded = await checkedLoad(m, real, 'after crash');
    await checkedOpen(m, real, 'after crash', loaded, false);
  }
  toString(): string {
    const again = this.recoveryCrash ? `, then crash in recovery ${JSON.stringify(this.recoveryCrash)}` : '';
    return `Crash(${JSON.stringify(this.schedule)}, during=${JSON.stringify(this.during)}, syncAt=${this.syncAt}${again})`;
  }
}

/**
 * The process dies (SIGKILL) after `afterOps` more file-system operations while `during` updates
 * (and maybe a sync()) are in flight; the machine does not crash, so its unsynced writes stay in the
 * page cache. A new process loads and opens the store. Whatever that open reports must stay durable
 * through a later power cut.
 */
export class KillCommand implements Cmd {
  constructor(
    readonly afterOps: number,
    readonly during: readonly UpdateStep[],
    readonly syncAt: number | undefined,
    /** Kill the restarted process too, this many operations into its open (its recovery). */
    readonly recoveryKill?: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note(`SIGKILL after ${this.afterOps} ops, ${this.during.length} updates in flight`);
    const process = real.process;
    if (m.open && real.store && process) {
      const killed = real.disk.scheduleKill(process, this.afterOps);
      const planned = submitConcurrently(m, real.store, this.during, this.syncAt);
      await checkConcurrent(m, real, planned, () => process.killed);
      process.kill();
      await killed;
    }
    // A killed process closes nothing: its store is simply gone.
    const abandon = (): void => {
      real.store = undefined;
      real.process = undefined;
      m.open = false;
      m.failed = false;
    };
    abandon();
    if (this.recoveryKill !== undefined) {
      // The restarted process dies too, in the middle of its recovery (or just after it).
      const next = real.disk.process();
      const killed = real.disk.scheduleKill(next, this.recoveryKill);
      await checkedOpen(m, real, 'open interrupted by SIGKILL', undefined, true, next);
      next.kill();
      await killed;
      abandon();
    }
    const loaded = await checkedLoad(m, real, 'after SIGKILL');
    await checkedOpen(m, real, 'after SIGKILL', loaded, true);
  }
  toString(): string {
    const again =
      this.recoveryKill === undefined ? '' : `, then kill after ${this.recoveryKill} ops of recovery`;
    return `Kill(after ${this.afterOps} ops, during=${JSON.stringify(this.during)}, syncAt=${this.syncAt}${again})`;
  }
}

/** Options of {@link conformanceCommands}. */
export interface CommandOptions {
  /** Inject I/O errors (default true). */
  readonly faults?: boolean;
  /** Most updates submitted at once in a batch or during a crash (default 8). */
  readonly maxBatch?: number;
  /** Latest crash point, in file-system operations from the command's start (default 40). */
  readonly maxCrashOps?: number;
}

/** The command arbitraries {@link runConformance} draws from; add your own to extend the model. */
export function conformanceCommands(options: CommandOptions = {}): fc.Arbitrary<Cmd>[] {
  const maxBatch = options.maxBatch ?? 8;
  const crash = crashScheduleArbitrary({ maxOps: options.maxCrashOps ?? 40 });
  const batch = fc
    .tuple(
      updateSequenceArbitrary({ minLength: 2, maxLength: maxBatch }),
      fc.option(fc.nat({ max: maxBatch }), { nil: undefined }),
    )
    .map(([steps, syncAt]) => new BatchCommand(steps, syncAt));
  const crashCommand = fc
    .tuple(
      crash,
      updateSequenceArbitrary({ maxLength: maxBatch }),
      fc.option(fc.nat({ max: maxBatch }), { nil: undefined, freq: 3 }),
      fc.option(crashScheduleArbitrary({ maxOps: 12 }), { nil: undefined, freq: 4 }),
    )
    .map(([schedule, during, syncAt, again]) => new CrashCommand(schedule, during, syncAt, again));
  const commands: fc.Arbitrary<Cmd>[] = [
    updateStepArbitrary().map((step) => new UpdateCommand(step)),
    updateStepArbitrary().map((step) => new UpdateCommand(step)),
    updateStepArbitrary().map((step) => new UpdateCommand(step)),
    batch,
    fc.constant(new SyncCommand()),
    crashCommand,
    fc.constant(new ReopenCommand()),
    fc.constant(new CloseCommand()),
    fc
      .tuple(
        fc.nat({ max: options.maxCrashOps ?? 40 }),
        updateSequenceArbitrary({ maxLength: maxBatch }),
        fc.option(fc.nat({ max: maxBatch }), { nil: undefined, freq: 3 }),
        fc.option(fc.nat({ max: 30 }), { nil: undefined, freq: 3 }),
      )
      .map(([afterOps, during, syncAt, again]) => new KillCommand(afterOps, during, syncAt, again)),
  ];
  if (options.faults ?? true) {
    // Twice, and a second restart with them: a fault followed by a restart is where stores break.
    const fault = faultArbitrary().map((rule) => new FaultCommand(rule));
    commands.push(fault, fault, fc.constant(new ReopenCommand()));
  }
  return commands;
}

/** A fresh system and model: an empty simulated disk, the store not yet open. */
export function newConformanceRun(options: {
  openStore: OpenStore;
  loadState?: LoadState | undefined;
  dir?: string;
  codes?: ErrorCodes | false;
  disk?: SimulatedDiskOptions | undefined;
}): { model: HardStateModel; real: ConformanceSystem } {
  const real = new ConformanceSystem({
    disk: new SimulatedDisk(options.disk ?? {}),
    dir: options.dir ?? '/data/raft',
    openStore: options.openStore,
    loadState: options.loadState,
    codes: options.codes ?? RAFT_METADATA_CODES,
  });
  return { model: new HardStateModel(), real };
}

/** Opens the store for the first time (setup of a run). */
export async function openFirst(model: HardStateModel, real: ConformanceSystem): Promise<void> {
  await checkedOpen(model, real, 'first open', undefined, false);
}

/**
 * The end of every run: a crash that loses everything not durable (the harshest plan), then load
 * and reopen must still show an allowed state; then the store is closed.
 */
export async function finalCheck(model: HardStateModel, real: ConformanceSystem): Promise<void> {
  real.note('final crash (dropping everything not durable)');
  const disk = real.disk;
  const pending = disk.pending();
  real.disk = disk.crashWith({
    writes: pending.writes.map(() => 'drop'),
    dirOps: pending.dirOps.map(() => false),
  });
  await closeStore(model, real, true);
  const loaded = await checkedLoad(model, real, 'after the final crash');
  await checkedOpen(model, real, 'after the final crash', loaded, false);
  await closeStore(model, real, false);
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions extends CommandOptions {
  /** A read-only loader (like `Metadata.load`); checked never to modify the disk. */
  readonly load?: LoadState;
  /** Directory of the store on the simulated disk (default `/data/raft`). */
  readonly dir?: string;
  /** Expected error codes, or `false` to check only that rejections happen (default: raft-metadata's). */
  readonly codes?: ErrorCodes | false;
  /** Runs (default: fast-check's global `numRuns`, 100 unless configured). */
  readonly numRuns?: number;
  /** Replay a failure: the `seed` and `path` from its report. */
  readonly seed?: number;
  readonly path?: string;
  /** Most commands per run (default 25). */
  readonly maxCommands?: number;
  /** Fail a run that takes longer than this (ms, default 20000): a hang is a bug too. */
  readonly timeoutMs?: number;
  /** Options of the simulated disk each run starts with (e.g. `{ failedSync: 'dirty' }`). */
  readonly disk?: SimulatedDiskOptions;
}

/**
 * Checks a hard-state store against Raft's durability rules on the simulated disk, with fast-check:
 * random sequences of updates (sequential and concurrent), sync(), injected I/O errors (EIO,
 * ENOSPC, EDQUOT, short writes), crashes at random file-system operations (also while updates and
 * a compaction are in flight, and again during recovery), clean restarts and close().
 *
 * After every crash and restart: the state is the last acknowledged one or a later submitted one
 * (never older, never one that was not submitted); no term goes down; no term has two votes;
 * after an I/O error nothing more is acknowledged, and what was acknowledged survives; `load`
 * leaves the disk byte-for-byte unchanged. The state `open` returns must stay durable.
 *
 * Assumes updates are validated in call order against the latest accepted state, as
 * `MetadataManager` does. Rejects (throws) with fast-check's report on the first violation: the
 * message holds the seed, the path and the shrunk command list; pass them back as
 * `{ seed, path }` to replay it.
 */
export async function runConformance(openStore: OpenStore, options: ConformanceOptions = {}): Promise<void> {
  const commands = fc.commands(conformanceCommands(options), { maxCommands: options.maxCommands ?? 25 });
  const property = fc.asyncProperty(commands, async (cmds) => {
    const { model, real } = newConformanceRun({
      openStore,
      loadState: options.load,
      dir: options.dir ?? '/data/raft',
      codes: options.codes ?? RAFT_METADATA_CODES,
      disk: options.disk,
    });
    await openFirst(model, real);
    try {
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      await finalCheck(model, real);
    } finally {
      await real.store?.close().catch(() => {});
    }
  });
  const parameters: fc.Parameters<[Iterable<Cmd>]> = { timeout: options.timeoutMs ?? 20_000 };
  if (options.numRuns !== undefined) parameters.numRuns = options.numRuns;
  if (options.seed !== undefined) parameters.seed = options.seed;
  if (options.path !== undefined) parameters.path = options.path;
  await fc.assert(property, parameters);
}
