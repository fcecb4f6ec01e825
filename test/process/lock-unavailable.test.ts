import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { directoryContents, tempDir } from '../helpers.js';
import { assertBuilt, type Driver, startDriver } from './fixtures/lock-driver-client.js';

/**
 * Issue 9: where the kernel lock cannot be had, open refuses (ERR_LOCK_UNAVAILABLE) rather than
 * running unlocked. Simulated from outside: the driver runs with fixtures/no-koffi.cjs preloaded,
 * so the native module behind flock fails to load, as on a platform without its prebuilt binary.
 */

const NO_KOFFI = ['-r', join(import.meta.dirname, 'fixtures', 'no-koffi.cjs')];
const UNAVAILABLE = { ok: false, code: 'ERR_LOCK_UNAVAILABLE' };

const drivers: Driver[] = [];
function driver(nodeArgs: string[] = []): Driver {
  const d = startDriver([], nodeArgs);
  drivers.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.end()));
});
beforeAll(assertBuilt);

const metadataFiles = (dir: string): string[] =>
  readdirSync(dir).filter((name) => name !== 'LOCK' && !name.startsWith('.'));

describe('no kernel lock to be had', () => {
  // Hole: a lock that cannot be taken must never mean an open without one.
  it('refuses to open, writes nothing, and leaves the directory to a process that can lock', async () => {
    const dir = join(tempDir(), 'meta');
    mkdirSync(dir);
    const normal = driver();
    await normal.ok({ op: 'open', as: 'a', path: dir });
    await normal.ok({ op: 'term', as: 'a', term: 3 });
    await normal.ok({ op: 'vote', as: 'a', id: 1 });
    await normal.ok({ op: 'close', as: 'a' });
    const before = directoryContents(dir);

    const crippled = driver(NO_KOFFI);
    expect(await crippled.send({ op: 'open', as: 'b', path: dir })).toMatchObject(UNAVAILABLE);
    await crippled.ok({ op: 'construct', as: 'c', path: dir });
    expect(await crippled.send({ op: 'ready', as: 'c' })).toMatchObject(UNAVAILABLE);
    await crippled.send({ op: 'close', as: 'c' });
    // Reading needs no lock.
    expect((await crippled.ok({ op: 'load', path: dir })).state).toEqual([3, 1]);
    expect(directoryContents(dir)).toEqual(before);

    // While a process that can lock owns the directory, the crippled one still does not get in.
    await normal.ok({ op: 'open', as: 'a', path: dir });
    const refused = await crippled.send({ op: 'open', as: 'b', path: dir });
    expect(refused.ok).toBe(false);
    expect(['ERR_LOCK_UNAVAILABLE', 'ERR_METADATA_LOCKED']).toContain(refused.code);
    await normal.ok({ op: 'term', as: 'a', term: 4 });
    await normal.ok({ op: 'close', as: 'a' });
    expect((await crippled.ok({ op: 'load', path: dir })).state).toEqual([4, 0]);
  });

  it('refuses a new directory too, creating no metadata in it', async () => {
    const dir = join(tempDir(), 'new', 'meta');
    const crippled = driver(NO_KOFFI);
    expect(await crippled.send({ op: 'open', as: 'b', path: dir })).toMatchObject(UNAVAILABLE);
    // The directory (and an empty LOCK, which the lock needs) may exist now; no log, no snapshot.
    let left: string[] = [];
    try {
      left = metadataFiles(dir);
    } catch {}
    expect(left).toEqual([]);
    const normal = driver();
    await normal.ok({ op: 'open', as: 'a', path: dir });
    expect((await normal.ok({ op: 'get', as: 'a' })).state).toEqual([0, 0]);
    await normal.ok({ op: 'close', as: 'a' });
  });
});
