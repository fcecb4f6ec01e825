import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockedError, LockUnavailableError } from '../../../src/errors.js';
import { decodeLockOwner, encodeLockOwner, LOCK_OWNER_BYTES } from '../../../src/format/lock-owner.js';
import { NodeFileSystem } from '../../../src/fs/node-fs.js';
import { acquireLock, lockStatus } from '../../../src/storage/lock.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers.js';

function simDir(): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.mkdirp('/d');
  return disk;
}

describe('LOCK text (format/lock-owner)', () => {
  it('is a fixed-size padded JSON line that decodes back', () => {
    const owner = { pid: 4242, hostname: 'node-3', startedAt: '2026-12-01T00:00:00.000Z' };
    const bytes = encodeLockOwner(owner);
    expect(bytes.byteLength).toBe(LOCK_OWNER_BYTES);
    expect(bytes[LOCK_OWNER_BYTES - 1]).toBe(0x0a);
    expect(decodeLockOwner(bytes)).toEqual(owner);
  });

  it('names no owner for 0.1.0 pid files, partial writes and junk', () => {
    const enc = new TextEncoder();
    expect(decodeLockOwner(enc.encode('12345\n'))).toBeUndefined();
    expect(decodeLockOwner(new Uint8Array(0))).toBeUndefined();
    const full = encodeLockOwner({ pid: 1, hostname: 'h', startedAt: 't' });
    expect(decodeLockOwner(full.subarray(0, 10))).toBeUndefined();
    expect(decodeLockOwner(enc.encode('{"pid":-1,"hostname":"h","startedAt":"t"}'))).toBeUndefined();
    expect(decodeLockOwner(new Uint8Array([0xff, 0xfe]))).toBeUndefined();
  });

  it('keeps a long hostname inside the fixed size', () => {
    const bytes = encodeLockOwner({ pid: 1, hostname: 'x'.repeat(1000), startedAt: 't' });
    expect(bytes.byteLength).toBe(LOCK_OWNER_BYTES);
    expect(decodeLockOwner(bytes)?.hostname).toBe('x'.repeat(255));
  });
});

describe('acquireLock on the simulated disk', () => {
  it('refuses a second open of the directory until the first releases it', async () => {
    const disk = simDir();
    const first = await acquireLock(disk, '/d');
    // Before announce() the holder has not named itself: the refusal names nobody.
    const early = await acquireLock(disk, '/d').catch((e: unknown) => e);
    expect(early).toBeInstanceOf(LockedError);
    expect(early).toMatchObject({ code: 'ERR_METADATA_LOCKED', owner: undefined });
    await first.announce();
    const named = await acquireLock(disk, '/d').catch((e: unknown) => e);
    expect(named).toMatchObject({ code: 'ERR_METADATA_LOCKED', owner: first.owner, pid: process.pid });
    await first.release();
    const second = await acquireLock(disk, '/d');
    await second.release();
    // LOCK is never unlinked: unlinking a flock file lets two processes lock two inodes.
    expect(disk.files()).toEqual(['/d/LOCK']);
  });

  it('a killed process releases its lock; the next owner overwrites the text', async () => {
    const disk = simDir();
    const proc = disk.process();
    const held = await acquireLock(proc, '/d');
    await held.announce();
    await expect(acquireLock(disk.process(), '/d')).rejects.toMatchObject({ code: 'ERR_METADATA_LOCKED' });
    proc.kill();
    const next = await acquireLock(disk.process(), '/d');
    await next.announce();
    expect(decodeLockOwner(disk.readCurrent('/d/LOCK'))).toEqual(next.owner);
    await next.release();
  });

  it('a crash leaves no lock held on the disk that comes back', async () => {
    const disk = simDir();
    await acquireLock(disk, '/d');
    const rebooted = disk.crash(1);
    rebooted.mkdirp('/d');
    const after = await acquireLock(rebooted, '/d');
    await after.release();
  });

  it('a file system that refuses flock gives ERR_LOCK_UNAVAILABLE, never an unlocked open', async () => {
    const disk = simDir();
    disk.failNext({ op: 'openLocked', errno: 'ENOLCK' });
    const err = await acquireLock(disk, '/d').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockUnavailableError);
    expect(err).toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE', cause: { code: 'ENOLCK', syscall: 'flock' } });
    // Nothing holds the lock afterwards.
    const ok = await acquireLock(disk, '/d');
    await ok.release();
  });

  it('does not name a dead previous owner as the holder of a lock just taken', async () => {
    const disk = simDir();
    // The previous owner on this host (pid 99999999 cannot exist: Linux pids stop at 2^22).
    const dead = { pid: 99_999_999, hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z' };
    const previous = await acquireLock(disk, '/d');
    await previous.release();
    const handle = await disk.open('/d/LOCK', 'write');
    await handle.write(encodeLockOwner(dead), 0);
    await handle.close();
    // A new holder has the lock and has not written its name yet.
    const holder = await acquireLock(disk, '/d');
    const err = await acquireLock(disk, '/d').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_METADATA_LOCKED', owner: undefined });
    expect(await lockStatus(disk, '/d')).toEqual({ state: 'held' });
    await holder.release();
    // Once free, LOCK's text is reported for what it is: the last owner.
    expect(await lockStatus(disk, '/d')).toEqual({ state: 'free', lastOwner: dead });
  });

  it('lockStatus reports missing, held (with the owner) and free (with the last owner)', async () => {
    const disk = simDir();
    expect(await lockStatus(disk, '/d')).toEqual({ state: 'missing' });
    expect(await lockStatus(disk, '/nowhere')).toEqual({ state: 'missing' });
    const lock = await acquireLock(disk, '/d');
    expect(await lockStatus(disk, '/d')).toEqual({ state: 'held' });
    await lock.announce();
    expect(await lockStatus(disk, '/d')).toEqual({ state: 'held', owner: lock.owner });
    await lock.release();
    expect(await lockStatus(disk, '/d')).toEqual({ state: 'free', lastOwner: lock.owner });
  });
});

describe('acquireLock on the real disk (flock through koffi)', () => {
  it('two opens in one thread conflict, also through two file system instances', async () => {
    const dir = tempDir();
    const a = new NodeFileSystem();
    const b = new NodeFileSystem();
    try {
      const held = await acquireLock(a, dir);
      await held.announce();
      const err = await acquireLock(b, dir).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'ERR_METADATA_LOCKED',
        owner: { pid: process.pid, hostname: hostname() },
      });
      // Same instance, second open: a second open file description, refused too.
      await expect(acquireLock(a, dir)).rejects.toMatchObject({ code: 'ERR_METADATA_LOCKED' });
      expect(await lockStatus(b, dir)).toMatchObject({ state: 'held', owner: held.owner });
      await held.release();
      expect(await lockStatus(b, dir)).toMatchObject({ state: 'free', lastOwner: held.owner });
      const again = await acquireLock(b, dir);
      await again.release();
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('the lock ignores what LOCK says: a 0.1.0 pid file or junk is simply overwritten', async () => {
    const dir = tempDir();
    const fs = new NodeFileSystem();
    try {
      writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`);
      const lock = await acquireLock(fs, dir);
      await lock.announce();
      expect(decodeLockOwner(readFileSync(join(dir, 'LOCK')))).toEqual(lock.owner);
      await lock.release();
    } finally {
      await fs.dispose();
    }
  });

  it('a probe of a free lock does not make an acquire racing with it fail', async () => {
    const dir = tempDir();
    const fs = new NodeFileSystem();
    try {
      await (await acquireLock(fs, dir)).release();
      for (let i = 0; i < 50; i++) {
        const [lock] = await Promise.all([acquireLock(fs, dir), lockStatus(fs, dir), lockStatus(fs, dir)]);
        await lock.release();
      }
    } finally {
      await fs.dispose();
    }
  });
});
