/**
 * The content of `LOCK`: who took the directory's kernel lock, for people and diagnostics only.
 * Ownership is the kernel's flock on the file, never this text.
 *
 * Layout: one JSON object `{"pid":…,"hostname":"…","startedAt":"<ISO 8601>"}` padded with spaces
 * to {@link LOCK_OWNER_BYTES} bytes and ending in a newline. The fixed size lets a new owner
 * overwrite the previous owner's text in place (one pwrite at offset 0, no truncate); a LOCK
 * written by 0.1.0 (a pid and a newline) is shorter and is overwritten whole. A reader that finds
 * anything else (being written, cut short by a crash, 0.1.0's pid) reports no owner.
 */

export const LOCK_OWNER_BYTES = 512;

/** Who holds (or last held) a directory's lock, as its LOCK file says. */
export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  /** When that owner took the lock, ISO 8601 UTC. */
  readonly startedAt: string;
}

const MAX_HOSTNAME = 255;

export function encodeLockOwner(owner: LockOwner): Uint8Array {
  const hostname = owner.hostname.slice(0, MAX_HOSTNAME);
  const json = JSON.stringify({ pid: owner.pid, hostname, startedAt: owner.startedAt });
  const bytes = new TextEncoder().encode(json);
  const out = new Uint8Array(LOCK_OWNER_BYTES).fill(0x20);
  // Hostnames are at most 255 bytes, so the JSON always fits; cut anyway rather than overflow.
  out.set(bytes.subarray(0, LOCK_OWNER_BYTES - 1), 0);
  out[LOCK_OWNER_BYTES - 1] = 0x0a;
  return out;
}

/** The owner a LOCK file names, or undefined if it names none (empty, partial, 0.1.0's pid). */
export function decodeLockOwner(bytes: Uint8Array): LockOwner | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, hostname, startedAt } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (typeof hostname !== 'string' || typeof startedAt !== 'string') return undefined;
  return { pid, hostname, startedAt };
}
