/**
 * Copies the committed run into docs/performance.md:
 * - the machine and the tables (bench/results/latest.json and latest.md) between the
 *   `<!-- machine:start/end -->` and `<!-- results:start/end -->` markers;
 * - the numbers quoted in the prose, each written as `<!-- v:name -->value<!-- /v -->`;
 * - with `--history`, the table of every full run found in bench/results/*.json between the
 *   `<!-- history:start/end -->` markers (only the committed runs are in git: run it where the
 *   runs were made).
 * The prose around the numbers is written by hand: reread it after a new run.
 * Usage: node bench/update-docs.js [--history]
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable } from './report/table.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(BENCH, 'results');
const DOC = join(dirname(BENCH), 'docs', 'performance.md');

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ratioText = (r) =>
  r === undefined ? '-' : r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
const us = (v) =>
  v === undefined
    ? '-'
    : v >= 10_000
      ? `${(v / 1000).toFixed(1)} ms`
      : v >= 1000
        ? `${(v / 1000).toFixed(2)} ms`
        : `${Math.round(v)} us`;
const ms = (v) => (v === undefined ? '-' : v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`);
const rate = (v) => (v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : Math.round(v).toLocaleString('en-US'));

/** Median over rounds of a's updates/s over b's in the same round. */
function ratioIn(json, a, b) {
  const va = json.variants.find((v) => v.id === a);
  const vb = json.variants.find((v) => v.id === b);
  if (!va || !vb) return undefined;
  return median(
    va.rounds.map((r, i) => (r && vb.rounds[i] ? r.opsPerSec / vb.rounds[i].opsPerSec : undefined)),
  );
}

/** The numbers of the many-groups sections (issue 12) the prose quotes, `g_*` (`-` when not measured). */
function groupValues(json) {
  const variant = (id) => json.groups?.variants.find((v) => v.id === id);
  const ratioOf = (a, b) => {
    const va = variant(a);
    const vb = variant(b);
    if (!va || !vb) return undefined;
    return median(
      va.rounds.map((r, i) => (r && vb.rounds[i] ? r.opsPerSec / vb.rounds[i].opsPerSec : undefined)),
    );
  };
  const yes = (pass) => (pass === undefined ? '-' : pass ? 'yes' : '**no**');
  const burst = ratioOf('burst-10k', 'one-group');
  const fleet = ratioOf('store-1000', 'managers-1000');
  const open = json.groupsOpen;
  const heap = json.groupsHeap;
  const steady = json.groupsSteady;
  const sm = (pick) => (steady ? median(steady.rounds.map(pick)) : undefined);
  const bytes = sm((r) => r.bytesPerUpdate);
  const p99 = sm((r) => r.duringToWithoutP99);
  const b = (x) => (x === undefined ? '-' : `${x.toFixed(0)} B`);
  const long = (x) => (x !== undefined && x >= 1_000_000 ? `${(x / 1_000_000).toFixed(2)} s` : us(x));
  return {
    g_one_rate: variant('one-group') ? rate(variant('one-group').summary.median) : '-',
    g_burst_rate: variant('burst-10k') ? rate(variant('burst-10k').summary.median) : '-',
    g_burst_ratio: ratioText(burst),
    g_burst_batch: variant('burst-10k')?.summary.recordsPerFsync?.toFixed(0) ?? '-',
    g_burst_p50: us(variant('burst-10k')?.summary.p50Us),
    t_g_burst: yes(
      burst === undefined ? undefined : burst >= 100 && variant('burst-10k').summary.recordsPerFsync >= 1000,
    ),
    g_managers_rate: variant('managers-1000') ? rate(variant('managers-1000').summary.median) : '-',
    g_managers_p50: long(variant('managers-1000')?.summary.p50Us),
    g_store1k_rate: variant('store-1000') ? rate(variant('store-1000').summary.median) : '-',
    g_store1k_p50: us(variant('store-1000')?.summary.p50Us),
    g_fleet_ratio: ratioText(fleet),
    t_g_fleet: yes(fleet === undefined ? undefined : fleet >= 20),
    g_open_ms: ms(open?.storeOpen.medianMs),
    g_open_load_ms: ms(open?.storeLoad.medianMs),
    g_single_load_ms: ms(open?.singleLoad.medianMs),
    g_open_ratio: ratioText(open?.openToSingleLoad),
    g_open_load_ratio: ratioText(open ? open.storeLoad.medianMs / open.singleLoad.medianMs : undefined),
    t_g_open: yes(open ? open.storeOpen.medianMs < 1000 : undefined),
    t_g_open_ratio: yes(open ? open.openToSingleLoad <= 2 : undefined),
    g_heap: b(heap?.heapPerGroup),
    g_heap_sync: b(heap?.heapPerGroupAfterSync),
    t_g_heap: yes(heap ? heap.heapPerGroup <= 200 : undefined),
    g_steady_rate: steady ? rate(sm((r) => r.opsPerSec)) : '-',
    g_bytes: bytes === undefined ? '-' : `${bytes.toFixed(1)} B`,
    g_bytes_ratio: ratioText(bytes === undefined ? undefined : bytes / steady.recordBytes),
    g_bytes_temp: b(sm((r) => r.tempBytes / r.updates)),
    g_bytes_other: b(sm((r) => r.otherBytes / r.updates)),
    t_g_bytes: yes(bytes === undefined ? undefined : bytes / steady.recordBytes <= 4),
    g_compaction_ms: ms(steady ? median(steady.rounds.flatMap((r) => r.compactionMs)) : undefined),
    g_p99_during: us(sm((r) => r.during.p99Us)),
    g_p99_without: us(sm((r) => r.without.p99Us)),
    g_p99_ratio: ratioText(p99),
    g_p99_all: us(sm((r) => r.all.p99Us)),
    g_p99_off: us(
      steady?.rounds.every((r) => r.compactionOff) ? sm((r) => r.compactionOff.all.p99Us) : undefined,
    ),
    g_p99_off_ratio: ratioText(
      steady?.rounds.every((r) => r.compactionOff) ? sm((r) => r.allToOffP99) : undefined,
    ),
    t_g_p99: yes(p99 === undefined ? undefined : p99 <= 2),
  };
}

function fullRuns() {
  return fs
    .readdirSync(RESULTS)
    .filter((name) => /^\d{4}-.*\.json$/.test(name))
    .sort()
    .map((name) => JSON.parse(fs.readFileSync(join(RESULTS, name), 'utf8')))
    .filter((json) => !json.config.only && json.variants.some((v) => v.id === 'raft-256'));
}

function range(runs, a, b) {
  const values = runs.map((json) => ratioIn(json, a, b)).filter((v) => v !== undefined);
  if (values.length < 2) return '-';
  return `${ratioText(Math.min(...values))} to ${ratioText(Math.max(...values))}`;
}

/** Every number the prose quotes, by name. */
function values(json, runs) {
  const v = (id) => json.variants.find((x) => x.id === id)?.summary ?? {};
  const r = (a, b) => ratioText(ratioIn(json, a, b));
  const target = (x, goal) => (x === undefined ? '-' : x >= goal ? 'yes' : '**no**');
  const load = (n) => json.load?.find((l) => l.records === n);
  const m1 = load(1_000_000);
  const k100 = load(100_000);
  const split = json.handoff?.split ?? {};
  const trip = json.handoff?.roundTrip ?? {};
  return {
    r1_rate: rate(v('raft-1').median),
    r1_p50: us(v('raft-1').p50Us),
    r1_p99: us(v('raft-1').p99Us),
    r1_lag: ms(v('raft-1').loopLagMaxMs),
    r1_floor: r('raft-1', 'node-sync-append'),
    r1_sqlite: r('raft-1', 'sqlite'),
    r1_io: r('raft-1', 'io-thread-inplace'),
    t_floor: target(ratioIn(json, 'raft-1', 'node-sync-append'), 0.8),
    t_sqlite: target(ratioIn(json, 'raft-1', 'sqlite'), 1.0),
    t_r16: target(ratioIn(json, 'raft-16', 'raft-1'), 13),
    t_r256: target(ratioIn(json, 'raft-256', 'raft-1'), 40),
    strace_main: String(json.strace?.mainThreadSyncs ?? '-'),
    strace_other: String(json.strace?.otherThreadSyncs ?? '-'),
    r1_floor_range: range(runs, 'raft-1', 'node-sync-append'),
    r1_sqlite_range: range(runs, 'raft-1', 'sqlite'),
    r16_range: range(runs, 'raft-16', 'raft-1'),
    r256_range: range(runs, 'raft-256', 'raft-1'),
    r16_ratio: r('raft-16', 'raft-1'),
    r256_ratio: r('raft-256', 'raft-1'),
    r16_batch: v('raft-16').batch?.toFixed(1) ?? '-',
    r256_batch: v('raft-256').batch?.toFixed(1) ?? '-',
    r16_p50: us(v('raft-16').p50Us),
    r16_p99: us(v('raft-16').p99Us),
    load_1m_warm: ms(m1?.warm?.medianMs),
    load_1m_cold: ms(m1?.cold?.medianMs),
    load_per_record:
      m1?.warm && k100?.warm
        ? `${(((m1.warm.medianMs - k100.warm.medianMs) * 1000) / (m1.records - k100.records)).toFixed(2)} us`
        : '-',
    sync_p50: us(json.syncCost?.p50Us),
    syncloop_ratio: r('raft-1-syncloop', 'raft-1-nocompact'),
    syncloop_p99: us(v('raft-1-syncloop').p99Us),
    syncloop16_ratio: r('raft-16-syncloop', 'raft-16-nocompact'),
    handoff: us(trip.handoffUs),
    rt_thread: us(trip.threadUs),
    rt_sync: us(trip.syncUs),
    wake_worker: us(split.wakeWorkerUs),
    wake_main: us(split.wakeMainUs),
    ip_c: r('c-inplace', 'c-append'),
    ip_sync: r('node-sync-inplace', 'node-sync-append'),
    ip_promises: r('node-promises-inplace', 'node-promises-append'),
    ip_callbacks: r('node-callback-inplace', 'node-callback-append'),
    ip_io: r('io-thread-inplace', 'io-thread-append'),
    ip_c_range: range(runs, 'c-inplace', 'c-append'),
    ip_sync_range: range(runs, 'node-sync-inplace', 'node-sync-append'),
    ip_promises_range: range(runs, 'node-promises-inplace', 'node-promises-append'),
    ip_callbacks_range: range(runs, 'node-callback-inplace', 'node-callback-append'),
    ip_io_range: range(runs, 'io-thread-inplace', 'io-thread-append'),
    falloc: r('c-fallocate', 'c-inplace'),
    io_promises: r('io-thread-inplace', 'node-promises-inplace'),
    io_callbacks: r('io-thread-inplace', 'node-callback-inplace'),
    io_sync: r('io-thread-inplace', 'node-sync-inplace'),
    io_promises_range: range(runs, 'io-thread-inplace', 'node-promises-inplace'),
    io_callbacks_range: range(runs, 'io-thread-inplace', 'node-callback-inplace'),
    io_sync_range: range(runs, 'io-thread-inplace', 'node-sync-inplace'),
    gc16_immediate: r('gc-immediate-16', 'io-thread-inplace'),
    gc16_setimmediate: r('gc-setimmediate-16', 'io-thread-inplace'),
    gc16_ratio: r('gc-setimmediate-16', 'gc-immediate-16'),
    gc1_ratio: r('gc-setimmediate-1', 'gc-immediate-1'),
    gc16_range: range(runs, 'gc-setimmediate-16', 'gc-immediate-16'),
    r1_io_range: range(runs, 'raft-1', 'io-thread-inplace'),
    ...groupValues(json),
    runs: String(runs.length),
    bench_command: `BENCH_MS=${json.config.benchMs} BENCH_ROUNDS=${json.config.rounds} npm run bench`,
  };
}

function historyTable(runs) {
  const cols = [
    ['1 writer / floor', 'raft-1', 'node-sync-append'],
    ['1 writer / sqlite', 'raft-1', 'sqlite'],
    ['1 writer / I/O thread', 'raft-1', 'io-thread-inplace'],
    ['in place / append, Node sync', 'node-sync-inplace', 'node-sync-append'],
    ['in place / append, I/O thread', 'io-thread-inplace', 'io-thread-append'],
    ['I/O thread / promises', 'io-thread-inplace', 'node-promises-inplace'],
    ['I/O thread / callbacks', 'io-thread-inplace', 'node-callback-inplace'],
    ['I/O thread / sync', 'io-thread-inplace', 'node-sync-inplace'],
    ['16 / 1 writer', 'raft-16', 'raft-1'],
    ['256 / 1 writer', 'raft-256', 'raft-1'],
    ['setImmediate / at once, 16 writers', 'gc-setimmediate-16', 'gc-immediate-16'],
  ];
  const columns = [
    { title: 'run (UTC)', align: 'left' },
    { title: 'rounds x ms', align: 'left' },
    { title: 'load', align: 'left' },
    ...cols.map(([title]) => ({ title })),
  ];
  const rows = runs.map((json) => {
    const m = json.machine;
    const load =
      m.loadAverageAtStart && m.loadAverageAtEnd
        ? `${m.loadAverageAtStart[0].toFixed(1)}-${m.loadAverageAtEnd[0].toFixed(1)}`
        : '?';
    return [
      m.date.slice(0, 16).replace('T', ' '),
      `${json.config.rounds} x ${json.config.benchMs}`,
      load,
      ...cols.map(([, a, b]) => ratioText(ratioIn(json, a, b))),
    ];
  });
  return markdownTable(columns, rows);
}

function replaceBetween(text, name, content) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`docs/performance.md lacks the ${name} markers`);
  return `${text.slice(0, from + start.length)}\n${content.trim()}\n${text.slice(to)}`;
}

function machineText(json) {
  const m = json.machine;
  return [
    `Run of ${m.date}, \`${values(json, []).bench_command}\`, saved as`,
    `[\`bench/results/latest.json\`](../bench/results/latest.json).`,
    '',
    `- Linux \`${m.kernel}\` (\`uname -r\`), a Firecracker VM; ${m.nproc} CPUs (\`nproc\`), ${m.cpu}; ${(m.memory / 2 ** 30).toFixed(0)} GiB RAM.`,
    `- Node ${m.node}; better-sqlite3 ${m.packages['better-sqlite3']} (compiled from source), classic-level ${m.packages['classic-level']}, write-file-atomic ${m.packages['write-file-atomic']}.`,
    `- File system ${m.fsType} on \`${m.device}\`, a virtio disk with a volatile write cache (every \`fdatasync\` ends with a cache flush), mounted \`${m.mountOptions}\`:`,
    '',
    '```',
    `$ df -T ${m.mountPoint}`,
    m.df,
    '```',
    '',
    `- Load average (1 min) ${m.loadAverageAtStart[0].toFixed(2)} at the start and ${m.loadAverageAtEnd[0].toFixed(2)} at the end: other sessions were building and testing on the same ${m.nproc} CPUs and disk while this ran.`,
  ].join('\n');
}

const json = JSON.parse(fs.readFileSync(join(RESULTS, 'latest.json'), 'utf8'));
const runs = fullRuns();
const tables = fs.readFileSync(join(RESULTS, 'latest.md'), 'utf8');
let doc = fs.readFileSync(DOC, 'utf8');
doc = replaceBetween(doc, 'machine', machineText(json));
doc = replaceBetween(doc, 'results', tables.replace('<!-- generated by bench/run.js; do not edit -->', ''));
if (process.argv.includes('--history')) doc = replaceBetween(doc, 'history', historyTable(runs));
const named = values(json, runs);
doc = doc.replace(/<!-- v:(\w+) -->[^<]*<!-- \/v -->|\{\{(\w+)\}\}/g, (match, a, b) => {
  const name = a ?? b;
  if (!(name in named)) throw new Error(`unknown value ${name} in docs/performance.md`);
  // Ranges over all runs need the uncommitted runs: refresh them only with --history.
  const needsHistory = name.endsWith('_range') || name === 'runs';
  if (needsHistory && a !== undefined && !process.argv.includes('--history')) return match;
  return `<!-- v:${name} -->${named[name]}<!-- /v -->`;
});
fs.writeFileSync(DOC, doc);
console.log(`updated docs/performance.md from the run of ${json.machine.date}`);
