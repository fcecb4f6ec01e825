import type { FileSystem } from '../../fs/types.js';
import type { SimulatedDisk } from './disk.js';
import { systemError } from './errors.js';
import type { SimulatedProcess } from './types.js';

/**
 * Simulated processes ({@link SimulatedDisk.process}): a killed process makes no more calls, its
 * handles die with it, and the page cache keeps what it wrote. Internal to raft-metadata/testing.
 */

/** A simulated process: its calls stop working once it is killed. */
export interface ProcState {
  killed: boolean;
  onKill: (() => void)[];
}

export function killProcess(proc: ProcState): void {
  if (proc.killed) return;
  proc.killed = true;
  for (const wake of proc.onKill.splice(0)) wake();
}

export function assertRunning(proc: ProcState | undefined, op: string, path: string): void {
  if (proc?.killed) throw systemError('EIO', op, path, undefined, 'simulated process was killed');
}

/**
 * The {@link FileSystem} view of `state` on `disk`: each call goes to the disk through `via`, which
 * tells the disk whose call it is (so that handles and locks belong to the process).
 */
export function processView(
  disk: SimulatedDisk,
  state: ProcState,
  via: <T>(call: () => Promise<T>) => Promise<T>,
): SimulatedProcess {
  const fs: FileSystem = disk;
  return {
    disk,
    get killed() {
      return state.killed;
    },
    kill: () => killProcess(state),
    open: (path, mode) => via(() => fs.open(path, mode)),
    openLocked: (path) => via(() => fs.openLocked(path)),
    probeLock: (path) => via(() => fs.probeLock(path)),
    readFile: (path) => via(() => fs.readFile(path)),
    rename: (from, to) => via(() => fs.rename(from, to)),
    unlink: (path) => via(() => fs.unlink(path)),
    readdir: (dir) => via(() => fs.readdir(dir)),
    mkdir: (dir) => via(() => fs.mkdir(dir)),
    syncDir: (dir) => via(() => fs.syncDir(dir)),
    stat: (path) => via(() => fs.stat(path)),
  };
}
