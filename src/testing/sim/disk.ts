import type { FileHandle, FileStat, FileSystem, LockProbe, OpenMode } from '../../fs/types.js';
import {
  type CrashPlan,
  describeCrashPlan,
  type PendingState,
  pendingOf,
  randomCrashPlan,
  replay,
  survivorOf,
} from './crash.js';
import { systemError } from './errors.js';
import { Faults } from './faults.js';
import { type HandleState, SimFileHandle } from './handle.js';
import { describeState, durableBytes, fingerprintOf } from './inspect.js';
import { Namespace } from './namespace.js';
import {
  cloneImage,
  DIR_SIZE,
  type FileNode,
  failSync,
  type Image,
  type Node,
  normalize,
  syncFile,
  writeFile,
} from './nodes.js';
import { assertRunning, killProcess, type ProcState, processView } from './process.js';
import type {
  FaultRule,
  FsCall,
  ScheduledCrash,
  SimulatedDiskOptions,
  SimulatedProcess,
  TraceEntry,
  TraceOp,
} from './types.js';

/**
 * An in-memory {@link FileSystem} that crashes like a real machine.
 *
 * Model (the contract in fs/types.ts, taken literally and adversarially):
 * - Every file has durable bytes and a list of writes not yet synced. `datasync`/`sync` make all of
 *   the file's writes (and its size) durable. `writeDurable` is a `write` then a `datasync`, traced
 *   as two operations so a crash can fall between them.
 * - Names (create, rename, unlink, mkdir) are durable only after `syncDir` of their directory.
 *   Renames across directories are one atomic operation, made durable by `syncDir` of either side.
 * - {@link SimulatedDisk.crash} keeps the durable state and, for everything else, any subset a real
 *   machine could keep: each unsynced write kept, dropped or torn at a 512-byte sector boundary,
 *   each unsynced directory operation kept or lost, independently (stricter than ext4's ordered
 *   journal, which would keep a prefix). Choices come from a seed or an explicit {@link CrashPlan}.
 * - A failed fsync leaves the file's unsynced writes in limbo: reads still see them (page cache),
 *   no later fsync makes them durable, a crash may keep or lose them (Linux after an fsync error;
 *   see {@link SimulatedDiskOptions.failedSync}).
 * - After a crash the old instance is dead: every call on it or its handles rejects with `EIO`, so a
 *   crashed process cannot write into the disk that "rebooted".
 *
 * Paths are POSIX; relative paths resolve against `/`. The root directory always exists.
 *
 * The parts: names and directory operations in namespace.ts, file bytes in nodes.ts, crash states
 * and replay in crash.ts, fault rules in faults.ts, processes in process.ts. This class runs every
 * operation through one skeleton ({@link SimulatedDisk.#step}) and keeps the trace.
 */

type Traced = Omit<TraceEntry, 'index'>;

/** One traced operation, as {@link SimulatedDisk.#step} runs it. `N` is what it acts on, `T` its result. */
interface Step<N, T> {
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
}

export class SimulatedDisk implements FileSystem {
  /** The plan of the crash that produced this disk, if it came from one. */
  readonly crashPlan: CrashPlan | undefined;
  /** The seed of that crash, if it was random. */
  readonly crashSeed: number | undefined;

  #ns: Namespace;
  #origin: Image;
  readonly #options: SimulatedDiskOptions;
  #trace: TraceEntry[] = [];
  readonly #handles = new Map<number, HandleState>();
  #nextHandle = 1;
  #dead = false;
  #successor: SimulatedDisk | undefined;
  readonly #faults = new Faults();
  #scheduled: { at: number; crash: ScheduledCrash; resolve: (disk: SimulatedDisk) => void } | undefined;
  #scheduledKill: { at: number; proc: ProcState } | undefined;
  /** The process whose call is starting (set synchronously by a {@link SimulatedProcess}). */
  #caller: ProcState | undefined;
  readonly #processes = new WeakMap<SimulatedProcess, ProcState>();

  constructor(options: SimulatedDiskOptions = {}) {
    this.#options = options;
    this.#ns = new Namespace();
    this.#origin = this.#ns.image();
    this.crashPlan = undefined;
    this.crashSeed = undefined;
  }

  static #fromImage(
    image: Image,
    options: SimulatedDiskOptions,
    plan: CrashPlan | undefined,
    seed: number | undefined,
  ): SimulatedDisk {
    const disk = new SimulatedDisk(options);
    disk.#ns = new Namespace(image);
    disk.#origin = disk.#ns.image();
    (disk as { crashPlan: CrashPlan | undefined }).crashPlan = plan;
    (disk as { crashSeed: number | undefined }).crashSeed = seed;
    return disk;
  }

  // ---------------------------------------------------------------- FileSystem

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const proc = this.#caller;
    const p = normalize(path);
    const entry = { op: 'open', path: p, mode } as const;
    const id = await this.#step({
      op: 'open',
      path: p,
      proc,
      syscall: 'open',
      entry,
      apply: () => this.#newHandle(p, mode, proc, false),
      traced: (handle) => ({ ...entry, handle }),
    });
    return new SimFileHandle(this, id);
  }

  /**
   * flock(2) as Linux does it: the lock belongs to one handle (an open file description); another
   * handle on the same file is refused while it is open, whatever path or process it came from.
   * Closing the handle or killing its process releases the lock; a crash gives a disk with no locks.
   * Traced as the `open` it performs (mode `write`, or `create` when the file is new), so that crash
   * states and replays see the file's creation.
   */
  async openLocked(path: string): Promise<FileHandle | undefined> {
    const proc = this.#caller;
    const p = normalize(path);
    // `write` until the call looks (an injected flock failure is traced so), then what it opens with.
    let mode: OpenMode = 'write';
    const entry = {
      op: 'open' as const,
      path: p,
      get mode(): OpenMode {
        return mode;
      },
    };
    const id = await this.#step({
      op: 'open',
      fault: 'openLocked',
      path: p,
      proc,
      syscall: 'flock',
      entry,
      apply: () => {
        mode = this.#ns.exists(p) ? 'write' : 'create';
        return this.#newHandle(p, mode, proc, true);
      },
      traced: (handle) => ({ op: 'open', path: p, mode, handle }),
    });
    // A refused lock: the real disk closes the descriptor it opened; the file it created stays.
    if (this.#handles.get(id)?.locked !== true) return undefined;
    return new SimFileHandle(this, id);
  }

  async probeLock(path: string): Promise<LockProbe> {
    const p = normalize(path);
    return this.#step({
      op: 'stat',
      fault: 'probeLock',
      path: p,
      proc: this.#caller,
      syscall: 'flock',
      entry: { op: 'stat', path: p },
      apply: () => {
        if (!this.#ns.exists(p)) return 'missing';
        return this.#lockHeld(this.#ns.lookup(p, 'open').id) ? 'held' : 'free';
      },
    });
  }

  async readFile(path: string): Promise<Uint8Array> {
    const p = normalize(path);
    return this.#step({
      op: 'readFile',
      path: p,
      proc: this.#caller,
      syscall: 'read',
      entry: { op: 'readFile', path: p },
      apply: () => {
        const node = this.#ns.lookup(p, 'open');
        if (node.kind === 'dir') throw systemError('EISDIR', 'read');
        return node.data.slice();
      },
    });
  }

  async rename(from: string, to: string): Promise<void> {
    const a = normalize(from);
    const b = normalize(to);
    const entry = { op: 'rename', path: a, dest: b } as const;
    const step = { op: 'rename', path: a, dest: b, proc: this.#caller, syscall: 'rename', entry } as const;
    return this.#step({ ...step, apply: () => this.#ns.rename(a, b) });
  }

  async unlink(path: string): Promise<void> {
    return this.#dirStep('unlink', path, 'unlink', (p) => this.#ns.unlink(p));
  }

  async readdir(dir: string): Promise<string[]> {
    return this.#dirStep('readdir', dir, 'scandir', (p) => {
      const node = this.#ns.lookup(p, 'scandir');
      if (node.kind !== 'dir') throw systemError('ENOTDIR', 'scandir', p);
      return [...node.entries.keys()].sort();
    });
  }

  async mkdir(dir: string): Promise<void> {
    return this.#dirStep('mkdir', dir, 'mkdir', (p) => this.#ns.mkdir(p));
  }

  async syncDir(dir: string): Promise<void> {
    return this.#dirStep('syncDir', dir, 'fsync', (p) => this.#ns.syncDir(p));
  }

  async stat(path: string): Promise<FileStat> {
    return this.#dirStep('stat', path, 'stat', (p) => {
      const node = this.#ns.lookup(p, 'stat');
      return node.kind === 'dir'
        ? { size: DIR_SIZE, isFile: false, isDirectory: true }
        : { size: node.data.byteLength, isFile: true, isDirectory: false };
    });
  }

  // ---------------------------------------------------------------- handles (called by SimFileHandle)

  /** @internal */
  async handleRead(
    id: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    const h = this.#handleState(id);
    return this.#step({
      op: 'read',
      path: h.path,
      proc: h.proc,
      syscall: 'read',
      entry: { op: 'read', path: h.path, handle: id, position, length },
      validate: () => {
        if (offset < 0 || length < 0 || offset + length > buffer.byteLength || position < 0) {
          throw Object.assign(new RangeError('The value of "length" is out of range.'), {
            code: 'ERR_OUT_OF_RANGE',
          });
        }
      },
      apply: () => {
        const node = this.#handleNode(h, 'read');
        if (node.kind === 'dir') throw systemError('EISDIR', 'read');
        const n = Math.max(0, Math.min(length, node.data.byteLength - position));
        buffer.set(node.data.subarray(position, position + n), offset);
        return n;
      },
    });
  }

  /**
   * `write`, or `writeDurable` as a traced `write` then a traced `datasync` (a crash can fall
   * between them). A fault on `writeDurable` with `bytesWritten` is a short write; without, the
   * bytes are written and the fdatasync fails.
   */
  async handleWrite(id: number, data: Uint8Array, position: number, durable: boolean): Promise<void> {
    const h = this.#handleState(id);
    const via = durable ? { via: 'writeDurable' as const } : {};
    const base = { op: 'write' as const, path: h.path, handle: id, position, ...via };
    const written = await this.#step({
      op: 'write',
      fault: durable ? 'writeDurable' : 'write',
      path: h.path,
      proc: h.proc,
      syscall: 'write',
      entry: { ...base, length: 0 },
      target: () => this.#writableNode(h),
      injected: (rule, file) => {
        if (durable && rule.bytesWritten === undefined) return undefined;
        const n = Math.max(0, Math.min(rule.bytesWritten ?? 0, data.byteLength));
        if (n > 0) writeFile(file, data.slice(0, n), position);
        return { ...base, length: n, data: data.slice(0, n) };
      },
      apply: (file, rule) => {
        const copy = data.slice();
        writeFile(file, copy, position);
        return { copy, file, rule };
      },
      traced: ({ copy }) => ({ ...base, length: copy.byteLength, data: copy }),
    });
    if (!durable) return;
    const entry = { op: 'datasync' as const, path: h.path, handle: id, via: 'writeDurable' as const };
    await this.#step({
      op: 'datasync',
      fault: { rule: written.rule },
      path: h.path,
      proc: h.proc,
      syscall: 'fdatasync',
      entry,
      target: () => written.file,
      injected: (_rule, file) => {
        failSync(file, this.#options.failedSync);
        return entry;
      },
      apply: (file) => syncFile(file),
    });
  }

  /** @internal */
  async handleSync(id: number, op: 'datasync' | 'sync'): Promise<void> {
    const h = this.#handleState(id);
    const syscall = op === 'sync' ? 'fsync' : 'fdatasync';
    const entry = { op, path: h.path, handle: id };
    await this.#step({
      op,
      path: h.path,
      proc: h.proc,
      syscall,
      entry,
      target: () => this.#handleNode(h, syscall),
      injected: (_rule, node) => {
        if (node.kind === 'file') failSync(node, this.#options.failedSync);
        return entry;
      },
      apply: (node) => {
        if (node.kind === 'file') syncFile(node);
      },
    });
  }

  /** @internal */
  async handleSize(id: number): Promise<number> {
    const h = this.#handleState(id);
    return this.#step({
      op: 'size',
      path: h.path,
      proc: h.proc,
      syscall: 'fstat',
      entry: { op: 'size', path: h.path, handle: id },
      apply: () => {
        const node = this.#handleNode(h, 'fstat');
        return node.kind === 'dir' ? DIR_SIZE : node.data.byteLength;
      },
    });
  }

  /** @internal */
  async handleClose(id: number): Promise<void> {
    const h = this.#handleState(id);
    const entry = { op: 'close' as const, path: h.path, handle: id };
    await this.#step({
      op: 'close',
      path: h.path,
      proc: h.proc,
      syscall: 'close',
      entry,
      unless: { test: () => h.closed, value: undefined }, // Node resolves a second close of a FileHandle.
      injected: () => {
        h.closed = true; // a failed close still closes the descriptor
        return entry;
      },
      apply: () => {
        h.closed = true;
      },
    });
  }

  // ---------------------------------------------------------------- faults and crashes

  /**
   * Makes the `nth` (default: next) call matching `rule` reject with a Node-style error
   * (`code`, `errno`, `syscall`, `path`). Rules stack; each counts its own matches.
   */
  failNext(rule: FaultRule): void {
    this.#faults.add(rule);
  }

  /** Removes every fault rule not yet fired. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** True once this disk has crashed; every call on it rejects with EIO. */
  get crashed(): boolean {
    return this.#dead;
  }

  /** The disk that replaced this one at its crash, if it crashed. */
  get successor(): SimulatedDisk | undefined {
    return this.#successor;
  }

  /** What a crash right now could still lose, in the order a {@link CrashPlan} addresses it. */
  pending(): PendingState {
    return pendingOf(this.#ns);
  }

  /**
   * Crashes now, losing a random part of what was not durable (see {@link randomCrashPlan}); returns
   * the disk as it is after the reboot. The same seed on the same state gives the same disk.
   */
  crash(seed: number): SimulatedDisk {
    return this.#crash(randomCrashPlan(this.pending(), seed), seed);
  }

  /** Crashes now into exactly the state `plan` describes (from {@link enumerateCrashPlans}, say). */
  crashWith(plan: CrashPlan): SimulatedDisk {
    return this.#crash(plan, undefined);
  }

  /**
   * Arms a crash that happens just before the disk would apply its `afterOps`+1-th operation from
   * now (`afterOps: 0` = the next one, which then fails with EIO). Resolves with the new disk, also
   * when the disk crashes earlier by a direct {@link SimulatedDisk.crash}. Replaces an armed crash.
   */
  scheduleCrash(crash: ScheduledCrash): Promise<SimulatedDisk> {
    this.#assertAlive('scheduleCrash', '/');
    return new Promise((resolve) => {
      this.#scheduled = { at: this.#trace.length + crash.afterOps, crash, resolve };
    });
  }

  /**
   * A process using this disk: a {@link FileSystem} whose calls (and handles) stop working once
   * {@link SimulatedProcess.kill} is called, as when a process gets SIGKILL: its unsynced writes
   * stay in the page cache (this disk), it never makes another call, and a new process opening the
   * files reads what it left. Killing it releases the kernel locks its handles held.
   */
  process(): SimulatedProcess {
    const state: ProcState = { killed: false, onKill: [] };
    const view = processView(this, state, (call) => {
      this.#caller = state;
      try {
        return call();
      } finally {
        this.#caller = undefined;
      }
    });
    this.#processes.set(view, state);
    return view;
  }

  /**
   * Kills `process` just before the disk applies its `afterOps`+1-th operation from now (that
   * operation fails with EIO if it is the process's). Resolves when the process is killed, also by
   * a direct `kill()`. Replaces an armed kill.
   */
  scheduleKill(process: SimulatedProcess, afterOps: number): Promise<void> {
    const state = this.#processes.get(process);
    if (!state) throw new Error('scheduleKill: not a process of this disk');
    return new Promise((resolve) => {
      if (state.killed) {
        resolve();
        return;
      }
      state.onKill.push(resolve);
      this.#scheduledKill = { at: this.#trace.length + afterOps, proc: state };
    });
  }

  // ---------------------------------------------------------------- inspection

  /** Every operation applied since the disk was created (or {@link clearTrace}), in order. */
  get trace(): readonly TraceEntry[] {
    return this.#trace;
  }

  /** Forgets the trace; {@link stateAt} then replays from the current state. */
  clearTrace(): void {
    this.#trace = [];
    this.#origin = this.#ns.image();
  }

  /**
   * A new, live disk in the state this one had after its first `count` traced operations (open
   * handles and pending data included): for crash-point enumeration after a recorded run.
   */
  stateAt(count: number): SimulatedDisk {
    const disk = SimulatedDisk.#fromImage(cloneImage(this.#origin), this.#options, undefined, undefined);
    const handles = new Map<number, number>();
    for (const entry of this.#trace.slice(0, count))
      replay(disk.#ns, entry, handles, this.#options.failedSync);
    disk.#origin = disk.#ns.image();
    return disk;
  }

  /** Paths of all files, sorted (current names, durable or not). */
  files(): string[] {
    return this.#ns
      .walk('entries')
      .filter((e) => e.kind === 'file')
      .map((e) => e.path);
  }

  /** Paths of all directories except the root, sorted. */
  directories(): string[] {
    return this.#ns
      .walk('entries')
      .filter((e) => e.kind === 'dir')
      .map((e) => e.path);
  }

  /** Paths of the files that would exist after a crash that loses everything not durable. */
  durableFiles(): string[] {
    return this.#ns
      .walk('durable')
      .filter((e) => e.kind === 'file')
      .map((e) => e.path);
  }

  /** What reads of `path` see now (page cache). Throws ENOENT/EISDIR. */
  readCurrent(path: string): Uint8Array {
    const node = this.#ns.lookup(normalize(path), 'open');
    if (node.kind === 'dir') throw systemError('EISDIR', 'read');
    return node.data.slice();
  }

  /**
   * The durable bytes of the file that durably has the name `path` (what a crash that loses
   * everything not durable would leave), or undefined if the name is not durable.
   */
  readDurable(path: string): Uint8Array | undefined {
    return durableBytes(this.#ns, normalize(path));
  }

  /**
   * A digest of the whole state (names, bytes, durable and pending). Equal fingerprints mean equal
   * disks: compare before and after a read-only operation to prove it wrote nothing.
   */
  fingerprint(): string {
    return fingerprintOf(this.#ns);
  }

  /** A readable listing of the files, their sizes and what is pending, for failure messages. */
  describe(): string {
    return describeState(this.#ns, this.pending());
  }

  // ---------------------------------------------------------------- setup helpers (not traced)

  /**
   * Creates a durable directory and its missing parents, as if made long before the test. Only
   * while the trace is empty (before any operation or right after {@link clearTrace}).
   */
  mkdirp(path: string): void {
    this.#assertSetup();
    this.#ns.mkdirp(path);
    this.#origin = this.#ns.image();
  }

  /** Writes a durable file (parents created), as if written and synced long before the test. */
  putFile(path: string, data: Uint8Array): void {
    this.#assertSetup();
    this.#ns.putFile(path, data);
    this.#origin = this.#ns.image();
  }

  /** For error messages: how this disk came to be. */
  toString(): string {
    if (this.crashPlan === undefined) return 'SimulatedDisk';
    const how = this.crashSeed === undefined ? describeCrashPlan(this.crashPlan) : `seed ${this.crashSeed}`;
    return `SimulatedDisk(after crash: ${how})`;
  }

  // ---------------------------------------------------------------- internals

  /**
   * Every traced operation: `begin` (dead disk, killed process, `beforeOp`, an armed crash or
   * kill), the fault rules, the operation, the trace entry; an injected fault is traced and thrown
   * as Node's error, a genuine failure traced with its code and rethrown.
   */
  async #step<N, T>(s: Step<N, T>): Promise<T> {
    await this.#begin(s.op, s.path, s.proc);
    if (s.unless?.test()) return s.unless.value;
    const rule =
      s.fault !== undefined && typeof s.fault !== 'string'
        ? s.fault.rule
        : this.#faults.match(s.fault ?? s.op, s.path);
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

  /** A call on one path, traced with just that path. */
  #dirStep<T>(op: TraceOp & FsCall, path: string, syscall: string, apply: (p: string) => T): Promise<T> {
    const p = normalize(path);
    return this.#step({
      op,
      path: p,
      proc: this.#caller,
      syscall,
      entry: { op, path: p },
      apply: () => apply(p),
    });
  }

  async #begin(op: TraceOp, path: string, proc: ProcState | undefined): Promise<void> {
    this.#assertAlive(op, path);
    assertRunning(proc, op, path);
    const hook = this.#options.beforeOp;
    if (hook) await hook(op, path);
    this.#assertAlive(op, path);
    const kill = this.#scheduledKill;
    if (kill && this.#trace.length >= kill.at) {
      this.#scheduledKill = undefined;
      killProcess(kill.proc);
    }
    assertRunning(proc, op, path);
    const scheduled = this.#scheduled;
    if (scheduled && this.#trace.length >= scheduled.at) {
      const pending = this.pending();
      const seed = scheduled.crash.seed ?? 0;
      const plan = scheduled.crash.plan ? scheduled.crash.plan(pending) : randomCrashPlan(pending, seed);
      this.#crash(plan, scheduled.crash.plan ? undefined : seed);
      this.#assertAlive(op, path);
    }
  }

  #crash(plan: CrashPlan, seed: number | undefined): SimulatedDisk {
    this.#assertAlive('crash', '/');
    const image = survivorOf(this.#ns, plan);
    this.#dead = true;
    for (const h of this.#handles.values()) h.closed = true;
    const scheduled = this.#scheduled;
    this.#scheduled = undefined;
    const next = SimulatedDisk.#fromImage(image, this.#options, plan, seed);
    this.#successor = next;
    scheduled?.resolve(next);
    return next;
  }

  #assertSetup(): void {
    this.#assertAlive('setup', '/');
    if (this.#trace.length > 0) {
      throw new Error(
        'SimulatedDisk setup helpers work only before any operation (or right after clearTrace())',
      );
    }
  }

  #assertAlive(op: string, path: string): void {
    if (this.#dead) throw systemError('EIO', op, path, undefined, 'simulated disk crashed');
  }

  /** Opens `path` and returns the new handle's id; `locking` takes flock(2) unless it is held. */
  #newHandle(path: string, mode: OpenMode, proc: ProcState | undefined, locking: boolean): number {
    const inode = this.#ns.open(path, mode);
    const id = this.#nextHandle++;
    if (!locking) {
      this.#handles.set(id, { id, inode, path, mode, closed: false, proc });
      return id;
    }
    const busy = this.#lockHeld(inode);
    this.#handles.set(id, { id, inode, path, mode, closed: busy, proc, locked: !busy });
    return id;
  }

  /** Whether an open handle of a live process holds the lock on `inode`. */
  #lockHeld(inode: number): boolean {
    for (const h of this.#handles.values()) {
      if (h.locked && !h.closed && h.inode === inode && !h.proc?.killed) return true;
    }
    return false;
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

  #handleState(id: number): HandleState {
    const h = this.#handles.get(id);
    if (!h) throw new Error(`unknown handle ${id}`);
    return h;
  }

  #handleNode(h: HandleState, syscall: string): Node {
    if (h.closed) throw systemError('EBADF', syscall);
    const node = this.#ns.nodes.get(h.inode);
    if (!node) throw new Error(`handle ${h.id} points to a missing inode`);
    return node;
  }

  #writableNode(h: HandleState): FileNode {
    const node = this.#handleNode(h, 'write');
    if (h.mode === 'read' || node.kind !== 'file') throw systemError('EBADF', 'write');
    return node;
  }
}

export type {
  FaultRule,
  FsCall,
  ScheduledCrash,
  SimulatedDiskOptions,
  SimulatedProcess,
  TraceEntry,
  TraceOp,
} from './types.js';
