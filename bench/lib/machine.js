/** The machine and the disk a run measured, as saved in the results JSON (`machine`). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { peerVersion } from '../peers/index.js';
import { sh } from './shell.js';

/** statfs(2) f_type of a tmpfs, where fdatasync costs nothing. */
export const TMPFS_MAGIC = 0x01021994;

/** `dir` is the run's directory: its file system is the one measured. */
export function describeMachine(dir) {
  const df = sh('df', ['-T', dir]);
  const dfLine = df?.split('\n')[1]?.trim().split(/\s+/);
  const device = dfLine?.[0];
  const mountPoint = dfLine?.[6];
  const mount = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[1] === mountPoint)
    .at(-1);
  const statfs = fs.statfsSync(dir);
  return {
    date: new Date().toISOString(),
    node: process.version,
    kernel: os.release(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model,
    memory: os.totalmem(),
    dir,
    df,
    device,
    fsType: dfLine?.[1],
    mountPoint,
    mountOptions: mount?.[3],
    statfsType: `0x${statfs.type.toString(16)}`,
    tmpfs: statfs.type === TMPFS_MAGIC,
    loadAverageAtStart: os.loadavg(),
    packages: Object.fromEntries(
      ['better-sqlite3', 'classic-level', 'write-file-atomic'].map((name) => [name, peerVersion(name)]),
    ),
  };
}
