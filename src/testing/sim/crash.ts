import { applyChanges, type Namespace } from './namespace.js';
import {
  type FileNode,
  failSync,
  type Image,
  type Node,
  ROOT,
  survivingBytes,
  syncFile,
  writeFile,
} from './nodes.js';
import { Prng } from './prng.js';
import type { TraceEntry } from './types.js';

/**
 * What a crash does to the data and names that were not yet durable. A real disk may keep, lose or
 * half-write each of them independently; a {@link CrashPlan} says which, one choice per pending item,
 * so that one crash state is one plain value (printable, replayable, enumerable).
 *
 * Also here: what a disk holds after a crash ({@link survivorOf}), and the replay of a trace that
 * rebuilds a past state of a disk to crash it there ({@link replay}, for `stateAt`).
 */

/** Size of the unit a disk writes atomically. A torn write keeps a prefix cut at such a boundary. */
export const SECTOR_BYTES = 512;

/**
 * The fate of one unsynced write:
 * - `'keep'`: all of it reached the disk;
 * - `'drop'`: none of it did;
 * - `{ tornAt }`: the bytes before file offset `tornAt` did, the rest did not. `tornAt` is a
 *   multiple of {@link SECTOR_BYTES} strictly inside the write.
 */
export type WriteFate = 'keep' | 'drop' | { readonly tornAt: number };

/**
 * One crash state: a fate for each pending write and a keep/lose flag for each pending directory
 * operation, in the order {@link PendingState} lists them.
 */
export interface CrashPlan {
  readonly writes: readonly WriteFate[];
  readonly dirOps: readonly boolean[];
}

/** A write that is not (or, after a failed fsync, may never be) durable. */
export interface PendingWrite {
  /** Current name of the file, or `undefined` if it has none any more (unlinked or replaced). */
  readonly path: string | undefined;
  readonly inode: number;
  readonly position: number;
  readonly length: number;
  /** Offsets at which a crash may cut this write ({@link WriteFate} `tornAt`); empty if it fits one sector. */
  readonly tornPoints: readonly number[];
  /**
   * True when an fsync of the file failed after this write: Linux then marks the pages clean, so no
   * later fsync writes them; they may or may not be on disk, forever ("fsyncgate").
   */
  readonly limbo: boolean;
}

/** A create, rename, unlink or mkdir whose directory has not been fsync'ed since. */
export interface PendingDirOp {
  readonly description: string;
}

/** Everything a crash could still lose, in the order a {@link CrashPlan} addresses it. */
export interface PendingState {
  readonly writes: readonly PendingWrite[];
  readonly dirOps: readonly PendingDirOp[];
}

/** The sector boundaries strictly inside `[position, position + length)`. */
export function tornPointsOf(position: number, length: number): number[] {
  const points: number[] = [];
  const end = position + length;
  for (let at = (Math.floor(position / SECTOR_BYTES) + 1) * SECTOR_BYTES; at < end; at += SECTOR_BYTES) {
    points.push(at);
  }
  return points;
}

/** The plan that keeps everything: what the disk holds if the machine does not crash but stops cleanly. */
export function keepAllPlan(pending: PendingState): CrashPlan {
  return { writes: pending.writes.map(() => 'keep'), dirOps: pending.dirOps.map(() => true) };
}

/** The plan that loses everything not yet durable. */
export function dropAllPlan(pending: PendingState): CrashPlan {
  return { writes: pending.writes.map(() => 'drop'), dirOps: pending.dirOps.map(() => false) };
}

/**
 * A random crash state, drawn from `seed`: each write kept, dropped or torn at a random sector
 * boundary with equal odds, each directory operation kept or lost with equal odds.
 */
export function randomCrashPlan(pending: PendingState, seed: number): CrashPlan {
  const prng = new Prng(seed);
  const writes = pending.writes.map((write): WriteFate => {
    const choice = prng.below(write.tornPoints.length > 0 ? 3 : 2);
    if (choice === 0) return 'keep';
    if (choice === 1) return 'drop';
    const tornAt = write.tornPoints[prng.below(write.tornPoints.length)];
    return tornAt === undefined ? 'drop' : { tornAt };
  });
  const dirOps = pending.dirOps.map(() => prng.below(2) === 0);
  return { writes, dirOps };
}

/** Bounds for {@link enumerateCrashPlans}. */
export interface EnumerateOptions {
  /**
   * At most this many torn variants per write (default: all). When a write has more sector
   * boundaries, the first, the last and evenly spaced ones in between are used.
   */
  readonly maxTornPointsPerWrite?: number;
}

function fatesOf(write: PendingWrite, options: EnumerateOptions): WriteFate[] {
  const max = options.maxTornPointsPerWrite ?? Number.POSITIVE_INFINITY;
  let points = write.tornPoints;
  if (points.length > max) {
    const picked = new Set<number>();
    for (let i = 0; i < max; i++) {
      const index = max === 1 ? 0 : Math.round((i * (points.length - 1)) / (max - 1));
      const point = points[index];
      if (point !== undefined) picked.add(point);
    }
    points = [...picked];
  }
  return ['keep', 'drop', ...points.map((tornAt) => ({ tornAt }))];
}

/** How many plans {@link enumerateCrashPlans} yields for `pending`. */
export function countCrashPlans(pending: PendingState, options: EnumerateOptions = {}): number {
  let count = 2 ** pending.dirOps.length;
  for (const write of pending.writes) count *= fatesOf(write, options).length;
  return count;
}

/**
 * Every crash state the disk model allows for `pending` (within `options`' bound on torn variants):
 * the product of each write's fates and each directory operation's keep/lose. The count grows as
 * 3^writes * 2^dirOps; check {@link countCrashPlans} first.
 */
export function* enumerateCrashPlans(
  pending: PendingState,
  options: EnumerateOptions = {},
): Generator<CrashPlan> {
  const choices = pending.writes.map((write) => fatesOf(write, options));
  const writeCount = choices.length;
  const radices = [...choices.map((c) => c.length), ...pending.dirOps.map(() => 2)];
  const digits = radices.map(() => 0);
  for (;;) {
    const writes = digits.slice(0, writeCount).map((d, i) => choices[i]?.[d] ?? 'keep');
    const dirOps = digits.slice(writeCount).map((d) => d === 0);
    yield { writes, dirOps };
    let i = 0;
    for (; i < radices.length; i++) {
      const digit = (digits[i] ?? 0) + 1;
      if (digit < (radices[i] ?? 1)) {
        digits[i] = digit;
        break;
      }
      digits[i] = 0;
    }
    if (i === radices.length) return;
  }
}

/** A short human-readable form of a plan, for failure messages. */
export function describeCrashPlan(plan: CrashPlan): string {
  const writes = plan.writes.map((f) => (typeof f === 'string' ? f : `torn@${f.tornAt}`)).join(',');
  const dirOps = plan.dirOps.map((kept) => (kept ? 'kept' : 'lost')).join(',');
  return `writes=[${writes}] dirOps=[${dirOps}]`;
}

/** What a crash right now could still lose, in the order a {@link CrashPlan} addresses it. */
export function pendingOf(ns: Namespace): PendingState {
  const paths = ns.pathsByInode();
  const writes: PendingWrite[] = [];
  for (const node of ns.sortedNodes()) {
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
  const dirOps: PendingDirOp[] = ns.dirOps.map((op) => ({ description: op.description }));
  return { writes, dirOps };
}

/**
 * The disk after a crash into `plan`: the durable state, plus what `plan` keeps of each pending
 * write and directory operation. After the reboot everything on it is durable, and inodes no name
 * reaches are gone.
 */
export function survivorOf(ns: Namespace, plan: CrashPlan): Image {
  const pending = pendingOf(ns);
  if (plan.writes.length !== pending.writes.length || plan.dirOps.length !== pending.dirOps.length) {
    throw new Error(
      `crash plan does not match the pending state (${plan.writes.length}/${pending.writes.length} writes, ` +
        `${plan.dirOps.length}/${pending.dirOps.length} directory operations)`,
    );
  }
  let w = 0;
  const nextFate = (): WriteFate => plan.writes[w++] ?? 'keep';
  const nodes = new Map<number, Node>();
  for (const node of ns.sortedNodes()) {
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
  ns.dirOps.forEach((op, i) => {
    if (plan.dirOps[i]) applyChanges(nodes, op.changes, 'entries');
  });
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
  return { nodes: reachable, dirOps: [], nextInode: ns.nextInode };
}

/**
 * Applies one traced operation again to `ns` (whose state is the one before it): what succeeded
 * succeeds again, a failed fsync leaves its writes in limbo again. `handles` maps the trace's
 * handle numbers to inodes.
 */
export function replay(
  ns: Namespace,
  entry: TraceEntry,
  handles: Map<number, number>,
  failedSync: 'limbo' | 'dirty' | undefined,
): void {
  const fileOf = (): FileNode | undefined => {
    const id = entry.handle === undefined ? undefined : handles.get(entry.handle);
    const node = id === undefined ? undefined : ns.nodes.get(id);
    return node?.kind === 'file' ? node : undefined;
  };
  if (entry.op === 'write' && entry.data && entry.position !== undefined) {
    const file = fileOf();
    if (file) writeFile(file, entry.data, entry.position);
    return;
  }
  if (entry.op === 'datasync' || entry.op === 'sync') {
    const file = fileOf();
    if (file && entry.injected) failSync(file, failedSync);
    else if (file && entry.error === undefined) syncFile(file);
    return;
  }
  if (entry.error !== undefined) return;
  if (entry.op === 'open' && entry.handle !== undefined && entry.mode !== undefined) {
    handles.set(entry.handle, ns.open(entry.path, entry.mode));
  } else if (entry.op === 'rename' && entry.dest !== undefined) {
    ns.rename(entry.path, entry.dest);
  } else if (entry.op === 'unlink') {
    ns.unlink(entry.path);
  } else if (entry.op === 'mkdir') {
    ns.mkdir(entry.path);
  } else if (entry.op === 'syncDir') {
    ns.syncDir(entry.path);
  }
}
