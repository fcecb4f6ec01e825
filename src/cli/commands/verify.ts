import { examineDirectory } from '../../ops/examine.js';
import { groupOption, UsageError } from '../args.js';
import type { CommandContext } from '../context.js';
import { directoryJson, groupStateJson } from '../document.js';
import { EXIT } from '../exit-codes.js';
import { verifyLines } from '../text.js';

const CODES = {
  clean: EXIT.ok,
  torn: EXIT.torn,
  corrupt: EXIT.corrupt,
  'not-metadata': EXIT.notMetadata,
} as const;

export async function verify(ctx: CommandContext): Promise<number> {
  if (ctx.values.quiet === true && ctx.json)
    throw new UsageError('--quiet and --json exclude each other', 'verify');
  const group = groupOption('verify', ctx.values.group);
  const exam = await examineDirectory(ctx.fs, ctx.dir);
  const code = CODES[exam.verdict];
  if (ctx.values.quiet === true) return code;
  const lines = verifyLines(exam, group);
  if (ctx.json) {
    const report = directoryJson(exam);
    ctx.emit(code, {
      verdict: exam.verdict,
      message: lines.join('\n'),
      state: report.state,
      corruption: report.corruption,
      logs: report.logs,
      lock: report.lock,
      format: report.format,
      groups: report.groups,
      ...(group === undefined ? {} : { group: groupStateJson(exam, group) }),
    });
    return code;
  }
  ctx.io.out(lines.join('\n'));
  return code;
}
