import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MetadataManager, MetadataStore } from '../../../src/index.js';
import { SimulatedDisk } from '../../../src/testing/index.js';

/**
 * A manager or store that nobody references any more, never closed (a process a property test
 * "killed": a killed process closes nothing), is garbage: its own flush interval must not keep it,
 * and the simulated disk it holds, alive for the rest of the process (runConformance with real
 * timers ran into exactly that). The interval holds the compactor weakly and stops once it is gone.
 */

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function collectedAfterDrop(open: () => Promise<object>): Promise<boolean> {
  let collected = false;
  const registry = new FinalizationRegistry(() => {
    collected = true;
  });
  await (async () => registry.register(await open(), 'dropped'))();
  for (let i = 0; i < 100 && !collected; i++) {
    await sleep(5); // a few interval ticks, each a compaction attempt that finds nothing to do
    gc();
  }
  return collected;
}

describe('dropped without close()', () => {
  it('a MetadataManager with a flush interval is collected', async () => {
    const disk = new SimulatedDisk();
    const collected = await collectedAfterDrop(async () => {
      const manager = await MetadataManager.open('/m', { fs: disk, flushIntervalMs: 1 });
      await manager.updateCurrentTerm(3);
      return manager;
    });
    expect(collected).toBe(true);
  });

  it('a MetadataStore with a flush interval is collected', async () => {
    const disk = new SimulatedDisk();
    const collected = await collectedAfterDrop(async () => {
      const store = await MetadataStore.open('/s', { fs: disk, flushIntervalMs: 1 });
      await store.group(4).updateCurrentTerm(2);
      return store;
    });
    expect(collected).toBe(true);
  });
});
