import type { FileHandle, OpenMode } from '../../fs/types.js';
import type { SimulatedDisk } from './disk.js';
import type { ProcState } from './process.js';

/** File handles of a simulated disk. Internal to raft-metadata/testing. */

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

/** A handle on a {@link SimulatedDisk}; every call goes back to the disk, which traces it. */
export class SimFileHandle implements FileHandle {
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
