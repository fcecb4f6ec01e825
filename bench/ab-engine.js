// Side-by-side A/B of two builds of the library in one process: raft-metadata with 1 and 16
// writers against Node's writeSync+fdatasyncSync, rounds interleaved in a rotating order so that
// the disk's drift hits both builds alike. Usage: node bench/ab-engine.js <dist-A> <dist-B>
// (each a path to a built dist/index.js). Ratios are taken within a round; medians are printed.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MS = Number(process.env.BENCH_MS ?? 1500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const builds = await Promise.all(
  process.argv.slice(2).map(async (p) => ({ name: p, lib: await import(resolve(p)) })),
);
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ab-'));

function raw() {
  const path = join(root, `raw-${Math.random()}`);
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(48, 1);
  let n = 0;
  const end = performance.now() + MS;
  while (performance.now() < end) {
    writeSync(fd, buf, 0, 48, n * 48);
    fdatasyncSync(fd);
    n++;
  }
  closeSync(fd);
  return n / (MS / 1000);
}

async function library(lib, writers) {
  const dir = join(root, `lib-${Math.random()}`);
  const m = await lib.MetadataManager.open(dir, { flushIntervalMs: 0 });
  let term = 0;
  let done = 0;
  const end = performance.now() + MS;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < end) {
        await m.updateCurrentTerm(++term);
        done++;
      }
    }),
  );
  await m.close();
  return done / (MS / 1000);
}

const rows = builds.map(() => ({ one: [], sixteen: [] }));
for (let round = 0; round < ROUNDS; round++) {
  const order = builds.map((_, i) => i);
  for (let k = 0; k < round % builds.length; k++) order.push(order.shift());
  for (const i of order) {
    const base = raw();
    const one = await library(builds[i].lib, 1);
    const sixteen = await library(builds[i].lib, 16);
    rows[i].one.push(one / base);
    rows[i].sixteen.push(sixteen / one);
    console.log(
      `round ${round + 1} ${builds[i].name}: raw ${base.toFixed(0)}/s, 1 writer ${one.toFixed(0)}/s (${(one / base).toFixed(2)}x raw), 16 writers ${sixteen.toFixed(0)}/s (${(sixteen / one).toFixed(1)}x one)`,
    );
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [i, b] of builds.entries()) {
  console.log(
    `${b.name}: 1 writer vs writeSync+fdatasyncSync median ${median(rows[i].one).toFixed(2)}x; 16 writers vs 1 median ${median(rows[i].sixteen).toFixed(1)}x`,
  );
}
rmSync(root, { recursive: true, force: true });
