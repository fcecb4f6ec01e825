import { NodeFileSystem } from './node-fs.js';
import type { FileSystem } from './types.js';

let shared: NodeFileSystem | undefined;

/**
 * The real disk, shared by every manager and load that is not given an `fs` option. One instance
 * means one I/O thread for all of them: started by the first durable write, stopped when the last
 * file they have open is closed (the last manager closes), started again by the next one.
 */
export function defaultFileSystem(): FileSystem {
  shared ??= new NodeFileSystem();
  return shared;
}
