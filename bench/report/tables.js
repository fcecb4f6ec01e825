/**
 * The report's tables, one function per table: each takes the measurements it shows and returns a
 * section { title, columns, rows, note? }, or undefined when those measurements are missing (a
 * BENCH_ONLY run, an older results file).
 */
import { ratio } from '../lib/rounds.js';
import { formatBytes, formatMicros, formatMs, formatRate, formatRatio, max } from '../lib/stats.js';
import { WRITER_COUNTS } from '../variants/ids.js';

/** The peers the one-writer table compares every variant with, and their column names. */
const PEERS = [
  { id: 'sqlite', short: 'sqlite' },
  { id: 'level', short: 'level' },
  { id: 'json-fsync', short: 'json' },
  { id: 'write-file-atomic', short: 'wfa' },
];

const us = formatMicros;
const lag = (v) =>
  v.blocksLoop === undefined
    ? 'n/a'
    : v.summary.loopLagMaxMs === undefined
      ? '-'
      : formatMs(v.summary.loopLagMaxMs);
const spread = (s) => (s.min === undefined ? '-' : `${formatRate(s.min)}-${formatRate(s.max)}`);

/** One writer: floors, peers, raft-metadata. */
export function oneWriterTable({ variants, byId, floor, recordBytes }) {
  const peers = PEERS.filter((p) => byId.has(p.id));
  const singles = variants.filter((v) => v.writers === 1 && ['floor', 'peer', 'raft'].includes(v.group));
  if (singles.length > 0) {
    return {
      title: `One writer: durable ${recordBytes}-byte updates (floors, peers, raft-metadata)`,
      columns: [
        { title: 'variant', align: 'left' },
        { title: 'updates/s' },
        { title: 'min-max' },
        { title: 'p50' },
        { title: 'p99' },
        { title: 'loop lag max' },
        { title: 'x floor' },
        ...peers.map((p) => ({ title: `x ${p.short}` })),
      ],
      rows: singles.map((v) => [
        v.label,
        formatRate(v.summary.median),
        spread(v.summary),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
        lag(v),
        formatRatio(ratio(v, floor)),
        ...peers.map((p) => formatRatio(ratio(v, byId.get(p.id)))),
      ]),
    };
  }
}

/** raft-metadata against the number of concurrent writers. */
export function writersTable({ byId, floor, one }) {
  const sweep = WRITER_COUNTS.map((n) => byId.get(`raft-${n}`)).filter(Boolean);
  if (sweep.length > 0) {
    return {
      title: 'raft-metadata: concurrent writers (each awaits its own updateCurrentTerm)',
      columns: [
        { title: 'writers' },
        { title: 'updates/s' },
        { title: 'min-max' },
        { title: 'x 1 writer' },
        { title: 'x floor' },
        { title: 'updates/fdatasync' },
        { title: 'p50' },
        { title: 'p99' },
        { title: 'loop lag max' },
      ],
      rows: sweep.map((v) => [
        String(v.writers),
        formatRate(v.summary.median),
        spread(v.summary),
        formatRatio(ratio(v, one)),
        formatRatio(ratio(v, floor)),
        v.summary.batch === undefined ? '-' : v.summary.batch.toFixed(1),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
        lag(v),
      ]),
    };
  }
}

/** Update latency with compaction off, every 1 s, and sync() back to back. */
export function compactionTable({ variants }) {
  const compaction = variants.filter((v) => v.group === 'compaction' || ['raft-1', 'raft-16'].includes(v.id));
  if (variants.some((v) => v.group === 'compaction')) {
    compaction.sort((a, b) => a.writers - b.writers);
    return {
      title: 'Compaction: update latency with compaction off, every 1 s (default), and sync() back to back',
      columns: [
        { title: 'variant', align: 'left' },
        { title: 'updates/s' },
        { title: 'p50' },
        { title: 'p99' },
        { title: 'max' },
        { title: 'compactions/run' },
        { title: 'sync() p50' },
        { title: 'sync() p99' },
      ],
      rows: compaction.map((v) => [
        v.group === 'compaction' ? v.label : `${v.label}, compaction every 1 s`,
        formatRate(v.summary.median),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
        us(v.summary.maxUs),
        v.summary.compactionsPerRun === undefined ? '-' : String(v.summary.compactionsPerRun),
        us(v.summary.syncP50Us),
        us(v.summary.syncP99Us),
      ]),
    };
  }
}

/** What one sync() (a compaction) costs on an idle manager. */
export function syncCostTable(syncCost) {
  if (syncCost !== undefined) {
    return {
      title: `sync() on an idle manager after ${syncCost.tailRecords} updates (${syncCost.samples} samples)`,
      columns: [
        { title: 'p50' },
        { title: 'p99' },
        { title: 'max' },
        { title: 'durable calls per sync()', align: 'left' },
      ],
      rows: [
        [
          us(syncCost.p50Us),
          us(syncCost.p99Us),
          us(syncCost.maxUs),
          `${syncCost.durableCallsPerSync} (${Object.entries(syncCost.callsPerSync ?? {})
            .filter(
              ([k, n]) =>
                n > 0 &&
                !['durable', 'write', 'writeDurableTemp', 'bytesWritten', 'bytesWrittenTemp'].includes(k),
            )
            .map(([k, n]) => `${n} ${k}`)
            .join(', ')})`,
        ],
      ],
    };
  }
}

/** The group-commit ablation, next to the manager with 1 and 16 writers. */
export function ablationTable({ variants, byId }) {
  const ablation = variants.filter((v) => v.group === 'ablation');
  if (ablation.length > 0) {
    const rows = [...ablation, ...['raft-1', 'raft-16'].map((id) => byId.get(id)).filter(Boolean)];
    rows.sort((a, b) => a.writers - b.writers);
    return {
      title:
        'Group-commit policy: flush at once or after setImmediate (a model on the same I/O thread and in-place file)',
      columns: [
        { title: 'variant', align: 'left' },
        { title: 'updates/s' },
        { title: 'x I/O thread' },
        { title: 'updates/fdatasync' },
        { title: 'p50' },
        { title: 'p99' },
      ],
      rows: rows.map((v) => [
        v.label,
        formatRate(v.summary.median),
        formatRatio(ratio(v, byId.get('io-thread-inplace'))),
        v.summary.batch === undefined ? '-' : v.summary.batch.toFixed(1),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
      ]),
      note: 'x I/O thread: against one writer calling the I/O thread writeDurable in place (no batching, no manager).',
    };
  }
}

/**
 * What the round trip compared: `tmpfs` true or false since the bench measures through the public
 * handle's writeDurable (with an fdatasync, free on a tmpfs); absent in older runs, which timed a
 * bare pwrite through the library's internal IoThread.
 */
function roundTripLabels({ tmpfs }, recordBytes) {
  if (tmpfs === undefined) {
    return {
      thread: '32-byte pwrite, no fsync, via the IoThread (round trip)',
      sync: '32-byte pwrite, no fsync, fs.writeSync on the main thread',
    };
  }
  const where = tmpfs ? 'on a tmpfs (fdatasync free)' : 'on the bench disk (real fdatasync)';
  return {
    thread: `${recordBytes}-byte writeDurable ${where}, via the I/O thread (round trip)`,
    sync: `${recordBytes}-byte writeSync+fdatasyncSync ${where}, main thread`,
  };
}

/** What a request to the I/O thread and its answer cost. */
export function handoffTable(handoff, recordBytes) {
  if (handoff !== undefined) {
    const { roundTrip, split } = handoff;
    return {
      title: 'I/O thread handoff: what a request to the worker and its answer cost (medians)',
      columns: [{ title: 'measurement', align: 'left' }, { title: 'time' }],
      rows: [
        [roundTripLabels(roundTrip, recordBytes).thread, us(roundTrip.threadUs)],
        [roundTripLabels(roundTrip, recordBytes).sync, us(roundTrip.syncUs)],
        ['handoff cost (difference)', us(roundTrip.handoffUs)],
        ['with fdatasync: main thread notifies -> worker runs', us(split.wakeWorkerUs)],
        ['with fdatasync: pwrite + fdatasync in the worker', us(split.syscallsUs)],
        ['with fdatasync: worker notifies -> main thread resumes', us(split.wakeMainUs)],
      ],
      note: `split measured on a replica of the protocol with timestamps (${split.samples} samples).`,
    };
  }
}

/** `Metadata.load` time and memory against the length of the log. */
export function loadTable(load) {
  if (load !== undefined) {
    return {
      title: 'Metadata.load against log length (fresh process each time; cold = page cache dropped first)',
      columns: [
        { title: 'records' },
        { title: 'log file' },
        { title: 'warm cache' },
        { title: 'min-max' },
        { title: 'us/1k records' },
        { title: 'cold cache' },
        { title: 'peak RSS growth' },
        { title: 'heap growth' },
      ],
      rows: load.map((l) => [
        l.records.toLocaleString('en-US'),
        formatBytes(l.fileBytes),
        formatMs(l.warm?.medianMs),
        l.warm ? `${formatMs(l.warm.minMs)}-${formatMs(l.warm.maxMs)}` : '-',
        l.warm ? ((l.warm.medianMs * 1000) / (l.records / 1000)).toFixed(0) : '-',
        formatMs(l.cold?.medianMs),
        formatBytes(max([l.warm?.peakRssDelta, l.cold?.peakRssDelta])),
        formatBytes(l.warm?.heapUsedDelta),
      ]),
      note: 'peak RSS growth: the process peak RSS after the load minus before it (maxrss); heap growth: heapUsed after minus before, without a GC in between.',
    };
  }
}
