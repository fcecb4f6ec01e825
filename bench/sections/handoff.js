/**
 * What the I/O thread's handoff costs, without the disk and then split into its parts.
 *
 * 1. Round trip: the library's own IoThread (dist/fs/io-thread.js) doing a 32-byte pwrite with no
 *    fdatasync (page cache only), against `fs.writeSync` of the same bytes on the main thread. The
 *    difference is what one request/answer through the SharedArrayBuffer costs.
 * 2. Split: a replica of io-thread.ts's protocol (same Atomics.notify / Atomics.wait /
 *    Atomics.waitAsync calls) that stamps CLOCK_MONOTONIC at each step, with pwrite + fdatasync on a
 *    preallocated file: time to wake the worker, the syscalls, time to wake the main thread.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { IoThread } from '../../dist/fs/io-thread.js';
import { median } from '../lib/stats.js';

const RECORD = 32;
const AREA = 1 << 20;

async function roundTrip(dir, ms) {
  const path = join(dir, 'handoff');
  const fd = fs.openSync(path, 'w+');
  const io = new IoThread();
  const data = new Uint8Array(RECORD).fill(1);
  const rates = { thread: [], sync: [] };
  try {
    await io.write(fd, data, 0, path); // start the thread
    for (let round = 0; round < 4; round++) {
      for (const mode of round % 2 === 0 ? ['thread', 'sync'] : ['sync', 'thread']) {
        let ops = 0;
        let position = 0;
        const start = performance.now();
        const end = start + ms;
        while (performance.now() < end) {
          if (mode === 'thread') await io.write(fd, data, position, path);
          else fs.writeSync(fd, data, 0, RECORD, position);
          position = (position + RECORD) % AREA;
          ops++;
        }
        rates[mode].push(((performance.now() - start) * 1000) / ops);
      }
    }
  } finally {
    await io.stop();
    fs.closeSync(fd);
  }
  const threadUs = median(rates.thread);
  const syncUs = median(rates.sync);
  return { threadUs, syncUs, handoffUs: threadUs - syncUs };
}

const REPLICA = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctrl = new Int32Array(workerData, 0, 16);
const stamps = new BigInt64Array(workerData, 64, 4);
const data = new Uint8Array(workerData, 128, ${RECORD});
for (;;) {
  const s = Atomics.load(ctrl, 0);
  if (s === 3) break;
  if (s !== 1) { Atomics.wait(ctrl, 0, s); continue; }
  stamps[1] = process.hrtime.bigint();
  fs.writeSync(ctrl[2], data, 0, ${RECORD}, ctrl[3]);
  fs.fdatasyncSync(ctrl[2]);
  stamps[2] = process.hrtime.bigint();
  Atomics.store(ctrl, 0, 2);
  Atomics.notify(ctrl, 0);
}
`;

async function split(dir, ms) {
  const fd = fs.openSync(join(dir, 'handoff-split'), 'w+');
  fs.writeSync(fd, new Uint8Array(AREA), 0, AREA, 0);
  fs.fsyncSync(fd);
  const shared = new SharedArrayBuffer(256);
  const ctrl = new Int32Array(shared, 0, 16);
  const stamps = new BigInt64Array(shared, 64, 4);
  // execArgv: [] so that the eval'ed CommonJS source runs whatever flags started this process.
  const worker = new Worker(REPLICA, { eval: true, workerData: shared, execArgv: [] });
  const wakeWorker = [];
  const io = [];
  const wakeMain = [];
  try {
    const end = performance.now() + ms;
    for (let i = 0; performance.now() < end; i++) {
      ctrl[2] = fd;
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

export async function measureHandoff(dir, ms) {
  return {
    roundTrip: await roundTrip(dir, Math.min(ms, 500)),
    split: await split(dir, Math.min(2 * ms, 2000)),
  };
}
