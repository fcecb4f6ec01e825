import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ioThreadCounts, settleIoThreads } from '../../../src/fs/io-thread.js';
import { Metadata, MetadataManager, NodeFileSystem } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

/** OS threads of this process (Linux), or undefined elsewhere. */
function osThreads(): number | undefined {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return undefined;
  }
}

/** I/O threads running once every stop already decided has finished. */
async function runningAfterSettle(): Promise<number> {
  await settleIoThreads();
  return ioThreadCounts().running;
}

describe('I/O thread lifetime', () => {
  it('200 managers, each on its own new NodeFileSystem(): no I/O thread is left once they close', async () => {
    const root = tempDir();
    // Warm up what the process keeps for itself (libuv's pool, a first worker) before counting.
    const warm = await MetadataManager.open(join(root, 'warm'), { fs: new NodeFileSystem() });
    await warm.updateCurrentTerm(1);
    await warm.close();
    expect(await runningAfterSettle()).toBe(0);
    const threadsBefore = osThreads();
    const startedBefore = ioThreadCounts().started;

    const BATCH = 20;
    for (let batch = 0; batch < 200 / BATCH; batch++) {
      const managers = await Promise.all(
        Array.from({ length: BATCH }, (_, i) =>
          MetadataManager.open(join(root, `n-${batch}-${i}`), {
            fs: new NodeFileSystem(),
            flushIntervalMs: 0,
          }),
        ),
      );
      await Promise.all(
        managers.map((m, i) => Promise.all([m.updateCurrentTerm(i + 1), m.updateVotedFor(1)])),
      );
      // While they are open, each file system has its thread: the diagnostic sees real threads.
      expect(ioThreadCounts().running).toBe(BATCH);
      await Promise.all(managers.map((m) => m.close()));
      expect(await runningAfterSettle()).toBe(0);
    }

    // One thread per file system, started once each (a compaction or the log's .tmp step does not
    // restart it), and every one of them exited.
    expect(ioThreadCounts().started - startedBefore).toBe(200);
    const threadsAfter = osThreads();
    if (threadsBefore !== undefined && threadsAfter !== undefined) {
      // 200 leaked workers would be 200 more OS threads; allow libuv's pool to have grown a little.
      expect(threadsAfter - threadsBefore).toBeLessThan(8);
    }
    // 200 worker starts: about 25 ms each on a quiet machine, far more on a loaded one.
  }, 300_000);

  it('the shared default file system: one thread for all its managers, stopped when the last closes', async () => {
    const root = tempDir();
    expect(await runningAfterSettle()).toBe(0);
    const startedBefore = ioThreadCounts().started;
    const managers = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => MetadataManager.open(join(root, `d${i}`), { flushIntervalMs: 0 })),
    );
    await Promise.all(managers.map((m) => m.updateCurrentTerm(3)));
    expect(ioThreadCounts().running).toBe(1);
    await Promise.all(managers.slice(1).map((m) => m.close()));
    expect(await runningAfterSettle()).toBe(1); // the first manager still has its log open
    await managers[0]?.updateVotedFor(2);
    await managers[0]?.close();
    expect(await runningAfterSettle()).toBe(0);
    expect(ioThreadCounts().started - startedBefore).toBe(1);

    // Started again on demand, by the next manager's first durable write.
    const again = await MetadataManager.open(join(root, 'd1'));
    await again.updateCurrentTerm(4);
    expect(ioThreadCounts().running).toBe(1);
    await again.close();
    expect(await runningAfterSettle()).toBe(0);
    expect((await Metadata.load(join(root, 'd1'))).currentTerm).toBe(4);
  });

  it('compactions and log rotations keep the one thread the manager started', async () => {
    const dir = tempDir();
    const fs = new NodeFileSystem();
    const startedBefore = ioThreadCounts().started;
    const manager = await MetadataManager.open(dir, { fs, flushIntervalMs: 0 });
    for (let term = 1; term <= 5; term++) {
      await manager.updateCurrentTerm(term);
      await manager.sync(); // a new log each time: the old log closes after the new one opens
    }
    await manager.close();
    expect(ioThreadCounts().started - startedBefore).toBe(1);
    expect(await runningAfterSettle()).toBe(0);
  });

  it('dispose() stops the thread at once, even with handles open', async () => {
    const fs = new NodeFileSystem();
    const handle = await fs.open(join(tempDir(), 'f'), 'create');
    await handle.writeDurable(Uint8Array.from([1]), 0);
    expect(ioThreadCounts().running).toBe(1);
    await fs.dispose();
    expect(ioThreadCounts().running).toBe(0);
    await handle.close();
    expect(await runningAfterSettle()).toBe(0);
  });

  it('reads alone never start a thread', async () => {
    const dir = tempDir();
    const writer = await MetadataManager.open(dir, { fs: new NodeFileSystem() });
    await writer.updateCurrentTerm(2);
    await writer.close();
    expect(await runningAfterSettle()).toBe(0);
    const startedBefore = ioThreadCounts().started;
    const fs = new NodeFileSystem();
    expect((await Metadata.load(dir, { fs })).currentTerm).toBe(2);
    expect(ioThreadCounts().started).toBe(startedBefore);
  });
});
