/**
 * `Metadata.load` time and memory against the length of the log: logs of LOAD_SIZES records, each
 * loaded in a fresh process (sections/load-child.js: a restarting node, cold JIT), warm and, where
 * the kernel lets us drop a file's cached pages, cold.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rotate } from '../lib/rounds.js';
import { execFileAsync, sh } from '../lib/shell.js';
import { max, median, min } from '../lib/stats.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'load-child.js');

export const LOAD_SIZES = [1_000, 100_000, 1_000_000];

async function buildLog(dir, records) {
  const { encodeHeader, encodeRecordInto, RECORD_SIZE } = await import('../../dist/format/record.js');
  await fsp.mkdir(dir, { recursive: true });
  const path = join(dir, `log-${(1).toString(16).padStart(16, '0')}.wal`);
  const fd = fs.openSync(path, 'w');
  try {
    let position = 0;
    const header = encodeHeader(1);
    fs.writeSync(fd, header, 0, header.byteLength, position);
    position += header.byteLength;
    const perChunk = 32768;
    const chunk = new Uint8Array(perChunk * RECORD_SIZE);
    for (let seq = 1; seq <= records; ) {
      const count = Math.min(perChunk, records - seq + 1);
      for (let i = 0; i < count; i++, seq++) {
        // One term update per record, as a node that kept seeing new terms would write.
        encodeRecordInto(chunk, i * RECORD_SIZE, {
          kind: 1,
          batchIndex: 0,
          seq,
          currentTerm: seq,
          votedFor: 0,
        });
      }
      fs.writeSync(fd, chunk, 0, count * RECORD_SIZE, position);
      position += count * RECORD_SIZE;
    }
    // The zero-filled space the writer keeps ahead of the last record.
    const zeros = new Uint8Array(256 * 1024);
    fs.writeSync(fd, zeros, 0, zeros.byteLength, position);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return path;
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
