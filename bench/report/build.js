/**
 * The report of one run: its tables (report/tables.js), the targets (report/targets.js) and a header
 * naming the machine and the settings. Rendered as text (stdout), Markdown (results/latest.md) and,
 * from the variants alone, the chart (report/chart.js).
 */
import { FLOOR } from '../variants/ids.js';
import {
  ablationTable,
  compactionTable,
  handoffTable,
  loadTable,
  oneWriterTable,
  syncCostTable,
  writersTable,
} from './tables.js';
import { checkTargets, targetsTable } from './targets.js';

/**
 * `results` holds the sections' measurements as saved in the results JSON: `variants` (each with
 * `rounds` and `summary`), `syncCost`, `load`, `handoff`, `strace` (each may be undefined);
 * `config` the run's `ms` and `rounds`.
 */
export function buildReport({ variants, syncCost, load, handoff, strace, machine }, config) {
  const byId = new Map(variants.map((v) => [v.id, v]));
  const run = { variants, byId, floor: byId.get(FLOOR), one: byId.get('raft-1') };
  const targets = checkTargets(run, { load, strace });
  const sections = [
    oneWriterTable(run),
    writersTable(run),
    compactionTable(run),
    syncCostTable(syncCost),
    ablationTable(run),
    handoffTable(handoff),
    loadTable(load),
    targetsTable(targets),
  ].filter((section) => section !== undefined);
  const header = [
    `${machine.date}  node ${machine.node}  linux ${machine.kernel}  ${machine.nproc} CPUs (${machine.cpu})`,
    `disk: ${machine.device} ${machine.fsType} (${machine.mountOptions}) at ${machine.dir}`,
    `BENCH_MS=${config.ms} BENCH_ROUNDS=${config.rounds}; medians over rounds, ratios computed within each round`,
    `load average (1 min) ${machine.loadAverageAtStart[0].toFixed(2)} at start, ${machine.loadAverageAtEnd[0].toFixed(2)} at end`,
  ];
  return { sections, targets, header };
}
