import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { OpenMode } from '../../fs/types.js';
import type { WriteFate } from './crash.js';
import { systemError } from './errors.js';
import type { FaultRule, FsCall } from './types.js';

/**
 * The simulated disk's insides: inodes (files with durable bytes and pending writes, directories
 * with current and durable entries), pending directory operations, images for stateAt, and the
 * byte-level helpers. Internal to raft-metadata/testing.
 */

export interface PendingWriteState {
  readonly position: number;
  readonly bytes: Uint8Array;
  synced: boolean;
  limbo: boolean;
}

export interface FileNode {
  readonly kind: 'file';
  readonly id: number;
  /** What reads see. */
  data: Uint8Array;
  /** Durable bytes, before `writes`. */
  base: Uint8Array;
  /** Writes after `base`, in order; synced ones stay here only behind a limbo write. */
  writes: PendingWriteState[];
  /**
   * Copy-on-write: false when `data` (`base`) may be shared with a clone (an image kept for
   * {@link SimulatedDisk.stateAt}, or the other field), so it must be copied before changing in place.
   */
  dataOwned: boolean;
  baseOwned: boolean;
}

export interface DirNode {
  readonly kind: 'dir';
  readonly id: number;
  readonly entries: Map<string, number>;
  readonly durable: Map<string, number>;
}

export type Node = FileNode | DirNode;

export interface DirChange {
  readonly dir: number;
  readonly name: string;
  /** The inode the name now points to, or undefined if the name is removed. */
  readonly inode: number | undefined;
}

export interface DirOp {
  readonly description: string;
  readonly changes: readonly DirChange[];
}

export interface Image {
  readonly nodes: Map<number, Node>;
  readonly dirOps: DirOp[];
  readonly nextInode: number;
}

/** A simulated process: its calls stop working once it is killed (see {@link SimulatedDisk.process}). */
export interface ProcState {
  killed: boolean;
  onKill: (() => void)[];
}

export interface HandleState {
  readonly id: number;
  readonly proc: ProcState | undefined;
  readonly inode: number;
  readonly path: string;
  readonly mode: OpenMode;
  closed: boolean;
  /** Holds the file's kernel lock (openLocked) until closed, or until its process is killed. */
  readonly locked?: boolean;
}

export interface ArmedFault {
  readonly rule: FaultRule;
  readonly ops: ReadonlySet<FsCall>;
  seen: number;
}

export const ROOT = 0;
export const DIR_SIZE = 4096;
export const EMPTY = new Uint8Array(0);

export function normalize(path: string): string {
  return posix.resolve('/', path);
}

export function cloneNode(node: Node): Node {
  if (node.kind === 'dir') {
    return { kind: 'dir', id: node.id, entries: new Map(node.entries), durable: new Map(node.durable) };
  }
  // Both copies now share the arrays; whichever changes one first copies it.
  node.dataOwned = false;
  node.baseOwned = false;
  return {
    kind: 'file',
    id: node.id,
    data: node.data,
    base: node.base,
    writes: node.writes.map((w) => ({ ...w })),
    dataOwned: false,
    baseOwned: false,
  };
}

export function cloneImage(image: Image): Image {
  const nodes = new Map<number, Node>();
  for (const [id, node] of image.nodes) nodes.set(id, cloneNode(node));
  return { nodes, dirOps: [...image.dirOps], nextInode: image.nextInode };
}

/** `bytes` with `data` written at `position`, growing (zero-filled) if needed. May return `bytes` itself. */
export function applyWrite(bytes: Uint8Array, data: Uint8Array, position: number): Uint8Array {
  const end = position + data.byteLength;
  let out = bytes;
  if (end > bytes.byteLength) {
    out = new Uint8Array(end);
    out.set(bytes);
  }
  out.set(data, position);
  return out;
}

/** What survives of `file` if `fates` (one per not-synced write, in order) happen. */
export function survivingBytes(file: FileNode, fates: () => WriteFate): Uint8Array {
  let bytes: Uint8Array = file.base.slice();
  for (const write of file.writes) {
    const fate: WriteFate = write.synced ? 'keep' : fates();
    if (fate === 'drop') continue;
    const data = fate === 'keep' ? write.bytes : write.bytes.subarray(0, fate.tornAt - write.position);
    bytes = applyWrite(bytes, data, write.position);
  }
  return bytes;
}

/** Moves the leading synced writes into the durable base. */
export function collapse(file: FileNode): void {
  while (file.writes[0]?.synced) {
    const write = file.writes.shift();
    if (!write) continue;
    if (!file.baseOwned) {
      file.base = file.base.slice();
      file.baseOwned = true;
    }
    file.base = applyWrite(file.base, write.bytes, write.position);
  }
}

export function killProcess(proc: ProcState): void {
  if (proc.killed) return;
  proc.killed = true;
  for (const wake of proc.onKill.splice(0)) wake();
}

export function assertRunning(proc: ProcState | undefined, op: string, path: string): void {
  if (proc?.killed) throw systemError('EIO', op, path, undefined, 'simulated process was killed');
}

export function hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex').slice(0, 16);
}
