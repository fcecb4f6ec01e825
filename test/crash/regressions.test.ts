import { describe, expect, it } from 'vitest';
import { type FileSystem, Metadata, MetadataManager } from '../../src/index.js';
import { dropAllPlan, SimulatedDisk } from '../../src/testing/index.js';

/**
 * Bugs the property tests found, each as the smallest reproduction fast-check shrank it to.
 * Every test here failed when it was written.
 */

const DIR = '/var/lib/raft/node-1';

describe('regressions found by the model-based tests', () => {
  // Found by runConformance with the SIGKILL command (no injected fault needed): seed 1841242214,
  // path "146:3:3:3:2:3": [Kill(after 1 ops, during=[vote]), Close].
  // The process dies between the write of a vote record and its fdatasync. The record is in the
  // page cache; the restarted process reads it, open() reports the vote, and updateVotedFor() of the
  // same candidate resolves at once (nothing to write). Nobody ever fsyncs that record: a power cut
  // in the next seconds takes the vote away, and the node can then vote for someone else in the
  // same term after having granted this vote twice.
  it('a vote left in the page cache by a killed process, then confirmed after a restart, survives a power cut', async () => {
    const disk = new SimulatedDisk();
    const killedProcess = disk.process();
    const first = await MetadataManager.open(DIR, { fs: killedProcess, flushIntervalMs: 0 });
    const killed = disk.scheduleKill(killedProcess, 1); // the record's write lands, its fdatasync never runs
    await expect(first.updateVotedFor(1)).rejects.toBeDefined();
    await killed;

    const second = await MetadataManager.open(DIR, { fs: disk.process(), flushIntervalMs: 0 });
    expect(second.get().votedFor).toBe(1);
    await second.updateVotedFor(1); // "durable": resolves, so the node grants candidate 1 its vote
    await second.close();

    const rebooted = disk.crashWith(dropAllPlan(disk.pending()));
    const after = await Metadata.load(DIR, { fs: rebooted });
    expect(after.votedFor).toBe(1);
  });

  // Found by "keeps every promise (failed fsyncs leave data in limbo)": seed -1619054454,
  // path "126:5:3:3:3:3": [Fault(writeDurable EIO #1), Update(updateVotedFor(1)), Reopen].
  // After a failed fdatasync Linux marks the pages clean: reads (the page cache) show the record,
  // no later fsync writes it, and a power cut may lose it. A restart without a reboot then reads
  // the vote back, open() reports it, the node acts on it, and a power cut takes it away.
  it('a vote that open() reports after a failed fdatasync is still there after a power cut', async () => {
    const disk = new SimulatedDisk({ failedSync: 'limbo' });
    const first = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    disk.failNext({ op: 'writeDurable', errno: 'EIO' });
    await expect(first.updateVotedFor(1)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    await first.close();

    const second = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    const reported = second.get();
    await second.close();

    const rebooted = disk.crashWith(dropAllPlan(disk.pending()));
    const after = await Metadata.load(DIR, { fs: rebooted });
    // Whatever open() reported, the node may have acted on (granted candidate 1 its vote); losing
    // it lets the node vote for someone else in the same term.
    expect({ currentTerm: after.currentTerm, votedFor: after.votedFor }).toEqual({
      currentTerm: reported.currentTerm,
      votedFor: reported.votedFor,
    });
  });

  // Same root cause, worse outcome: updates acknowledged after the restart are appended behind
  // the record in limbo; when the power cut loses that record, the log has a hole of zeros
  // followed by valid records, and the directory no longer loads at all.
  it('updates acknowledged after a restart that followed a failed fdatasync survive a power cut', async () => {
    const disk = new SimulatedDisk({ failedSync: 'limbo' });
    const first = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await first.updateCurrentTerm(1);
    disk.failNext({ op: 'writeDurable', errno: 'EIO' });
    await expect(first.updateVotedFor(1)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    await first.close();

    const second = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await second.updateCurrentTerm(5);
    await second.close();

    const rebooted = disk.crashWith(dropAllPlan(disk.pending()));
    const after = await Metadata.load(DIR, { fs: rebooted });
    expect(after.currentTerm).toBe(5);
  });

  // Found by runConformance (seed 353940216, path "713:15:14:14:14:17:15:15:15:16:18:16:16:19:18:19:19:19:19:19:19"):
  // [Fault(syncDir EIO #4), Update(vote), Fault(writeDurable EIO #2, short 1 B), Kill(...), Kill(...),
  // Update(term)]. Here with a SIGKILL in place of the failed syncDir.
  // A short write (ENOSPC) tears the first record of a log. The next process finds the torn tail and
  // replaces the log by a fresh one of the same name (write, fdatasync, rename), and is killed before
  // its syncDir: the rename is only in the page cache. The process after that finds a clean log
  // under that name, appends to it and acknowledges, without ever fsyncing the directory. A power
  // cut forgets the rename: the name points to the torn log again and the acknowledged update is gone.
  it('an update acknowledged on a log whose name was never made durable survives a power cut', async () => {
    const open = (fs: FileSystem): Promise<MetadataManager> =>
      MetadataManager.open(DIR, { fs, flushIntervalMs: 0 });
    const disk = new SimulatedDisk();
    const first = disk.process();
    const m1 = await open(first);
    await m1.updateVotedFor(1);
    await m1.sync(); // the next record is the first of a new log
    disk.failNext({ op: 'writeDurable', errno: 'ENOSPC', bytesWritten: 1 });
    await expect(m1.updateCurrentTerm(1)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    first.kill();

    // Find the restart's rename of the replacement log on a copy, then kill the real restart there.
    const rehearsal = disk.stateAt(disk.trace.length);
    await (await open(rehearsal.process())).close();
    const rename = rehearsal.trace.findIndex((e) => e.op === 'rename');
    expect(rehearsal.trace[rename + 1]?.op).toBe('syncDir');
    const second = disk.process();
    const killed = disk.scheduleKill(second, rename + 1);
    await expect(open(second)).rejects.toBeDefined();
    await killed;

    const third = await open(disk.process());
    await third.updateCurrentTerm(1); // acknowledged
    const rebooted = disk.crashWith(dropAllPlan(disk.pending()));
    expect((await Metadata.load(DIR, { fs: rebooted })).currentTerm).toBe(1);
  });

  // Found by "keeps every promise (failed fsyncs leave data dirty)" after 16,649 runs (seed
  // 524680194, path "16648:9:8:9"): [Fault(write EIO #2, short 1 B), Kill(after 3 ops), Reopen].
  // The write of the pid into a new LOCK file fails after its first byte. open() fails (fine) but
  // leaves that LOCK behind, and every later open reads the one digit as a pid: pid 1 (init) or a
  // low pid of a system process is alive, so the directory stays locked until an operator deletes
  // the file. Here the disk is healthy again after one failed write.
  const firstDigit = Number(String(process.pid)[0]);
  const firstDigitAlive = ((): boolean => {
    try {
      process.kill(firstDigit, 0);
      return true;
    } catch (err) {
      return (err as { code?: string }).code === 'EPERM';
    }
  })();
  it.skipIf(!firstDigitAlive)(
    `a LOCK left with a truncated pid (here ${firstDigit}, a live process) does not lock the directory forever`,
    async () => {
      const disk = new SimulatedDisk();
      disk.failNext({ op: 'write', errno: 'EIO', path: /LOCK$/, bytesWritten: 1 });
      await expect(
        MetadataManager.open(DIR, { fs: disk.process(), flushIntervalMs: 0 }),
      ).rejects.toMatchObject({
        code: 'EIO',
      });
      const manager = await MetadataManager.open(DIR, { fs: disk.process(), flushIntervalMs: 0 });
      await manager.updateCurrentTerm(1);
      await manager.close();
    },
  );

  // Found by "keeps every promise (failed fsyncs leave data dirty)" (seed -1667681271, path "2184"):
  // [Update(vote), IntervalFlush, Load, Update(vote), Load]. Metadata.load (and so the CLI's
  // inspect and verify on a running node) lists the directory, then opens each log; a compaction
  // in between deletes a log it listed, and load fails with ENOENT instead of reading the state.
  it('Metadata.load during a compaction reads the state instead of failing with ENOENT', async () => {
    let armed = false;
    let paused = false;
    let resume: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const disk = new SimulatedDisk({
      // Pause load's open of the first log, the one the compaction deletes.
      beforeOp: (op, path) => {
        if (!armed || paused || op !== 'open' || !path.endsWith('log-0000000000000001.wal')) return;
        paused = true;
        return gate;
      },
    });
    const manager = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await manager.updateVotedFor(1);
    armed = true;
    const loading = Metadata.load(DIR, { fs: disk });
    while (!paused) await new Promise((resolve) => setImmediate(resolve));
    await manager.sync(); // compaction: new log, snapshot, the first log unlinked
    resume();
    await expect(loading).resolves.toMatchObject({ currentTerm: 0, votedFor: 1 });
    await manager.close();
  });
});
