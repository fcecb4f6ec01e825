/**
 * Many Raft groups (issue 12): the tables of the groups sections (sections/groups*.js) and the
 * issue-12 targets, each a measured value, its goal and whether the run met it.
 */
import { ratio } from '../lib/rounds.js';
import { formatBytes, formatMicros, formatMs, formatRate, formatRatio, median } from '../lib/stats.js';

const us = formatMicros;
const n = (x) => x.toLocaleString('en-US');

/** Median over steady rounds of `pick(round)`. */
const steadyMedian = (steady, pick) => median(steady.rounds.map(pick));

/** Throughput of many groups: one store's groups against one group, and against many managers. */
export function groupsTable(groups) {
  if (groups === undefined) return undefined;
  const byId = new Map(groups.variants.map((v) => [v.id, v]));
  const base = { burst: byId.get('one-group'), fleet: byId.get('managers-1000') };
  const rows = [
    ['one-group', base.burst],
    ['burst-10k', base.burst],
    ['managers-1000', base.fleet],
    ['store-1000', base.fleet],
  ]
    .filter(([id]) => byId.has(id))
    .map(([id, against]) => {
      const v = byId.get(id);
      return [
        v.label,
        formatRate(v.summary.median),
        `${formatRate(v.summary.min)}-${formatRate(v.summary.max)}`,
        formatRatio(ratio(v, against)),
        v.summary.recordsPerFsync === undefined ? '-' : v.summary.recordsPerFsync.toFixed(1),
        us(v.summary.p50Us),
        us(v.summary.p99Us),
      ];
    });
  return {
    title: 'Many groups: durable updates/s of one MetadataStore (default flushIntervalMs)',
    columns: [
      { title: 'variant', align: 'left' },
      { title: 'updates/s' },
      { title: 'min-max' },
      { title: 'ratio' },
      { title: 'records/fdatasync' },
      { title: 'p50' },
      { title: 'p99' },
    ],
    rows,
    note:
      'ratio: the 10,000-group burst against one group of a store updated sequentially, and 1,000 groups of one store ' +
      'against 1,000 MetadataManagers in this process (each its own directory), median over rounds of the ratio within a round. ' +
      'p50/p99: of one update (one group) or of one burst/round (every group once, issued in one tick, awaited together). ' +
      'records/fdatasync: stats() updatesAcknowledged / fsyncs over the window.',
  };
}

/** Open of a 10,000-group directory with 1M records after its snapshot, against a 1M-record single-group load. */
export function groupsOpenTable(open) {
  if (open === undefined) return undefined;
  const row = (label, s, ratioText) => [
    label,
    formatMs(s.medianMs),
    `${formatMs(s.minMs)}-${formatMs(s.maxMs)}`,
    ratioText,
  ];
  const single = open.singleLoad.medianMs;
  return {
    title: `Open of ${n(open.groups)} groups with ${n(open.records)} records after the snapshot (fresh process, warm cache)`,
    columns: [
      { title: 'measurement', align: 'left' },
      { title: 'time' },
      { title: 'min-max' },
      { title: 'x single-group load' },
    ],
    rows: [
      row(`MetadataStore.open, ${n(open.groups)} groups`, open.storeOpen, formatRatio(open.openToSingleLoad)),
      row(
        `MetadataStore.load, ${n(open.groups)} groups (read-only)`,
        open.storeLoad,
        formatRatio(open.storeLoad.medianMs / single),
      ),
      row(`Metadata.load, 1 group, ${n(open.records)} records`, open.singleLoad, '1.00x'),
    ],
    note:
      `store directory: ${formatBytes(open.storeLogBytes)} of logs, snapshot ${formatBytes(open.storeSnapshotBytes)}; ` +
      'the open ends with a compaction (records replayed from a log are rewritten into a new snapshot). ' +
      'x single-group load: median over rounds of the ratio within a round (medians of the times for load).',
  };
}

/** Heap per group, and the steady state: bytes per update, latency during a compaction. */
export function groupsSteadyTable(heap, steady) {
  if (heap === undefined && steady === undefined) return undefined;
  const rows = [];
  if (heap !== undefined) {
    rows.push([
      `heap per group at ${n(heap.groups)} groups (store open)`,
      `${heap.heapPerGroup.toFixed(0)} B`,
    ]);
    rows.push([
      `... after sync() (snapshot written), still open`,
      `${heap.heapPerGroupAfterSync.toFixed(0)} B`,
    ]);
  }
  if (steady !== undefined) {
    const m = (pick) => steadyMedian(steady, pick);
    rows.push(
      [
        `steady state, ${n(steady.groups)} groups, ${steady.writers} writers: updates/s`,
        formatRate(m((r) => r.opsPerSec)),
      ],
      ['... records per fdatasync', m((r) => r.recordsPerFsync)?.toFixed(1) ?? '-'],
      ['... compactions per second', m((r) => r.compactions / (r.elapsedMs / 1000)).toFixed(2)],
      [
        '... compaction duration (median of all)',
        formatMs(median(steady.rounds.flatMap((r) => r.compactionMs))),
      ],
      ['... bytes written per update, all included', `${m((r) => r.bytesPerUpdate).toFixed(1)} B`],
      ['...... of which records', `${m((r) => r.recordBytes / r.updates).toFixed(1)} B`],
      [
        '...... new logs (zero-fill, header) and snapshots (.tmp files)',
        `${m((r) => r.tempBytes / r.updates).toFixed(1)} B`,
      ],
      ['...... zeros extending the current log, lock', `${m((r) => r.otherBytes / r.updates).toFixed(1)} B`],
      [
        '... update p50 / p99, issued during a compaction',
        `${us(m((r) => r.during.p50Us))} / ${us(m((r) => r.during.p99Us))} (${n(Math.round(m((r) => r.during.samples)))} updates/round)`,
      ],
      [
        '... update p50 / p99, issued outside compactions',
        `${us(m((r) => r.without.p50Us))} / ${us(m((r) => r.without.p99Us))}`,
      ],
    );
    if (steady.rounds.every((r) => r.compactionOff !== undefined)) {
      rows.push(
        ['... update p50 / p99, all updates', `${us(m((r) => r.all.p50Us))} / ${us(m((r) => r.all.p99Us))}`],
        [
          '... the same store, compaction off (flushIntervalMs 0): p50 / p99, updates/s',
          `${us(m((r) => r.compactionOff.all.p50Us))} / ${us(m((r) => r.compactionOff.all.p99Us))}, ${formatRate(m((r) => r.compactionOff.opsPerSec))}`,
        ],
        ['... p99 of all updates / p99 with compaction off', formatRatio(m((r) => r.allToOffP99))],
      );
    }
  }
  return {
    title: 'Many groups: memory, bytes written, compaction (default flushIntervalMs)',
    columns: [{ title: 'measurement', align: 'left' }, { title: 'value' }],
    rows,
    note:
      'heap: node --expose-gc, heapUsed after two gc() calls, before and after 100,000 new groups are each updated once, divided by 100,000. ' +
      'bytes: every byte of every handle write/writeDurable (counting FileSystem) / updates acknowledged. ' +
      'during a compaction: issued inside a window [end - durationMs, end] of a raft-metadata:compaction event. Medians over rounds.',
  };
}

/** The issue-12 targets the run allows checking. */
export function checkGroupTargets({ groups, groupsOpen, groupsHeap, groupsSteady }, run) {
  const targets = [];
  const target = (name, value, goal, pass, detail) => targets.push({ name, value, goal, pass, detail });
  if (groups !== undefined) {
    const byId = new Map(groups.variants.map((v) => [v.id, v]));
    const burst = byId.get('burst-10k');
    const r = ratio(burst, byId.get('one-group'));
    if (r !== undefined)
      target('10,000 groups at once vs 1 group sequential', formatRatio(r), '>= 100x', r >= 100);
    const batch = burst?.summary.recordsPerFsync;
    if (batch !== undefined)
      target('10,000 groups at once: records per fdatasync', batch.toFixed(0), '>= 1,000', batch >= 1000);
    const f = ratio(byId.get('store-1000'), byId.get('managers-1000'));
    if (f !== undefined)
      target('1,000 groups in a store vs 1,000 managers', formatRatio(f), '>= 20x', f >= 20);
  }
  if (groupsOpen !== undefined) {
    const open = groupsOpen.storeOpen.medianMs;
    target('open 10,000 groups + 1M records', formatMs(open), '< 1 s', open < 1000);
    const r = groupsOpen.openToSingleLoad;
    target('... vs 1M-record single-group load', formatRatio(r), '<= 2x', r <= 2);
  }
  if (groupsHeap !== undefined) {
    const b = groupsHeap.heapPerGroup;
    target('heap per group at 100,000 groups', `${b.toFixed(0)} B`, '<= 200 B', b <= 200);
  }
  if (groupsSteady !== undefined) {
    const bytes = steadyMedian(groupsSteady, (r) => r.bytesPerUpdate);
    const x = bytes / groupsSteady.recordBytes;
    target(
      'bytes written per update, 10,000 groups',
      formatRatio(x),
      '<= 4x the 48-byte record',
      x <= 4,
      `${bytes.toFixed(1)} B`,
    );
    const p = steadyMedian(groupsSteady, (r) => r.duringToWithoutP99);
    if (p !== undefined) target('p99 during a compaction / p99 without', formatRatio(p), '<= 2x', p <= 2);
  }
  // Issue 12's "no regression" of the single-group figures (the same checks as issue 5's).
  const r1 = ratio(run.one, run.floor);
  if (r1 !== undefined)
    target('no regression: 1 writer vs Node writeSync+fdatasyncSync', formatRatio(r1), '>= 0.8x', r1 >= 0.8);
  const r16 = ratio(run.byId.get('raft-16'), run.one);
  if (r16 !== undefined)
    target('no regression: 16 writers vs 1 writer', formatRatio(r16), '>= 13x', r16 >= 13);
  return targets;
}

export function groupTargetsTable(targets) {
  if (targets.length === 0) return undefined;
  return {
    title: 'Targets (issue 12)',
    columns: [
      { title: 'target', align: 'left' },
      { title: 'measured' },
      { title: 'goal', align: 'left' },
      { title: 'result', align: 'left' },
    ],
    rows: targets.map((t) => [
      t.name,
      t.value,
      t.goal,
      t.pass === undefined ? '' : `${t.pass ? 'met' : 'MISSED'}${t.detail ? ` (${t.detail})` : ''}`,
    ]),
  };
}
