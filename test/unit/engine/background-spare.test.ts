import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager, MetadataStore } from '../../../src/index.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import { failureEventsOf } from '../../helpers.js';

/**
 * After each compaction the compactor prepares the next log's spare in the background
 * (src/engine/compactor.ts, LogWriter.prepareInSteps), so that the next compaction only renames
 * it: its zeros are written between compactions in small fdatasynced chunks instead of inside the
 * compaction's window in one burst. A failure falls back to what compaction did before (prepare a
 * spare in its own window); close removes the spare.
 */

const DIR = '/m';
const SPARE = `${DIR}/log-next.wal.tmp`;

const events = failureEventsOf(DIR);

const createdSpares = (disk: SimulatedDisk, from: number) =>
  disk.trace.slice(from).filter((e) => e.op === 'open' && e.path === SPARE && e.mode === 'create');
const crashCopy = (disk: SimulatedDisk, seed: number) => disk.stateAt(disk.trace.length).crash(seed);

/** Resolves once the disk has seen no call for a few turns: the background preparation is done. */
async function quiet(disk: SimulatedDisk): Promise<void> {
  for (let idle = 0; idle < 5; ) {
    const before = disk.trace.length;
    await new Promise((resolve) => setImmediate(resolve));
    idle = disk.trace.length === before ? idle + 1 : 0;
  }
}

describe('the spare prepared in the background', () => {
  it('is made after a compaction and taken by the next one, which creates no file of its own', async () => {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(1);
    await manager.sync();
    await manager.updateCurrentTerm(2); // the spare's chunks go on beside this update
    await quiet(disk);
    expect(disk.files()).toContain(SPARE);
    const from = disk.trace.length;
    await manager.sync();
    // The compaction renamed the spare into place: no create of its own inside its window.
    const renamed = disk.trace.slice(from).filter((e) => e.op === 'rename' && e.path === SPARE);
    expect(renamed).toHaveLength(1);
    expect(createdSpares(disk, from)).toEqual([]);
    expect(disk.files().filter((f) => f.endsWith('.wal'))).toEqual([`${DIR}/log-0000000000000003.wal`]);
    await manager.updateVotedFor(7);
    expect(await Metadata.load(DIR, { fs: crashCopy(disk, 3) })).toMatchObject({
      currentTerm: 2,
      votedFor: 7,
    });
    await manager.close();
    expect(disk.files()).not.toContain(SPARE);
    expect(manager.stats()).toMatchObject({ compactionFailures: 0 });
    expect(events).toEqual([]);
  });

  it('a failed preparation is an abandoned step: reported, the spare removed, the manager serves on', async () => {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(1);
    disk.failNext({ op: 'datasync', errno: 'EIO', path: SPARE });
    await manager.sync();
    await manager.updateCurrentTerm(2);
    const from = disk.trace.length;
    await manager.sync(); // waits for the preparation, finds no spare, prepares one in its window
    expect(events).toMatchObject([{ fatal: false, stage: 'new-log', error: { code: 'EIO' } }]);
    expect(manager.stats()).toMatchObject({ compactionFailures: 1 });
    expect(createdSpares(disk, from).length).toBeGreaterThanOrEqual(1);
    await manager.updateVotedFor(3);
    expect(manager.get()).toMatchObject({ currentTerm: 2, votedFor: 3 });
    expect(await Metadata.load(DIR, { fs: crashCopy(disk, 5) })).toMatchObject({
      currentTerm: 2,
      votedFor: 3,
    });
    await manager.close();
  });

  it('close stops a preparation under way and removes the spare', async () => {
    const disk = new SimulatedDisk();
    const store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });
    // A log large enough that the next spare takes several chunks (proportional preallocation).
    await Promise.all(
      Array.from({ length: 8000 }, (_, i) => store.group(i % 50).updateCurrentTerm(1 + Math.floor(i / 50))),
    );
    await store.sync();
    await store.close();
    expect(disk.trace.filter((e) => e.path === SPARE && e.op === 'write').length).toBeGreaterThan(0);
    expect(disk.files()).not.toContain(SPARE);
    const loaded = await MetadataStore.load(DIR, { fs: disk.crash(1) });
    expect(loaded.size).toBe(50);
    expect([...loaded.values()].every((m) => m.currentTerm === 160)).toBe(true);
  });

  it('a MetadataStore takes the spare the same way', async () => {
    const disk = new SimulatedDisk();
    const store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await Promise.all([1, 2, 3].map((g) => store.group(g).updateCurrentTerm(g)));
    await store.sync();
    await store.group(2).updateVotedFor(9);
    await quiet(disk);
    expect(disk.files()).toContain(SPARE);
    const from = disk.trace.length;
    await store.sync();
    const renamed = disk.trace.slice(from).filter((e) => e.op === 'rename' && e.path === SPARE);
    expect(renamed).toHaveLength(1);
    expect(createdSpares(disk, from)).toEqual([]);
    const loaded = await MetadataStore.load(DIR, { fs: crashCopy(disk, 2) });
    expect([...loaded].map(([g, m]) => [g, m.currentTerm, m.votedFor])).toEqual([
      [1, 1, 0],
      [2, 2, 9],
      [3, 3, 0],
    ]);
    await store.close();
    expect(disk.files()).not.toContain(SPARE);
  });
});
