import { resolve } from 'node:path';
import { type Examination, examineDirectory } from '../../ops/examine.js';
import { UsageError } from '../args.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { RUN } from '../help.js';
import { directoryJson, notMetadataText } from '../report.js';
import { corruptionText, damageText, ownerText, plural, stateText, tailText } from '../text.js';

const CODES = {
  clean: EXIT.ok,
  torn: EXIT.torn,
  corrupt: EXIT.corrupt,
  'not-metadata': EXIT.notMetadata,
} as const;

/** The verify verdict as sentences: the first line is the summary. */
export function verifyLines(exam: Examination): string[] {
  const dir = exam.dir;
  const recovered = exam.recovered;
  const lines: string[] = [];
  switch (exam.verdict) {
    case 'not-metadata':
      lines.push(`NOT A METADATA DIRECTORY: ${notMetadataText(exam)}.`);
      break;
    case 'clean':
      if (recovered)
        lines.push(
          `OK: ${resolve(dir)} is clean; a node loads ${stateText({ ...recovered.state, lastSeq: recovered.lastSeq })}.`,
        );
      break;
    case 'torn': {
      if (!recovered) break;
      const torn = recovered.logs.flatMap((log) =>
        log.scan.end.kind === 'torn' ? [`${log.name}: ${tailText(log.scan.end)}.`] : [],
      );
      lines.push(`TORN TAIL (recoverable) in ${resolve(dir)}: ${torn[0] ?? ''}`, ...torn.slice(1));
      lines.push(
        'A crash cut the last write short before its fdatasync returned: none of it was acknowledged, nothing is lost.',
        `A node loads ${stateText({ ...recovered.state, lastSeq: recovered.lastSeq })}. The next open keeps every valid record, starts a new log after seq ${recovered.lastSeq} and removes the torn log; \`${RUN} compact ${dir}\` does it now.`,
      );
      break;
    }
    case 'corrupt': {
      const error = exam.error;
      if (!error) break;
      lines.push(`CORRUPT: ${corruptionText(dir, error)}`);
      lines.push(
        'A node refuses to start on this directory (ERR_METADATA_CORRUPT): this is not what a crash leaves.',
      );
      const claims = exam.snapshot?.unverified;
      if (exam.snapshot && exam.snapshot.content === undefined && claims !== undefined) {
        const said = Object.entries(claims).map(([key, value]) => `${key} ${value}`);
        lines.push(`${exam.snapshot.name}: its JSON still claims ${said.join(', ')} (unverified)`);
      }
      for (const log of exam.logs) {
        for (const d of log.salvage.damage) lines.push(`${log.name}: ${damageText(d)}`);
        const after = log.records.filter((r) => r.status === 'not-reached' || r.status === 'rejected').length;
        if (after > 0)
          lines.push(`${log.name}: ${plural(after, 'readable record')} at or after the damage, never loaded`);
      }
      lines.push(
        `Next: \`${RUN} dump ${dir}\` to see every readable record, \`${RUN} repair ${dir}\` for a safe way out (it prints its plan first).`,
      );
      break;
    }
  }
  if (exam.lock.state === 'held') {
    lines.push(
      `Note: ${ownerText(exam.lock.owner)} holds the lock (a running node?); a write in flight can look like a torn tail.`,
    );
  }
  return lines;
}

export async function verify(ctx: CommandContext): Promise<number> {
  if (ctx.values.quiet === true && ctx.json)
    throw new UsageError('--quiet and --json exclude each other', 'verify');
  const exam = await examineDirectory(ctx.fs, ctx.dir);
  const code = CODES[exam.verdict];
  if (ctx.values.quiet === true) return code;
  const lines = verifyLines(exam);
  if (ctx.json) {
    const report = directoryJson(exam);
    ctx.emit(code, {
      verdict: exam.verdict,
      message: lines.join('\n'),
      state: report.state,
      corruption: report.corruption,
      logs: report.logs,
      lock: report.lock,
    });
    return code;
  }
  ctx.io.out(lines.join('\n'));
  return code;
}
