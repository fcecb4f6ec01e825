import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../../../src/fs/node-fs.js';
import type { FileSystem } from '../../../src/fs/types.js';
import { SimulatedDisk } from '../../../src/testing/sim/disk.js';

/**
 * One suite, two implementations: whatever the real disk does here, the simulated disk must do
 * too, so that tests on the simulator say something about the real thing.
 */

interface Subject {
  readonly fs: FileSystem;
  readonly root: string;
  cleanup(): Promise<void>;
}

const factories: { name: string; make: () => Subject }[] = [
  {
    name: 'NodeFileSystem',
    make: () => {
      const root = mkdtempSync(join(tmpdir(), 'raft-metadata-fsconf-'));
      const fs = new NodeFileSystem();
      return {
        fs,
        root,
        async cleanup() {
          await fs.dispose();
          rmSync(root, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'SimulatedDisk',
    make: () => {
      const disk = new SimulatedDisk();
      disk.mkdirp('/tmp/fsconf');
      return { fs: disk, root: '/tmp/fsconf', cleanup: async () => {} };
    },
  },
];

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe.each(factories)('file system conformance: $name', ({ make }) => {
  let subject: Subject;
  let fs: FileSystem;
  let root: string;
  const at = (name: string): string => join(root, name);

  beforeEach(() => {
    subject = make();
    fs = subject.fs;
    root = subject.root;
  });
  afterEach(async () => {
    await subject.cleanup();
  });

  async function writeFile(name: string, data: Uint8Array): Promise<void> {
    const h = await fs.open(at(name), 'create');
    await h.write(data, 0);
    await h.close();
  }

  describe('open', () => {
    it("'create' makes an empty file and refuses an existing name with EEXIST", async () => {
      const h = await fs.open(at('a'), 'create');
      expect(await h.size()).toBe(0);
      await h.close();
      await expect(fs.open(at('a'), 'create')).rejects.toMatchObject({
        code: 'EEXIST',
        syscall: 'open',
        path: at('a'),
      });
      await fs.mkdir(at('d'));
      await expect(fs.open(at('d'), 'create')).rejects.toMatchObject({ code: 'EEXIST' });
    });

    it("'read' and 'write' need an existing file (ENOENT)", async () => {
      await expect(fs.open(at('missing'), 'read')).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'open',
        path: at('missing'),
      });
      await expect(fs.open(at('missing'), 'write')).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('fails with ENOENT under a missing directory and ENOTDIR under a file', async () => {
      await expect(fs.open(at('no/such'), 'create')).rejects.toMatchObject({ code: 'ENOENT' });
      await writeFile('f', text('x'));
      await expect(fs.open(at('f/x'), 'create')).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'open' });
    });

    it("refuses to open a directory for 'write' (EISDIR)", async () => {
      await fs.mkdir(at('d'));
      await expect(fs.open(at('d'), 'write')).rejects.toMatchObject({ code: 'EISDIR', syscall: 'open' });
    });

    it('errors are Node system errors: message starts with the code, errno is negative', async () => {
      const err = await fs.open(at('missing'), 'read').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      const e = err as Error & { errno: number; code: string };
      expect(e.message.startsWith('ENOENT: ')).toBe(true);
      expect(e.errno).toBeLessThan(0);
    });
  });

  describe('read and write', () => {
    it('reads back what was written, and 0 bytes past the end', async () => {
      const h = await fs.open(at('a'), 'create');
      await h.write(text('hello world'), 0);
      const buf = new Uint8Array(32);
      expect(await h.read(buf, 0, 5, 6)).toBe(5);
      expect(new TextDecoder().decode(buf.subarray(0, 5))).toBe('world');
      expect(await h.read(buf, 0, 32, 11)).toBe(0);
      expect(await h.read(buf, 0, 32, 100)).toBe(0);
      expect(await h.read(buf, 3, 10, 8)).toBe(3);
      expect(buf.subarray(3, 6)).toEqual(text('rld'));
      await h.close();
    });

    it('a write past the end extends the file with zeros; an overwrite in place keeps the size', async () => {
      const h = await fs.open(at('a'), 'create');
      await h.write(bytes(1, 2), 0);
      await h.write(bytes(9), 6);
      expect(await h.size()).toBe(7);
      expect(Uint8Array.from(await fs.readFile(at('a')))).toEqual(bytes(1, 2, 0, 0, 0, 0, 9));
      await h.write(bytes(7, 7), 1);
      expect(await h.size()).toBe(7);
      expect(Uint8Array.from(await fs.readFile(at('a')))).toEqual(bytes(1, 7, 7, 0, 0, 0, 9));
      expect((await fs.stat(at('a'))).size).toBe(7);
      await h.close();
    });

    it('writeDurable writes like write', async () => {
      const h = await fs.open(at('a'), 'create');
      await h.writeDurable(bytes(5, 6, 7), 2);
      await h.datasync();
      await h.sync();
      expect(Uint8Array.from(await fs.readFile(at('a')))).toEqual(bytes(0, 0, 5, 6, 7));
      await h.close();
    });

    it("a 'read' handle cannot write (EBADF); 'write' opens an existing file read-write", async () => {
      await writeFile('a', text('abc'));
      const r = await fs.open(at('a'), 'read');
      await expect(r.write(text('x'), 0)).rejects.toMatchObject({ code: 'EBADF' });
      await r.close();
      const w = await fs.open(at('a'), 'write');
      await w.write(text('X'), 1);
      const buf = new Uint8Array(3);
      expect(await w.read(buf, 0, 3, 0)).toBe(3);
      expect(buf).toEqual(text('aXc'));
      await w.close();
    });

    it('a closed handle refuses calls with EBADF; closing twice is fine', async () => {
      const h = await fs.open(at('a'), 'create');
      await h.close();
      await expect(h.read(new Uint8Array(1), 0, 1, 0)).rejects.toMatchObject({ code: 'EBADF' });
      await expect(h.datasync()).rejects.toMatchObject({ code: 'EBADF' });
      await expect(h.size()).rejects.toMatchObject({ code: 'EBADF' });
      await expect(h.close()).resolves.toBeUndefined();
    });

    it('reading a directory handle fails with EISDIR', async () => {
      await fs.mkdir(at('d'));
      const h = await fs.open(at('d'), 'read');
      await expect(h.read(new Uint8Array(4), 0, 4, 0)).rejects.toMatchObject({ code: 'EISDIR' });
      await h.close();
    });
  });

  describe('readFile', () => {
    it('returns the whole file, ENOENT when missing, EISDIR for a directory', async () => {
      await writeFile('a', text('content'));
      expect(Uint8Array.from(await fs.readFile(at('a')))).toEqual(text('content'));
      await expect(fs.readFile(at('missing'))).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'open',
        path: at('missing'),
      });
      await fs.mkdir(at('d'));
      await expect(fs.readFile(at('d'))).rejects.toMatchObject({ code: 'EISDIR' });
    });
  });

  describe('rename', () => {
    it('moves a file, replacing an existing target atomically', async () => {
      await writeFile('old', text('new content'));
      await writeFile('target', text('old content'));
      await fs.rename(at('old'), at('target'));
      expect(Uint8Array.from(await fs.readFile(at('target')))).toEqual(text('new content'));
      await expect(fs.stat(at('old'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await fs.readdir(root)).sort()).toEqual(['target']);
    });

    it('fails with ENOENT for a missing source, carrying path and dest', async () => {
      await expect(fs.rename(at('nope'), at('other'))).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'rename',
        path: at('nope'),
        dest: at('other'),
      });
    });

    it('refuses a file over a directory (EISDIR) and a directory over a file (ENOTDIR)', async () => {
      await writeFile('f', text('x'));
      await fs.mkdir(at('d'));
      await expect(fs.rename(at('f'), at('d'))).rejects.toMatchObject({ code: 'EISDIR' });
      await expect(fs.rename(at('d'), at('f'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    });

    it('renaming to the same name changes nothing', async () => {
      await writeFile('f', text('x'));
      await fs.rename(at('f'), at('f'));
      expect(Uint8Array.from(await fs.readFile(at('f')))).toEqual(text('x'));
    });

    it('an open handle follows the file across a rename', async () => {
      const h = await fs.open(at('tmp'), 'create');
      await h.write(text('abc'), 0);
      await fs.rename(at('tmp'), at('final'));
      await h.write(text('d'), 3);
      await h.close();
      expect(Uint8Array.from(await fs.readFile(at('final')))).toEqual(text('abcd'));
    });
  });

  describe('unlink', () => {
    it('removes a name; an open handle still reads the file', async () => {
      await writeFile('a', text('still here'));
      const h = await fs.open(at('a'), 'read');
      await fs.unlink(at('a'));
      await expect(fs.stat(at('a'))).rejects.toMatchObject({ code: 'ENOENT' });
      const buf = new Uint8Array(10);
      expect(await h.read(buf, 0, 10, 0)).toBe(10);
      expect(buf).toEqual(text('still here'));
      await h.close();
    });

    it('fails with ENOENT when missing and EISDIR on a directory', async () => {
      await expect(fs.unlink(at('missing'))).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'unlink',
        path: at('missing'),
      });
      await fs.mkdir(at('d'));
      await expect(fs.unlink(at('d'))).rejects.toMatchObject({ code: 'EISDIR' });
    });
  });

  describe('directories', () => {
    it('readdir lists names without . and ..', async () => {
      await writeFile('b', text('1'));
      await writeFile('a', text('2'));
      await fs.mkdir(at('c'));
      expect((await fs.readdir(root)).sort()).toEqual(['a', 'b', 'c']);
      expect(await fs.readdir(at('c'))).toEqual([]);
    });

    it('readdir fails with ENOENT when missing and ENOTDIR on a file', async () => {
      await expect(fs.readdir(at('missing'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'scandir' });
      await writeFile('f', text('x'));
      await expect(fs.readdir(at('f'))).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'scandir' });
    });

    it('mkdir creates one level: EEXIST if it exists, ENOENT without a parent', async () => {
      await fs.mkdir(at('d'));
      expect(await fs.stat(at('d'))).toMatchObject({ isDirectory: true, isFile: false });
      await expect(fs.mkdir(at('d'))).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkdir' });
      await expect(fs.mkdir(at('x/y'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'mkdir' });
      await writeFile('f', text('x'));
      await expect(fs.mkdir(at('f'))).rejects.toMatchObject({ code: 'EEXIST' });
    });

    it('syncDir succeeds on a directory, ENOENT when missing, ENOTDIR on a file', async () => {
      await fs.syncDir(root);
      await expect(fs.syncDir(at('missing'))).rejects.toMatchObject({ code: 'ENOENT' });
      await writeFile('f', text('x'));
      await expect(fs.syncDir(at('f'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    });

    it('stat reports size and kind, ENOENT when missing', async () => {
      await writeFile('f', text('12345'));
      expect(await fs.stat(at('f'))).toEqual({ size: 5, isFile: true, isDirectory: false });
      await expect(fs.stat(at('missing'))).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'stat',
        path: at('missing'),
      });
      await expect(fs.stat(at('f/x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    });
  });
});
