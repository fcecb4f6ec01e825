/** The group-commit ablation: a minimal batcher on the I/O thread, outside the library. */
import { join } from 'node:path';
import { NodeFileSystem } from '../../dist/index.js';
import { driveAsync } from '../lib/drive.js';
import { PREALLOCATE, preallocateHandle, RECORD } from './common.js';

/**
 * Ablation of the group-commit policy, outside the library: the same I/O thread and in-place log,
 * a minimal batcher that either flushes at once when idle (`immediate`) or waits one event-loop turn
 * (`setImmediate`, what the manager does).
 */
class MiniGroupCommit {
  #handle;
  #policy;
  #position = 0;
  #pending = [];
  #inflight = false;
  #scheduled = false;
  writes = 0;

  constructor(handle, policy) {
    this.#handle = handle;
    this.#policy = policy;
  }

  submit() {
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#schedule();
    });
  }

  #schedule() {
    if (this.#inflight || this.#scheduled || this.#pending.length === 0) return;
    if (this.#policy === 'immediate') {
      void this.#flush();
      return;
    }
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush() {
    if (this.#inflight || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#inflight = true;
    const bytes = new Uint8Array(batch.length * RECORD).fill(0xab);
    if (this.#position + bytes.byteLength > PREALLOCATE) this.#position = 0;
    try {
      await this.#handle.writeDurable(bytes, this.#position);
    } catch (err) {
      for (const waiter of batch) waiter.reject(err);
      return;
    }
    this.#position += bytes.byteLength;
    this.writes++;
    this.#inflight = false;
    for (const waiter of batch) waiter.resolve();
    this.#schedule();
  }
}

export function groupCommitAblation(policy, writers) {
  return {
    id: `gc-${policy.toLowerCase()}-${writers}`,
    label: `group commit model, ${writers} writer${writers === 1 ? '' : 's'}, flush ${policy === 'immediate' ? 'at once' : 'after setImmediate'}`,
    group: 'ablation',
    writers,
    blocksLoop: false,
    async setup(dir) {
      const nfs = new NodeFileSystem();
      const handle = await nfs.open(join(dir, 'data'), 'create');
      await preallocateHandle(handle);
      await handle.writeDurable(new Uint8Array(RECORD), 0);
      return { nfs, handle };
    },
    async run(state, ms) {
      const batcher = new MiniGroupCommit(state.handle, policy);
      const result = await driveAsync(writers, ms, () => batcher.submit());
      return { ...result, batch: batcher.writes > 0 ? result.ops / batcher.writes : undefined };
    },
    async teardown(state) {
      await state.handle.close();
      await state.nfs.dispose();
    },
  };
}
