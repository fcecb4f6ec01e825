import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager } from '../../../src/index.js';
import { ensureDirectory } from '../../../src/storage/ensure-directory.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers.js';

// A metadata directory given as `base/x/..//d` (with `base/x` missing) or as a relative path is
// resolved once, lexically (`path.resolve`), and every call uses that one path: the directory the
// open creates is the one every later call reaches.

describe('ensureDirectory', () => {
  it('creates path.resolve(dir) and returns it', async () => {
    const base = tempDir();
    const made = await ensureDirectory(new SimulatedDisk(), `${base}/x/..//d/`);
    expect(made).toBe(join(base, 'd'));
    const disk = new SimulatedDisk();
    expect(await ensureDirectory(disk, '/a/x/..//d')).toBe('/a/d');
    expect(disk.directories()).toContain('/a/d');
    expect(disk.directories()).not.toContain('/a/x');
  });
});

describe('a metadata directory with .. and // in it', () => {
  it('works on the real disk when base/x does not exist: open, update, sync, reopen, load', async () => {
    const base = tempDir();
    const given = `${base}/x/..//d`;
    const manager = await MetadataManager.open(given, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(3);
    await manager.updateVotedFor(2);
    await manager.sync(); // a compaction: new log, snapshot, unlink (every path derived from the dir)
    await manager.updateCurrentTerm(4);
    expect(manager.get().metadataDir).toBe(given); // as given
    await manager.close();
    expect(existsSync(join(base, 'd', 'metadata.json'))).toBe(true);
    expect(existsSync(join(base, 'x'))).toBe(false);

    expect(await Metadata.load(given)).toMatchObject({ currentTerm: 4, votedFor: 0, metadataDir: given });
    expect(await Metadata.load(join(base, 'd'))).toMatchObject({ currentTerm: 4 });
    const again = await MetadataManager.open(given, { flushIntervalMs: 0 });
    expect(again.get()).toMatchObject({ currentTerm: 4, votedFor: 0 });
    await again.close();
  });

  it('the seed form on such a path, with a proposal', async () => {
    const base = tempDir();
    const initial = new Metadata(`${base}/x/../y/..//d`);
    initial.currentTerm = 6;
    const manager = new MetadataManager(initial, 0);
    await manager.updateVotedFor(1);
    await manager.sync();
    await manager.close();
    expect(await Metadata.load(join(base, 'd'))).toMatchObject({ currentTerm: 6, votedFor: 1 });
  });

  it('a relative path (through a missing level) is taken against the current directory at construction', async () => {
    const base = tempDir();
    const given = join(relative(process.cwd(), base), 'x', '..', 'rel');
    const manager = await MetadataManager.open(given, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(9);
    await manager.sync();
    await manager.close();
    expect(existsSync(resolve(base, 'rel', 'metadata.json'))).toBe(true);
    expect(await Metadata.load(given)).toMatchObject({ currentTerm: 9 });
  });

  it('on the simulated disk: the files land in the resolved directory only', async () => {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open('/base/x/..//d', { fs: disk, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(2);
    await manager.sync();
    await manager.close();
    expect(disk.files().every((f) => f.startsWith('/base/d/'))).toBe(true);
    expect(disk.files()).toContain('/base/d/metadata.json');
    expect(await Metadata.load('/base/x/../d', { fs: disk })).toMatchObject({ currentTerm: 2 });
  });
});
