import { closeSync, openSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { checkPosition, IoThread } from '../../../src/fs/io-thread.js';
import { NodeFileSystem } from '../../../src/fs/node-fs.js';
import type { FileHandle } from '../../../src/fs/types.js';
import { tempDir } from '../../helpers.js';

const HEADER = Uint8Array.from([0x52, 0x4d, 0x4c, 0x47, 1, 2, 3, 4]);

/** Reads `length` bytes at exactly `position` with node:fs, on the main thread. */
function readAt(path: string, position: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(length);
    const n = readSync(fd, out, 0, length, position);
    return out.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

const bytesOf = (n: number): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, n);
  return out;
};

let fs: NodeFileSystem;
let handle: FileHandle | undefined;
afterEach(async () => {
  await handle?.close().catch(() => {});
  handle = undefined;
  await fs?.dispose();
});

async function sparseFile(): Promise<{ path: string; handle: FileHandle }> {
  fs = new NodeFileSystem();
  const path = join(tempDir(), 'sparse');
  handle = await fs.open(path, 'create');
  await handle.writeDurable(HEADER, 0);
  return { path, handle };
}

describe('checkPosition: byte ranges the I/O thread carries exactly', () => {
  it('accepts every safe non-negative integer range, including past 2^31 and 2^32', () => {
    for (const position of [0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40]) {
      expect(() => checkPosition(position, 4096)).not.toThrow();
    }
    expect(() => checkPosition(Number.MAX_SAFE_INTEGER, 0)).not.toThrow();
    expect(() => checkPosition(Number.MAX_SAFE_INTEGER - 8, 8)).not.toThrow();
  });

  it('refuses a position that is not an exact non-negative offset, with a coded error', () => {
    for (const position of [1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => checkPosition(position, 1)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
      );
    }
    for (const [position, length] of [
      [-1, 1],
      [2 ** 53, 0],
      [Number.MAX_SAFE_INTEGER - 3, 8],
    ] as const) {
      expect(() => checkPosition(position, length)).toThrow(
        expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
      );
    }
  });

  it('a position written into the shared buffer reads back exactly (property)', () => {
    // The encoding the main thread and the worker share: one Float64 slot of the control area.
    const slot = new Float64Array(new SharedArrayBuffer(8));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (position) => {
        checkPosition(position, 0);
        slot[0] = position;
        expect(slot[0]).toBe(position);
      }),
    );
  });
});

describe('I/O thread: positions past 2 GiB, on a sparse file', () => {
  it('writes at 2^31, 2^32+5 and 2^40 exactly there, and never over offset 0', async () => {
    const { path, handle } = await sparseFile();
    const positions = [2 ** 31, 2 ** 31 + 4096, 2 ** 32 - 4, 2 ** 32 + 5, 2 ** 40];
    for (const position of positions) await handle.writeDurable(bytesOf(position), position);
    for (const position of positions) expect(readAt(path, position, 8)).toEqual(bytesOf(position));
    expect(readAt(path, 0, HEADER.length)).toEqual(HEADER);
    expect(statSync(path).size).toBe(2 ** 40 + 8);
  });

  it('carries random positions up to 2^43 exactly (property; ext4 files end below 2^44)', async () => {
    const { path, handle } = await sparseFile();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 8, max: 2 ** 43 }), async (position) => {
        await handle.writeDurable(bytesOf(position), position);
        expect(readAt(path, position, 8)).toEqual(bytesOf(position));
      }),
      { numRuns: Math.min(fc.readConfigureGlobal().numRuns ?? 100, 200) },
    );
    expect(readAt(path, 0, HEADER.length)).toEqual(HEADER);
  });

  it('refuses a position it cannot carry: nothing is written anywhere', async () => {
    const { path, handle } = await sparseFile();
    const data = Uint8Array.from([9, 9, 9, 9]);
    const refusals: [number, string][] = [
      [-1, 'ERR_OUT_OF_RANGE'],
      [2 ** 53, 'ERR_OUT_OF_RANGE'],
      [Number.MAX_SAFE_INTEGER - 1, 'ERR_OUT_OF_RANGE'],
      [2 ** 31 + 0.5, 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [position, code] of refusals) {
      await expect(handle.writeDurable(data, position)).rejects.toMatchObject({ code });
      await expect(handle.write(data, position)).rejects.toMatchObject({ code });
    }
    expect(statSync(path).size).toBe(HEADER.length);
    expect(readAt(path, 0, 64)).toEqual(HEADER);
  });

  it('a safe position past what the file system allows fails in pwrite with code, syscall and path', async () => {
    const { path, handle } = await sparseFile();
    const err = await handle.writeDurable(Uint8Array.from([1]), Number.MAX_SAFE_INTEGER - 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    // ext4 and xfs: EFBIG; either way the kernel saw the real offset and refused it.
    expect(err).toMatchObject({ code: expect.stringMatching(/^(EFBIG|EINVAL)$/), syscall: 'write', path });
    expect(readAt(path, 0, 64)).toEqual(HEADER);
  });

  it('IoThread itself refuses such a position, whoever calls it', async () => {
    const path = join(tempDir(), 'raw');
    writeFileSync(path, HEADER);
    const io = new IoThread();
    try {
      const file = await io.open(path, 2 /* O_RDWR */);
      await expect(io.writeDatasync(file.fd, HEADER, -1, path)).rejects.toMatchObject({
        code: 'ERR_OUT_OF_RANGE',
      });
      await io.close(file.fd, path);
    } finally {
      await io.stop();
    }
    expect(readAt(path, 0, 64)).toEqual(HEADER);
  });
});

describe('I/O thread: its own descriptor for each handle', () => {
  it('reports a failed write with code, syscall and path (a read-only handle)', async () => {
    fs = new NodeFileSystem();
    const path = join(tempDir(), 'ro');
    writeFileSync(path, HEADER);
    handle = await fs.open(path, 'read');
    await expect(handle.writeDurable(Uint8Array.from([1]), 0)).rejects.toMatchObject({
      code: 'EBADF',
      syscall: 'write',
      path,
      errno: -9,
    });
    expect(readAt(path, 0, 64)).toEqual(HEADER);
  });

  it('refuses to write when the path names another file than the open one (ESTALE)', async () => {
    fs = new NodeFileSystem();
    const dir = tempDir();
    const path = join(dir, 'moved');
    handle = await fs.open(path, 'create');
    renameSync(path, join(dir, 'elsewhere'));
    writeFileSync(path, HEADER);
    await expect(handle.writeDurable(Uint8Array.from([7]), 0)).rejects.toMatchObject({
      code: 'ESTALE',
      syscall: 'open',
      path,
    });
    expect(readAt(path, 0, 64)).toEqual(HEADER);
  });

  it('keeps writing through its descriptor after the file is renamed (a log leaving .tmp)', async () => {
    fs = new NodeFileSystem();
    const dir = tempDir();
    const temp = join(dir, 'log.tmp');
    handle = await fs.open(temp, 'create');
    await handle.writeDurable(HEADER, 0);
    renameSync(temp, join(dir, 'log'));
    await handle.writeDurable(Uint8Array.from([5, 6]), HEADER.length);
    expect(readAt(join(dir, 'log'), 0, 64)).toEqual(Uint8Array.from([...HEADER, 5, 6]));
  });

  it('durable writes issued before and while the descriptor opens run in call order (the last one wins)', async () => {
    fs = new NodeFileSystem();
    const path = join(tempDir(), 'order');
    handle = await fs.open(path, 'create');
    const h = handle;
    const word = (i: number): Uint8Array => Uint8Array.of(i >> 8, i & 0xff);
    const writes = Array.from({ length: 20 }, (_, i) => h.writeDurable(word(i), 0));
    let firstDone = false;
    void writes[0]?.then(() => {
      firstDone = true;
    });
    // More calls at microtasks and turns of the event loop until the first write is done: they
    // queue behind the open of the worker's descriptor with the first ones, or come after it.
    let i = 20;
    while (!firstDone && i < 400) {
      writes.push(h.writeDurable(word(i++), 0));
      await Promise.resolve();
      if (i % 4 === 0) await new Promise<void>((done) => setImmediate(done));
    }
    writes.push(h.writeDurable(word(i), 0));
    await Promise.all(writes);
    expect(readAt(path, 0, 2)).toEqual(word(i));
  });

  it('after dispose(), an open handle writes durably again through a new thread', async () => {
    fs = new NodeFileSystem();
    const path = join(tempDir(), 'disposed');
    handle = await fs.open(path, 'create');
    await handle.writeDurable(HEADER, 0);
    await fs.dispose();
    await handle.writeDurable(Uint8Array.from([3]), HEADER.length);
    expect(readAt(path, 0, 64)).toEqual(Uint8Array.from([...HEADER, 3]));
  });
});
