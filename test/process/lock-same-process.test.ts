import { existsSync, mkdirSync, readdirSync, readlinkSync, realpathSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flipByte, tempDir } from '../helpers.js';
import { assertBuilt, type Driver, startDriver } from './fixtures/lock-driver-client.js';

/**
 * Issue 9: one owner per directory, tried as a user would. Every manager here lives in a child
 * process (fixtures/lock-driver.mjs) that imports the built package; the test scripts the order.
 */

const LOCKED = { ok: false, code: 'ERR_METADATA_LOCKED' };

const drivers: Driver[] = [];
function driver(): Driver {
  const d = startDriver();
  drivers.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.end()));
});
beforeAll(assertBuilt);

/** A fresh directory and two other names for it: a symlink to it, and a path through a symlinked parent. */
function aliases(): { dir: string; link: string; viaParentLink: string } {
  const dir = join(tempDir(), 'meta');
  mkdirSync(dir);
  const links = tempDir();
  const link = join(links, 'link');
  symlinkSync(dir, link);
  symlinkSync(dirname(dir), join(links, 'parent'));
  return { dir, link, viaParentLink: join(links, 'parent', basename(dir)) };
}

describe('same process, another name for the directory', () => {
  // Hole: the in-process registry was keyed by path.resolve, and a LOCK naming our own pid that the
  // registry did not know was taken over, so open(link) opened a second manager; its close()
  // deleted the LOCK while the first still ran.
  it.each(['link', 'viaParentLink'] as const)('refuses open(%s) while open(dir) holds it', async (which) => {
    const paths = aliases();
    const other = paths[which];
    const p = driver();
    await p.ok({ op: 'open', as: 'a', path: paths.dir });
    expect(await p.send({ op: 'open', as: 'b', path: other })).toMatchObject(LOCKED);
    // The seed's form through the other name: its open fails in the background, the first awaited
    // call reports it; then the user closes that failed manager.
    await p.ok({ op: 'construct', as: 'c', path: other });
    expect(await p.send({ op: 'ready', as: 'c' })).toMatchObject(LOCKED);
    await p.send({ op: 'close', as: 'c' });

    // The first manager is undisturbed: it keeps acknowledging updates.
    await p.ok({ op: 'term', as: 'a', term: 5 });
    await p.ok({ op: 'vote', as: 'a', id: 3 });
    await p.ok({ op: 'sync', as: 'a' });
    await p.ok({ op: 'term', as: 'a', term: 6 });
    // A third opener is still refused, under either name.
    expect(await p.send({ op: 'open', as: 'd', path: other })).toMatchObject(LOCKED);
    expect(await p.send({ op: 'open', as: 'd', path: paths.dir })).toMatchObject(LOCKED);
    await p.ok({ op: 'vote', as: 'a', id: 2 });

    // Once the first closes, the other name opens and sees everything the first acknowledged.
    await p.ok({ op: 'close', as: 'a' });
    await p.ok({ op: 'open', as: 'e', path: other });
    expect((await p.ok({ op: 'get', as: 'e' })).state).toEqual([6, 2]);
    expect(await p.send({ op: 'open', as: 'f', path: paths.dir })).toMatchObject(LOCKED);
    await p.ok({ op: 'close', as: 'e' });
    expect((await p.ok({ op: 'load', path: paths.dir })).state).toEqual([6, 2]);
  });
});

describe('same process, worker threads', () => {
  // Hole: a Worker has its own copy of the module (an empty registry) and the LOCK held the shared
  // pid, so the worker opened a second manager on the directory the main thread owned.
  it('refuses a worker while the main thread holds the directory', async () => {
    const { dir } = aliases();
    const p = driver();
    await p.ok({ op: 'open', as: 'a', path: dir });
    await p.ok({ op: 'spawn', worker: 'w' });
    expect(await p.send({ in: 'w', op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    await p.ok({ op: 'term', as: 'a', term: 3 });
    await p.ok({ op: 'vote', as: 'a', id: 1 });
    // Still refused after the main thread's updates, and from a second worker too.
    expect(await p.send({ in: 'w', op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    await p.ok({ op: 'spawn', worker: 'w2' });
    expect(await p.send({ in: 'w2', op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    // Once the main thread closes, the worker opens and sees the main thread's state.
    await p.ok({ op: 'close', as: 'a' });
    await p.ok({ in: 'w', op: 'open', as: 'b', path: dir });
    expect((await p.ok({ in: 'w', op: 'get', as: 'b' })).state).toEqual([3, 1]);
    await p.ok({ in: 'w', op: 'close', as: 'b' });
  });

  // The reverse: a worker owns the directory; the main thread and a second worker are refused.
  it('refuses the main thread while a worker holds the directory', async () => {
    const { dir } = aliases();
    const p = driver();
    await p.ok({ op: 'spawn', worker: 'w' });
    await p.ok({ in: 'w', op: 'open', as: 'a', path: dir });
    expect(await p.send({ op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    await p.ok({ op: 'spawn', worker: 'w2' });
    expect(await p.send({ in: 'w2', op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    await p.ok({ in: 'w', op: 'term', as: 'a', term: 4 });
    await p.ok({ in: 'w', op: 'vote', as: 'a', id: 2 });
    expect(await p.send({ op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    await p.ok({ in: 'w', op: 'close', as: 'a' });
    await p.ok({ op: 'open', as: 'b', path: dir });
    expect((await p.ok({ op: 'get', as: 'b' })).state).toEqual([4, 2]);
    await p.ok({ op: 'close', as: 'b' });
  });
});

describe('a failed opener does not release the owner', () => {
  // Hole: the loser's failure path (and the close of a failed manager) unlinked or unlocked the
  // owner's lock. With a kernel lock the danger is a different one: POSIX fcntl locks are released
  // by closing ANY descriptor of the file in the owning process (a failed open, or a read of the
  // owner's identity for the error message). Checked from another process, which must stay refused.
  it('after failed opens in the owner process (symlink, seed form, worker, reads)', async () => {
    const { dir, link, viaParentLink } = aliases();
    const owner = driver();
    await owner.ok({ op: 'open', as: 'a', path: dir });
    const ownerPid = (await owner.ok({ op: 'pid' })).pid;
    // Failed attempts inside the owner's process, by every route.
    expect(await owner.send({ op: 'open', as: 'b', path: link })).toMatchObject(LOCKED);
    expect(await owner.send({ op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
    expect(await owner.send({ op: 'open', as: 'b', path: viaParentLink })).toMatchObject(LOCKED);
    await owner.ok({ op: 'construct', as: 'c', path: link });
    expect(await owner.send({ op: 'ready', as: 'c' })).toMatchObject(LOCKED);
    await owner.send({ op: 'close', as: 'c' });
    await owner.ok({ op: 'spawn', worker: 'w' });
    expect(await owner.send({ in: 'w', op: 'open', as: 'b', path: link })).toMatchObject(LOCKED);
    await owner.ok({ op: 'terminate', worker: 'w' });
    await owner.ok({ op: 'load', path: dir });
    await owner.ok({ op: 'load', path: link });

    // Another process is still refused, under every name, and again after its own failures.
    const other = driver();
    for (const path of [dir, link, viaParentLink, dir]) {
      const reply = await other.send({ op: 'open', as: 'x', path });
      expect(reply).toMatchObject(LOCKED);
      // The owner's identity is informational; when it is given, it names the owner.
      if (reply.owner !== undefined) expect(reply.owner.pid).toBe(ownerPid);
    }
    // The owner still works, and is still the only one.
    await owner.ok({ op: 'term', as: 'a', term: 9 });
    await owner.ok({ op: 'vote', as: 'a', id: 4 });
    expect(await driver().send({ op: 'open', as: 'x', path: link })).toMatchObject(LOCKED);

    // Its close releases the lock for the other process.
    await owner.ok({ op: 'close', as: 'a' });
    await other.ok({ op: 'open', as: 'x', path: link });
    expect((await other.ok({ op: 'get', as: 'x' })).state).toEqual([9, 4]);
    expect(await owner.send({ op: 'open', as: 'a', path: dir })).toMatchObject(LOCKED);
    await other.ok({ op: 'close', as: 'x' });
  });

  // A second process's failed attempts (and its exit) leave the owner's lock alone.
  it('after failed opens in other processes that then exit', async () => {
    const { dir, link } = aliases();
    const owner = driver();
    await owner.ok({ op: 'open', as: 'a', path: dir });
    for (let i = 0; i < 3; i++) {
      const loser = startDriver();
      expect(await loser.send({ op: 'open', as: 'x', path: i % 2 === 0 ? dir : link })).toMatchObject(LOCKED);
      await loser.ok({ op: 'construct', as: 'y', path: dir });
      expect(await loser.send({ op: 'ready', as: 'y' })).toMatchObject(LOCKED);
      await loser.send({ op: 'close', as: 'y' });
      await loser.end();
    }
    expect(await driver().send({ op: 'open', as: 'x', path: dir })).toMatchObject(LOCKED);
    await owner.ok({ op: 'term', as: 'a', term: 2 });
    await owner.ok({ op: 'close', as: 'a' });
    expect((await owner.ok({ op: 'load', path: link })).state).toEqual([2, 0]);
  });
});

describe('opens at the same instant in one process', () => {
  // Hole: an in-process check done apart from the lock (a registry, a path comparison) can let two
  // opens that overlap in time both through. Started together in one thread, under three names:
  // exactly one wins, the others are refused with ERR_METADATA_LOCKED.
  it('lets exactly one of several concurrent opens win', async () => {
    const { dir, link, viaParentLink } = aliases();
    const p = driver();
    for (let attempt = 0; attempt < 5; attempt++) {
      const paths = [dir, link, viaParentLink, dir, link, viaParentLink];
      const { results = [] } = await p.ok({ op: 'race', as: `r${attempt}-`, paths });
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      for (const r of results) if (!r.ok) expect(r).toMatchObject(LOCKED);
      const as = winners[0]?.as as string;
      await p.ok({ op: 'term', as, term: attempt + 1 });
      await p.ok({ op: 'close', as });
    }
    expect((await p.ok({ op: 'load', path: dir })).state).toEqual([5, 0]);
  });
});

describe('the lock does not outlive its owner', () => {
  // Hole: a lock descriptor without close-on-exec is inherited by every child process the owner
  // starts (a helper, a shell command); the kernel lock then stays held by the child after the
  // owner is killed, and the node can never start again on its own directory.
  it('is not held by a child process the owner started, once the owner is SIGKILLed', async () => {
    const { dir } = aliases();
    const owner = driver();
    await owner.ok({ op: 'open', as: 'a', path: dir });
    await owner.ok({ op: 'term', as: 'a', term: 4 });
    const helper = (await owner.ok({ op: 'spawnChild' })).pid as number;
    try {
      // Where /proc shows it: the helper has no descriptor of anything in the directory.
      if (existsSync(`/proc/${helper}/fd`)) {
        const open = readdirSync(`/proc/${helper}/fd`).map((fd) => {
          try {
            return readlinkSync(`/proc/${helper}/fd/${fd}`);
          } catch {
            return '';
          }
        });
        expect(open.filter((target) => target.startsWith(realpathSync(dir)))).toEqual([]);
      }
      owner.child.kill('SIGKILL');
      await owner.exited;
      const next = driver();
      await next.ok({ op: 'open', as: 'b', path: dir });
      expect((await next.ok({ op: 'get', as: 'b' })).state).toEqual([4, 0]);
      await next.ok({ op: 'close', as: 'b' });
    } finally {
      process.kill(helper, 'SIGKILL');
    }
  });

  // Hole: an open that fails after it took the lock (a corrupt directory) and keeps its process
  // alive (a node that retries later) must not keep the lock: an operator's repair, or another
  // process, would be told the directory is locked instead of what is wrong with it.
  it('is released by an open that fails on a corrupt directory, in a process that lives on', async () => {
    const { dir } = aliases();
    const first = driver();
    await first.ok({ op: 'open', as: 'a', path: dir });
    await first.ok({ op: 'term', as: 'a', term: 3 });
    await first.ok({ op: 'sync', as: 'a' });
    await first.ok({ op: 'close', as: 'a' });
    flipByte(join(dir, 'metadata.json'), 20);
    const CORRUPT = { ok: false, code: 'ERR_METADATA_CORRUPT' };
    expect(await first.send({ op: 'open', as: 'a', path: dir })).toMatchObject(CORRUPT);
    const other = driver();
    expect(await other.send({ op: 'open', as: 'b', path: dir })).toMatchObject(CORRUPT);
    expect(await first.send({ op: 'open', as: 'a', path: dir })).toMatchObject(CORRUPT);
  });

  // A manager closed while its open is still running releases the lock once the open ends.
  it('is released by a close() that comes during the open', async () => {
    const { dir } = aliases();
    const first = driver();
    await first.ok({ op: 'construct', as: 'a', path: dir });
    await first.ok({ op: 'close', as: 'a' });
    const other = driver();
    await other.ok({ op: 'open', as: 'b', path: dir });
    expect(await first.send({ op: 'open', as: 'a', path: dir })).toMatchObject(LOCKED);
    await other.ok({ op: 'close', as: 'b' });
    await first.ok({ op: 'open', as: 'a', path: dir });
    await first.ok({ op: 'close', as: 'a' });
  });
});
