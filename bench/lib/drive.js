import { performance } from 'node:perf_hooks';
import { LatencyRecorder } from './stats.js';

/**
 * Runs `writers` concurrent loops for `ms` milliseconds; each loop awaits `op()` and starts the
 * next one at once. Returns the number of acknowledged operations, the elapsed time (until the
 * last loop finished its last operation) and the latency of every operation.
 */
export async function driveAsync(writers, ms, op) {
  const latency = new LatencyRecorder();
  let ops = 0;
  const start = performance.now();
  const deadline = start + ms;
  const loop = async () => {
    let t = performance.now();
    while (t < deadline) {
      await op();
      const after = performance.now();
      latency.add((after - t) * 1000);
      ops++;
      t = after;
    }
  };
  await Promise.all(Array.from({ length: writers }, loop));
  return { ops, elapsedMs: performance.now() - start, latency };
}

/** The same for a synchronous operation: one loop that never yields to the event loop. */
export function driveSync(ms, op) {
  const latency = new LatencyRecorder();
  let ops = 0;
  const start = performance.now();
  const deadline = start + ms;
  let t = start;
  while (t < deadline) {
    op();
    const after = performance.now();
    latency.add((after - t) * 1000);
    ops++;
    t = after;
  }
  return { ops, elapsedMs: t - start, latency };
}

/** The same with a callback-style operation: `op(done)` calls `done(err)` when finished. */
export function driveCallback(ms, op) {
  return new Promise((resolve, reject) => {
    const latency = new LatencyRecorder();
    let ops = 0;
    const start = performance.now();
    const deadline = start + ms;
    let t = start;
    const step = () => {
      op((err) => {
        if (err) {
          reject(err);
          return;
        }
        const after = performance.now();
        latency.add((after - t) * 1000);
        ops++;
        t = after;
        if (t < deadline) step();
        else resolve({ ops, elapsedMs: t - start, latency });
      });
    };
    step();
  });
}
