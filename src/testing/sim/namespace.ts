import { posix } from 'node:path';
import type { OpenMode } from '../../fs/types.js';
import { systemError } from './errors.js';
import {
  cloneImage,
  type DirChange,
  type DirNode,
  type DirOp,
  EMPTY,
  type FileNode,
  type Image,
  type Node,
  normalize,
  ROOT,
} from './nodes.js';

/**
 * The names of a simulated disk: inodes, the directories' current and durable entries, and the
 * directory operations (create, rename, unlink, mkdir) not yet made durable by a `syncDir`, with
 * the errors Node reports for each. Internal to raft-metadata/testing.
 */

/** A directory's current names (what lookups see) or durable names (what a crash keeps). */
export type Names = 'entries' | 'durable';

/**
 * Applies directory changes to the `which` names of the directories in `nodes`: the one place a
 * name is set or removed, whether it is an operation now (`entries`), its `syncDir` (`durable`), or
 * a crash replaying the operations it keeps onto the durable names.
 */
export function applyChanges(nodes: Map<number, Node>, changes: readonly DirChange[], which: Names): void {
  for (const change of changes) {
    const dir = nodes.get(change.dir);
    if (dir?.kind !== 'dir') continue;
    if (change.inode === undefined) dir[which].delete(change.name);
    else dir[which].set(change.name, change.inode);
  }
}

export class Namespace {
  readonly nodes: Map<number, Node>;
  /** Directory operations applied to the current names but not yet durable, in order. */
  dirOps: DirOp[];
  nextInode: number;

  constructor(image?: Image) {
    this.nodes =
      image?.nodes ?? new Map([[ROOT, { kind: 'dir', id: ROOT, entries: new Map(), durable: new Map() }]]);
    this.dirOps = image?.dirOps ?? [];
    this.nextInode = image?.nextInode ?? 1;
  }

  /** A copy of the whole state (file bytes shared copy-on-write). */
  image(): Image {
    return cloneImage({ nodes: this.nodes, dirOps: this.dirOps, nextInode: this.nextInode });
  }

  sortedNodes(): Node[] {
    return [...this.nodes.values()].sort((a, b) => a.id - b.id);
  }

  /** The node at `path`, or ENOENT/ENOTDIR as Node reports them for `syscall`. */
  lookup(path: string, syscall: string, dest?: string): Node {
    let node = this.nodes.get(ROOT) as Node;
    for (const name of path.split('/').filter(Boolean)) {
      if (node.kind !== 'dir') throw systemError('ENOTDIR', syscall, path, dest);
      const id = node.entries.get(name);
      const next = id === undefined ? undefined : this.nodes.get(id);
      if (!next) throw systemError('ENOENT', syscall, path, dest);
      node = next;
    }
    return node;
  }

  exists(path: string): boolean {
    try {
      this.lookup(path, 'stat');
      return true;
    } catch {
      return false;
    }
  }

  /** The inode `path` names in the current or durable namespace, if any. */
  resolveIn(which: Names, path: string): number | undefined {
    let id = ROOT;
    for (const name of path.split('/').filter(Boolean)) {
      const node = this.nodes.get(id);
      if (node?.kind !== 'dir') return undefined;
      const next = node[which].get(name);
      if (next === undefined) return undefined;
      id = next;
    }
    return id;
  }

  /** Every name reachable through `which` names, depth first, sorted. */
  walk(which: Names): { path: string; inode: number; kind: 'file' | 'dir' }[] {
    const out: { path: string; inode: number; kind: 'file' | 'dir' }[] = [];
    const visit = (dir: DirNode, prefix: string): void => {
      for (const name of [...dir[which].keys()].sort()) {
        const id = dir[which].get(name);
        const node = id === undefined ? undefined : this.nodes.get(id);
        if (!node) continue;
        const path = `${prefix}/${name}`;
        out.push({ path, inode: node.id, kind: node.kind });
        if (node.kind === 'dir') visit(node, path);
      }
    };
    visit(this.nodes.get(ROOT) as DirNode, '');
    return out;
  }

  pathsByInode(): Map<number, string> {
    const paths = new Map<number, string>();
    for (const e of this.walk('entries')) paths.set(e.inode, e.path);
    return paths;
  }

  // ---------------------------------------------------------------- operations (not durable)

  /** `open(2)`: the inode `path` names, created (with a pending name) for mode `create`. */
  open(path: string, mode: OpenMode): number {
    if (mode === 'create') {
      if (path === '/') throw systemError('EEXIST', 'open', path);
      const { dir, name } = this.#parentOf(path, 'open');
      if (dir.entries.has(name)) throw systemError('EEXIST', 'open', path);
      const file = this.#newFile(EMPTY, false);
      this.#apply({ description: `create ${path}`, changes: [{ dir: dir.id, name, inode: file.id }] });
      return file.id;
    }
    const node = this.lookup(path, 'open');
    if (mode === 'write' && node.kind === 'dir') throw systemError('EISDIR', 'open', path);
    return node.id;
  }

  rename(from: string, to: string): void {
    const source = this.#parentOf(from, 'rename', to);
    const id = source.dir.entries.get(source.name);
    const node = id === undefined ? undefined : this.nodes.get(id);
    if (!node || from === '/') throw systemError('ENOENT', 'rename', from, to);
    const target = this.#parentOf(to, 'rename', to);
    if (from === to) return;
    if (node.kind === 'dir' && `${to}/`.startsWith(`${from}/`))
      throw systemError('EINVAL', 'rename', from, to);
    const replacedId = target.dir.entries.get(target.name);
    const replaced = replacedId === undefined ? undefined : this.nodes.get(replacedId);
    if (replaced?.kind === 'dir' && node.kind === 'file') throw systemError('EISDIR', 'rename', from, to);
    if (replaced?.kind === 'file' && node.kind === 'dir') throw systemError('ENOTDIR', 'rename', from, to);
    if (replaced?.kind === 'dir' && replaced.entries.size > 0)
      throw systemError('ENOTEMPTY', 'rename', from, to);
    this.#apply({
      description: `rename ${from} -> ${to}`,
      changes: [
        { dir: source.dir.id, name: source.name, inode: undefined },
        { dir: target.dir.id, name: target.name, inode: node.id },
      ],
    });
  }

  unlink(path: string): void {
    const node = this.lookup(path, 'unlink');
    if (node.kind === 'dir') throw systemError('EISDIR', 'unlink', path);
    const { dir, name } = this.#parentOf(path, 'unlink');
    this.#apply({ description: `unlink ${path}`, changes: [{ dir: dir.id, name, inode: undefined }] });
  }

  mkdir(path: string): void {
    if (path === '/') throw systemError('EEXIST', 'mkdir', path);
    const { dir, name } = this.#parentOf(path, 'mkdir');
    if (dir.entries.has(name)) throw systemError('EEXIST', 'mkdir', path);
    const made = this.#newDir();
    this.#apply({ description: `mkdir ${path}`, changes: [{ dir: dir.id, name, inode: made.id }] });
  }

  /**
   * Commits the pending directory operations that touch `path`'s directory, and (to keep names
   * consistent) every earlier pending operation that touches a directory they touch.
   */
  syncDir(path: string): void {
    const node = this.lookup(path, 'open');
    if (node.kind !== 'dir') throw systemError('ENOTDIR', 'open', path);
    const dirs = new Set([node.id]);
    const commit = new Set<number>();
    for (let i = this.dirOps.length - 1; i >= 0; i--) {
      const op = this.dirOps[i];
      if (!op?.changes.some((c) => dirs.has(c.dir))) continue;
      commit.add(i);
      for (const c of op.changes) dirs.add(c.dir);
    }
    const kept: DirOp[] = [];
    this.dirOps.forEach((op, i) => {
      if (commit.has(i)) applyChanges(this.nodes, op.changes, 'durable');
      else kept.push(op);
    });
    this.dirOps = kept;
  }

  // ---------------------------------------------------------------- setup (durable at once)

  /** Creates a durable directory and its missing parents. */
  mkdirp(path: string): void {
    let dir = this.nodes.get(ROOT) as DirNode;
    for (const name of normalize(path).split('/').filter(Boolean)) {
      const id = dir.entries.get(name);
      const child = id === undefined ? undefined : this.nodes.get(id);
      if (child?.kind === 'file') throw systemError('ENOTDIR', 'mkdir', path);
      if (child?.kind === 'dir') {
        dir.durable.set(name, child.id);
        dir = child;
        continue;
      }
      const made = this.#newDir();
      dir.entries.set(name, made.id);
      dir.durable.set(name, made.id);
      dir = made;
    }
  }

  /** Writes a durable file; its directory exists (mkdirp). */
  putFile(path: string, data: Uint8Array): void {
    const p = normalize(path);
    const parent = this.lookup(posix.dirname(p), 'open') as DirNode;
    const name = posix.basename(p);
    const existing = parent.entries.get(name);
    if (existing !== undefined && this.nodes.get(existing)?.kind === 'dir')
      throw systemError('EISDIR', 'open', p);
    const file = this.#newFile(data, true);
    parent.entries.set(name, file.id);
    parent.durable.set(name, file.id);
  }

  // ---------------------------------------------------------------- internals

  /** The directory that holds `path`'s last name, and that name. */
  #parentOf(path: string, syscall: string, dest?: string): { dir: DirNode; name: string } {
    const parent = this.lookup(posix.dirname(path), syscall, dest);
    if (parent.kind !== 'dir') throw systemError('ENOTDIR', syscall, path, dest);
    return { dir: parent, name: posix.basename(path) };
  }

  /** A directory operation: the current names change now, the durable ones at its syncDir. */
  #apply(op: DirOp): void {
    applyChanges(this.nodes, op.changes, 'entries');
    this.dirOps.push(op);
  }

  /** A new file inode; `owned` copies `data` (setup), otherwise it is shared (the empty array). */
  #newFile(data: Uint8Array, owned: boolean): FileNode {
    const file: FileNode = {
      kind: 'file',
      id: this.nextInode++,
      data: owned ? data.slice() : data,
      base: owned ? data.slice() : data,
      writes: [],
      dataOwned: owned,
      baseOwned: owned,
    };
    this.nodes.set(file.id, file);
    return file;
  }

  #newDir(): DirNode {
    const made: DirNode = { kind: 'dir', id: this.nextInode++, entries: new Map(), durable: new Map() };
    this.nodes.set(made.id, made);
    return made;
  }
}
