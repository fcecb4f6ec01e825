/**
 * The report of one run: its tables (report/tables.js), the targets (report/targets.js) and a header
 * naming the machine and the settings. Rendered as text (stdout), Markdown (results/latest.md) and,
 * from the variants alone, the chart (report/chart.js).
 */
import { FLOOR } from '../variants/ids.js';
import {
  checkGroupTargets,
  groupsOpenTable,
  groupsSteadyTable,
  groupsTable,
  groupTargetsTable,
} from './groups.js';
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
 * `rounds` and `summary`), `syncCost`, `load`, `handoff`, `strace`, and the many-groups sections
 * `groups`, `groupsOpen`, `groupsHeap`, `groupsSteady` (each may be undefined); `config` the run's
 * `ms`, `rounds` and `recordBytes` (the floors' record size; 32 in runs before format v2).
 */
export function buildReport(results, config) {
  const { variants, syncCost, load, handoff, strace, machine, groups, groupsOpen, groupsHeap, groupsSteady } =
    results;
  const recordBytes = config.recordBytes ?? 32;
  const byId = new Map(variants.map((v) => [v.id, v]));
  const run = { variants, byId, floor: byId.get(FLOOR), one: byId.get('raft-1'), recordBytes };
  const targets = checkTargets(run, { load, strace });
  const groupTargets = checkGroupTargets({ groups, groupsOpen, groupsHeap, groupsSteady }, run);
  const sections = [
    oneWriterTable(run),
    writersTable(run),
    compactionTable(run),
    syncCostTable(syncCost),
    ablationTable(run),
    handoffTable(handoff, recordBytes),
    loadTable(load),
    targetsTable(targets),
    groupsTable(groups),
    groupsOpenTable(groupsOpen),
    groupsSteadyTable(groupsHeap, groupsSteady),
    groupTargetsTable(groupTargets),
  ].filter((section) => section !== undefined);
  const header = [
    `${machine.date}  node ${machine.node}  linux ${machine.kernel}  ${machine.nproc} CPUs (${machine.cpu})`,
    `disk: ${machine.device} ${machine.fsType} (${machine.mountOptions}) at ${machine.dir}`,
    `BENCH_MS=${config.ms} BENCH_ROUNDS=${config.rounds}; medians over rounds, ratios computed within each round`,
    `load average (1 min) ${machine.loadAverageAtStart[0].toFixed(2)} at start, ${machine.loadAverageAtEnd[0].toFixed(2)} at end`,
  ];
  return { sections, targets, groupTargets, header };
}
