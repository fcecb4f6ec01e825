/**
 * What the I/O thread's handoff costs, without the disk and then split into its parts.
 *
 * 1. Round trip: a 48-byte (one record) durable write through the library's public `NodeFileSystem` handle
 *    (`writeDurable`: pwrite + fdatasync on its I/O thread) against `fs.writeSync` +
 *    `fs.fdatasyncSync` of the same bytes on the main thread, both on one file on a tmpfs, where
 *    fdatasync costs nothing: the difference is what one request/answer through the
 *    SharedArrayBuffer costs. Without a tmpfs, the run's directory is used (a real fdatasync on
 *    both sides: the difference is then blurred by the disk's noise; `tmpfs: false` in the results).
 * 2. Split: a replica of io-thread.ts's protocol (same Atomics.notify / Atomics.wait /
 *    Atomics.waitAsync calls, the worker writing through a descriptor it opened itself) that stamps
 *    CLOCK_MONOTONIC at each step, with pwrite + fdatasync on a preallocated file on the bench's
 *    disk: time to wake the worker, the syscalls, time to wake the main thread.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { NodeFileSystem } from '../../dist/index.js';
import { TMPFS_MAGIC } from '../lib/machine.js';
import { median } from '../lib/stats.js';

const RECORD = 48;
const AREA = 1 << 20;
const SHM = '/dev/shm';

/** A fresh directory on a tmpfs (/dev/shm), or undefined where there is none. */
async function tmpfsDir() {
  try {
    if (fs.statfsSync(SHM).type !== TMPFS_MAGIC) return undefined;
    return await fsp.mkdtemp(join(SHM, 'raft-metadata-bench-'));
  } catch {
    return undefined;
  }
}

async function roundTrip(runDir, ms) {
  const shm = await tmpfsDir();
  const path = join(shm ?? runDir, 'handoff');
  const nfs = new NodeFileSystem();
  const handle = await nfs.open(path, 'create');
  const fd = fs.openSync(path, 'r+');
  const data = new Uint8Array(RECORD).fill(1);
  const rates = { thread: [], sync: [] };
  try {
    await handle.writeDurable(data, 0); // start the thread and open its descriptor
    for (let round = 0; round < 4; round++) {
      for (const mode of round % 2 === 0 ? ['thread', 'sync'] : ['sync', 'thread']) {
        let ops = 0;
        let position = 0;
        const start = performance.now();
        const end = start + ms;
        while (performance.now() < end) {
          if (mode === 'thread') await handle.writeDurable(data, position);
          else {
            fs.writeSync(fd, data, 0, RECORD, position);
            fs.fdatasyncSync(fd);
          }
          position = (position + RECORD) % AREA;
          ops++;
        }
        rates[mode].push(((performance.now() - start) * 1000) / ops);
      }
    }
  } finally {
    fs.closeSync(fd);
    await handle.close();
    await nfs.dispose();
    if (shm !== undefined) await fsp.rm(shm, { recursive: true, force: true });
  }
  const threadUs = median(rates.thread);
  const syncUs = median(rates.sync);
  return { threadUs, syncUs, handoffUs: threadUs - syncUs, tmpfs: shm !== undefined };
}

const REPLICA = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
// Its own descriptor, as the library's worker opens one per handle.
const fd = fs.openSync(workerData.path, 'r+');
const ctrl = new Int32Array(workerData.shared, 0, 16);
const stamps = new BigInt64Array(workerData.shared, 64, 4);
const data = new Uint8Array(workerData.shared, 128, ${RECORD});
for (;;) {
  const s = Atomics.load(ctrl, 0);
  if (s === 3) break;
  if (s !== 1) { Atomics.wait(ctrl, 0, s); continue; }
  stamps[1] = process.hrtime.bigint();
  fs.writeSync(fd, data, 0, ${RECORD}, ctrl[3]);
  fs.fdatasyncSync(fd);
  stamps[2] = process.hrtime.bigint();
  Atomics.store(ctrl, 0, 2);
  Atomics.notify(ctrl, 0);
}
fs.closeSync(fd);
`;

async function split(dir, ms) {
  const path = join(dir, 'handoff-split');
  const fd = fs.openSync(path, 'w+');
  fs.writeSync(fd, new Uint8Array(AREA), 0, AREA, 0);
  fs.fsyncSync(fd);
  const shared = new SharedArrayBuffer(256);
  const ctrl = new Int32Array(shared, 0, 16);
  const stamps = new BigInt64Array(shared, 64, 4);
  // execArgv: [] so that the eval'ed CommonJS source runs whatever flags started this process.
  const worker = new Worker(REPLICA, { eval: true, workerData: { shared, path }, execArgv: [] });
  const wakeWorker = [];
  const io = [];
  const wakeMain = [];
  try {
    const end = performance.now() + ms;
    for (let i = 0; performance.now() < end; i++) {
      ctrl[3] = (i * RECORD) % AREA;
      const posted = process.hrtime.bigint();
      Atomics.store(ctrl, 0, 1);
      Atomics.notify(ctrl, 0);
      while (Atomics.load(ctrl, 0) === 1) {
        const wait = Atomics.waitAsync(ctrl, 0, 1);
        if (wait.async) await wait.value;
      }
      const resumed = process.hrtime.bigint();
      Atomics.store(ctrl, 0, 0);
      if (i < 20) continue; // warm-up
      wakeWorker.push(Number(stamps[1] - posted) / 1000);
      io.push(Number(stamps[2] - stamps[1]) / 1000);
      wakeMain.push(Number(resumed - stamps[2]) / 1000);
    }
  } finally {
    Atomics.store(ctrl, 0, 3);
    Atomics.notify(ctrl, 0);
    await worker.terminate();
    fs.closeSync(fd);
  }
  return {
    samples: io.length,
    wakeWorkerUs: median(wakeWorker),
    syscallsUs: median(io),
    wakeMainUs: median(wakeMain),
  };
}

/** Both measurements; `dir` is the run's directory on the measured disk. */
export async function measureHandoff(dir, ms) {
  return {
    roundTrip: await roundTrip(dir, Math.min(ms, 500)),
    split: await split(dir, Math.min(2 * ms, 2000)),
  };
}
