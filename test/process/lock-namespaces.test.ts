import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { assertBuilt, type Driver, startDriver } from './fixtures/lock-driver-client.js';

/**
 * Issue 9, "two containers on one volume": nodes in different PID namespaces (each node is pid 1 in
 * its own, as in a container) share a metadata directory. The old pid-file lock let both open: the
 * LOCK said "1", and kill(1, 0) in the second namespace found its own live pid 1. docs/operations.md
 * claimed this case was caught. A kernel lock on the file does not look at pids at all.
 *
 * Needs `unshare -p -f --mount-proc` (root, or user namespaces); skipped elsewhere, with the reason.
 * --kill-child: if unshare dies, so does the node it started.
 */

const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];

function probe(): string | undefined {
  const run = spawnSync(UNSHARE[0] as string, [...UNSHARE.slice(1), process.execPath, '-p', 'process.pid'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (run.error !== undefined) return `unshare cannot run: ${run.error.message}`;
  if (run.status !== 0) return `unshare fails (exit ${run.status}): ${run.stderr.trim()}`;
  if (run.stdout.trim() !== '1') return `node under unshare is pid ${run.stdout.trim()}, not 1`;
  return undefined;
}
const unavailable = probe();
if (unavailable !== undefined) console.warn(`lock-namespaces.test.ts skipped: ${unavailable}`);

const drivers: Driver[] = [];
/** A driver that is pid 1 in a PID namespace of its own. */
async function container(): Promise<Driver> {
  const d = startDriver(UNSHARE);
  drivers.push(d);
  expect((await d.ok({ op: 'pid' })).pid).toBe(1);
  return d;
}
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.end()));
});
beforeAll(() => {
  if (unavailable === undefined) assertBuilt();
});

const LOCKED = { ok: false, code: 'ERR_METADATA_LOCKED' };

describe.skipIf(unavailable !== undefined)(
  `PID namespaces${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    it('refuses a second pid 1 in another namespace while the first holds the directory', async () => {
      const dir = join(tempDir(), 'meta');
      mkdirSync(dir);
      const link = join(tempDir(), 'link');
      symlinkSync(dir, link);
      const first = await container();
      const second = await container();
      await first.ok({ op: 'open', as: 'a', path: dir });
      const refused = await second.send({ op: 'open', as: 'b', path: dir });
      expect(refused).toMatchObject(LOCKED);
      // Informational only: the owner's pid as seen in its own namespace.
      if (refused.owner !== undefined) expect(refused.owner.pid).toBe(1);
      await first.ok({ op: 'term', as: 'a', term: 7 });
      await first.ok({ op: 'vote', as: 'a', id: 2 });
      expect(await second.send({ op: 'open', as: 'b', path: link })).toMatchObject(LOCKED);
      // A clean close lets the other namespace in; it sees what the first acknowledged.
      await first.ok({ op: 'close', as: 'a' });
      await second.ok({ op: 'open', as: 'b', path: dir });
      expect((await second.ok({ op: 'get', as: 'b' })).state).toEqual([7, 2]);
      expect(await first.send({ op: 'open', as: 'a', path: dir })).toMatchObject(LOCKED);
      await second.ok({ op: 'close', as: 'b' });
    });

    it('lets the other namespace in once the holding pid 1 is SIGKILLed', async () => {
      const dir = join(tempDir(), 'meta');
      mkdirSync(dir);
      const first = await container();
      const second = await container();
      await first.ok({ op: 'open', as: 'a', path: dir });
      await first.ok({ op: 'term', as: 'a', term: 3 });
      expect(await second.send({ op: 'open', as: 'b', path: dir })).toMatchObject(LOCKED);
      // SIGKILL the namespace's pid 1 from outside (its pid here is unshare's child). unshare waits
      // for it, so unshare's exit means the node is gone and the kernel has dropped its lock.
      const unsharePid = first.child.pid as number;
      const inner = Number(readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim());
      expect(inner).toBeGreaterThan(1);
      process.kill(inner, 'SIGKILL');
      await first.exited;
      await second.ok({ op: 'open', as: 'b', path: dir });
      expect((await second.ok({ op: 'get', as: 'b' })).state).toEqual([3, 0]);
      await second.ok({ op: 'close', as: 'b' });
    });
  },
);

/**
 * "Another mount of the same file system": two containers usually see a shared volume through bind
 * mounts, so the same directory has different paths (and a different mount) in each. A node in its
 * own mount namespace sees directory A at path B (`mount --bind A B`, invisible outside).
 */
function bindPrefix(a: string, b: string): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount --bind "$1" "$2" && shift 2 && exec "$@"',
    'sh',
    a,
    b,
  ];
}

function probeBind(): string | undefined {
  const a = join(tempDir(), 'a');
  const b = join(tempDir(), 'b');
  mkdirSync(a);
  mkdirSync(b);
  writeFileSync(join(a, 'marker'), '');
  const [command, ...args] = bindPrefix(a, b);
  const run = spawnSync(
    command as string,
    [...args, process.execPath, '-p', `require('node:fs').existsSync(${JSON.stringify(join(b, 'marker'))})`],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  if (run.error !== undefined) return `unshare cannot run: ${run.error.message}`;
  if (run.status !== 0)
    return `unshare --mount with mount --bind fails (exit ${run.status}): ${run.stderr.trim()}`;
  if (run.stdout.trim() !== 'true') return 'the bind mount is not visible in the namespace';
  if (existsSync(join(b, 'marker'))) return 'the bind mount leaked out of its mount namespace';
  return undefined;
}
const noBind = probeBind();
if (noBind !== undefined) console.warn(`lock-namespaces.test.ts, bind mounts skipped: ${noBind}`);

describe.skipIf(noBind !== undefined)(
  `A bind mount of the directory${noBind ? ` (skipped: ${noBind})` : ''}`,
  () => {
    it('refuses a node that reaches the held directory through a bind mount in another mount namespace', async () => {
      const a = join(tempDir(), 'meta');
      const b = join(tempDir(), 'elsewhere');
      mkdirSync(a);
      mkdirSync(b);
      const host = startDriver();
      const bound = startDriver(bindPrefix(a, b));
      drivers.push(host, bound);
      await host.ok({ op: 'open', as: 'a', path: a });
      await host.ok({ op: 'term', as: 'a', term: 8 });
      await host.ok({ op: 'vote', as: 'a', id: 5 });
      // The namespace sees the same directory at b.
      expect((await bound.ok({ op: 'load', path: b })).state).toEqual([8, 5]);
      expect(await bound.send({ op: 'open', as: 'b', path: b })).toMatchObject(LOCKED);
      await host.ok({ op: 'close', as: 'a' });
      await bound.ok({ op: 'open', as: 'b', path: b });
      expect(await host.send({ op: 'open', as: 'a', path: a })).toMatchObject(LOCKED);
      await bound.ok({ op: 'term', as: 'b', term: 9 });
      await bound.ok({ op: 'close', as: 'b' });
      expect((await host.ok({ op: 'load', path: a })).state).toEqual([9, 0]);
    });
  },
);
