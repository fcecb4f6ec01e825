import { posix } from 'node:path';
import type { FileHandle, FileStat, FileSystem, LockProbe, OpenMode } from '../../fs/types.js';
import * as calls from './calls.js';
import { type CrashPlan, describeCrashPlan, type PendingState, pendingOf, randomCrashPlan } from './crash.js';
import { systemError } from './errors.js';
import { describeState, durableBytes, fingerprintOf } from './inspect.js';
import { Kernel } from './kernel.js';
import { cloneImage, type Image, normalize } from './nodes.js';
import { type ProcState, processView } from './process.js';
import type {
  FaultRule,
  ScheduledCrash,
  SimulatedDiskOptions,
  SimulatedProcess,
  TraceEntry,
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
 * This class is the public face. The parts: the state and the one skeleton every traced operation
 * runs through in kernel.ts, the path calls in calls.ts, the handles in handle.ts, names and
 * directory operations in namespace.ts, file bytes in nodes.ts, crash states and replay in
 * crash.ts, fault rules in faults.ts, processes in process.ts.
 */

export class SimulatedDisk implements FileSystem {
  /** The plan of the crash that produced this disk, if it came from one. */
  readonly crashPlan: CrashPlan | undefined;
  /** The seed of that crash, if it was random. */
  readonly crashSeed: number | undefined;

  #k: Kernel;
  readonly #processes = new WeakMap<SimulatedProcess, ProcState>();

  constructor(options: SimulatedDiskOptions = {}) {
    this.#k = SimulatedDisk.#kernel(options, undefined);
    this.crashPlan = undefined;
    this.crashSeed = undefined;
  }

  /** A kernel whose crash reboots into a new SimulatedDisk. */
  static #kernel(options: SimulatedDiskOptions, image: Image | undefined): Kernel {
    return new Kernel(options, image, (survivor, plan, seed) =>
      SimulatedDisk.#fromImage(survivor, options, plan, seed),
    );
  }

  static #fromImage(
    image: Image,
    options: SimulatedDiskOptions,
    plan: CrashPlan | undefined,
    seed: number | undefined,
  ): SimulatedDisk {
    const disk = new SimulatedDisk(options);
    disk.#k = SimulatedDisk.#kernel(options, image);
    (disk as { crashPlan: CrashPlan | undefined }).crashPlan = plan;
    (disk as { crashSeed: number | undefined }).crashSeed = seed;
    return disk;
  }

  // ---------------------------------------------------------------- FileSystem (calls.ts)

  open(path: string, mode: OpenMode): Promise<FileHandle> {
    return calls.open(this.#k, path, mode);
  }

  /**
   * flock(2) as Linux does it: the lock belongs to one handle (an open file description); another
   * handle on the same file is refused while it is open, whatever path or process it came from.
   * Closing the handle or killing its process releases the lock; a crash gives a disk with no locks.
   * Traced as the `open` it performs (mode `write`, or `create` when the file is new), so that crash
   * states and replays see the file's creation.
   */
  openLocked(path: string): Promise<FileHandle | undefined> {
    return calls.openLocked(this.#k, path);
  }

  probeLock(path: string): Promise<LockProbe> {
    return calls.probeLock(this.#k, path);
  }

  readFile(path: string): Promise<Uint8Array> {
    return calls.readFile(this.#k, path);
  }

  rename(from: string, to: string): Promise<void> {
    return calls.rename(this.#k, from, to);
  }

  unlink(path: string): Promise<void> {
    return calls.unlink(this.#k, path);
  }

  readdir(dir: string): Promise<string[]> {
    return calls.readdir(this.#k, dir);
  }

  mkdir(dir: string): Promise<void> {
    return calls.mkdir(this.#k, dir);
  }

  syncDir(dir: string): Promise<void> {
    return calls.syncDir(this.#k, dir);
  }

  stat(path: string): Promise<FileStat> {
    return calls.stat(this.#k, path);
  }

  // ---------------------------------------------------------------- faults and crashes

  /**
   * Makes the `nth` (default: next) call matching `rule` reject with a Node-style error
   * (`code`, `errno`, `syscall`, `path`). Rules stack; each counts its own matches.
   */
  failNext(rule: FaultRule): void {
    this.#k.faults.add(rule);
  }

  /** Removes every fault rule not yet fired. */
  clearFaults(): void {
    this.#k.faults.clear();
  }

  /** True once this disk has crashed; every call on it rejects with EIO. */
  get crashed(): boolean {
    return this.#k.dead;
  }

  /** The disk that replaced this one at its crash, if it crashed. */
  get successor(): SimulatedDisk | undefined {
    return this.#k.successor;
  }

  /** What a crash right now could still lose, in the order a {@link CrashPlan} addresses it. */
  pending(): PendingState {
    return pendingOf(this.#k.ns);
  }

  /**
   * Crashes now, losing a random part of what was not durable (see {@link randomCrashPlan}); returns
   * the disk as it is after the reboot. The same seed on the same state gives the same disk.
   */
  crash(seed: number): SimulatedDisk {
    return this.#k.crash(randomCrashPlan(this.pending(), seed), seed);
  }

  /** Crashes now into exactly the state `plan` describes (from {@link enumerateCrashPlans}, say). */
  crashWith(plan: CrashPlan): SimulatedDisk {
    return this.#k.crash(plan, undefined);
  }

  /**
   * Arms a crash that happens just before the disk would apply its `afterOps`+1-th operation from
   * now (`afterOps: 0` = the next one, which then fails with EIO). Resolves with the new disk, also
   * when the disk crashes earlier by a direct {@link SimulatedDisk.crash}. Replaces an armed crash.
   */
  scheduleCrash(crash: ScheduledCrash): Promise<SimulatedDisk> {
    return this.#k.scheduleCrash(crash);
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
      this.#k.caller = state;
      try {
        return call();
      } finally {
        this.#k.caller = undefined;
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
    return this.#k.scheduleKill(state, afterOps);
  }

  // ---------------------------------------------------------------- inspection

  /** Every operation applied since the disk was created (or {@link clearTrace}), in order. */
  get trace(): readonly TraceEntry[] {
    return this.#k.trace;
  }

  /** Forgets the trace; {@link stateAt} then replays from the current state. */
  clearTrace(): void {
    this.#k.clearTrace();
  }

  /**
   * A new, live disk in the state this one had after its first `count` traced operations (open
   * handles and pending data included): for crash-point enumeration after a recorded run.
   */
  stateAt(count: number): SimulatedDisk {
    const disk = SimulatedDisk.#fromImage(cloneImage(this.#k.origin), this.#k.options, undefined, undefined);
    disk.#k.replay(this.#k.trace.slice(0, count), this.#k.originHandles);
    return disk;
  }

  /** Paths of all files, sorted (current names, durable or not). */
  files(): string[] {
    return this.#k.ns
      .walk('entries')
      .filter((e) => e.kind === 'file')
      .map((e) => e.path);
  }

  /** Paths of all directories except the root, sorted. */
  directories(): string[] {
    return this.#k.ns
      .walk('entries')
      .filter((e) => e.kind === 'dir')
      .map((e) => e.path);
  }

  /** Paths of the files that would exist after a crash that loses everything not durable. */
  durableFiles(): string[] {
    return this.#k.ns
      .walk('durable')
      .filter((e) => e.kind === 'file')
      .map((e) => e.path);
  }

  /** What reads of `path` see now (page cache). Throws ENOENT/EISDIR. */
  readCurrent(path: string): Uint8Array {
    const node = this.#k.ns.lookup(normalize(path), 'open');
    if (node.kind === 'dir') throw systemError('EISDIR', 'read');
    return node.data.slice();
  }

  /**
   * The durable bytes of the file that durably has the name `path` (what a crash that loses
   * everything not durable would leave), or undefined if the name is not durable.
   */
  readDurable(path: string): Uint8Array | undefined {
    return durableBytes(this.#k.ns, normalize(path));
  }

  /**
   * A digest of the whole state (names, bytes, durable and pending). Equal fingerprints mean equal
   * disks: compare before and after a read-only operation to prove it wrote nothing.
   */
  fingerprint(): string {
    return fingerprintOf(this.#k.ns);
  }

  /** A readable listing of the files, their sizes and what is pending, for failure messages. */
  describe(): string {
    return describeState(this.#k.ns, this.pending());
  }

  // ---------------------------------------------------------------- setup helpers (not traced)

  /**
   * Creates a durable directory and its missing parents, as if made long before the test. Only
   * while the trace is empty (before any operation or right after {@link clearTrace}).
   */
  mkdirp(path: string): void {
    this.#k.setup((ns) => ns.mkdirp(path));
  }

  /** Writes a durable file (parents created), as if written and synced long before the test. */
  putFile(path: string, data: Uint8Array): void {
    const p = normalize(path);
    this.#k.setup((ns) => ns.mkdirp(posix.dirname(p)));
    this.#k.setup((ns) => ns.putFile(p, data));
  }

  /** For error messages: how this disk came to be. */
  toString(): string {
    if (this.crashPlan === undefined) return 'SimulatedDisk';
    const how = this.crashSeed === undefined ? describeCrashPlan(this.crashPlan) : `seed ${this.crashSeed}`;
    return `SimulatedDisk(after crash: ${how})`;
  }
}
