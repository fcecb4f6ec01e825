/**
 * Times one `Metadata.load` in a fresh process (a restarting node: cold JIT) and reports memory.
 *   node --expose-gc bench/sections/load-child.js <dir> <expected currentTerm>
 * Prints one JSON line. Run by bench/sections/load.js.
 */
import { performance } from 'node:perf_hooks';
import { Metadata } from '../../dist/index.js';

const [dir, expected] = process.argv.slice(2);
globalThis.gc?.();
const before = process.memoryUsage();
const maxRssBefore = process.resourceUsage().maxRSS * 1024;
const start = performance.now();
const metadata = await Metadata.load(dir);
const ms = performance.now() - start;
const after = process.memoryUsage();
const maxRssAfter = process.resourceUsage().maxRSS * 1024;
if (String(metadata.currentTerm) !== expected) {
  console.error(`loaded currentTerm ${metadata.currentTerm}, expected ${expected}`);
  process.exit(1);
}
console.log(
  JSON.stringify({
    ms,
    currentTerm: metadata.currentTerm,
    rssBefore: before.rss,
    rssAfter: after.rss,
    peakRssDelta: maxRssAfter - maxRssBefore,
    heapUsedDelta: after.heapUsed - before.heapUsed,
    externalDelta: after.external - before.external,
  }),
);
