import type { FileHandle, OpenMode } from '../../fs/types.js';
import { systemError } from './errors.js';
import type { Kernel, Step, Traced } from './kernel.js';
import { DIR_SIZE, type FileNode, failSync, type Node, syncFile, writeFile } from './nodes.js';
import type { ProcState } from './process.js';
import type { FaultRule, TraceOp } from './types.js';

/**
 * File handles of a simulated disk: every call is one {@link Kernel.step} (a `writeDurable` two),
 * traced with the handle's number. Internal to raft-metadata/testing.
 */

/** An open file description: the inode it opened, its mode, its process, its lock. */
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

interface HandleEntry {
  readonly op: TraceOp;
  readonly path: string;
  readonly handle: number;
}

/** What a handle's step adds to the shared part (and, with `entry`, how it extends the trace entry). */
type HandleStep<N, T> = Omit<Step<N, T>, 'op' | 'path' | 'proc' | 'syscall' | 'entry'> & {
  readonly entry?: Traced;
};

export class SimFileHandle implements FileHandle {
  readonly #k: Kernel;
  readonly #id: number;

  constructor(kernel: Kernel, id: number) {
    this.#k = kernel;
    this.#id = id;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#step('read', 'read', (h, entry) => ({
      entry: { ...entry, position, length },
      validate: () => {
        if (offset < 0 || length < 0 || offset + length > buffer.byteLength || position < 0) {
          throw Object.assign(new RangeError('The value of "length" is out of range.'), {
            code: 'ERR_OUT_OF_RANGE',
          });
        }
      },
      apply: () => {
        const node = this.#k.handleNode(h, 'read');
        if (node.kind === 'dir') throw systemError('EISDIR', 'read');
        const n = Math.max(0, Math.min(length, node.data.byteLength - position));
        buffer.set(node.data.subarray(position, position + n), offset);
        return n;
      },
    }));
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.#write(data, position, false);
  }

  /**
   * A traced `write` then a traced `datasync` (a crash can fall between them). A fault with
   * `bytesWritten` is a short write; without, the bytes are written and the fdatasync fails.
   */
  writeDurable(data: Uint8Array, position: number): Promise<void> {
    return this.#write(data, position, true);
  }

  datasync(): Promise<void> {
    return this.#sync('datasync', 'fdatasync');
  }

  sync(): Promise<void> {
    return this.#sync('sync', 'fsync');
  }

  size(): Promise<number> {
    return this.#step('size', 'fstat', (h) => ({
      apply: () => {
        const node = this.#k.handleNode(h, 'fstat');
        return node.kind === 'dir' ? DIR_SIZE : node.data.byteLength;
      },
    }));
  }

  close(): Promise<void> {
    return this.#step('close', 'close', (h, entry) => ({
      unless: { test: () => h.closed, value: undefined }, // Node resolves a second close of a FileHandle.
      injected: () => {
        h.closed = true; // a failed close still closes the descriptor
        return entry;
      },
      apply: () => {
        h.closed = true;
      },
    }));
  }

  /** `write`, or `writeDurable`: the write, then (one more `begin`) its fdatasync. */
  #write(data: Uint8Array, position: number, durable: boolean): Promise<void> {
    const k = this.#k;
    return this.#step<FileNode, void>('write', 'write', (h, entry) => {
      const base = { ...entry, position, ...(durable ? { via: 'writeDurable' as const } : {}) };
      const sync = { op: 'datasync' as const, path: h.path, handle: h.id, via: 'writeDurable' as const };
      let copy = data;
      let written: { file: FileNode; rule: FaultRule | undefined } | undefined;
      return {
        fault: durable ? 'writeDurable' : 'write',
        entry: { ...base, length: 0 },
        target: () => k.writableNode(h),
        injected: (rule, file) => {
          if (durable && rule.bytesWritten === undefined) return undefined; // fails the fdatasync
          const n = Math.max(0, Math.min(rule.bytesWritten ?? 0, data.byteLength));
          if (n > 0) writeFile(file, data.slice(0, n), position);
          return { ...base, length: n, data: data.slice(0, n) };
        },
        apply: (file, rule) => {
          copy = data.slice();
          writeFile(file, copy, position);
          written = { file, rule };
        },
        traced: () => ({ ...base, length: copy.byteLength, data: copy }),
        next: () => {
          if (!durable || !written) return undefined;
          const { file, rule } = written;
          return {
            op: 'datasync',
            fault: { rule },
            path: h.path,
            proc: h.proc,
            syscall: 'fdatasync',
            entry: sync,
            target: () => file,
            injected: () => {
              failSync(file, k.options.failedSync);
              return sync;
            },
            apply: () => syncFile(file),
          };
        },
      };
    });
  }

  #sync(op: 'datasync' | 'sync', syscall: 'fdatasync' | 'fsync'): Promise<void> {
    return this.#step<Node, void>(op, syscall, (h, entry) => ({
      target: () => this.#k.handleNode(h, syscall),
      injected: (_rule, node) => {
        if (node.kind === 'file') failSync(node, this.#k.options.failedSync);
        return entry;
      },
      apply: (node) => {
        if (node.kind === 'file') syncFile(node);
      },
    }));
  }

  /**
   * One {@link Kernel.step} of this handle: `rest` adds to what every handle step shares (the
   * handle's path and process, the trace entry `{ op, path, handle }`, which it may extend).
   */
  #step<N, T>(
    op: TraceOp,
    syscall: string,
    rest: (h: HandleState, entry: HandleEntry) => HandleStep<N, T>,
  ): Promise<T> {
    return this.#k.step(() => {
      const h = this.#k.handleState(this.#id);
      const entry = { op, path: h.path, handle: h.id };
      return { op, path: h.path, proc: h.proc, syscall, entry, ...rest(h, entry) };
    });
  }
}
