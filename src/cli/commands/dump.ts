import { type ExaminedLog, examineDirectory } from '../../ops/examine.js';
import { groupOption } from '../args.js';
import type { CommandContext } from '../context.js';
import { directoryJson, groupStateJson, kindName, logJson, recordJson } from '../document.js';
import { EXIT } from '../exit-codes.js';
import {
  corruptionText,
  foreignLines,
  formatLine,
  groupsText,
  headerText,
  loadsText,
  notMetadataText,
  plural,
  snapshotGroups,
  snapshotText,
  table,
  vote,
} from '../text.js';

/** One line saying where a log's valid records stop and what follows. */
function stopText(log: ExaminedLog): string {
  if (log.scanError !== undefined) {
    return `the library's reader stops at byte ${log.scanError.offset}: CORRUPT: ${log.scanError.reason}`;
  }
  const scan = log.scan;
  if (scan === undefined) return '';
  const end = scan.end;
  if (end.kind === 'torn') {
    return `valid records stop at byte ${end.offset}; then a torn tail (${end.reason}, ${plural(end.bytesAfter, 'non-zero byte')}), discarded on open`;
  }
  const rest =
    end.offset >= scan.fileSize ? 'end of file' : `zeros to the end of the file (byte ${scan.fileSize})`;
  return `valid records stop at byte ${end.offset}; then ${rest}`;
}

/** The records `--group N` keeps (all of them without it). */
function recordsOf(log: ExaminedLog, group: number | undefined): ExaminedLog['records'] {
  return group === undefined ? log.records : log.records.filter((r) => r.group === group);
}

function logTable(log: ExaminedLog, group: number | undefined): string {
  const rows: { offset: number; cells: string[] }[] = recordsOf(log, group).map((r) => ({
    offset: r.offset,
    cells: [
      String(r.offset),
      String(r.seq),
      String(r.batchIndex),
      r.group === 0 ? kindName(r.kind) : `${kindName(r.kind)}@g${r.group}`,
      String(r.currentTerm),
      vote(r.votedFor),
      r.status,
    ],
  }));
  for (const f of log.salvage.foreign) {
    rows.push({
      offset: f.offset,
      cells: [
        String(f.offset),
        String(f.seq),
        '-',
        'FOREIGN',
        '-',
        '-',
        `a whole record of another directory: not this node's, never replayed`,
      ],
    });
  }
  for (const d of log.salvage.damage) {
    rows.push({
      offset: d.offset,
      cells: [
        String(d.offset),
        '-',
        '-',
        'DAMAGE',
        '-',
        '-',
        `${plural(d.length, 'byte')} do not decode (${d.reason}; ${d.nonZeroBytes} non-zero)`,
      ],
    });
  }
  rows.sort((a, b) => a.offset - b.offset);
  if (rows.length === 0) return '  (no records)';
  const text = table(
    ['offset', 'seq', 'batch', 'kind', 'term', 'vote', 'status'],
    rows.map((r) => r.cells),
    [3, 6],
  );
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

export async function dump(ctx: CommandContext): Promise<number> {
  const group = groupOption('dump', ctx.values.group);
  const exam = await examineDirectory(ctx.fs, ctx.dir);
  const report = directoryJson(exam);
  const code = exam.verdict === 'not-metadata' ? EXIT.notMetadata : EXIT.ok;
  const document = {
    ...report,
    logs: exam.logs.map((log) => ({
      ...logJson(log),
      validUntil: log.scanError ? log.scanError.offset : (log.scan?.end.offset ?? 0),
      records: recordsOf(log, group).map(recordJson),
    })),
    ...(group === undefined ? {} : { group: groupStateJson(exam, group) }),
  };
  if (exam.verdict === 'not-metadata') {
    return ctx.refuse(code, `not a metadata directory: ${notMetadataText(exam)}`, document);
  }
  if (ctx.json) {
    ctx.emit(code, document);
    return code;
  }
  const out: string[] = [];
  out.push(
    formatLine(exam),
    `snapshot  ${snapshotText(report.snapshot, report.format, snapshotGroups(exam))}`,
  );
  if (report.groups.multiGroup) out.push(`groups    ${groupsText(report.groups).split('\n').join('; ')}`);
  if (group !== undefined) {
    out.push(
      `records   of group ${group} only (damaged ranges and records of another directory are listed whatever their group: they cannot be told)`,
    );
  }
  for (const log of exam.logs) {
    const what = headerText(
      log.salvage,
      (h) =>
        `format v${h.layout.version}${h.firstSeq === undefined ? '' : `, first seq ${h.firstSeq}`}${h.directoryId === undefined ? '' : `, directory id ${h.directoryId}`}`,
    );
    out.push(
      '',
      `${log.name}  (${what}, ${plural(log.salvage.size, 'byte')})`,
      ...foreignLines(log).map((line) => `  ${line}`),
      logTable(log, group),
      `  ${stopText(log)}`,
    );
  }
  out.push('');
  if (report.state) out.push(`a node loads: ${loadsText(exam, group)}`);
  else if (exam.error) out.push(`a node refuses to start: ${corruptionText(ctx.dir, exam.error)}`);
  ctx.io.out(out.join('\n'));
  return EXIT.ok;
}
