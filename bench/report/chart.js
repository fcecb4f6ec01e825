/** The chart (results/latest.svg): one writer per variant as bars, raft-metadata's writer sweep as a curve. */
import { ratio } from '../lib/rounds.js';
import { FLOOR, WRITER_COUNTS } from '../variants/ids.js';
import { renderChart } from './svg.js';

export function chartOf(variants, machine, config) {
  const byId = new Map(variants.map((v) => [v.id, v]));
  const floor = byId.get(FLOOR);
  const one = byId.get('raft-1');
  const bars = variants
    .filter((v) => v.writers === 1 && ['floor', 'peer', 'raft'].includes(v.group))
    .map((v) => ({
      label: v.label,
      group: v.group,
      median: v.summary.median,
      min: v.summary.min,
      max: v.summary.max,
      ratio: ratio(v, floor),
    }));
  const points = WRITER_COUNTS.map((n) => byId.get(`raft-${n}`))
    .filter(Boolean)
    .map((v) => ({
      writers: v.writers,
      median: v.summary.median,
      min: v.summary.min,
      max: v.summary.max,
      batch: v.summary.batch,
    }));
  const targets =
    one?.summary.median === undefined
      ? []
      : [
          { writers: 16, value: 13 * one.summary.median, label: '13x' },
          { writers: 256, value: 40 * one.summary.median, label: '40x' },
        ];
  return renderChart({
    bars,
    points,
    floor: floor?.summary.median,
    targets,
    subtitle: `${machine.date.slice(0, 10)} · node ${machine.node} · linux ${machine.kernel} · ${machine.nproc} CPUs · ${machine.fsType} (${machine.device}) · BENCH_MS=${config.ms} · ${config.rounds} rounds`,
  });
}
