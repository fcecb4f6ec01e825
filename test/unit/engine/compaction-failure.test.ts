import { describe, expect, it } from 'vitest';
import {
  CHANNELS,
  type FailureEvent,
  Metadata,
  MetadataManager,
  subscribeChannel,
} from '../../../src/index.js';
import { type FaultRule, SimulatedDisk } from '../../../src/testing/index.js';
import { failureEventsOf } from '../../helpers.js';

// A compaction that fails before it changed anything the state on disk depends on is abandoned:
// the manager keeps serving on its current log, reports it (failure channel with fatal: false,
// stats()), and the next sync() or interval tries again. A failure after it renamed something into
// place or fsynced the directory stops the manager (fail-stop). Each step, on the simulated disk.

const DIR = '/m';
const OLD_LOG = /log-0000000000000001\.wal$/;

const events = failureEventsOf(DIR);

/** A manager whose log holds term 1 and a vote for 2, so that a compaction starts a new log. */
async function started(): Promise<{ disk: SimulatedDisk; manager: MetadataManager }> {
  const disk = new SimulatedDisk();
  const manager = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
  await manager.updateCurrentTerm(1);
  await manager.updateVotedFor(2);
  return { disk, manager };
}

/** Every crash of a copy of `disk` as it is now, and a reopen, shows `state`. */
async function survivesCrashes(disk: SimulatedDisk, state: { currentTerm: number; votedFor: number }) {
  for (const seed of [1, 2, 3, 4, 5]) {
    const crashed = disk.stateAt(disk.trace.length).crash(seed);
    expect(await Metadata.load(DIR, { fs: crashed }), `crash seed ${seed}`).toMatchObject(state);
    const reopened = await MetadataManager.open(DIR, { fs: crashed, flushIntervalMs: 0 });
    expect(reopened.get()).toMatchObject(state);
    await reopened.close();
  }
}

function tempFiles(disk: SimulatedDisk): string[] {
  return disk.files().filter((name) => name.endsWith('.tmp'));
}

interface Case {
  readonly name: string;
  readonly fault: FaultRule;
  readonly stage: FailureEvent['stage'];
  /** Armed as well, and fired before `fault`, without a report of its own. */
  readonly before?: FaultRule;
}

const SPARE = `${DIR}/log-next.wal.tmp`;

// Steps that touch only a temp file, or a rename that failed (and so changed nothing).
const abandoned: Case[] = [
  {
    name: 'unlink of a stale log temp',
    stage: 'new-log',
    fault: { op: 'unlink', errno: 'EIO', path: /\.wal\.tmp$/ },
  },
  {
    name: 'create of the log temp (EMFILE)',
    stage: 'new-log',
    fault: { op: 'open', errno: 'EMFILE', path: /\.wal\.tmp$/ },
  },
  {
    name: 'create of the log temp (ENOSPC)',
    stage: 'new-log',
    fault: { op: 'open', errno: 'ENOSPC', path: /\.wal\.tmp$/ },
  },
  {
    name: 'fsync of the zero-filled spare log',
    stage: 'new-log',
    fault: { op: 'sync', errno: 'EIO', path: /\.wal\.tmp$/ },
  },
  {
    name: 'a short write of the spare log',
    stage: 'new-log',
    fault: { op: 'write', errno: 'ENOSPC', path: /\.wal\.tmp$/, bytesWritten: 100 },
  },
  {
    name: 'rename of the log temp',
    stage: 'new-log',
    fault: { op: 'rename', errno: 'ENOSPC', path: /\.wal\.tmp$/ },
  },
  {
    name: 'unlink of a stale snapshot temp',
    stage: 'snapshot',
    fault: { op: 'unlink', errno: 'EIO', path: /json\.tmp$/ },
  },
  {
    name: 'create of the snapshot temp',
    stage: 'snapshot',
    fault: { op: 'open', errno: 'EMFILE', path: /json\.tmp$/ },
  },
  {
    name: 'write of the snapshot temp',
    stage: 'snapshot',
    fault: { op: 'write', errno: 'ENOSPC', path: /json\.tmp$/ },
  },
  {
    name: 'fsync of the snapshot temp',
    stage: 'snapshot',
    fault: { op: 'sync', errno: 'EIO', path: /json\.tmp$/ },
  },
  {
    name: 'close of the snapshot temp',
    stage: 'snapshot',
    fault: { op: 'close', errno: 'EIO', path: /json\.tmp$/ },
  },
  {
    name: 'rename of the snapshot temp',
    stage: 'snapshot',
    fault: { op: 'rename', errno: 'ENOSPC', path: /json\.tmp$/ },
  },
  {
    name: 'unlink of a covered log',
    stage: 'remove-logs',
    fault: { op: 'unlink', errno: 'EIO', path: OLD_LOG },
  },
];

// Steps after a rename into place, or a directory fsync: the directory's state is in doubt.
const fatal: Case[] = [
  {
    name: 'directory fsync after the new log is renamed',
    stage: 'new-log',
    fault: { op: 'syncDir', errno: 'EIO' },
  },
  {
    name: 'close of the log temp after its rename',
    stage: 'new-log',
    fault: { op: 'close', errno: 'EIO', path: /\.wal\.tmp$/ },
  },
  {
    name: 'reopen of the new log after its rename',
    stage: 'new-log',
    fault: { op: 'open', errno: 'EMFILE', path: /log-0000000000000003\.wal$/ },
  },
  {
    name: 'close of the log it replaced',
    stage: 'close-log',
    fault: { op: 'close', errno: 'EIO', path: OLD_LOG },
  },
  {
    name: 'directory fsync after the snapshot rename',
    stage: 'snapshot',
    fault: { op: 'syncDir', errno: 'EIO', nth: 2 },
  },
];

describe('a compaction that fails before it changes anything is abandoned', () => {
  it.each(abandoned)('$name: the manager keeps serving and retries', async ({ fault, stage, before }) => {
    const { disk, manager } = await started();
    if (before !== undefined) disk.failNext(before);
    disk.failNext(fault);
    const error = await manager.sync().then(
      () => undefined,
      (err: unknown) => err as { code?: string; syscall?: string },
    );
    // sync() reports the system error itself: the manager did not stop.
    expect(error).toMatchObject({ code: fault.errno, syscall: expect.any(String) });
    expect(disk.trace.filter((entry) => entry.injected)).toHaveLength(before === undefined ? 1 : 2);
    expect(events).toEqual([{ dir: DIR, error, fatal: false, stage }]);
    expect(manager.stats()).toMatchObject({ compactionFailures: 1, lastCompactionError: fault.errno });
    expect(tempFiles(disk)).toEqual([]); // removed, though recovery would ignore them

    // Still serving, and what it acknowledges is durable.
    await manager.updateCurrentTerm(3);
    await manager.updateVotedFor(4);
    expect(manager.get()).toMatchObject({ currentTerm: 3, votedFor: 4 });
    await survivesCrashes(disk, { currentTerm: 3, votedFor: 4 });

    // The next sync() compacts: one snapshot, one log left, nothing stale.
    const compactions = manager.stats().compactions;
    await manager.sync();
    expect(manager.stats()).toMatchObject({
      compactions: compactions + 1,
      compactionFailures: 1,
      lastCompactionError: undefined,
    });
    expect(disk.files().filter((name) => name.endsWith('.wal'))).toHaveLength(1);
    // Nothing but the next log's spare, which the compaction started in the background.
    expect(tempFiles(disk).filter((name) => name !== SPARE)).toEqual([]);
    await manager.updateCurrentTerm(5);
    await survivesCrashes(disk, { currentTerm: 5, votedFor: 0 });
    await manager.close();
    expect(tempFiles(disk)).toEqual([]); // close removes the spare
    expect(await Metadata.load(DIR, { fs: disk.crash(9) })).toMatchObject({ currentTerm: 5, votedFor: 0 });
    expect(events.every((event) => !event.fatal)).toBe(true);
  });

  it('the interval retries an abandoned compaction on its own', async () => {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 1 });
    disk.failNext({ op: 'open', errno: 'EMFILE', path: /\.wal\.tmp$/ });
    const compacted = new Promise<void>((resolve) => {
      const unsubscribe = subscribeChannel(CHANNELS.compaction, (event) => {
        if (event.dir !== DIR || event.lastSeq < 1) return; // not the empty snapshot of a fresh directory
        unsubscribe();
        resolve();
      });
    });
    await manager.updateCurrentTerm(6);
    await compacted; // after the failed attempt: its retry
    expect(events).toMatchObject([{ fatal: false, stage: 'new-log', error: { code: 'EMFILE' } }]);
    // (The count of compactions depends on the timer: a fresh directory may get its first snapshot first.)
    expect(manager.stats()).toMatchObject({ compactionFailures: 1, lastCompactionError: undefined });
    await manager.updateVotedFor(1);
    await manager.close();
    expect(await Metadata.load(DIR, { fs: disk.crash(3) })).toMatchObject({ currentTerm: 6, votedFor: 1 });
  });

  it('a compaction abandoned while updates are in flight loses none of them', async () => {
    const { disk, manager } = await started();
    disk.failNext({ op: 'open', errno: 'ENOSPC', path: /json\.tmp$/ });
    const updates = [manager.updateCurrentTerm(2), manager.updateVotedFor(9)];
    const synced = manager.sync().catch((err: { code?: string }) => err.code);
    const more = [manager.updateCurrentTerm(3), manager.updateVotedFor(8)];
    await Promise.all([...updates, ...more]);
    expect(await synced).toBe('ENOSPC');
    await survivesCrashes(disk, { currentTerm: 3, votedFor: 8 });
    await manager.close();
  });
});

describe('a compaction that fails after it changed the directory stops the manager', () => {
  it.each(fatal)('$name: fail-stop', async ({ fault, stage }) => {
    const { disk, manager } = await started();
    disk.failNext(fault);
    await expect(manager.sync()).rejects.toMatchObject({
      code: 'ERR_MANAGER_FAILED',
      cause: { code: fault.errno },
    });
    expect(disk.trace.filter((entry) => entry.injected)).toHaveLength(1);
    expect(events).toMatchObject([{ dir: DIR, fatal: true, stage, error: { code: fault.errno } }]);
    expect(manager.stats().compactionFailures).toBe(0);
    await expect(manager.updateCurrentTerm(3)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    await expect(manager.sync()).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    expect(manager.get()).toMatchObject({ currentTerm: 1, votedFor: 2 });
    await survivesCrashes(disk, { currentTerm: 1, votedFor: 2 });
    await manager.close().catch(() => {});
  });

  it('a failed log write is still fail-stop, published as stage append', async () => {
    const { disk, manager } = await started();
    disk.failNext({ op: 'writeDurable', errno: 'EIO' });
    await expect(manager.updateCurrentTerm(3)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    expect(events).toMatchObject([{ fatal: true, stage: 'append', error: { code: 'EIO' } }]);
    await manager.close().catch(() => {});
  });
});
