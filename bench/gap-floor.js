// What a pause between one writer's durable updates costs the disk by itself: Node's
// writeSync+fdatasyncSync loop (48 bytes in place, the floor of the one-writer target) with a
// busy-wait of 0, 50, 100 or 200 us before each update, interleaved in rounds so that the disk's
// drift hits every pause alike. An asynchronous path (the library's I/O thread, FileHandle,
// callbacks) leaves such a pause between one writer's updates: the handoff to another thread and
// back. If the updates/s fall by more than the pause itself, the device's latency grows with the
// idle time between requests (a virtual disk whose host side stops polling), and no handoff, however
// cheap, reaches the synchronous loop's rate here. Usage: node bench/gap-floor.js [rounds] [ms].
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './lib/stats.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const MS = Number(process.argv[3] ?? 1500);
const GAPS_US = [0, 50, 100, 200];
const root = mkdtempSync(
  join(resolve(process.env.BENCH_DIR ?? join(import.meta.dirname, '..', '.tmp')), 'gap-'),
);
const path = join(root, 'floor');
writeFileSync(path, Buffer.alloc(1 << 20));
const fd = openSync(path, 'r+');
const record = Buffer.alloc(48, 1);

function run(gapUs) {
  let busyMs = 0;
  let n = 0;
  const end = performance.now() + MS;
  while (performance.now() < end) {
    const until = performance.now() + gapUs / 1000;
    while (performance.now() < until) {}
    const t = performance.now();
    writeSync(fd, record, 0, 48, (n * 48) % (1 << 20));
    fdatasyncSync(fd);
    busyMs += performance.now() - t;
    n++;
  }
  return { rate: n / (MS / 1000), meanUs: (busyMs / n) * 1000 };
}

const rows = GAPS_US.map(() => ({ ratio: [], mean: [] }));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = GAPS_US.map((_, i) => i);
    for (let k = 0; k < round % GAPS_US.length; k++) order.push(order.shift());
    const results = new Map(order.map((i) => [i, run(GAPS_US[i])]));
    const base = results.get(0).rate;
    for (const [i, r] of results) {
      rows[i].ratio.push(r.rate / base);
      rows[i].mean.push(r.meanUs);
    }
  }
} finally {
  closeSync(fd);
  rmSync(root, { recursive: true, force: true });
}
console.log(
  'pause before each update | updates/s vs no pause | if only the pause cost | mean pwrite+fdatasync',
);
GAPS_US.forEach((gap, i) => {
  const mean0 = median(rows[0].mean);
  const expected = mean0 / (mean0 + gap);
  console.log(
    `${`${gap} us`.padStart(24)} | ${median(rows[i].ratio).toFixed(2).padStart(20)}x | ${expected.toFixed(2).padStart(21)}x | ${median(rows[i].mean).toFixed(0).padStart(18)} us`,
  );
});
console.log(`(medians over ${ROUNDS} rounds of ${MS} ms, ratios within a round)`);
