/**
 * `Metadata.load` time and memory against the length of the log: logs of LOAD_SIZES records, each
 * loaded in a fresh process (sections/load-child.js: a restarting node, cold JIT), warm and, where
 * the kernel lets us drop a file's cached pages, cold.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetadataManager } from '../../dist/index.js';
import { rotate } from '../lib/rounds.js';
import { execFileAsync, sh } from '../lib/shell.js';
import { max, median, min } from '../lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'load-child.js');
/** The package's command-line tool (its `bin`). */
const CLI = join(HERE, '..', '..', 'dist', 'cli.js');

export const LOAD_SIZES = [1_000, 100_000, 1_000_000];

/**
 * Updates issued together per batch: the manager writes each batch with one write and one fdatasync
 * (32 Ki records of 48 bytes = 1.5 MiB, split by the I/O thread's 1 MiB limit per request).
 */
const BUILD_BATCH = 32_768;

/**
 * A log of `records` term updates written through the public API, as a node that kept seeing new
 * terms would write it: compaction off (`flushIntervalMs: 0`), so every record stays in the first
 * log. Returns the log's path, after checking with the CLI (`inspect --json`, which reads the
 * directory on its own) that it holds exactly `records` records and nothing else does (the snapshot
 * that the first open writes covers no record).
 */
async function buildLog(dir, records) {
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  try {
    let term = 0;
    while (term < records) {
      const count = Math.min(BUILD_BATCH, records - term);
      await Promise.all(Array.from({ length: count }, () => manager.updateCurrentTerm(++term)));
    }
  } finally {
    await manager.close();
  }
  const { stdout } = await execFileAsync(process.execPath, [CLI, '--json', 'inspect', dir], {
    maxBuffer: 1 << 20,
  });
  const inspected = JSON.parse(stdout);
  const [log] = inspected.logs;
  if (
    inspected.verdict !== 'clean' ||
    // Format v2: the open writes a first snapshot, covering nothing (lastSeq 0), before any record.
    (inspected.snapshot !== null && inspected.snapshot.lastSeq !== 0) ||
    inspected.logs.length !== 1 ||
    log.recordCount !== records ||
    inspected.state.currentTerm !== records
  ) {
    throw new Error(`the log built in ${dir} is not ${records} records in one clean log: ${stdout}`);
  }
  return join(dir, log.name);
}

/** Asks the kernel to drop the file's cached pages (GNU dd's documented `nocache` idiom). */
function dropCache(path) {
  return sh('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']) !== undefined;
}

function cachedPages(path) {
  const out = sh('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]);
  return out === undefined ? undefined : Number(out);
}

export async function measureLoad(runDir, rounds) {
  const logs = [];
  for (const records of LOAD_SIZES) {
    const dir = join(runDir, `load-${records}`);
    const path = await buildLog(dir, records);
    logs.push({ records, dir, path, fileBytes: fs.statSync(path).size, warm: [], cold: [], coldCached: [] });
  }
  const canDrop = dropCache(logs[0].path);
  for (let round = 0; round < rounds; round++) {
    for (const entry of rotate(logs, round)) {
      for (const mode of canDrop ? ['warm', 'cold'] : ['warm']) {
        if (mode === 'cold') {
          dropCache(entry.path);
          entry.coldCached.push(cachedPages(entry.path));
        } else {
          fs.readFileSync(entry.path); // make sure it is in the page cache
        }
        const { stdout } = await execFileAsync(process.execPath, [
          '--expose-gc',
          CHILD,
          entry.dir,
          String(entry.records),
        ]);
        entry[mode].push(JSON.parse(stdout));
      }
    }
  }
  return logs.map((entry) => {
    const sum = (samples) =>
      samples.length === 0
        ? undefined
        : {
            medianMs: median(samples.map((s) => s.ms)),
            minMs: min(samples.map((s) => s.ms)),
            maxMs: max(samples.map((s) => s.ms)),
            peakRssDelta: max(samples.map((s) => s.peakRssDelta)),
            rssDelta: median(samples.map((s) => s.rssAfter - s.rssBefore)),
            heapUsedDelta: median(samples.map((s) => s.heapUsedDelta)),
            samples,
          };
    return {
      records: entry.records,
      fileBytes: entry.fileBytes,
      warm: sum(entry.warm),
      cold: sum(entry.cold),
      coldCachedBytes: max(entry.coldCached),
    };
  });
}
