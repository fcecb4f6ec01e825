import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/errors.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  type SnapshotContent,
  type SnapshotToWrite,
  snapshotJsonV1,
} from '../../../src/format/snapshot-codec.js';
import { readSnapshot, writeSnapshot } from '../../../src/storage/snapshot-file.js';
import { describeCrashPlan, enumerateCrashPlans, SimulatedDisk } from '../../../src/testing/index.js';
import { DIR_ID } from '../../fixtures/log-bytes.js';

/**
 * The snapshot file on its own: writeSnapshot's steps in the simulated disk's trace (temp, fsync,
 * rename, directory fsync), what a crash at each of them leaves (the old snapshot or the new one,
 * never a mix, never nothing when there was one), and readSnapshot's answers.
 */

const DIR = '/d';
const FINAL = `${DIR}/metadata.json`;
const TEMP = `${DIR}/metadata.json.tmp`;
/** A version-2 snapshot of group 0 at `currentTerm`/`votedFor`, covering up to `lastSeq`. */
function snapshot(currentTerm: number, votedFor: number, lastSeq: number): SnapshotToWrite {
  return {
    directoryId: DIR_ID,
    identity: undefined,
    lastSeq,
    groups: new Map([[0, { currentTerm, votedFor }]]),
    removed: new Map(),
    floorTerm: 0,
  };
}
/** What readSnapshot gives back for `written`. */
const asRead = (written: SnapshotToWrite): SnapshotContent => ({ version: 2, ...written });

const OLD = snapshot(4, 2, 17);
const NEW = snapshot(5, 0, 23);

function diskWith(files: Record<string, Uint8Array> = {}): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.mkdirp(DIR);
  for (const [path, bytes] of Object.entries(files)) disk.putFile(path, bytes);
  return disk;
}

describe('writeSnapshot', () => {
  it('writes a temp file, fsyncs it, closes it, renames it over the snapshot, then fsyncs the directory', async () => {
    const disk = diskWith({ [FINAL]: encodeSnapshot(OLD) });
    await writeSnapshot(disk, DIR, NEW);
    expect(disk.trace.map((e) => [e.op, e.path, e.dest ?? e.mode ?? e.error ?? null])).toEqual([
      ['unlink', TEMP, 'ENOENT'],
      ['open', TEMP, 'create'],
      ['write', TEMP, null],
      ['sync', TEMP, null],
      ['close', TEMP, null],
      ['rename', TEMP, FINAL],
      ['syncDir', DIR, null],
    ]);
    const write = disk.trace.find((e) => e.op === 'write');
    expect(write).toMatchObject({ position: 0, data: encodeSnapshot(NEW) });
    expect(disk.durableFiles()).toEqual([FINAL]);
    expect(disk.readDurable(FINAL)).toEqual(encodeSnapshot(NEW));
    expect(disk.pending()).toEqual({ writes: [], dirOps: [] });
  });

  it('creates the first snapshot of a directory the same way', async () => {
    const disk = diskWith();
    await writeSnapshot(disk, DIR, NEW);
    expect(await readSnapshot(disk, DIR)).toEqual(asRead(NEW));
    expect(disk.durableFiles()).toEqual([FINAL]);
  });

  it('replaces a temp file an earlier crash left', async () => {
    const disk = diskWith({ [TEMP]: new TextEncoder().encode('{"half":') });
    await writeSnapshot(disk, DIR, NEW);
    expect(disk.trace[0]).toMatchObject({ op: 'unlink', path: TEMP });
    expect(disk.trace[0]?.error).toBeUndefined();
    expect(disk.files()).toEqual([FINAL]);
    expect(await readSnapshot(disk, DIR)).toEqual(asRead(NEW));
  });

  it('stops at a failing unlink other than ENOENT, leaving the old snapshot', async () => {
    const disk = diskWith({ [FINAL]: encodeSnapshot(OLD) });
    disk.failNext({ op: 'unlink', errno: 'EIO' });
    await expect(writeSnapshot(disk, DIR, NEW)).rejects.toMatchObject({ code: 'EIO' });
    expect(disk.files()).toEqual([FINAL]);
    expect(await readSnapshot(disk, DIR)).toEqual(asRead(OLD));
  });

  it('never renames a temp file whose fsync failed', async () => {
    const disk = diskWith({ [FINAL]: encodeSnapshot(OLD) });
    disk.failNext({ op: 'sync', errno: 'EIO' });
    await expect(writeSnapshot(disk, DIR, NEW)).rejects.toMatchObject({ code: 'EIO' });
    expect(disk.trace.map((e) => e.op)).not.toContain('rename');
    expect(disk.trace.at(-1)).toMatchObject({ op: 'close', path: TEMP });
    expect(await readSnapshot(disk, DIR)).toEqual(asRead(OLD));
  });

  it('rejects when the directory fsync fails, after the rename (the caller must not drop logs)', async () => {
    const disk = diskWith({ [FINAL]: encodeSnapshot(OLD) });
    disk.failNext({ op: 'syncDir', errno: 'EIO' });
    await expect(writeSnapshot(disk, DIR, NEW)).rejects.toMatchObject({ code: 'EIO' });
  });

  for (const old of [OLD, undefined]) {
    const what = old ? 'the old snapshot or the new one' : 'no snapshot or the new one';
    it(`a crash at any step leaves ${what}, whole; after the directory fsync, the new one`, async () => {
      const recorded = diskWith(old ? { [FINAL]: encodeSnapshot(old) } : {});
      await writeSnapshot(recorded, DIR, NEW);
      const syncedAt = recorded.trace.findIndex((e) => e.op === 'syncDir') + 1;
      const outcomes = new Set<string>();
      for (let k = 0; k <= recorded.trace.length; k++) {
        for (const plan of enumerateCrashPlans(recorded.stateAt(k).pending())) {
          const disk = recorded.stateAt(k).crashWith(plan);
          const where = `after ${k} ops, ${describeCrashPlan(plan)}`;
          const found = await readSnapshot(disk, DIR);
          expect([old && asRead(old), asRead(NEW)], where).toContainEqual(found);
          if (k >= syncedAt) expect(found, where).toEqual(asRead(NEW));
          outcomes.add(found === undefined ? 'none' : String(found.lastSeq));
          // The next compaction writes over whatever the crash left.
          const next = { ...NEW, lastSeq: NEW.lastSeq + 1 };
          await writeSnapshot(disk, DIR, next);
          expect(await readSnapshot(disk, DIR), where).toEqual(asRead(next));
        }
      }
      // Both outcomes occur: the test did crash before and after the switch.
      expect(outcomes.size).toBe(2);
    });
  }
});

describe('readSnapshot', () => {
  it('no snapshot file: undefined', async () => {
    expect(await readSnapshot(diskWith(), DIR)).toBeUndefined();
  });

  it('returns what writeSnapshot wrote', async () => {
    const disk = diskWith();
    await writeSnapshot(disk, DIR, OLD);
    expect(await readSnapshot(disk, DIR)).toEqual(asRead(OLD));
  });

  it('returns an identity, removed groups and other groups as written', async () => {
    const disk = diskWith();
    const written: SnapshotToWrite = {
      ...OLD,
      identity: { clusterId: 'east', nodeId: 2 },
      groups: new Map([
        [0, { currentTerm: 4, votedFor: 2 }],
        [9, { currentTerm: 1, votedFor: 0 }],
      ]),
      removed: new Map([[5, 3]]),
    };
    await writeSnapshot(disk, DIR, written);
    expect(await readSnapshot(disk, DIR)).toEqual(asRead(written));
  });

  it('reads a version-1 snapshot (0.1.0, or JSON.stringify(metadata)) as version 1, without a directory id', async () => {
    const v1 = new TextEncoder().encode(
      JSON.stringify(snapshotJsonV1({ currentTerm: 6, votedFor: 1, lastSeq: 9 })),
    );
    expect(await readSnapshot(diskWith({ [FINAL]: v1 }), DIR)).toEqual({
      version: 1,
      directoryId: undefined,
      identity: undefined,
      lastSeq: 9,
      groups: new Map([[0, { currentTerm: 6, votedFor: 1 }]]),
      removed: new Map(),
      floorTerm: 0,
    });
  });

  it('ignores the temp file', async () => {
    const disk = diskWith({ [TEMP]: encodeSnapshot(NEW) });
    expect(await readSnapshot(disk, DIR)).toBeUndefined();
  });

  const damaged: [string, Uint8Array][] = [
    ['cut short', encodeSnapshot(OLD).subarray(0, 30)],
    ['empty', new Uint8Array(0)],
    ['not an object', new TextEncoder().encode('[1,2,3]')],
    [
      'edited (checksum mismatch)',
      new TextEncoder().encode(
        new TextDecoder().decode(encodeSnapshot(OLD)).replace('"groups":[[0,4,2]]', '"groups":[[0,9,2]]'),
      ),
    ],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
  ];
  for (const [what, bytes] of damaged) {
    it(`a snapshot ${what} is a CorruptionError naming the file and the codec's offset`, async () => {
      const decoded = decodeSnapshot(bytes);
      expect('problem' in decoded).toBe(true);
      const err = await readSnapshot(diskWith({ [FINAL]: bytes }), DIR).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptionError);
      expect(err).toMatchObject({
        code: 'ERR_METADATA_CORRUPT',
        file: FINAL,
        offset: 'offset' in decoded ? decoded.offset : -1,
      });
    });
  }

  it('passes on read errors other than ENOENT', async () => {
    const disk = diskWith({ [FINAL]: encodeSnapshot(OLD) });
    disk.failNext({ op: 'readFile', errno: 'EIO' });
    await expect(readSnapshot(disk, DIR)).rejects.toMatchObject({ code: 'EIO' });
  });

  it('writes nothing', async () => {
    const disk = diskWith({ [FINAL]: encodeSnapshot(OLD) });
    const before = disk.fingerprint();
    await readSnapshot(disk, DIR);
    expect(disk.fingerprint()).toBe(before);
  });
});
