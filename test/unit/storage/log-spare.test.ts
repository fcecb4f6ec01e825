import { describe, expect, it } from 'vitest';
import { logName, SPARE_LOG_NAME } from '../../../src/format/names.js';
import { scanLog } from '../../../src/storage/log-reader.js';
import { LogWriter, ZeroPacer } from '../../../src/storage/log-writer.js';
import { describeCrashPlan, enumerateCrashPlans, SimulatedDisk } from '../../../src/testing/index.js';
import { DIR_ID, HEADER_SIZE, termRecord } from '../../fixtures/log-bytes.js';

/**
 * LogWriter.prepareInSteps on its own (the compactor's use of it, a spare made in the background
 * after each compaction, is in test/unit/engine/background-spare.test.ts): the header and zeros in
 * chunks, each written then fdatasynced, with the pacer's pause between them.
 */

const DIR = '/d';
const SPARE = `${DIR}/${SPARE_LOG_NAME}`;
const PREALLOCATE = 4_500_000; // five chunks of 1 MiB

function freshDisk(): SimulatedDisk {
  const disk = new SimulatedDisk();
  disk.mkdirp(DIR);
  return disk;
}

describe('LogWriter.prepareInSteps', () => {
  it('writes the header and zeros chunk by chunk, each fdatasynced, and the spare becomes a log', async () => {
    const disk = freshDisk();
    const spare = await LogWriter.prepareInSteps(disk, DIR, DIR_ID, PREALLOCATE, new ZeroPacer(0));
    expect(spare).toBeDefined();
    expect((await disk.stat(SPARE)).size).toBe(HEADER_SIZE + PREALLOCATE);
    const steps = disk.trace.filter((e) => e.path === SPARE && (e.op === 'write' || e.op === 'datasync'));
    const writes = steps.filter((e) => e.op === 'write');
    expect(writes.map((e) => e.position)).toEqual([0, 1, 2, 3, 4].map((i) => i * 1024 * 1024));
    expect(steps.map((e) => e.op)).toEqual(writes.flatMap(() => ['write', 'datasync']));
    const next = await (spare as NonNullable<typeof spare>).commit(disk, 1);
    await next.nameDurable();
    await next.append([termRecord(1), termRecord(2, 1)]);
    await next.close();
    const scan = await scanLog(disk, `${DIR}/${logName(1)}`, () => {});
    expect(scan).toMatchObject({ recordCount: 2, end: { kind: 'clean' }, header: { directoryId: DIR_ID } });
  });

  it('a crash at any step leaves at most the temp spare, never a log', async () => {
    const recorded = freshDisk();
    await LogWriter.prepareInSteps(recorded, DIR, DIR_ID, PREALLOCATE, new ZeroPacer(0));
    let states = 0;
    for (let k = 0; k <= recorded.trace.length; k++) {
      for (const plan of enumerateCrashPlans(recorded.stateAt(k).pending(), { maxTornPointsPerWrite: 2 })) {
        const files = recorded.stateAt(k).crashWith(plan).files();
        states++;
        expect(
          files.every((f) => f === SPARE),
          `after ${k} ops, ${describeCrashPlan(plan)}`,
        ).toBe(true);
      }
    }
    expect(states).toBeGreaterThan(10);
  });

  it('cancelled (the manager closes): stops at the next chunk and closes the file', async () => {
    const disk = freshDisk();
    const pacer = new ZeroPacer(60_000);
    const preparing = LogWriter.prepareInSteps(disk, DIR, DIR_ID, PREALLOCATE, pacer);
    await new Promise((resolve) => setTimeout(resolve, 20));
    pacer.cancel();
    await expect(preparing).resolves.toBeUndefined();
    expect(disk.trace.filter((e) => e.path === SPARE && e.op === 'write')).toHaveLength(1);
    expect(disk.trace.at(-1)).toMatchObject({ op: 'close', path: SPARE });
  });

  it('hurried: no pause left, the preparation ends at once', async () => {
    const disk = freshDisk();
    const pacer = new ZeroPacer(60_000);
    const preparing = LogWriter.prepareInSteps(disk, DIR, DIR_ID, PREALLOCATE, pacer);
    pacer.hurry();
    const spare = await preparing;
    expect(spare).toBeDefined();
    await spare?.discard();
    expect(disk.files()).not.toContain(SPARE);
  });

  it('a failed fdatasync rejects, and the handle is closed', async () => {
    const disk = freshDisk();
    disk.failNext({ op: 'datasync', errno: 'EIO', path: SPARE, nth: 2 });
    await expect(
      LogWriter.prepareInSteps(disk, DIR, DIR_ID, PREALLOCATE, new ZeroPacer(0)),
    ).rejects.toMatchObject({ code: 'EIO' });
    expect(disk.trace.at(-1)).toMatchObject({ op: 'close', path: SPARE });
  });
});
