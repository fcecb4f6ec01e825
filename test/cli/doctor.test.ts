import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assess, type LatencySummary } from '../../src/cli/commands/doctor.js';
import type { FsProbe } from '../../src/cli/fs-probe.js';
import { CURRENT_LAYOUT } from '../../src/format/record.js';
import { cli, cliJson, tempDir } from './helpers.js';

const ext4: FsProbe = {
  magic: 0xef53,
  name: 'ext4 (statfs type 0xef53)',
  category: 'local',
  mount: undefined,
  freeBytes: 50 * 2 ** 30,
};

function latency(p50Ms: number, p99Ms: number): LatencySummary {
  return { samples: 1000, p50Ms, p99Ms, maxMs: p99Ms, minMs: p50Ms };
}

const codes = (probe: FsProbe, l: LatencySummary, platform = 'linux'): string[] =>
  assess(probe, l, platform).warnings.map((w) => w.code);

describe.concurrent('doctor', () => {
  it('measures fdatasync in DIR through the library and leaves nothing behind', async () => {
    const dir = tempDir();
    const { code, json } = await cliJson('doctor', '--duration', '150', dir);
    expect([0, 1]).toContain(code);
    expect(json).toMatchObject({
      command: 'doctor',
      dir,
      exitCode: code,
      platform: process.platform,
      fileSystem: { category: expect.any(String), name: expect.any(String) },
      fdatasync: { samples: expect.any(Number), p50Ms: expect.any(Number), p99Ms: expect.any(Number) },
      dirFsync: { samples: 5 },
      summary: expect.any(String),
      warnings: expect.any(Array),
      fine: expect.any(Array),
    });
    const fdatasync = json.fdatasync as LatencySummary;
    expect(fdatasync.samples).toBeGreaterThan(0);
    expect(fdatasync.p99Ms).toBeGreaterThanOrEqual(fdatasync.p50Ms);
    expect(code).toBe((json.warnings as unknown[]).length > 0 ? 1 : 0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('prints a human report with p50/p99 and a verdict', async () => {
    const { code, stdout } = await cli('doctor', '--duration', '100', tempDir());
    expect([0, 1]).toContain(code);
    expect(stdout).toMatch(
      new RegExp(
        `fdatasync\\s+\\d+ appends \\(${CURRENT_LAYOUT.recordSize}-byte write \\+ fdatasync\\) in [\\d.]+ s: p50 .+, p99 .+, max`,
      ),
    );
    expect(stdout).toMatch(/verdict\s+(OK|\d+ WARNINGS?)/);
  });

  it.runIf(process.platform === 'linux' && existsSync('/dev/shm'))('warns about tmpfs', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync(join('/dev/shm', 'raft-metadata-doctor-'));
    try {
      const { code, json } = await cliJson('doctor', '--duration', '50', dir);
      expect(code).toBe(1);
      expect(json.fileSystem).toMatchObject({ category: 'memory', magic: 0x01021994 });
      expect((json.warnings as { code: string }[]).map((w) => w.code)).toContain('memory-fs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 3 for a missing directory', async () => {
    const { code, stderr } = await cli('doctor', join(tempDir(), 'missing'));
    expect(code).toBe(3);
    expect(stderr).toContain('does not exist or is not a directory');
  });

  it('judges latency, file system kind, mount options, platform and free space', () => {
    expect(codes(ext4, latency(0.5, 2))).toEqual([]);
    expect(codes(ext4, latency(0.02, 0.05))).toEqual(['fsync-too-fast']);
    expect(codes(ext4, latency(2, 40))).toEqual(['fsync-slow']);
    // Under Node, fsync on macOS is F_FULLFSYNC (libuv): no warning there (Bun and Deno get one).
    expect(codes(ext4, latency(0.5, 2), 'darwin')).toEqual(
      process.versions.bun === undefined && process.versions.deno === undefined ? [] : ['darwin-fsync'],
    );
    expect(codes({ ...ext4, category: 'network', name: 'nfs4' }, latency(1, 2))).toEqual(['network-fs']);
    expect(codes({ ...ext4, category: 'memory', name: 'tmpfs' }, latency(0.01, 0.02))).toEqual([
      'memory-fs',
      'fsync-too-fast',
    ]);
    expect(codes({ ...ext4, category: 'fuse', name: 'fuse.sshfs' }, latency(1, 2))).toEqual(['fuse']);
    expect(codes({ ...ext4, category: 'overlay', name: 'overlay' }, latency(1, 2))).toEqual(['overlay']);
    const mount = { mountPoint: '/', fsType: 'ext4', source: '/dev/sda1', options: ['rw', 'nobarrier'] };
    expect(codes({ ...ext4, mount }, latency(1, 2))).toEqual(['no-barrier']);
    expect(codes({ ...ext4, freeBytes: 1024 }, latency(1, 2))).toEqual(['low-space']);
    expect(assess(ext4, latency(0.5, 2), 'linux').fine.join(' ')).toContain('local disk file system');
  });
});
