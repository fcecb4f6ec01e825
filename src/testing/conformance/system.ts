import type { FileHandle, FileSystem } from '../../fs/types.js';
import type { SimulatedDisk } from '../sim/disk.js';
import type { SimulatedProcess } from '../sim/types.js';
import {
  type ConcreteUpdate,
  concretize,
  expectedOutcome,
  type HardStateModel,
  type HardStateValue,
  sameState,
  showState,
  showUpdate,
  type UpdateStep,
} from './model.js';

/**
 * The system under test of the conformance checks, and the checks the commands share: how a call
 * ended, what a rejection may be, read-only loads, opening and closing the store.
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

export async function settle(promise: Promise<unknown>): Promise<Settled> {
  try {
    await promise;
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Calls the store for `update`; a synchronous throw becomes a rejection. */
export function callUpdate(store: HardStateStore, update: ConcreteUpdate): Promise<Settled> {
  try {
    return settle(
      update.kind === 'term' ? store.updateCurrentTerm(update.value) : store.updateVotedFor(update.value),
    );
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/** Calls `store.sync()`; a synchronous throw becomes a rejection. */
export function callSync(store: HardStateStore): Promise<Settled> {
  try {
    return settle(store.sync());
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = (error as { cause?: unknown }).cause;
    const causeCode = (cause as { code?: unknown } | undefined)?.code;
    return `${String(code ?? error.name)}: ${error.message}${causeCode ? ` (cause ${String(causeCode)})` : ''}`;
  }
  return String(error);
}

export function fail(real: ConformanceSystem, message: string): never {
  const recent = real.history.slice(-12).join('\n    ');
  throw new Error(
    `${message}\n  recent steps:\n    ${recent}\n  disk:\n    ${real.disk.describe().replaceAll('\n', '\n    ')}`,
  );
}

export function requireStore(real: ConformanceSystem): HardStateStore {
  if (!real.store) fail(real, 'the model thinks the store is open but it is not');
  return real.store;
}

export function expectCode(
  real: ConformanceSystem,
  what: string,
  result: Settled,
  code: keyof ErrorCodes,
): void {
  if (result.ok) fail(real, `${what} resolved; expected a rejection (${code})`);
  const codes = real.codes;
  if (codes === false) return;
  const got = (result.error as { code?: unknown } | undefined)?.code;
  if (got !== codes[code])
    fail(real, `${what} rejected with ${describeError(result.error)}; expected ${codes[code]}`);
}

/** A rejection that is not a rule: only allowed as the consequence of an injected fault. */
export function expectFailure(real: ConformanceSystem, what: string, result: Settled): void {
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

/**
 * A sync() that rejected with a system error itself (it has a `syscall`), not the failed code,
 * after an injected fault: the store abandoned a compaction that failed before it changed anything
 * and goes on serving (raft-metadata does this for a failed create, write or fsync of a temp file).
 * Nothing is acknowledged by it, and the store is not stopped.
 */
export function isAbandonedCompaction(real: ConformanceSystem, result: Settled): boolean {
  if (result.ok || real.codes === false || !real.faultFiredSinceOpen()) return false;
  const error = result.error as { code?: unknown; syscall?: unknown } | undefined;
  return error?.code !== real.codes.failed && typeof error?.syscall === 'string';
}

/** A rejection with the failed code after an injected fault fired: the store stopped meanwhile. */
export function isStoppedByFault(real: ConformanceSystem, result: Settled): boolean {
  if (result.ok || real.codes === false || !real.faultFiredSinceOpen()) return false;
  return (result.error as { code?: unknown } | undefined)?.code === real.codes.failed;
}

export function expectState(
  real: ConformanceSystem,
  what: string,
  got: HardStateValue,
  want: HardStateValue,
): void {
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
    if (p.outcome === 'sync' && !failedBefore && !crashed() && isAbandonedCompaction(real, result)) return;
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
    openLocked: async (path) => {
      mutations.push(`openLocked ${path}`);
      const handle = await count(1, fs.openLocked(path));
      return handle === undefined ? undefined : wrapHandle(handle, path);
    },
    probeLock: (path) => count(1, fs.probeLock(path)),
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

export async function closeStore(
  m: HardStateModel,
  real: ConformanceSystem,
  allowFailure: boolean,
): Promise<void> {
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
