import { readFile, realpath, statfs } from 'node:fs/promises';
import { resolve, sep } from 'node:path';

/** What kind of storage a directory lives on, from statfs(2) and, on Linux, /proc/self/mountinfo. */

export type FsCategory = 'local' | 'memory' | 'network' | 'fuse' | 'overlay' | 'unknown';

interface KnownFs {
  readonly name: string;
  readonly category: FsCategory;
}

/** statfs f_type magic numbers (Linux, include/uapi/linux/magic.h). */
const MAGIC: ReadonlyMap<number, KnownFs> = new Map([
  [0xef53, { name: 'ext2/ext3/ext4', category: 'local' }],
  [0x58465342, { name: 'xfs', category: 'local' }],
  [0x9123683e, { name: 'btrfs', category: 'local' }],
  [0x2fc12fc1, { name: 'zfs', category: 'local' }],
  [0xf2f52010, { name: 'f2fs', category: 'local' }],
  [0xca451a4e, { name: 'bcachefs', category: 'local' }],
  [0x3153464a, { name: 'jfs', category: 'local' }],
  [0x4d44, { name: 'vfat', category: 'local' }],
  [0x7366746e, { name: 'ntfs3', category: 'local' }],
  [0x01021994, { name: 'tmpfs', category: 'memory' }],
  [0x858458f6, { name: 'ramfs', category: 'memory' }],
  [0x6969, { name: 'nfs', category: 'network' }],
  [0xff534d42, { name: 'cifs', category: 'network' }],
  [0xfe534d42, { name: 'smb2', category: 'network' }],
  [0x517b, { name: 'smb', category: 'network' }],
  [0x01021997, { name: 'v9fs (9p, a VM or WSL shared folder)', category: 'network' }],
  [0x00c36400, { name: 'ceph', category: 'network' }],
  [0x5346414f, { name: 'afs', category: 'network' }],
  [0x47504653, { name: 'gpfs', category: 'network' }],
  [0x0bd00bd0, { name: 'lustre', category: 'network' }],
  [0x786f4256, { name: 'vboxsf (VirtualBox shared folder)', category: 'network' }],
  [0x65735546, { name: 'fuse', category: 'fuse' }],
  [0x794c7630, { name: 'overlayfs', category: 'overlay' }],
]);

const NAME_CATEGORY: readonly [RegExp, FsCategory][] = [
  [/^(tmpfs|ramfs)$/, 'memory'],
  [/^(nfs|nfs4|cifs|smb3?|smbfs|9p|ceph|afs|gpfs|lustre|glusterfs|vboxsf|beegfs)$/, 'network'],
  [/^(fuse|fuseblk|virtiofs)$|^fuse\./, 'fuse'],
  [/^overlay$/, 'overlay'],
  [/^(ext[234]|xfs|btrfs|zfs|f2fs|bcachefs|jfs|vfat|ntfs3?|reiserfs)$/, 'local'],
];

export interface MountInfo {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
  /** Per-mount and per-superblock options together. */
  readonly options: readonly string[];
}

export interface FsProbe {
  /** statfs f_type (undefined where statfs is unavailable). */
  readonly magic: number | undefined;
  readonly name: string;
  readonly category: FsCategory;
  readonly mount: MountInfo | undefined;
  /** Bytes available to this user, if known. */
  readonly freeBytes: number | undefined;
}

function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** The mount that holds `path` (longest mount point prefix), from /proc/self/mountinfo. */
async function findMount(path: string): Promise<MountInfo | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  let best: MountInfo | undefined;
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6) continue;
    const mountPoint = unescapeMount(fields[4] ?? '');
    const inside = path === mountPoint || mountPoint === '/' || path.startsWith(mountPoint + sep);
    if (!inside || (best !== undefined && best.mountPoint.length > mountPoint.length)) continue;
    best = {
      mountPoint,
      fsType: fields[dash + 1] ?? '',
      source: unescapeMount(fields[dash + 2] ?? ''),
      options: [
        ...new Set([...(fields[5] ?? '').split(','), ...(fields[dash + 3] ?? '').split(',')].filter(Boolean)),
      ],
    };
  }
  return best;
}

export async function probeFileSystem(dir: string): Promise<FsProbe> {
  let magic: number | undefined;
  let freeBytes: number | undefined;
  try {
    const s = await statfs(dir);
    magic = s.type;
    freeBytes = s.bavail * s.bsize;
  } catch {
    // statfs is missing on some platforms; the mount table may still say.
  }
  const real = await realpath(dir).catch(() => resolve(dir));
  const mount = process.platform === 'linux' ? await findMount(real) : undefined;
  const known = magic === undefined || process.platform !== 'linux' ? undefined : MAGIC.get(magic);
  let category: FsCategory = known?.category ?? 'unknown';
  const fromName = mount ? NAME_CATEGORY.find(([pattern]) => pattern.test(mount.fsType))?.[1] : undefined;
  if (fromName !== undefined && (category === 'unknown' || category === 'fuse')) category = fromName;
  const hex = magic === undefined ? '' : magic.toString(16).padStart(magic > 0xffff ? 8 : 4, '0');
  const magicText = magic === undefined ? '' : ` (statfs type 0x${hex})`;
  const name = `${mount?.fsType ?? known?.name ?? 'unknown'}${magicText}`;
  return { magic, name, category, mount, freeBytes };
}
