import { NodeFileSystem } from './node-fs.js';
import type { FileSystem } from './types.js';

let shared: NodeFileSystem | undefined;

/**
 * The real disk, shared by every manager and load that is not given an `fs` option. One instance
 * means one I/O thread for the process (started on first durable write, idle threads do not keep
 * the process alive).
 */
export function defaultFileSystem(): FileSystem {
  shared ??= new NodeFileSystem();
  return shared;
}
