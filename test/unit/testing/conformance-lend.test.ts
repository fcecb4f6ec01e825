import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager } from '../../../src/index.js';
import { lend } from '../../../src/testing/conformance/lend.js';
import { type HardStateStore, runConformance, SimulatedDisk } from '../../../src/testing/index.js';

/**
 * runConformance abandons stores as a machine does (a crash or a SIGKILL closes nothing). A store
 * that something keeps alive after its run (a flush timer holding it strongly, a module-level
 * cache) must not keep the run's simulated disks with it: they hold every file's bytes and every
 * write of the trace, and a long run would keep hundreds of KB per run (PROPERTY_RUNS=25000 of the
 * store conformance test, while raft-metadata's own interval still held its store, peaked at 16 GB).
 * The store gets a view of the disk that the run revokes at its end.
 */

/** Live SimulatedDisk instances, after a full GC (v8.queryObjects collects first). */
function liveDisks(): number {
  const emit = process.emitWarning;
  process.emitWarning = () => {}; // queryObjects is experimental and says so once
  try {
    return v8.queryObjects(SimulatedDisk, { format: 'count' });
  } finally {
    process.emitWarning = emit;
  }
}

describe('runConformance lends the disk to the store under test', () => {
  it('a store kept alive after its run keeps none of the run’s disks, and its file system is revoked', async () => {
    const kept: { store: HardStateStore; fs: unknown }[] = [];
    await runConformance(
      async (dir, { fs }) => {
        const store = await MetadataManager.open(dir, { fs, flushIntervalMs: 0 });
        kept.push({ store, fs }); // what an interval holding the store strongly does
        return store;
      },
      { load: (dir, { fs }) => Metadata.load(dir, { fs }), numRuns: 25, seed: 42 },
    );
    expect(kept.length).toBeGreaterThan(25);
    expect(liveDisks()).toBe(0);
    const { fs } = kept[0] as { fs: SimulatedDisk };
    await expect(fs.readdir('/')).rejects.toMatchObject({ code: 'EIO', syscall: 'scandir' });
  });

  it('an error from the disk that a store keeps does not keep the disk', async () => {
    const kept: unknown[] = [];
    await (async () => {
      const disk = new SimulatedDisk();
      const lent = lend(disk);
      disk.crash(1);
      // Dead disk: EIO, thrown in the disk's own frames (V8 keeps their receivers with the stack).
      kept.push(await lent.fs.readdir('/').catch((error: unknown) => error));
      lent.revoke();
    })();
    expect(kept[0]).toMatchObject({ code: 'EIO' });
    expect(liveDisks()).toBe(0);
  });

  it('a lent view forwards to the disk until revoked; then it and its handles reject with EIO', async () => {
    const disk = new SimulatedDisk();
    disk.mkdirp('/d');
    const lent = lend(disk);
    const handle = await lent.fs.open('/d/f', 'create');
    await handle.writeDurable(new Uint8Array([1, 2, 3]), 0);
    await lent.fs.syncDir('/d');
    expect(await lent.fs.readdir('/d')).toEqual(['f']);
    expect(await handle.size()).toBe(3);
    const locked = await lent.fs.openLocked('/d/lock');
    expect(locked).toBeDefined();
    expect(await lent.fs.probeLock('/d/lock')).toBe('held');

    lent.revoke();
    await expect(lent.fs.readdir('/d')).rejects.toMatchObject({
      code: 'EIO',
      syscall: 'scandir',
      path: '/d',
    });
    await expect(lent.fs.open('/d/f', 'read')).rejects.toMatchObject({ code: 'EIO' });
    await expect(handle.write(new Uint8Array([9]), 0)).rejects.toMatchObject({
      code: 'EIO',
      syscall: 'write',
    });
    await expect(handle.close()).rejects.toMatchObject({ code: 'EIO', syscall: 'close' });
    await expect(locked?.close()).rejects.toMatchObject({ code: 'EIO' });
    // The disk itself is untouched by the revocation: the write stands, the lock is still held.
    expect(disk.readDurable('/d/f')).toEqual(new Uint8Array([1, 2, 3]));
    expect(await disk.probeLock('/d/lock')).toBe('held');
  });
});
