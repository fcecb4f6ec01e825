import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hasErrno } from '../../errors.js';
import { CURRENT_LAYOUT } from '../../format/record.js';
import type { FileSystem } from '../../fs/types.js';
import { PREALLOCATE_BYTES } from '../../storage/log-writer.js';
import { integerOption, UsageError } from '../args.js';
import type { CommandContext } from '../context.js';
import { DOCTOR_WARNINGS, EXIT } from '../exit-codes.js';
import { type FsProbe, probeFileSystem } from '../fs-probe.js';
import { bytes, labelled, millis } from '../text.js';

/** The size of a record this version writes (format v2). */
const RECORD_SIZE = CURRENT_LAYOUT.recordSize;

/** Below this median, an fdatasync almost certainly did not wait for stable storage. */
export const SUSPICIOUS_FSYNC_MS = 0.05;
/** Above this p99, updates (and so elections) stall noticeably; etcd asks for p99 < 10 ms too. */
export const SLOW_FSYNC_MS = 10;
const LOW_SPACE_BYTES = 100 * 1024 * 1024;

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
}

export interface Finding {
  readonly code: string;
  readonly message: string;
}

/** Rounded to the microsecond: more digits are noise. */
function us(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const pick = (q: number): number => us(n === 0 ? 0 : (sorted[Math.min(n - 1, Math.floor(q * n))] ?? 0));
  return {
    samples: n,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    maxMs: us(sorted.at(-1) ?? 0),
    minMs: us(sorted[0] ?? 0),
  };
}

/**
 * What a log append costs here: a record-sized (48-byte, format v2) write over preallocated zeros and fdatasync'ed,
 * through the library's file system (the same I/O thread as the log), in a temporary file that is
 * removed afterwards. Also a few directory fsyncs (each compaction does two or three).
 */
async function measure(
  fs: FileSystem,
  dir: string,
  durationMs: number,
): Promise<{ append: LatencySummary; dirSync: LatencySummary; elapsedMs: number }> {
  const path = join(dir, `.raft-metadata-doctor-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.open(path, 'create');
  const appends: number[] = [];
  const dirSyncs: number[] = [];
  let elapsedMs = 0;
  try {
    await handle.writeDurable(new Uint8Array(PREALLOCATE_BYTES), 0);
    const record = new Uint8Array(RECORD_SIZE).fill(0xa5);
    const slots = PREALLOCATE_BYTES / RECORD_SIZE;
    const start = performance.now();
    for (let i = 0; ; i++) {
      const t0 = performance.now();
      await handle.writeDurable(record, (i % slots) * RECORD_SIZE);
      const t1 = performance.now();
      appends.push(t1 - t0);
      if (t1 - start >= durationMs || appends.length >= 200_000) break;
    }
    elapsedMs = performance.now() - start;
  } finally {
    await handle.close();
    await fs.unlink(path).catch((err: unknown) => {
      if (!hasErrno(err, 'ENOENT')) throw err;
    });
  }
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await fs.syncDir(dir);
    dirSyncs.push(performance.now() - t0);
  }
  return { append: summarize(appends), dirSync: summarize(dirSyncs), elapsedMs };
}

export function assess(
  probe: FsProbe,
  append: LatencySummary,
  platform: string,
): { warnings: Finding[]; fine: string[] } {
  const warnings: Finding[] = [];
  const fine: string[] = [];
  switch (probe.category) {
    case 'memory':
      warnings.push({
        code: 'memory-fs',
        message: `${probe.name} keeps files in memory: everything is lost on reboot or power loss, and a node restarted on an empty directory starts at term 0 and can vote twice. Put the metadata on a disk-backed file system.`,
      });
      break;
    case 'network':
      warnings.push({
        code: 'network-fs',
        message: `${probe.name} is a network file system: whether fsync reaches stable storage depends on the server and the mount/export options (NFS: a hard mount and a "sync" export; never "async"), and the kernel lock (flock) on the LOCK file may not keep two machines apart. Prefer a local disk.`,
      });
      break;
    case 'fuse':
      warnings.push({
        code: 'fuse',
        message: `${probe.name} is a FUSE file system: durability is whatever its daemon implements, and some turn fsync into a no-op. Prefer a kernel file system on a local disk.`,
      });
      break;
    case 'overlay':
      warnings.push({
        code: 'overlay',
        message: `${probe.name}: a container's writable layer. It disappears with the container; mount a volume for the metadata directory.`,
      });
      break;
    case 'local':
      fine.push(`${probe.name} is a local disk file system.`);
      break;
    default:
      fine.push(`file system ${probe.name}: not recognized; check it flushes on fsync.`);
  }
  const options = probe.mount?.options ?? [];
  const unsafe = options.filter((o) => o === 'nobarrier' || o === 'barrier=0');
  if (unsafe.length > 0) {
    warnings.push({
      code: 'no-barrier',
      message: `mounted with ${unsafe.join(', ')}: the kernel does not flush the drive's write cache on fsync; a power loss can lose acknowledged updates unless the cache is battery-backed.`,
    });
  }
  if (options.includes('data=writeback')) {
    fine.push('data=writeback: fine for raft-metadata (it fdatasyncs the data it depends on).');
  }
  if (platform === 'darwin') {
    const versions = process.versions as Partial<Record<string, string>>;
    if (versions.bun === undefined && versions.deno === undefined) {
      fine.push(
        "macOS: Node's fsync and fdatasync are fcntl(F_FULLFSYNC) there (libuv), which flushes the drive's write cache; they cost milliseconds.",
      );
    } else {
      warnings.push({
        code: 'darwin-fsync',
        message:
          "macOS under Bun or Deno: whether this runtime's fsync/fdatasync issue fcntl(F_FULLFSYNC) (a plain fsync() does not flush the drive's write cache) was not verified; a power loss may lose acknowledged updates. Use Node on macOS, or Linux.",
      });
    }
  }
  if (append.samples > 0 && append.p50Ms < SUSPICIOUS_FSYNC_MS) {
    warnings.push({
      code: 'fsync-too-fast',
      message: `write+fdatasync takes ${millis(append.p50Ms)} (median): too fast to have reached stable storage on most devices. Something acknowledges flushes without doing them (a volatile write cache, a VM disk with cache=unsafe, eatmydata, tmpfs). Fine only on a device with power-loss protection (enterprise SSD/NVMe, battery-backed RAID cache).`,
    });
  } else if (append.samples > 0) {
    fine.push(
      `write+fdatasync median ${millis(append.p50Ms)}: consistent with a device that flushes to stable storage.`,
    );
  }
  if (append.p99Ms > SLOW_FSYNC_MS) {
    warnings.push({
      code: 'fsync-slow',
      message: `write+fdatasync p99 is ${millis(append.p99Ms)} (above ${SLOW_FSYNC_MS} ms): every term or vote update waits that long, and elections slow down or time out. Use a faster or less loaded disk (an SSD, not shared with heavy writers).`,
    });
  } else if (append.samples > 0) {
    fine.push(`write+fdatasync p99 ${millis(append.p99Ms)}: within ${SLOW_FSYNC_MS} ms.`);
  }
  if (probe.freeBytes !== undefined) {
    if (probe.freeBytes < LOW_SPACE_BYTES) {
      warnings.push({
        code: 'low-space',
        message: `only ${bytes(probe.freeBytes)} free: when a log cannot grow, the manager stops (ERR_MANAGER_FAILED) and the node cannot vote or change term.`,
      });
    } else {
      fine.push(`${bytes(probe.freeBytes)} free.`);
    }
  }
  return { warnings, fine };
}

export async function doctor(ctx: CommandContext): Promise<number> {
  const dir = ctx.dir;
  const durationMs = integerOption('doctor', 'duration', ctx.values.duration, 50) ?? 1000;
  if (durationMs > 60_000) {
    throw new UsageError('--duration must be at most 60000', 'doctor');
  }
  let isDirectory = false;
  try {
    isDirectory = (await ctx.fs.stat(dir)).isDirectory;
  } catch (err) {
    if (!hasErrno(err, 'ENOENT') && !hasErrno(err, 'ENOTDIR')) throw err;
  }
  if (!isDirectory) {
    const why = `${resolve(dir)} does not exist or is not a directory (doctor measures the file system of an existing directory)`;
    return ctx.refuse(EXIT.notMetadata, why, {
      platform: process.platform,
      fileSystem: null,
      fdatasync: null,
      dirFsync: null,
      summary: why,
      warnings: [],
      fine: [],
      refusal: { reason: 'not-a-directory', message: why },
    });
  }
  const probe = await probeFileSystem(dir);
  const { append, dirSync, elapsedMs } = await measure(ctx.fs, dir, durationMs);
  const { warnings, fine } = assess(probe, append, process.platform);
  const code = warnings.length > 0 ? DOCTOR_WARNINGS : EXIT.ok;
  const verdict =
    warnings.length === 0
      ? 'OK: durable and fast enough for raft-metadata'
      : `${warnings.length} WARNING${warnings.length === 1 ? '' : 'S'}: see below`;
  if (ctx.json) {
    ctx.emit(code, {
      platform: process.platform,
      fileSystem: {
        name: probe.name,
        magic: probe.magic ?? null,
        category: probe.category,
        mountPoint: probe.mount?.mountPoint ?? null,
        source: probe.mount?.source ?? null,
        options: probe.mount?.options ?? [],
        freeBytes: probe.freeBytes ?? null,
      },
      fdatasync: { ...append, durationMs: us(elapsedMs) },
      dirFsync: dirSync,
      summary: verdict,
      warnings,
      fine,
      refusal: null,
    });
    return code;
  }
  const mount = probe.mount ? `, mounted at ${probe.mount.mountPoint} from ${probe.mount.source}` : '';
  const rows: [string, string][] = [
    ['directory', resolve(dir)],
    ['file system', `${probe.name}${mount}`],
    [
      'fdatasync',
      `${append.samples} appends (${RECORD_SIZE}-byte write + fdatasync) in ${(elapsedMs / 1000).toFixed(2)} s: p50 ${millis(append.p50Ms)}, p99 ${millis(append.p99Ms)}, max ${millis(append.maxMs)}`,
    ],
    ['dir fsync', `p50 ${millis(dirSync.p50Ms)}, max ${millis(dirSync.maxMs)} (${dirSync.samples} samples)`],
    ['verdict', verdict],
  ];
  if (warnings.length > 0)
    rows.push(['warnings', warnings.map((w) => `- [${w.code}] ${w.message}`).join('\n')]);
  if (fine.length > 0) rows.push(['fine', fine.map((f) => `- ${f}`).join('\n')]);
  ctx.io.out(labelled(rows));
  return code;
}
