// The example of docs/testing.md, verbatim except for the import paths (the package imports
// itself as 'raft-metadata' only once built and installed) and the formatting. No fake timers: a
// crash of the simulated disk releases the directory's lock, so nothing waits on the clock.
// test/package/fresh-project.test.ts runs the doc's own text in a freshly installed project.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { MetadataManager } from '../../src/index.js';
import { crashScheduleArbitrary, SimulatedDisk } from '../../src/testing/index.js';

/** The code under test: a Raft node's RequestVote handler, on top of raft-metadata. */
async function handleRequestVote(
  manager: MetadataManager,
  term: number,
  candidate: number,
): Promise<boolean> {
  if (term < manager.get().currentTerm) return false;
  if (term > manager.get().currentTerm) await manager.updateCurrentTerm(term);
  const { votedFor } = manager.get();
  if (votedFor !== 0 && votedFor !== candidate) return false;
  await manager.updateVotedFor(candidate); // resolves once the vote is on stable storage
  return true; // only now may the reply leave the node
}

const request = fc.record({
  term: fc.integer({ min: 1, max: 4 }),
  candidate: fc.integer({ min: 1, max: 3 }),
});

it('never grants two candidates a vote in the same term, even across a power cut', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(request, { minLength: 1, maxLength: 12 }),
      fc.array(request, { maxLength: 12 }),
      crashScheduleArbitrary({ maxOps: 30 }),
      async (before, after, crash) => {
        const granted = new Map<number, number>(); // term -> candidate, as the cluster saw it
        const grant = (term: number, candidate: number): void => {
          expect(granted.get(term) ?? candidate, `second vote in term ${term}`).toBe(candidate);
          granted.set(term, candidate);
        };

        const disk = new SimulatedDisk();
        const manager = await MetadataManager.open('/raft', { fs: disk, flushIntervalMs: 0 });
        // The machine loses power after `crash.afterOps` more file-system operations.
        const rebooted = disk.scheduleCrash(crash);
        for (const { term, candidate } of before) {
          const ok = await handleRequestVote(manager, term, candidate).catch(() => false);
          if (ok) grant(term, candidate);
        }
        if (!disk.crashed) disk.crash(crash.seed); // crash now if the workload ended first
        await manager.close().catch(() => {}); // the old manager only sees EIO now

        // Reboot: the same node, on what survived.
        const restarted = await MetadataManager.open('/raft', { fs: await rebooted, flushIntervalMs: 0 });
        for (const { term, candidate } of [...before, ...after]) {
          if (await handleRequestVote(restarted, term, candidate)) grant(term, candidate);
        }
        await restarted.close();
      },
    ),
  );
}, 30_000); // 100 runs take about a second, more than vitest's 5 s default on a busy CI machine
