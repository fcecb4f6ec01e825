import { resolve } from 'node:path';
import { LockedError } from '../../errors.js';
import { acquireLock, type DirectoryLock } from '../../lock.js';
import {
  applyRepair,
  type Examination,
  examineDirectory,
  type LockStatus,
  planRepair,
  type RepairOptions,
  type RepairPlan,
  type RepairResult,
} from '../../repair.js';
import { integerOption } from '../args.js';
import type { CommandContext } from '../context.js';
import { EXIT, PLAN_ONLY } from '../exit-codes.js';
import { bytes, corruptionText, labelled, lockText, stateText, vote } from '../format.js';
import { printJson } from '../io.js';
import { errorJson, notMetadataText } from '../report.js';
import { verifyLines } from './verify.js';

function planSteps(plan: RepairPlan): string[] {
  const after = plan.after;
  if (plan.strategy === 'none' || after === undefined) return [];
  return [
    `1. copy ${plan.backup.join(', ')} into ${resolve(plan.dir)}/backup-<time>/ (fsynced)`,
    `2. write metadata.json: term ${after.currentTerm}, vote ${vote(after.votedFor)}, covering seq ${after.lastSeq} (temp file, fsync, rename, fsync directory)`,
    `3. remove ${plan.remove.length > 0 ? plan.remove.join(', ') : 'no log'}; fsync the directory`,
    '4. load the directory again with the library and check it holds exactly that state',
  ];
}

function beforeText(plan: RepairPlan, exam: Examination): string {
  if (plan.before) return `a node loads ${stateText(plan.before)}`;
  return `a node refuses to start${exam.error ? ` (${corruptionText(exam.dir, exam.error)})` : ''}`;
}

function planJson(plan: RepairPlan, exam: Examination) {
  return {
    dir: resolve(plan.dir),
    verdict: plan.verdict,
    strategy: plan.strategy,
    before: plan.before ?? null,
    error: errorJson(exam.dir, exam.error),
    after: plan.after ?? null,
    highestTerm: plan.highestTerm,
    highestSeq: plan.highestSeq,
    endProven: plan.endProven,
    needsMinTerm: plan.needsMinTerm,
    backupFiles: plan.backup,
    removeFiles: plan.remove,
    reasons: plan.reasons,
  };
}

function printPlan(ctx: CommandContext, plan: RepairPlan, exam: Examination): void {
  const rows: [string, string][] = [['directory', resolve(plan.dir)]];
  rows.push(['diagnosis', verifyLines(exam)[0] ?? plan.verdict]);
  rows.push(['before', beforeText(plan, exam)]);
  if (plan.strategy === 'new-term') {
    rows.push(['highest term', `${plan.highestTerm.value}, in ${plan.highestTerm.source}`]);
  }
  if (plan.strategy === 'none') {
    rows.push(['plan', 'nothing to do']);
  } else {
    if (plan.needsMinTerm && plan.after) {
      rows.push([
        'after',
        `not decided: needs --min-term N (the term will be at least ${plan.after.currentTerm}, vote none)`,
      ]);
    } else {
      rows.push(['after', plan.after ? stateText(plan.after) : 'impossible']);
      rows.push(['plan', planSteps(plan).join('\n')]);
    }
    rows.push(['why', plan.reasons.map((r) => `- ${r}`).join('\n')]);
  }
  rows.push(['lock', lockText(exam.lock)]);
  ctx.io.out(labelled(rows));
}

function lockRefusal(dir: string, pid: number | undefined): string {
  const who = pid === undefined ? 'another process' : `live process ${pid}`;
  return `refusing: ${resolve(dir)} is locked by ${who} (ERR_METADATA_LOCKED). Stop the node that uses it, then run repair again. Nothing was changed.`;
}

export async function repair(ctx: CommandContext): Promise<number> {
  const dir = ctx.dir;
  const minTerm = integerOption('repair', 'min-term', ctx.values['min-term'], 1);
  const options: RepairOptions = {
    ...(minTerm === undefined ? {} : { minTerm }),
    bumpTerm: ctx.values['bump-term'] === true,
  };
  const yes = ctx.values.yes === true;
  const say = (text: string): void => {
    if (!ctx.json) ctx.io.out(text);
  };
  const fail = (code: number, message: string, extra: Record<string, unknown> = {}): number => {
    if (ctx.json)
      printJson(ctx.io, {
        command: 'repair',
        dir: resolve(dir),
        applied: false,
        exitCode: code,
        message,
        ...extra,
      });
    else ctx.io.err(`raft-metadata repair: ${message}`);
    return code;
  };

  const first = await examineDirectory(ctx.fs, dir);
  if (first.verdict === 'not-metadata') {
    return fail(EXIT.notMetadata, `not a metadata directory: ${notMetadataText(first)}. Nothing to repair.`);
  }

  if (!yes) {
    const plan = planRepair(first, options);
    const code = exitForPlan(plan, first.lock);
    if (ctx.json) {
      printJson(ctx.io, {
        command: 'repair',
        applied: false,
        exitCode: code,
        ...planJson(plan, first),
        lock: first.lock,
      });
      return code;
    }
    printPlan(ctx, plan, first);
    if (plan.strategy === 'none') say('Nothing to repair.');
    else if (first.lock.state === 'held') say(`\n${lockRefusal(dir, first.lock.pid)}`);
    else if (plan.needsMinTerm) say('\nRefused: rerun with --min-term N (see above). Nothing was changed.');
    else if (plan.after === undefined) say('\nRefused: no safe new term exists. Nothing was changed.');
    else say(`\nNothing was changed. Run again with --yes to apply: raft-metadata repair --yes ${dir}`);
    return code;
  }

  if (first.lock.state === 'held')
    return fail(EXIT.locked, lockRefusal(dir, first.lock.pid), { lock: first.lock });
  let lock: DirectoryLock;
  try {
    lock = await acquireLock(ctx.fs, dir);
  } catch (err) {
    if (err instanceof LockedError) return fail(EXIT.locked, lockRefusal(dir, err.pid));
    throw err;
  }
  try {
    // Examine again under the lock: nothing can change the directory from here on.
    const exam = await examineDirectory(ctx.fs, dir);
    const plan = planRepair(exam, options);
    if (!ctx.json) printPlan(ctx, plan, exam);
    if (first.lock.state === 'stale' || first.lock.state === 'unreadable') {
      say(`\nTook over the stale lock (${lockText(first.lock)}).`);
    }
    const code = exitForPlan(plan, { state: 'free' });
    if (plan.strategy === 'none' || code !== PLAN_ONLY) {
      if (ctx.json)
        printJson(ctx.io, { command: 'repair', applied: false, exitCode: code, ...planJson(plan, exam) });
      else if (plan.strategy === 'none') say('Nothing to repair.');
      else say('\nRefused: rerun with --min-term N (see above). Nothing was changed.');
      return code;
    }
    let result: RepairResult;
    try {
      result = await applyRepair(ctx.fs, plan);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return fail(
        EXIT.software,
        `repair FAILED: ${message}. The backup folder (if created) holds the original files; run \`raft-metadata inspect ${dir}\`.`,
        { ...planJson(plan, exam) },
      );
    }
    const state = { ...result.recovered.state, lastSeq: result.recovered.lastSeq };
    if (ctx.json) {
      printJson(ctx.io, {
        command: 'repair',
        applied: true,
        exitCode: EXIT.ok,
        ...planJson(plan, exam),
        result: {
          backupDir: result.backupDir,
          copied: result.copied,
          removed: result.removed,
          state,
        },
      });
      return EXIT.ok;
    }
    const copiedBytes = result.copied.reduce((sum, c) => sum + c.bytes, 0);
    ctx.io.out(
      `\n${labelled([
        ['backup', `${result.backupDir} (${result.copied.length} files, ${bytes(copiedBytes)})`],
        ['removed', result.removed.length > 0 ? result.removed.join(', ') : 'nothing'],
        ['after', `a node loads ${stateText(state)} (checked by loading the directory again)`],
      ])}\nREPAIRED. The node can start again. Keep the backup until the node has rejoined its cluster.`,
    );
    return EXIT.ok;
  } finally {
    await lock.release();
  }
}

function exitForPlan(plan: RepairPlan, lock: LockStatus): number {
  if (plan.strategy === 'none') return EXIT.ok;
  if (lock.state === 'held') return EXIT.locked;
  if (plan.needsMinTerm || plan.after === undefined) return EXIT.refused;
  return PLAN_ONLY;
}
