/** Variant ids and writer counts that the sections and the report refer to (no variant code loaded). */

/** raft-metadata's writer sweep: variants `raft-1` to `raft-256`. */
export const WRITER_COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** The floor every "x floor" ratio divides by: Node's writeSync + fdatasyncSync, appending. */
export const FLOOR = 'node-sync-append';
