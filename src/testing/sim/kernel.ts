import type { OpenMode } from '../../fs/types.js';
import { type CrashPlan, pendingOf, randomCrashPlan, replay, survivorOf } from './crash.js';
import type { SimulatedDisk } from './disk.js';
import { systemError } from './errors.js';
import { Faults } from './faults.js';
import type { HandleState } from './handle.js';
import { Namespace } from './namespace.js';
import type { FileNode, Image, Node } from './nodes.js';
import { assertRunning, killProcess, type ProcState } from './process.js';
import type {
  FaultRule,
  FsCall,
  ScheduledCrash,
  SimulatedDiskOptions,
  TraceEntry,
  TraceOp,
} from './types.js';

/**
 * The state of one simulated disk and the one skeleton every traced operation runs through
 * ({@link Kernel.step}): names and bytes, the trace, open handles and their locks, fault rules,
 * the armed crash and kill, and the crash itself. {@link SimulatedDisk} is its public face; the
 * calls are in calls.ts (paths) and handle.ts (handles). Internal to raft-metadata/testing.
 */

/** A disk after a crash: the reboot into `image` (how the facade builds its successor). */
export type Reboot = (image: Image, plan: CrashPlan, seed: number | undefined) => SimulatedDisk;

export type Traced = Omit<TraceEntry, 'index'>;

/** One traced operation, as {@link Kernel.step} runs it. `N` is what it acts on, `T` its result. */
export interface Step<N, T> {
  readonly op: TraceOp;
  readonly path: string;
  readonly proc: ProcState | undefined;
  /** The call fault rules match (default: `op`), or the rule the first half of a `writeDurable` matched. */
  readonly fault?: FsCall | { readonly rule: FaultRule | undefined };
  /** The `syscall` (and `dest`) of an injected error. */
  readonly syscall: string;
  readonly dest?: string;
  /** The trace entry of a failure (injected or genuine) and, unless {@link traced} says otherwise, of success. */
  readonly entry: Traced;
  /** After `begin`, before the fault is matched: when `test()` holds, the call returns `value`, untraced. */
  readonly unless?: { readonly test: () => boolean; readonly value: T };
  /** What the call acts on, resolved after the fault matched and before it fires; a throw is a genuine failure. */
  readonly target?: () => N;
  /**
   * What an injected failure does before it is thrown (a failed fsync's limbo, a short write's
   * bytes); returns the trace entry of the failure, or undefined to let the call go on (the fault
   * of a `writeDurable` without `bytesWritten` fails its fdatasync, not its write).
   */
  readonly injected?: (rule: FaultRule, target: N) => Traced | undefined;
  /** Argument checks after the fault and before the operation; their errors are not traced. */
  readonly validate?: () => void;
  /** The operation; a throw is a genuine failure (ENOENT...), traced with its code and rethrown. */
  readonly apply: (target: N, rule: FaultRule | undefined) => T;
  /** The trace entry of success, when it is not {@link entry}. */
  readonly traced?: (result: T) => Traced;
  /**
   * A second part of the same call, begun once this one is traced (the fdatasync of a
   * `writeDurable`); the call's result is this part's.
   */
  readonly next?: (result: T) => Step<N, T> | undefined;
}

export class Kernel {
  readonly options: SimulatedDiskOptions;
  readonly faults = new Faults();
  readonly handles = new Map<number, HandleState>();
  /** The process whose call is starting (set synchronously by a {@link SimulatedProcess}). */
  caller: ProcState | undefined;
  #ns: Namespace;
  #origin: Image;
  /** Handles open when the trace started (clearTrace): their later writes replay onto their files. */
  #originHandles = new Map<number, number>();
  #trace: TraceEntry[] = [];
  #nextHandle = 1;
  #dead = false;
  #successor: SimulatedDisk | undefined;
  #scheduled: { at: number; crash: ScheduledCrash; resolve: (disk: SimulatedDisk) => void } | undefined;
  #scheduledKill: { at: number; proc: ProcState } | undefined;
  readonly #reboot: Reboot;

  constructor(options: SimulatedDiskOptions, image: Image | undefined, reboot: Reboot) {
    this.options = options;
    this.#ns = new Namespace(image);
    this.#origin = this.#ns.image();
    this.#reboot = reboot;
  }

  get ns(): Namespace {
    return this.#ns;
  }

  get trace(): readonly TraceEntry[] {
    return this.#trace;
  }

  get dead(): boolean {
    return this.#dead;
  }

  get successor(): SimulatedDisk | undefined {
    return this.#successor;
  }

  /** The state the trace starts from (what stateAt replays onto). */
  get origin(): Image {
    return this.#origin;
  }

  /** Forgets the trace; the current state becomes its start. */
  clearTrace(): void {
    this.#trace = [];
    this.#origin = this.#ns.image();
    this.#originHandles = new Map();
    for (const h of this.handles.values()) if (!h.closed) this.#originHandles.set(h.id, h.inode);
  }

  /** The handles open at the start of the trace, by handle number: what {@link replay} starts from. */
  get originHandles(): ReadonlyMap<number, number> {
    return this.#originHandles;
  }

  /** Setup (mkdirp, putFile): only before the first operation; `change` becomes part of the start. */
  setup(change: (ns: Namespace) => void): void {
    this.assertAlive('setup', '/');
    if (this.#trace.length > 0) {
      throw new Error(
        'SimulatedDisk setup helpers work only before any operation (or right after clearTrace())',
      );
    }
    change(this.#ns);
    this.#origin = this.#ns.image();
  }

  /**
   * Applies `entries` (a prefix of another disk's trace, from the same start) again; they become the
   * start. `openAtStart`: that disk's handles open when its trace started (after a clearTrace()),
   * so that writes through them are replayed too rather than silently dropped.
   */
  replay(entries: readonly TraceEntry[], openAtStart: ReadonlyMap<number, number> = new Map()): void {
    const handles = new Map<number, number>(openAtStart);
    for (const entry of entries) replay(this.#ns, entry, handles, this.options.failedSync);
    this.#origin = this.#ns.image();
  }

  scheduleCrash(crash: ScheduledCrash): Promise<SimulatedDisk> {
    this.assertAlive('scheduleCrash', '/');
    return new Promise((resolve) => {
      this.#scheduled = { at: this.#trace.length + crash.afterOps, crash, resolve };
    });
  }

  scheduleKill(state: ProcState, afterOps: number): Promise<void> {
    return new Promise((resolve) => {
      if (state.killed) {
        resolve();
        return;
      }
      state.onKill.push(resolve);
      this.#scheduledKill = { at: this.#trace.length + afterOps, proc: state };
    });
  }

  /** The crash: this disk dies (its handles with it), the successor holds what `plan` keeps. */
  crash(plan: CrashPlan, seed: number | undefined): SimulatedDisk {
    this.assertAlive('crash', '/');
    const image = survivorOf(this.#ns, plan);
    this.#dead = true;
    for (const h of this.handles.values()) h.closed = true;
    const scheduled = this.#scheduled;
    this.#scheduled = undefined;
    const next = this.#reboot(image, plan, seed);
    this.#successor = next;
    scheduled?.resolve(next);
    return next;
  }

  /**
   * Every traced operation: `begin` (dead disk, killed process, `beforeOp`, an armed crash or
   * kill), the fault rules, the operation, the trace entry; an injected fault is traced and thrown
   * as Node's error, a genuine failure traced with its code and rethrown. `build` runs at once
   * (it reads the calling process and the arguments); whatever it throws rejects the call. Each
   * part of a call waits for exactly one `begin`, as the calls of Node's fs do for the kernel.
   */
  async step<N, T>(build: () => Step<N, T>): Promise<T> {
    const s = build();
    await this.#begin(s.op, s.path, s.proc);
    if (s.unless?.test()) return s.unless.value;
    const result = this.#run(s);
    const next = s.next?.(result);
    if (next) {
      await this.#begin(next.op, next.path, next.proc);
      this.#run(next);
    }
    return result;
  }

  /** The part of a {@link step} after its `begin`. */
  #run<N, T>(s: Step<N, T>): T {
    const rule =
      s.fault !== undefined && typeof s.fault !== 'string'
        ? s.fault.rule
        : this.faults.match(s.fault ?? s.op, s.path);
    let target: N;
    try {
      target = s.target ? s.target() : (undefined as N);
    } catch (error) {
      this.#failed(s.entry, error);
    }
    if (rule) {
      const entry = s.injected ? s.injected(rule, target) : s.entry;
      if (entry) this.#fail(entry, rule, s.syscall, s.dest);
    }
    s.validate?.();
    let result: T;
    try {
      result = s.apply(target, rule);
    } catch (error) {
      this.#failed(s.entry, error);
    }
    this.#record(s.traced ? s.traced(result) : s.entry);
    return result;
  }

  assertAlive(op: string, path: string): void {
    if (this.#dead) throw systemError('EIO', op, path, undefined, 'simulated disk crashed');
  }

  /** Opens `path` and returns the new handle's id; `locking` takes flock(2) unless it is held. */
  newHandle(path: string, mode: OpenMode, proc: ProcState | undefined, locking: boolean): number {
    const inode = this.#ns.open(path, mode);
    const id = this.#nextHandle++;
    if (!locking) {
      this.handles.set(id, { id, inode, path, mode, closed: false, proc });
      return id;
    }
    const busy = this.lockHeld(inode);
    this.handles.set(id, { id, inode, path, mode, closed: busy, proc, locked: !busy });
    return id;
  }

  /** Whether an open handle of a live process holds the lock on `inode`. */
  lockHeld(inode: number): boolean {
    for (const h of this.handles.values()) {
      if (h.locked && !h.closed && h.inode === inode && !h.proc?.killed) return true;
    }
    return false;
  }

  handleState(id: number): HandleState {
    const h = this.handles.get(id);
    if (!h) throw new Error(`unknown handle ${id}`);
    return h;
  }

  handleNode(h: HandleState, syscall: string): Node {
    if (h.closed) throw systemError('EBADF', syscall);
    const node = this.#ns.nodes.get(h.inode);
    if (!node) throw new Error(`handle ${h.id} points to a missing inode`);
    return node;
  }

  writableNode(h: HandleState): FileNode {
    const node = this.handleNode(h, 'write');
    if (h.mode === 'read' || node.kind !== 'file') throw systemError('EBADF', 'write');
    return node;
  }

  async #begin(op: TraceOp, path: string, proc: ProcState | undefined): Promise<void> {
    this.assertAlive(op, path);
    assertRunning(proc, op, path);
    const hook = this.options.beforeOp;
    if (hook) await hook(op, path);
    this.assertAlive(op, path);
    const kill = this.#scheduledKill;
    if (kill && this.#trace.length >= kill.at) {
      this.#scheduledKill = undefined;
      killProcess(kill.proc);
    }
    assertRunning(proc, op, path);
    const scheduled = this.#scheduled;
    if (scheduled && this.#trace.length >= scheduled.at) {
      const pending = pendingOf(this.#ns);
      const seed = scheduled.crash.seed ?? 0;
      const plan = scheduled.crash.plan ? scheduled.crash.plan(pending) : randomCrashPlan(pending, seed);
      this.crash(plan, scheduled.crash.plan ? undefined : seed);
      this.assertAlive(op, path);
    }
  }

  #record(entry: Traced): void {
    this.#trace.push({ index: this.#trace.length, ...entry });
  }

  /** Records an injected failure and throws it. */
  #fail(entry: Traced, rule: FaultRule, syscall: string, dest?: string): never {
    this.#record({ ...entry, error: rule.errno, injected: true });
    throw systemError(rule.errno, syscall, entry.path, dest);
  }

  /** Records a genuine failure (ENOENT...) and rethrows it. */
  #failed(entry: Traced, error: unknown): never {
    const code = (error as { code?: unknown }).code;
    this.#record({ ...entry, error: typeof code === 'string' ? code : 'UNKNOWN' });
    throw error;
  }
}
