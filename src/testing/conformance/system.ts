import type { FileSystem } from '../../fs/types.js';
import type { SimulatedDisk } from '../sim/disk.js';
import type { SimulatedProcess } from '../sim/types.js';
import { type Lent, lend } from './lend.js';
import { type ConcreteUpdate, type HardStateValue, sameState, showState } from './model.js';

/**
 * The system under test of the conformance checks, and the checks the commands share: how a call
 * ended, what a rejection may be, what state the store shows. Concurrent submission is in
 * concurrent.ts; opening, loading and closing the store in open-load.ts.
 */

/**
 * What the checks need of a store: the MetadataManager API, or any wrapper around it, such as one
 * group of a MetadataStore (`store.group(id)`'s get and updates, the store's sync and close; see
 * docs/testing.md, "A group of a MetadataStore").
 */
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

/**
 * What a store factory receives: the file system to use (a view of a process of the simulated
 * disk, revoked when the run ends: later calls reject with EIO).
 */
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
  /** The views of the disk lent to stores and loaders in this run, revoked by {@link release}. */
  readonly #lent: Lent[] = [];

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

  /**
   * `fs` as the store under test or a loader gets it: a view that {@link release} revokes, so that
   * a store the run abandoned (a crash or a SIGKILL closes nothing) and that something still holds
   * after the run does not keep the run's disks alive with it (see lend.ts).
   */
  lend(fs: FileSystem): FileSystem {
    const lent = lend(fs);
    this.#lent.push(lent);
    return lent.fs;
  }

  /** The end of the run: every view lent to a store or loader now rejects with EIO and reaches nothing. */
  release(): void {
    for (const lent of this.#lent.splice(0)) lent.revoke();
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
