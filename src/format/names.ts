import { join } from 'node:path';

/**
 * Names of the files in a metadata directory:
 * - `metadata.json`: the snapshot (see snapshot-codec.ts);
 * - `metadata.json.tmp`: a snapshot being written; ignored by the reader, replaced by the next one;
 * - `log-<16 hex digits>.wal`: a log whose first record has that sequence number;
 * - `log-<16 hex digits>.wal.tmp`, `log-next.wal.tmp`: a log being created, and the spare a
 *   compaction prepares ahead of time; ignored by the reader, replaced by the next one;
 * - `LOCK`: the kernel-locked (flock) file that makes one owner; its text names the owner (lock-owner.ts).
 * Anything else is left alone.
 */
export const SNAPSHOT_NAME = 'metadata.json';
export const SNAPSHOT_TEMP_NAME = 'metadata.json.tmp';
export const LOCK_NAME = 'LOCK';
export const SPARE_LOG_NAME = 'log-next.wal.tmp';

const LOG_NAME = /^log-([0-9a-f]{16})\.wal$/;

export function snapshotPath(dir: string): string {
  return join(dir, SNAPSHOT_NAME);
}

export function snapshotTempPath(dir: string): string {
  return join(dir, SNAPSHOT_TEMP_NAME);
}

export function lockPath(dir: string): string {
  return join(dir, LOCK_NAME);
}

export function logName(firstSeq: number): string {
  return `log-${firstSeq.toString(16).padStart(16, '0')}.wal`;
}

/** The first sequence number in a log file's name, or undefined if `name` is not a log's name. */
export function parseLogName(name: string): number | undefined {
  const match = LOG_NAME.exec(name);
  if (!match?.[1]) return undefined;
  const value = Number.parseInt(match[1], 16);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** The log files among `names`, sorted by first sequence number. */
export function logFiles(names: readonly string[]): { name: string; firstSeq: number }[] {
  const logs: { name: string; firstSeq: number }[] = [];
  for (const name of names) {
    const firstSeq = parseLogName(name);
    if (firstSeq !== undefined) logs.push({ name, firstSeq });
  }
  return logs.sort((a, b) => a.firstSeq - b.firstSeq);
}
