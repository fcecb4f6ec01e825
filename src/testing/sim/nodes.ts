import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { WriteFate } from './crash.js';

/**
 * The simulated disk's inodes: files with durable bytes and pending writes, directories with
 * current and durable entries, pending directory operations, images for stateAt, and what writes
 * and fsyncs do to a file's bytes. Internal to raft-metadata/testing.
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

/**
 * A short digest of `bytes`: the hash of everything up to the last non-zero byte, and how many
 * zeros follow (equal digests = equal bytes, lengths included). Most of a simulated log is its
 * preallocated zeros; leaving them out of the hash keeps fingerprint() cheap.
 */
export function hex(bytes: Uint8Array): string {
  const end = nonZeroEnd(bytes);
  const digest = createHash('sha1').update(bytes.subarray(0, end)).digest('hex').slice(0, 16);
  return `${digest}+${bytes.byteLength - end}`;
}

const ZEROS = new Uint8Array(1 << 16);

/** The length of `bytes` without its trailing zeros. */
export function nonZeroEnd(bytes: Uint8Array): number {
  let end = bytes.byteLength;
  // Zeros from the end in steps of 64 KiB, 4 KiB and 256 bytes, compared natively (memcmp), then
  // byte by byte.
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const size of [1 << 16, 1 << 12, 1 << 8]) {
    while (end >= size && view.compare(ZEROS, 0, size, end - size, end) === 0) end -= size;
  }
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

/** A write lands in the page cache: reads see it at once; it is pending until an fsync of the file. */
export function writeFile(file: FileNode, data: Uint8Array, position: number): void {
  if (data.byteLength === 0) return;
  if (!file.dataOwned || file.data === file.base) {
    file.data = file.data.slice();
    file.dataOwned = true;
  }
  file.data = applyWrite(file.data, data, position);
  file.writes.push({ position, bytes: data, synced: false, limbo: false });
}

/** A successful fsync: every write of the file not in limbo becomes durable. */
export function syncFile(file: FileNode): void {
  for (const w of file.writes) if (!w.limbo) w.synced = true;
  collapse(file);
}

/**
 * An fsync that failed: the writes it covered may or may not be on disk, and stay that way
 * (`'limbo'`, Linux), or stay pending for the next fsync (`'dirty'`).
 */
export function failSync(file: FileNode, failedSync: 'limbo' | 'dirty' | undefined): void {
  if (failedSync === 'dirty') return;
  for (const w of file.writes) if (!w.synced) w.limbo = true;
}
