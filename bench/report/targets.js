/**
 * The issue-5 targets: each one a measured value, its goal and whether the run met it (undefined
 * for the values only reported). The targets go into the results JSON too.
 */
import { ratio } from '../lib/rounds.js';
import { formatBytes, formatMicros, formatMs, formatRatio, max } from '../lib/stats.js';

const us = formatMicros;

/** The targets that the run's measurements allow checking. */
export function checkTargets({ byId, floor, one }, { load, strace }) {
  const targets = [];
  const target = (name, value, goal, pass, detail) => targets.push({ name, value, goal, pass, detail });
  const r1floor = ratio(one, floor);
  if (r1floor !== undefined)
    target('1 writer vs Node writeSync+fdatasyncSync', formatRatio(r1floor), '>= 0.8x', r1floor >= 0.8);
  const r1sqlite = ratio(one, byId.get('sqlite'));
  if (r1sqlite !== undefined)
    target('1 writer vs better-sqlite3 WAL+FULL', formatRatio(r1sqlite), '>= 1.0x', r1sqlite >= 1.0);
  if (strace !== undefined && strace.skipped === undefined) {
    target(
      'fsync/fdatasync on the main thread (strace -f)',
      String(strace.mainThreadSyncs),
      '0',
      strace.mainThreadSyncs === 0,
      `${strace.otherThreadSyncs} on other threads for ${strace.updates} updates`,
    );
  }
  for (const [n, goal] of [
    [16, 13],
    [256, 40],
  ]) {
    const v = byId.get(`raft-${n}`);
    const r = ratio(v, one);
    if (r !== undefined) target(`${n} writers vs 1 writer`, formatRatio(r), `>= ${goal}x`, r >= goal);
    if (v?.summary.batch !== undefined) {
      target(
        `${n} writers: updates per fdatasync`,
        v.summary.batch.toFixed(1),
        `close to ${n} (>= ${0.9 * n})`,
        v.summary.batch >= 0.9 * n,
      );
    }
  }
  for (const n of [1, 16]) {
    const v = byId.get(`raft-${n}`);
    if (v)
      target(
        `${n} writer${n > 1 ? 's' : ''}: p50 / p99 latency`,
        `${us(v.summary.p50Us)} / ${us(v.summary.p99Us)}`,
        'report',
        undefined,
      );
  }
  const million = load?.find((l) => l.records === 1_000_000);
  if (million?.warm) {
    target(
      'load 1M records (warm cache)',
      formatMs(million.warm.medianMs),
      '< 1 s',
      million.warm.medianMs < 1000,
    );
    if (million.cold)
      target(
        'load 1M records (cold cache)',
        formatMs(million.cold.medianMs),
        '< 1 s',
        million.cold.medianMs < 1000,
      );
    const small = load.find((l) => l.records === 1_000);
    const growth =
      max([million.warm.peakRssDelta, million.cold?.peakRssDelta]) - max([small?.warm?.peakRssDelta, 0]);
    target(
      'peak RSS growth, 1M vs 1k records',
      formatBytes(growth),
      `< 8 MiB (log is ${formatBytes(million.fileBytes)})`,
      growth < 8 << 20,
    );
  }
  return targets;
}

/** The targets as the report's last table. */
export function targetsTable(targets) {
  return {
    title: 'Targets (issue 5)',
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
