import { resolve } from 'node:path';
import { LOCK_NAME } from '../../format/names.js';
import { examineDirectory } from '../../ops/examine.js';
import { groupOption } from '../args.js';
import type { CommandContext } from '../context.js';
import { directoryJson, groupStateJson } from '../document.js';
import { EXIT } from '../exit-codes.js';
import {
  corruptionText,
  formatRows,
  groupCountText,
  groupStateText,
  groupsText,
  labelled,
  lockText,
  logText,
  notMetadataText,
  snapshotGroups,
  snapshotText,
  stateText,
  VERDICT_TEXT,
} from '../text.js';

export async function inspect(ctx: CommandContext): Promise<number> {
  const group = groupOption('inspect', ctx.values.group);
  const exam = await examineDirectory(ctx.fs, ctx.dir);
  const report = {
    ...directoryJson(exam),
    ...(group === undefined ? {} : { group: groupStateJson(exam, group) }),
  };
  const code = exam.verdict === 'not-metadata' ? EXIT.notMetadata : EXIT.ok;
  if (exam.verdict === 'not-metadata') {
    return ctx.refuse(code, `not a metadata directory: ${notMetadataText(exam)}`, { ...report });
  }
  if (ctx.json) {
    ctx.emit(code, { ...report });
    return code;
  }
  const rows: [string, string][] = [['directory', resolve(ctx.dir)]];
  const groups = report.groups;
  const chosen = group === undefined ? undefined : groupStateJson(exam, group);
  rows.push([
    'state',
    report.state
      ? `${chosen ? groupStateText(chosen) : groups.multiGroup ? `${groupCountText(groups)}, last seq ${report.state.lastSeq}` : stateText(report.state)} (what a node loads)`
      : `none: a node refuses to start (ERR_METADATA_CORRUPT)\n${exam.error ? corruptionText(ctx.dir, exam.error) : ''}`,
  ]);
  if (groups.multiGroup) rows.push(['groups', groupsText(groups)]);
  rows.push(['verdict', VERDICT_TEXT[exam.verdict]]);
  rows.push(...formatRows(report.format));
  rows.push(['snapshot', snapshotText(report.snapshot, report.format, snapshotGroups(exam))]);
  if (exam.logs.length === 0) rows.push(['logs', 'none']);
  for (const log of exam.logs) rows.push(['log', logText(log)]);
  rows.push(['lock', lockText(exam.lock)]);
  const others = exam.otherNames.filter((n) => n !== LOCK_NAME);
  if (others.length > 0) rows.push(['other files', `${others.join(', ')} (ignored by the library)`]);
  ctx.io.out(labelled(rows));
  return code;
}
