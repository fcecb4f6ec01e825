import { resolve } from 'node:path';
import { LOCK_NAME } from '../../format/names.js';
import { examineDirectory } from '../../ops/examine.js';
import type { CommandContext } from '../context.js';
import { directoryJson } from '../document.js';
import { EXIT } from '../exit-codes.js';
import {
  corruptionText,
  formatRows,
  labelled,
  lockText,
  logText,
  notMetadataText,
  snapshotText,
  stateText,
  VERDICT_TEXT,
} from '../text.js';

export async function inspect(ctx: CommandContext): Promise<number> {
  const exam = await examineDirectory(ctx.fs, ctx.dir);
  const report = directoryJson(exam);
  const code = exam.verdict === 'not-metadata' ? EXIT.notMetadata : EXIT.ok;
  if (exam.verdict === 'not-metadata') {
    return ctx.refuse(code, `not a metadata directory: ${notMetadataText(exam)}`, { ...report });
  }
  if (ctx.json) {
    ctx.emit(code, { ...report });
    return code;
  }
  const rows: [string, string][] = [['directory', resolve(ctx.dir)]];
  rows.push([
    'state',
    report.state
      ? `${stateText(report.state)} (what a node loads)`
      : `none: a node refuses to start (ERR_METADATA_CORRUPT)\n${exam.error ? corruptionText(ctx.dir, exam.error) : ''}`,
  ]);
  rows.push(['verdict', VERDICT_TEXT[exam.verdict]]);
  rows.push(...formatRows(report.format));
  rows.push(['snapshot', snapshotText(report.snapshot, report.format)]);
  if (exam.logs.length === 0) rows.push(['logs', 'none']);
  for (const log of exam.logs) rows.push(['log', logText(log)]);
  rows.push(['lock', lockText(exam.lock)]);
  const others = exam.otherNames.filter((n) => n !== LOCK_NAME);
  if (others.length > 0) rows.push(['other files', `${others.join(', ')} (ignored by the library)`]);
  ctx.io.out(labelled(rows));
  return code;
}
