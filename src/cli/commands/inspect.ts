import { resolve } from 'node:path';
import { LOCK_NAME } from '../../format/names.js';
import { examineDirectory } from '../../ops/examine.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { directoryJson, type LogJson, notMetadataText, type SnapshotJson } from '../report.js';
import { corruptionText, damageText, labelled, lockText, plural, stateText, vote } from '../text.js';

export const VERDICT_TEXT = {
  clean: 'clean',
  torn: 'torn tail (recoverable: the next open discards it)',
  corrupt: 'CORRUPT (a node refuses to start)',
  'not-metadata': 'not a metadata directory',
} as const;

export function snapshotText(snapshot: SnapshotJson | null): string {
  if (snapshot === null) return 'none (state starts at term 0; the logs hold everything)';
  if (snapshot.checksumOk) {
    return `${snapshot.name}: covers seq 1..${snapshot.lastSeq}, term ${snapshot.currentTerm}, vote ${vote(snapshot.votedFor ?? 0)}, checksum ok, ${plural(snapshot.size, 'byte')}`;
  }
  const claims = snapshot.unverified
    ? `; its JSON claims ${Object.entries(snapshot.unverified)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} (unverified)`
    : '';
  return `${snapshot.name}: DAMAGED at byte ${snapshot.problem?.offset}: ${snapshot.problem?.reason}, ${plural(snapshot.size, 'byte')}${claims}`;
}

export function logText(log: LogJson): string {
  const version =
    log.formatVersion === null
      ? `header ${log.headerProblem === 'zero' || log.headerProblem === 'short header' ? 'never written' : `DAMAGED (${log.headerProblem})`}`
      : `format v${log.formatVersion}`;
  const range =
    log.recordCount === 0
      ? ''
      : log.firstRecordSeq === log.lastRecordSeq
        ? ` (seq ${log.firstRecordSeq})`
        : ` (seq ${log.firstRecordSeq}..${log.lastRecordSeq})`;
  const lines = [
    `${log.name}: ${version}, ${plural(log.recordCount, 'record')}${range}, ${plural(log.size, 'byte')}`,
  ];
  switch (log.tail.kind) {
    case 'clean':
      lines.push(`tail: clean (valid records end at byte ${log.tail.offset})`);
      break;
    case 'torn':
      lines.push(
        `tail: torn at byte ${log.tail.offset} (${log.tail.reason}), ${plural(log.tail.bytesAfter, 'non-zero byte')} after it`,
      );
      break;
    case 'corrupt':
      lines.push(`CORRUPT at byte ${log.tail.offset}: ${log.tail.reason}`);
      break;
  }
  if (log.readableRecords !== log.recordCount) {
    lines.push(`${plural(log.readableRecords, 'readable record')} in all, counting those after the damage`);
  }
  if (log.tail.kind === 'corrupt') for (const d of log.damage) lines.push(damageText(d));
  return lines.join('\n');
}

export async function inspect(ctx: CommandContext): Promise<number> {
  const exam = await examineDirectory(ctx.fs, ctx.dir);
  const report = directoryJson(exam);
  const code = exam.verdict === 'not-metadata' ? EXIT.notMetadata : EXIT.ok;
  if (ctx.json) {
    ctx.emit(code, { ...report });
    return code;
  }
  if (exam.verdict === 'not-metadata') {
    ctx.io.err(`raft-metadata inspect: not a metadata directory: ${notMetadataText(exam)}`);
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
  rows.push(['snapshot', snapshotText(report.snapshot)]);
  if (report.logs.length === 0) rows.push(['logs', 'none']);
  for (const log of report.logs) rows.push(['log', logText(log)]);
  rows.push(['lock', lockText(exam.lock)]);
  const others = exam.otherNames.filter((n) => n !== LOCK_NAME);
  if (others.length > 0) rows.push(['other files', `${others.join(', ')} (ignored by the library)`]);
  ctx.io.out(labelled(rows));
  return code;
}
