import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { FileHandle, FileStat, FileSystem, LockProbe, OpenMode } from '../../fs/types.js';
import {
  type CrashPlan,
  describeCrashPlan,
  type PendingDirOp,
  type PendingState,
  type PendingWrite,
  randomCrashPlan,
  tornPointsOf,
  type WriteFate,
} from './crash.js';
import { type SimErrorCode, type SimSystemError, systemError } from './errors.js';
import {
  type ArmedFault,
  applyWrite,
  assertRunning,
  cloneImage,
  collapse,
  DIR_SIZE,
  type DirNode,
  type DirOp,
  EMPTY,
  type FileNode,
  type HandleState,
  hex,
  type Image,
  killProcess,
  type Node,
  normalize,
  type ProcState,
  ROOT,
  survivingBytes,
} from './nodes.js';
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
 */

export class SimulatedDisk implements FileSystem {
  /** The plan of the crash that produced this disk, if it came from one. */
  readonly crashPlan: CrashPlan | undefined;
  /** The seed of that crash, if it was random. */
  readonly crashSeed: number | undefined;

  #nodes: Map<number, Node>;
  #dirOps: DirOp[];
  #nextInode: number;
  #origin: Image;
  readonly #options: SimulatedDiskOptions;
  #trace: TraceEntry[] = [];
  readonly #handles = new Map<number, HandleState>();
  #nextHandle = 1;
  #dead = false;
  #successor: SimulatedDisk | undefined;
  #faults: ArmedFault[] = [];
  #scheduled: { at: number; crash: ScheduledCrash; resolve: (disk: SimulatedDisk) => void } | undefined;
  #scheduledKill: { at: number; proc: ProcState } | undefined;
  /** The process whose call is starting (set synchronously by a {@link SimulatedProcess}). */
  #caller: ProcState | undefined;
  readonly #processes = new WeakMap<SimulatedProcess, ProcState>();

  constructor(options: SimulatedDiskOptions = {}) {
    this.#options = options;
    this.#nodes = new Map([[ROOT, { kind: 'dir', id: ROOT, entries: new Map(), durable: new Map() }]]);
    this.#dirOps = [];
    this.#nextInode = 1;
    this.#origin = this.#image();
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
    disk.#nodes = image.nodes;
    disk.#dirOps = image.dirOps;
    disk.#nextInode = image.nextInode;
    disk.#origin = disk.#image();
    (disk as { crashPlan: CrashPlan | undefined }).crashPlan = plan;
    (disk as { crashSeed: number | undefined }).crashSeed = seed;
    return disk;
  }

  // ---------------------------------------------------------------- FileSystem

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const proc = this.#caller;
    const p = normalize(path);
    await this.#begin('open', p, proc);
    const fault = this.#matchFault('open', p);
    if (fault) this.#fail({ op: 'open', path: p, mode }, fault, 'open');
    let inode: number;
    try {
      inode = this.#doOpen(p, mode);
    } catch (error) {
      this.#failed({ op: 'open', path: p, mode }, error);
    }
    const id = this.#nextHandle++;
    this.#handles.set(id, { id, inode, path: p, mode, closed: false, proc });
    this.#record({ op: 'open', path: p, mode, handle: id });
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
    await this.#begin('open', p, proc);
    const fault = this.#matchFault('openLocked', p);
    if (fault) this.#fail({ op: 'open', path: p, mode: 'write' }, fault, 'flock');
    const mode: OpenMode = this.#exists(p) ? 'write' : 'create';
    let inode: number;
    try {
      inode = this.#doOpen(p, mode);
    } catch (error) {
      this.#failed({ op: 'open', path: p, mode }, error);
    }
    const id = this.#nextHandle++;
    const busy = this.#lockHeld(inode);
    this.#handles.set(id, { id, inode, path: p, mode, closed: busy, proc, locked: !busy });
    this.#record({ op: 'open', path: p, mode, handle: id });
    // A refused lock: the real disk closes the descriptor it opened; the file it created stays.
    if (busy) return undefined;
    return new SimFileHandle(this, id);
  }

  async probeLock(path: string): Promise<LockProbe> {
    const proc = this.#caller;
    const p = normalize(path);
    await this.#begin('stat', p, proc);
    const fault = this.#matchFault('probeLock', p);
    if (fault) this.#fail({ op: 'stat', path: p }, fault, 'flock');
    this.#record({ op: 'stat', path: p });
    if (!this.#exists(p)) return 'missing';
    return this.#lockHeld(this.#lookup(p, 'open').id) ? 'held' : 'free';
  }

  async readFile(path: string): Promise<Uint8Array> {
    const proc = this.#caller;
    const p = normalize(path);
    await this.#begin('readFile', p, proc);
    const fault = this.#matchFault('readFile', p);
    if (fault) this.#fail({ op: 'readFile', path: p }, fault, 'read');
    try {
      const node = this.#lookup(p, 'open');
      if (node.kind === 'dir') throw systemError('EISDIR', 'read');
      this.#record({ op: 'readFile', path: p });
      return node.data.slice();
    } catch (error) {
      this.#failed({ op: 'readFile', path: p }, error);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const proc = this.#caller;
    const a = normalize(from);
    const b = normalize(to);
    await this.#begin('rename', a, proc);
    const fault = this.#matchFault('rename', a);
    if (fault) this.#fail({ op: 'rename', path: a, dest: b }, fault, 'rename', b);
    try {
      this.#doRename(a, b);
    } catch (error) {
      this.#failed({ op: 'rename', path: a, dest: b }, error);
    }
    this.#record({ op: 'rename', path: a, dest: b });
  }

  async unlink(path: string): Promise<void> {
    const proc = this.#caller;
    const p = normalize(path);
    await this.#begin('unlink', p, proc);
    const fault = this.#matchFault('unlink', p);
    if (fault) this.#fail({ op: 'unlink', path: p }, fault, 'unlink');
    try {
      this.#doUnlink(p);
    } catch (error) {
      this.#failed({ op: 'unlink', path: p }, error);
    }
    this.#record({ op: 'unlink', path: p });
  }

  async readdir(dir: string): Promise<string[]> {
    const proc = this.#caller;
    const p = normalize(dir);
    await this.#begin('readdir', p, proc);
    const fault = this.#matchFault('readdir', p);
    if (fault) this.#fail({ op: 'readdir', path: p }, fault, 'scandir');
    try {
      const node = this.#lookup(p, 'scandir');
      if (node.kind !== 'dir') throw systemError('ENOTDIR', 'scandir', p);
      this.#record({ op: 'readdir', path: p });
      return [...node.entries.keys()].sort();
    } catch (error) {
      this.#failed({ op: 'readdir', path: p }, error);
    }
  }

  async mkdir(dir: string): Promise<void> {
    const proc = this.#caller;
    const p = normalize(dir);
    await this.#begin('mkdir', p, proc);
    const fault = this.#matchFault('mkdir', p);
    if (fault) this.#fail({ op: 'mkdir', path: p }, fault, 'mkdir');
    try {
      this.#doMkdir(p);
    } catch (error) {
      this.#failed({ op: 'mkdir', path: p }, error);
    }
    this.#record({ op: 'mkdir', path: p });
  }

  async syncDir(dir: string): Promise<void> {
    const proc = this.#caller;
    const p = normalize(dir);
    await this.#begin('syncDir', p, proc);
    const fault = this.#matchFault('syncDir', p);
    if (fault) this.#fail({ op: 'syncDir', path: p }, fault, 'fsync');
    try {
      this.#doSyncDir(p);
    } catch (error) {
      this.#failed({ op: 'syncDir', path: p }, error);
    }
    this.#record({ op: 'syncDir', path: p });
  }

  async stat(path: string): Promise<FileStat> {
    const proc = this.#caller;
    const p = normalize(path);
    await this.#begin('stat', p, proc);
    const fault = this.#matchFault('stat', p);
    if (fault) this.#fail({ op: 'stat', path: p }, fault, 'stat');
    try {
      const node = this.#lookup(p, 'stat');
      this.#record({ op: 'stat', path: p });
      return node.kind === 'dir'
        ? { size: DIR_SIZE, isFile: false, isDirectory: true }
        : { size: node.data.byteLength, isFile: true, isDirectory: false };
    } catch (error) {
      this.#failed({ op: 'stat', path: p }, error);
    }
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
    await this.#begin('read', h.path, h.proc);
    const base = { op: 'read' as const, path: h.path, handle: id, position, length };
    const fault = this.#matchFault('read', h.path);
    if (fault) this.#fail(base, fault, 'read');
    if (offset < 0 || length < 0 || offset + length > buffer.byteLength || position < 0) {
      throw Object.assign(new RangeError('The value of "length" is out of range.'), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    try {
      const node = this.#handleNode(h, 'read');
      if (node.kind === 'dir') throw systemError('EISDIR', 'read');
      const n = Math.max(0, Math.min(length, node.data.byteLength - position));
      buffer.set(node.data.subarray(position, position + n), offset);
      this.#record(base);
      return n;
    } catch (error) {
      this.#failed(base, error);
    }
  }

  /** @internal */
  async handleWrite(id: number, data: Uint8Array, position: number, durable: boolean): Promise<void> {
    const h = this.#handleState(id);
    const call: FsCall = durable ? 'writeDurable' : 'write';
    await this.#begin('write', h.path, h.proc);
    const fault = this.#matchFault(call, h.path);
    const via = durable ? { via: 'writeDurable' as const } : {};
    const base = { op: 'write' as const, path: h.path, handle: id, position, ...via };
    let file: FileNode;
    try {
      file = this.#writableNode(h);
    } catch (error) {
      this.#failed({ ...base, length: 0 }, error);
    }
    if (fault && (!durable || fault.bytesWritten !== undefined)) {
      const n = Math.max(0, Math.min(fault.bytesWritten ?? 0, data.byteLength));
      if (n > 0) this.#doWrite(file, data.slice(0, n), position);
      this.#fail({ ...base, length: n, data: data.slice(0, n) }, fault, 'write');
    }
    const copy = data.slice();
    this.#doWrite(file, copy, position);
    this.#record({ ...base, length: copy.byteLength, data: copy });
    if (!durable) return;
    await this.#begin('datasync', h.path, h.proc);
    const syncBase = { op: 'datasync' as const, path: h.path, handle: id, via: 'writeDurable' as const };
    if (fault) {
      this.#doFailedSync(file);
      this.#fail(syncBase, fault, 'fdatasync');
    }
    this.#doSync(file);
    this.#record(syncBase);
  }

  /** @internal */
  async handleSync(id: number, op: 'datasync' | 'sync'): Promise<void> {
    const h = this.#handleState(id);
    await this.#begin(op, h.path, h.proc);
    const base = { op, path: h.path, handle: id };
    const fault = this.#matchFault(op, h.path);
    let node: Node;
    try {
      node = this.#handleNode(h, op === 'sync' ? 'fsync' : 'fdatasync');
    } catch (error) {
      this.#failed(base, error);
    }
    if (fault) {
      if (node.kind === 'file') this.#doFailedSync(node);
      this.#fail(base, fault, op === 'sync' ? 'fsync' : 'fdatasync');
    }
    if (node.kind === 'file') this.#doSync(node);
    this.#record(base);
  }

  /** @internal */
  async handleSize(id: number): Promise<number> {
    const h = this.#handleState(id);
    await this.#begin('size', h.path, h.proc);
    const base = { op: 'size' as const, path: h.path, handle: id };
    const fault = this.#matchFault('size', h.path);
    if (fault) this.#fail(base, fault, 'fstat');
    try {
      const node = this.#handleNode(h, 'fstat');
      this.#record(base);
      return node.kind === 'dir' ? DIR_SIZE : node.data.byteLength;
    } catch (error) {
      this.#failed(base, error);
    }
  }

  /** @internal */
  async handleClose(id: number): Promise<void> {
    const h = this.#handleState(id);
    await this.#begin('close', h.path, h.proc);
    const base = { op: 'close' as const, path: h.path, handle: id };
    if (h.closed) return; // Node resolves a second close of a FileHandle.
    const fault = this.#matchFault('close', h.path);
    h.closed = true;
    if (fault) this.#fail(base, fault, 'close');
    this.#record(base);
  }

  // ---------------------------------------------------------------- faults and crashes

  /**
   * Makes the `nth` (default: next) call matching `rule` reject with a Node-style error
   * (`code`, `errno`, `syscall`, `path`). Rules stack; each counts its own matches.
   */
  failNext(rule: FaultRule): void {
    if (rule.nth !== undefined && (!Number.isInteger(rule.nth) || rule.nth < 1)) {
      throw new RangeError(`nth must be an integer >= 1, got ${rule.nth}`);
    }
    const ops = new Set<FsCall>(typeof rule.op === 'string' ? [rule.op] : rule.op);
    this.#faults.push({ rule, ops, seen: 0 });
  }

  /** Removes every fault rule not yet fired. */
  clearFaults(): void {
    this.#faults = [];
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
    const paths = this.#pathsByInode();
    const writes: PendingWrite[] = [];
    for (const node of this.#sortedNodes()) {
      if (node.kind !== 'file') continue;
      for (const w of node.writes) {
        if (w.synced) continue;
        writes.push({
          path: paths.get(node.id),
          inode: node.id,
          position: w.position,
          length: w.bytes.byteLength,
          tornPoints: tornPointsOf(w.position, w.bytes.byteLength),
          limbo: w.limbo,
        });
      }
    }
    const dirOps: PendingDirOp[] = this.#dirOps.map((op) => ({ description: op.description }));
    return { writes, dirOps };
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
    const via = <T>(call: () => Promise<T>): Promise<T> => {
      this.#caller = state;
      try {
        return call();
      } finally {
        this.#caller = undefined;
      }
    };
    const view: SimulatedProcess = {
      disk: this,
      get killed() {
        return state.killed;
      },
      kill: () => killProcess(state),
      open: (path, mode) => via(() => this.open(path, mode)),
      openLocked: (path) => via(() => this.openLocked(path)),
      probeLock: (path) => via(() => this.probeLock(path)),
      readFile: (path) => via(() => this.readFile(path)),
      rename: (from, to) => via(() => this.rename(from, to)),
      unlink: (path) => via(() => this.unlink(path)),
      readdir: (dir) => via(() => this.readdir(dir)),
      mkdir: (dir) => via(() => this.mkdir(dir)),
      syncDir: (dir) => via(() => this.syncDir(dir)),
      stat: (path) => via(() => this.stat(path)),
    };
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
    this.#origin = this.#image();
  }

  /**
   * A new, live disk in the state this one had after its first `count` traced operations (open
   * handles and pending data included): for crash-point enumeration after a recorded run.
   */
  stateAt(count: number): SimulatedDisk {
    const disk = SimulatedDisk.#fromImage(cloneImage(this.#origin), this.#options, undefined, undefined);
    const handles = new Map<number, number>();
    for (const entry of this.#trace.slice(0, count)) disk.#replay(entry, handles);
    disk.#origin = disk.#image();
    return disk;
  }

  /** Paths of all files, sorted (current names, durable or not). */
  files(): string[] {
    return this.#walk('entries')
      .filter((e) => e.kind === 'file')
      .map((e) => e.path);
  }

  /** Paths of all directories except the root, sorted. */
  directories(): string[] {
    return this.#walk('entries')
      .filter((e) => e.kind === 'dir')
      .map((e) => e.path);
  }

  /** Paths of the files that would exist after a crash that loses everything not durable. */
  durableFiles(): string[] {
    return this.#walk('durable')
      .filter((e) => e.kind === 'file')
      .map((e) => e.path);
  }

  /** What reads of `path` see now (page cache). Throws ENOENT/EISDIR. */
  readCurrent(path: string): Uint8Array {
    const node = this.#lookup(normalize(path), 'open');
    if (node.kind === 'dir') throw systemError('EISDIR', 'read');
    return node.data.slice();
  }

  /**
   * The durable bytes of the file that durably has the name `path` (what a crash that loses
   * everything not durable would leave), or undefined if the name is not durable.
   */
  readDurable(path: string): Uint8Array | undefined {
    const id = this.#resolveIn('durable', normalize(path));
    const node = id === undefined ? undefined : this.#nodes.get(id);
    if (node?.kind !== 'file') return undefined;
    let bytes: Uint8Array = node.base.slice();
    for (const w of node.writes) if (w.synced) bytes = applyWrite(bytes, w.bytes, w.position);
    return bytes;
  }

  /**
   * A digest of the whole state (names, bytes, durable and pending). Equal fingerprints mean equal
   * disks: compare before and after a read-only operation to prove it wrote nothing.
   */
  fingerprint(): string {
    const hash = createHash('sha256');
    for (const node of this.#sortedNodes()) {
      if (node.kind === 'dir') {
        const entries = [...node.entries].sort(([a], [b]) => (a < b ? -1 : 1));
        const durable = [...node.durable].sort(([a], [b]) => (a < b ? -1 : 1));
        hash.update(`dir ${node.id} ${JSON.stringify(entries)} ${JSON.stringify(durable)}\n`);
      } else {
        // `base` matters only while writes are pending (otherwise it equals `data`).
        hash.update(`file ${node.id} ${hex(node.data)} ${node.writes.length > 0 ? hex(node.base) : '-'}\n`);
        for (const w of node.writes) {
          hash.update(`  w ${w.position} ${hex(w.bytes)} ${w.synced} ${w.limbo}\n`);
        }
      }
    }
    for (const op of this.#dirOps) hash.update(`op ${op.description}\n`);
    return hash.digest('hex');
  }

  /** A readable listing of the files, their sizes and what is pending, for failure messages. */
  describe(): string {
    const lines = this.#walk('entries').map((e) => {
      const node = this.#nodes.get(e.inode);
      return node?.kind === 'file' ? `${e.path} (${node.data.byteLength} B)` : `${e.path}/`;
    });
    const pending = this.pending();
    for (const w of pending.writes) {
      lines.push(
        `pending write ${w.path ?? `inode ${w.inode}`} @${w.position} +${w.length}${w.limbo ? ' (limbo)' : ''}`,
      );
    }
    for (const op of pending.dirOps) lines.push(`pending ${op.description}`);
    return lines.join('\n');
  }

  // ---------------------------------------------------------------- setup helpers (not traced)

  /**
   * Creates a durable directory and its missing parents, as if made long before the test. Only
   * while the trace is empty (before any operation or right after {@link clearTrace}).
   */
  mkdirp(path: string): void {
    this.#assertSetup();
    let dir = this.#nodes.get(ROOT) as DirNode;
    for (const name of normalize(path).split('/').filter(Boolean)) {
      const id = dir.entries.get(name);
      const child = id === undefined ? undefined : this.#nodes.get(id);
      if (child?.kind === 'file') throw systemError('ENOTDIR', 'mkdir', path);
      if (child?.kind === 'dir') {
        dir.durable.set(name, child.id);
        dir = child;
        continue;
      }
      const made: DirNode = { kind: 'dir', id: this.#nextInode++, entries: new Map(), durable: new Map() };
      this.#nodes.set(made.id, made);
      dir.entries.set(name, made.id);
      dir.durable.set(name, made.id);
      dir = made;
    }
    this.#origin = this.#image();
  }

  /** Writes a durable file (parents created), as if written and synced long before the test. */
  putFile(path: string, data: Uint8Array): void {
    this.#assertSetup();
    const p = normalize(path);
    this.mkdirp(posix.dirname(p));
    const parent = this.#lookup(posix.dirname(p), 'open') as DirNode;
    const name = posix.basename(p);
    const existing = parent.entries.get(name);
    if (existing !== undefined && this.#nodes.get(existing)?.kind === 'dir')
      throw systemError('EISDIR', 'open', p);
    const file: FileNode = {
      kind: 'file',
      id: this.#nextInode++,
      data: data.slice(),
      base: data.slice(),
      writes: [],
      dataOwned: true,
      baseOwned: true,
    };
    this.#nodes.set(file.id, file);
    parent.entries.set(name, file.id);
    parent.durable.set(name, file.id);
    this.#origin = this.#image();
  }

  // ---------------------------------------------------------------- internals

  #assertSetup(): void {
    this.#assertAlive('setup', '/');
    if (this.#trace.length > 0) {
      throw new Error(
        'SimulatedDisk setup helpers work only before any operation (or right after clearTrace())',
      );
    }
  }

  #image(): Image {
    return cloneImage({ nodes: this.#nodes, dirOps: this.#dirOps, nextInode: this.#nextInode });
  }

  #sortedNodes(): Node[] {
    return [...this.#nodes.values()].sort((a, b) => a.id - b.id);
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

  #exists(path: string): boolean {
    try {
      this.#lookup(path, 'stat');
      return true;
    } catch {
      return false;
    }
  }

  /** Whether an open handle of a live process holds the lock on `inode`. */
  #lockHeld(inode: number): boolean {
    for (const h of this.#handles.values()) {
      if (h.locked && !h.closed && h.inode === inode && !h.proc?.killed) return true;
    }
    return false;
  }

  #assertAlive(op: string, path: string): void {
    if (this.#dead) throw systemError('EIO', op, path, undefined, 'simulated disk crashed');
  }

  #matchFault(call: FsCall, path: string): FaultRule | undefined {
    for (const armed of this.#faults) {
      const { rule } = armed;
      if (!armed.ops.has(call)) continue;
      if (rule.path !== undefined) {
        const ok = typeof rule.path === 'string' ? rule.path === path : rule.path.test(path);
        if (!ok) continue;
      }
      armed.seen++;
      const nth = rule.nth ?? 1;
      if (armed.seen < nth) continue;
      if (!rule.persistent) this.#faults = this.#faults.filter((f) => f !== armed);
      return rule;
    }
    return undefined;
  }

  #record(entry: Omit<TraceEntry, 'index'>): void {
    this.#trace.push({ index: this.#trace.length, ...entry });
  }

  /** Records an injected failure and throws it. */
  #fail(entry: Omit<TraceEntry, 'index'>, rule: FaultRule, syscall: string, dest?: string): never {
    this.#record({ ...entry, error: rule.errno, injected: true });
    throw systemError(rule.errno, syscall, entry.path, dest);
  }

  /** Records a genuine failure (ENOENT...) and rethrows it. */
  #failed(entry: Omit<TraceEntry, 'index'>, error: unknown): never {
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
    const node = this.#nodes.get(h.inode);
    if (!node) throw new Error(`handle ${h.id} points to a missing inode`);
    return node;
  }

  #writableNode(h: HandleState): FileNode {
    const node = this.#handleNode(h, 'write');
    if (h.mode === 'read' || node.kind !== 'file') throw systemError('EBADF', 'write');
    return node;
  }

  /** The inode `path` names in the current (`entries`) or durable namespace, if any. */
  #resolveIn(which: 'entries' | 'durable', path: string): number | undefined {
    let id = ROOT;
    for (const name of path.split('/').filter(Boolean)) {
      const node = this.#nodes.get(id);
      if (node?.kind !== 'dir') return undefined;
      const next = node[which].get(name);
      if (next === undefined) return undefined;
      id = next;
    }
    return id;
  }

  /** The node at `path`, or ENOENT/ENOTDIR as Node reports them for `syscall`. */
  #lookup(path: string, syscall: string, dest?: string): Node {
    let node = this.#nodes.get(ROOT) as Node;
    for (const name of path.split('/').filter(Boolean)) {
      if (node.kind !== 'dir') throw systemError('ENOTDIR', syscall, path, dest);
      const id = node.entries.get(name);
      const next = id === undefined ? undefined : this.#nodes.get(id);
      if (!next) throw systemError('ENOENT', syscall, path, dest);
      node = next;
    }
    return node;
  }

  /** The directory that holds `path`'s last name, and that name. */
  #parentOf(path: string, syscall: string, dest?: string): { dir: DirNode; name: string } {
    const parent = this.#lookup(posix.dirname(path), syscall, dest);
    if (parent.kind !== 'dir') throw systemError('ENOTDIR', syscall, path, dest);
    return { dir: parent, name: posix.basename(path) };
  }

  #applyDirOp(op: DirOp): void {
    for (const change of op.changes) {
      const dir = this.#nodes.get(change.dir);
      if (dir?.kind !== 'dir') continue;
      if (change.inode === undefined) dir.entries.delete(change.name);
      else dir.entries.set(change.name, change.inode);
    }
    this.#dirOps.push(op);
  }

  #doOpen(path: string, mode: OpenMode): number {
    if (mode === 'create') {
      if (path === '/') throw systemError('EEXIST', 'open', path);
      const { dir, name } = this.#parentOf(path, 'open');
      if (dir.entries.has(name)) throw systemError('EEXIST', 'open', path);
      const file: FileNode = {
        kind: 'file',
        id: this.#nextInode++,
        data: EMPTY,
        base: EMPTY,
        writes: [],
        dataOwned: false,
        baseOwned: false,
      };
      this.#nodes.set(file.id, file);
      this.#applyDirOp({ description: `create ${path}`, changes: [{ dir: dir.id, name, inode: file.id }] });
      return file.id;
    }
    const node = this.#lookup(path, 'open');
    if (mode === 'write' && node.kind === 'dir') throw systemError('EISDIR', 'open', path);
    return node.id;
  }

  #doRename(from: string, to: string): void {
    const source = this.#parentOf(from, 'rename', to);
    const id = source.dir.entries.get(source.name);
    const node = id === undefined ? undefined : this.#nodes.get(id);
    if (!node || from === '/') throw systemError('ENOENT', 'rename', from, to);
    const target = this.#parentOf(to, 'rename', to);
    if (from === to) return;
    if (node.kind === 'dir' && `${to}/`.startsWith(`${from}/`))
      throw systemError('EINVAL', 'rename', from, to);
    const replacedId = target.dir.entries.get(target.name);
    const replaced = replacedId === undefined ? undefined : this.#nodes.get(replacedId);
    if (replaced?.kind === 'dir' && node.kind === 'file') throw systemError('EISDIR', 'rename', from, to);
    if (replaced?.kind === 'file' && node.kind === 'dir') throw systemError('ENOTDIR', 'rename', from, to);
    if (replaced?.kind === 'dir' && replaced.entries.size > 0)
      throw systemError('ENOTEMPTY', 'rename', from, to);
    this.#applyDirOp({
      description: `rename ${from} -> ${to}`,
      changes: [
        { dir: source.dir.id, name: source.name, inode: undefined },
        { dir: target.dir.id, name: target.name, inode: node.id },
      ],
    });
  }

  #doUnlink(path: string): void {
    const node = this.#lookup(path, 'unlink');
    if (node.kind === 'dir') throw systemError('EISDIR', 'unlink', path);
    const { dir, name } = this.#parentOf(path, 'unlink');
    this.#applyDirOp({ description: `unlink ${path}`, changes: [{ dir: dir.id, name, inode: undefined }] });
  }

  #doMkdir(path: string): void {
    if (path === '/') throw systemError('EEXIST', 'mkdir', path);
    const { dir, name } = this.#parentOf(path, 'mkdir');
    if (dir.entries.has(name)) throw systemError('EEXIST', 'mkdir', path);
    const made: DirNode = { kind: 'dir', id: this.#nextInode++, entries: new Map(), durable: new Map() };
    this.#nodes.set(made.id, made);
    this.#applyDirOp({ description: `mkdir ${path}`, changes: [{ dir: dir.id, name, inode: made.id }] });
  }

  /**
   * Commits the pending directory operations that touch `path`'s directory, and (to keep names
   * consistent) every earlier pending operation that touches a directory they touch.
   */
  #doSyncDir(path: string): void {
    const node = this.#lookup(path, 'open');
    if (node.kind !== 'dir') throw systemError('ENOTDIR', 'open', path);
    const dirs = new Set([node.id]);
    const commit = new Set<number>();
    for (let i = this.#dirOps.length - 1; i >= 0; i--) {
      const op = this.#dirOps[i];
      if (!op?.changes.some((c) => dirs.has(c.dir))) continue;
      commit.add(i);
      for (const c of op.changes) dirs.add(c.dir);
    }
    const kept: DirOp[] = [];
    this.#dirOps.forEach((op, i) => {
      if (!commit.has(i)) {
        kept.push(op);
        return;
      }
      for (const change of op.changes) {
        const dir = this.#nodes.get(change.dir);
        if (dir?.kind !== 'dir') continue;
        if (change.inode === undefined) dir.durable.delete(change.name);
        else dir.durable.set(change.name, change.inode);
      }
    });
    this.#dirOps = kept;
  }

  #doWrite(file: FileNode, data: Uint8Array, position: number): void {
    if (data.byteLength === 0) return;
    if (!file.dataOwned || file.data === file.base) {
      file.data = file.data.slice();
      file.dataOwned = true;
    }
    file.data = applyWrite(file.data, data, position);
    file.writes.push({ position, bytes: data, synced: false, limbo: false });
  }

  #doSync(file: FileNode): void {
    for (const w of file.writes) if (!w.limbo) w.synced = true;
    collapse(file);
  }

  /** An fsync that failed: the writes it covered may or may not be on disk, and stay that way. */
  #doFailedSync(file: FileNode): void {
    if (this.#options.failedSync === 'dirty') return;
    for (const w of file.writes) if (!w.synced) w.limbo = true;
  }

  #replay(entry: TraceEntry, handles: Map<number, number>): void {
    const fileOf = (): FileNode | undefined => {
      const id = entry.handle === undefined ? undefined : handles.get(entry.handle);
      const node = id === undefined ? undefined : this.#nodes.get(id);
      return node?.kind === 'file' ? node : undefined;
    };
    if (entry.op === 'write' && entry.data && entry.position !== undefined) {
      const file = fileOf();
      if (file) this.#doWrite(file, entry.data, entry.position);
      return;
    }
    if (entry.op === 'datasync' || entry.op === 'sync') {
      const file = fileOf();
      if (file && entry.injected) this.#doFailedSync(file);
      else if (file && entry.error === undefined) this.#doSync(file);
      return;
    }
    if (entry.error !== undefined) return;
    if (entry.op === 'open' && entry.handle !== undefined && entry.mode !== undefined) {
      handles.set(entry.handle, this.#doOpen(entry.path, entry.mode));
    } else if (entry.op === 'rename' && entry.dest !== undefined) {
      this.#doRename(entry.path, entry.dest);
    } else if (entry.op === 'unlink') {
      this.#doUnlink(entry.path);
    } else if (entry.op === 'mkdir') {
      this.#doMkdir(entry.path);
    } else if (entry.op === 'syncDir') {
      this.#doSyncDir(entry.path);
    }
  }

  #crash(plan: CrashPlan, seed: number | undefined): SimulatedDisk {
    this.#assertAlive('crash', '/');
    const pending = this.pending();
    if (plan.writes.length !== pending.writes.length || plan.dirOps.length !== pending.dirOps.length) {
      throw new Error(
        `crash plan does not match the pending state (${plan.writes.length}/${pending.writes.length} writes, ` +
          `${plan.dirOps.length}/${pending.dirOps.length} directory operations)`,
      );
    }
    let w = 0;
    const nextFate = (): WriteFate => {
      const fate = plan.writes[w++] ?? 'keep';
      return fate;
    };
    const nodes = new Map<number, Node>();
    for (const node of this.#sortedNodes()) {
      if (node.kind === 'dir') {
        nodes.set(node.id, { kind: 'dir', id: node.id, entries: new Map(node.durable), durable: new Map() });
      } else {
        const bytes = survivingBytes(node, nextFate);
        nodes.set(node.id, {
          kind: 'file',
          id: node.id,
          data: bytes,
          base: bytes,
          writes: [],
          dataOwned: false,
          baseOwned: false,
        });
      }
    }
    this.#dirOps.forEach((op, i) => {
      if (!plan.dirOps[i]) return;
      for (const change of op.changes) {
        const dir = nodes.get(change.dir);
        if (dir?.kind !== 'dir') continue;
        if (change.inode === undefined) dir.entries.delete(change.name);
        else dir.entries.set(change.name, change.inode);
      }
    });
    // After the reboot everything on disk is durable; inodes no name reaches are gone.
    const reachable = new Map<number, Node>();
    const visit = (id: number): void => {
      const node = nodes.get(id);
      if (!node || reachable.has(id)) return;
      reachable.set(id, node);
      if (node.kind === 'dir') {
        for (const [name, child] of node.entries) node.durable.set(name, child);
        for (const child of node.entries.values()) visit(child);
      }
    };
    visit(ROOT);
    this.#dead = true;
    for (const h of this.#handles.values()) h.closed = true;
    const scheduled = this.#scheduled;
    this.#scheduled = undefined;
    const next = SimulatedDisk.#fromImage(
      { nodes: reachable, dirOps: [], nextInode: this.#nextInode },
      this.#options,
      plan,
      seed,
    );
    this.#successor = next;
    scheduled?.resolve(next);
    return next;
  }

  #pathsByInode(): Map<number, string> {
    const paths = new Map<number, string>();
    for (const e of this.#walk('entries')) paths.set(e.inode, e.path);
    return paths;
  }

  #walk(which: 'entries' | 'durable'): { path: string; inode: number; kind: 'file' | 'dir' }[] {
    const out: { path: string; inode: number; kind: 'file' | 'dir' }[] = [];
    const visit = (dir: DirNode, prefix: string): void => {
      for (const name of [...dir[which].keys()].sort()) {
        const id = dir[which].get(name);
        const node = id === undefined ? undefined : this.#nodes.get(id);
        if (!node) continue;
        const path = `${prefix}/${name}`;
        out.push({ path, inode: node.id, kind: node.kind });
        if (node.kind === 'dir') visit(node, path);
      }
    };
    visit(this.#nodes.get(ROOT) as DirNode, '');
    return out;
  }

  /** For error messages: how this disk came to be. */
  toString(): string {
    if (this.crashPlan === undefined) return 'SimulatedDisk';
    const how = this.crashSeed === undefined ? describeCrashPlan(this.crashPlan) : `seed ${this.crashSeed}`;
    return `SimulatedDisk(after crash: ${how})`;
  }
}

/** A handle on a {@link SimulatedDisk}; every call goes back to the disk, which traces it. */
class SimFileHandle implements FileHandle {
  readonly #disk: SimulatedDisk;
  readonly #id: number;

  constructor(disk: SimulatedDisk, id: number) {
    this.#disk = disk;
    this.#id = id;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#disk.handleRead(this.#id, buffer, offset, length, position);
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.#disk.handleWrite(this.#id, data, position, false);
  }

  writeDurable(data: Uint8Array, position: number): Promise<void> {
    return this.#disk.handleWrite(this.#id, data, position, true);
  }

  datasync(): Promise<void> {
    return this.#disk.handleSync(this.#id, 'datasync');
  }

  sync(): Promise<void> {
    return this.#disk.handleSync(this.#id, 'sync');
  }

  size(): Promise<number> {
    return this.#disk.handleSize(this.#id);
  }

  close(): Promise<void> {
    return this.#disk.handleClose(this.#id);
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
export type { SimErrorCode, SimSystemError };
