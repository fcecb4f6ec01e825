import { dirname } from 'node:path';
import { CorruptionError, hasErrno } from '../errors.js';
import { snapshotPath, snapshotTempPath } from '../format/names.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  type SnapshotContent,
  type SnapshotToWrite,
} from '../format/snapshot-codec.js';
import type { FileSystem } from '../fs/types.js';

/**
 * Reads `<dir>/metadata.json`: its content, `undefined` when there is none, or a thrown
 * {@link CorruptionError} naming the byte offset and the problem. Read-only.
 */
export async function readSnapshot(fs: FileSystem, dir: string): Promise<SnapshotContent | undefined> {
  const path = snapshotPath(dir);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  const decoded = decodeSnapshot(bytes);
  if ('problem' in decoded) throw new CorruptionError(path, decoded.offset, decoded.problem);
  return decoded;
}

/**
 * Replaces `<dir>/metadata.json` atomically with `content` (format v2). Resolves once the new
 * snapshot is durable under its final name, with its size in bytes.
 */
export async function writeSnapshot(fs: FileSystem, dir: string, content: SnapshotToWrite): Promise<number> {
  return writeSnapshotBytes(fs, dir, encodeSnapshot(content));
}

/**
 * {@link writeSnapshot} for bytes already encoded (the compactor encodes in steps:
 * `encodeSnapshotInSteps`).
 */
export async function writeSnapshotBytes(fs: FileSystem, dir: string, bytes: Uint8Array): Promise<number> {
  const temp = snapshotTempPath(dir);
  const final = snapshotPath(dir);
  // A temp file left by an earlier crash is garbage (the reader never looks at it): replace it.
  await fs.unlink(temp).catch((err: unknown) => {
    if (!hasErrno(err, 'ENOENT')) throw err;
  });
  const handle = await fs.open(temp, 'create');
  try {
    await handle.write(bytes, 0);
    // Crash before this sync: metadata.json is still the old snapshot; the temp file may hold
    // anything, and the reader ignores it. The log still holds every record, nothing is lost.
    await handle.sync();
  } finally {
    await handle.close();
  }
  // Crash before the rename is durable: the directory has either the old or the new metadata.json,
  // both complete and checksummed (rename is atomic). The old one plus the log is the same state.
  await fs.rename(temp, final);
  // After this fsync the new snapshot survives power loss; only then may the caller drop log files.
  await fs.syncDir(dirname(final));
  return bytes.byteLength;
}
