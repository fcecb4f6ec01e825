import { resolve } from 'node:path';
import { LockedError } from '../../errors.js';
import { type Examination, examineDirectory } from '../../ops/examine.js';
import { applyRepair, FOREIGN_FOLDER, type RepairResult } from '../../ops/repair-apply.js';
import { planRepair, type RepairOptions, type RepairPlan } from '../../ops/repair-plan.js';
import { acquireLock, type DirectoryLock, type LockOwner, type LockStatus } from '../../storage/lock.js';
import { integerOption } from '../args.js';
import type { CommandContext } from '../context.js';
import {
  type ErrorJson,
  errorJson,
  formatJson,
  groupRepairsJson,
  identityJson,
  type LockJson,
  lockJson,
  planJson,
  type RefusalJson,
} from '../document.js';
import { EXIT, PLAN_ONLY } from '../exit-codes.js';
import { RUN } from '../help.js';
import {
  bytes,
  corruptionText,
  formatRows,
  identityText,
  labelled,
  lockText,
  notMetadataText,
  ownerText,
  plural,
  stateText,
  verifyLines,
  vote,
} from '../text.js';

function planSteps(plan: RepairPlan): string[] {
  const after = plan.after;
  if (plan.strategy === 'none' || after === undefined) return [];
  const foreign = new Set(plan.setAside.map((f) => f.name));
  const own = plan.backup.filter((n) => !foreign.has(n));
  const id = plan.keep.directoryId ?? 'a new one (the directory has none yet)';
  return [
    `1. copy ${own.join(', ')} into ${resolve(plan.dir)}/backup-<time>/${foreign.size > 0 ? `, and ${[...foreign].join(', ')} (another directory's) into its ${FOREIGN_FOLDER}/` : ''} (fsynced)`,
    `2. create ${plan.createLog}, empty, format v2, directory id ${id} (temp file, fdatasync, rename, fsync directory)`,
    `3. write metadata.json: ${plan.groupRepairs.length > 0 ? groupsWritten(plan) : `term ${after.currentTerm}, vote ${vote(after.votedFor)}`}, covering seq ${after.lastSeq}, naming ${plan.createLog} as the log after it, directory id ${id}, identity ${identityText(plan.keep.identity)} (temp file, fsync, rename, fsync directory)`,
    `4. remove ${plan.remove.length > 0 ? plan.remove.join(', ') : 'no log'}; fsync the directory`,
    `5. load the directory again with the library and check it holds exactly ${plan.groupRepairs.length > 0 ? 'that state of every group and tombstone' : 'that state'}, directory id and identity`,
  ];
}

function beforeText(plan: RepairPlan, exam: Examination): string {
  if (plan.before) return `a node loads ${stateText(plan.before)}`;
  return `a node refuses to start${exam.error ? ` (${corruptionText(exam.dir, exam.error)})` : ''}`;
}

function printPlan(ctx: CommandContext, plan: RepairPlan, exam: Examination): void {
  const rows: [string, string][] = [['directory', resolve(plan.dir)]];
  rows.push(['diagnosis', verifyLines(exam)[0] ?? plan.verdict]);
  rows.push(...formatRows(formatJson(exam)));
  rows.push(['before', beforeText(plan, exam)]);
  if (plan.strategy === 'new-term' && plan.groupRepairs.length === 0) {
    rows.push(['highest term', `${plan.highestTerm.value}, in ${plan.highestTerm.source}`]);
  }
  if (plan.strategy === 'none') {
    rows.push(['plan', 'nothing to do']);
  } else {
    const perGroup = plan.groupRepairs.length > 0;
    if (perGroup) rows.push(['groups', groupPlanText(plan)]);
    if (plan.needsMinTerm && plan.after) {
      rows.push([
        'after',
        perGroup
          ? `not decided: needs --min-term N (the disk does not prove the highest term of ${plural(plan.groupRepairs.filter((g) => !g.termProven).length, 'group')}; each raised group moves to max(its highest term seen + 1, N), vote none)`
          : `not decided: needs --min-term N (the term will be at least ${plan.after.currentTerm}, vote none)`,
      ]);
    } else {
      rows.push([
        'after',
        plan.after
          ? perGroup
            ? `${groupsWritten(plan)}, last seq ${plan.after.lastSeq}`
            : stateText(plan.after)
          : 'impossible',
      ]);
      if (plan.after) rows.push(['keeps', keepText(plan)]);
      rows.push(['plan', planSteps(plan).join('\n')]);
    }
    rows.push(['why', plan.reasons.map((r) => `- ${r}`).join('\n')]);
  }
  for (const file of plan.setAside) {
    rows.push([
      'set aside',
      `${file.name} (${file.directoryId === undefined ? `format v${file.version}` : `directory id ${file.directoryId}`}): into the backup's ${FOREIGN_FOLDER}/, never replayed`,
    ]);
  }
  for (const warning of plan.warnings) rows.push(['WARNING', warning.message]);
  rows.push(['lock', lockText(exam.lock)]);
  ctx.io.out(labelled(rows));
}

function lockRefusal(dir: string, owner: LockOwner | undefined): string {
  return `refusing: ${resolve(dir)} is locked by ${ownerText(owner)} (ERR_METADATA_LOCKED). Stop the node that uses it, then run repair again. Nothing was changed.`;
}

const NEEDS_MIN_TERM = 'Refused: rerun with --min-term N (see above). Nothing was changed.';
const NO_TERM_LEFT = 'Refused: no safe new term exists. Nothing was changed.';

export async function repair(ctx: CommandContext): Promise<number> {
  const dir = ctx.dir;
  const minTerm = integerOption('repair', 'min-term', ctx.values['min-term'], 1);
  const options: RepairOptions = {
    ...(minTerm === undefined ? {} : { minTerm }),
    bumpTerm: ctx.values['bump-term'] === true,
  };
  const yes = ctx.values.yes === true;
  const request = { yes, minTerm: minTerm ?? null, bumpTerm: options.bumpTerm === true };
  const say = (text: string): void => {
    if (!ctx.json) ctx.io.out(text);
  };
  /** Ends the command: the document (JSON) or the last words (text). */
  const done = (
    code: number,
    plan: RepairPlan,
    exam: Examination,
    lock: LockJson,
    message: string,
    extra: {
      refusal?: RefusalJson;
      result?: Record<string, unknown>;
      repaired?: Record<string, unknown>;
      error?: ErrorJson;
      stream?: 'out' | 'err';
    } = {},
  ): number => {
    const body = {
      ...request,
      applied: extra.result !== undefined,
      message: message.trim(),
      ...planJson(plan, exam),
      lock,
      refusal: extra.refusal ?? null,
      result: extra.result ?? null,
      repaired: extra.repaired ?? null,
      ...(extra.error ? { error: extra.error } : {}),
    };
    if (extra.stream === 'err') return ctx.refuse(code, message, body);
    if (ctx.json) ctx.emit(code, body);
    else say(message);
    return code;
  };

  const first = await examineDirectory(ctx.fs, dir);
  const firstPlan = planRepair(first, options);
  if (first.verdict === 'not-metadata') {
    const message = `not a metadata directory: ${notMetadataText(first)}. Nothing to repair.`;
    return done(EXIT.notMetadata, firstPlan, first, lockJson(first.lock), message, {
      refusal: { reason: 'not-metadata', message },
      stream: 'err',
    });
  }

  const refusalFor = (plan: RepairPlan): RefusalJson | undefined => {
    if (plan.needsMinTerm) return { reason: 'needs-min-term', message: NEEDS_MIN_TERM };
    if (plan.strategy !== 'none' && plan.after === undefined)
      return { reason: 'no-term-left', message: NO_TERM_LEFT };
    return undefined;
  };

  if (!yes) {
    const plan = firstPlan;
    const code = exitForPlan(plan, first.lock);
    if (!ctx.json) printPlan(ctx, plan, first);
    const lock = lockJson(first.lock);
    if (plan.strategy === 'none') return done(code, plan, first, lock, 'Nothing to repair.');
    if (code === EXIT.locked) {
      const message = lockRefusal(dir, first.lock.state === 'held' ? first.lock.owner : undefined);
      return done(code, plan, first, lock, `\n${message}`, { refusal: { reason: 'locked', message, lock } });
    }
    const refusal = refusalFor(plan);
    if (refusal) return done(code, plan, first, lock, `\n${refusal.message}`, { refusal });
    return done(
      code,
      plan,
      first,
      lock,
      `\nNothing was changed. Run again with --yes to apply: ${RUN} repair --yes ${[
        ...(minTerm === undefined ? [] : [`--min-term ${minTerm}`]),
        ...(options.bumpTerm ? ['--bump-term'] : []),
        dir,
      ].join(' ')}`,
    );
  }

  const locked = (owner: LockOwner | undefined, lock: LockJson): number => {
    const message = lockRefusal(dir, owner);
    return done(EXIT.locked, firstPlan, first, lock, message, {
      refusal: { reason: 'locked', message, lock },
      stream: 'err',
    });
  };
  if (first.lock.state === 'held') return locked(first.lock.owner, lockJson(first.lock));
  let held: DirectoryLock;
  try {
    held = await acquireLock(ctx.fs, dir);
  } catch (err) {
    if (err instanceof LockedError)
      return locked(err.owner, lockJson(err.owner ? { state: 'held', owner: err.owner } : { state: 'held' }));
    throw err;
  }
  try {
    // Examine again under the lock: nothing can change the directory from here on. (LOCK's text
    // still names its previous owner until the repair writes: the lock is this command's.)
    const probed = await examineDirectory(ctx.fs, dir);
    const exam: Examination = { ...probed, lock: { state: 'held', owner: held.owner } };
    const plan = planRepair(exam, options);
    const lock = lockJson(exam.lock);
    if (!ctx.json) printPlan(ctx, plan, exam);
    if (plan.strategy === 'none') return done(EXIT.ok, plan, exam, lock, 'Nothing to repair.');
    const refusal = refusalFor(plan);
    if (refusal) return done(EXIT.refused, plan, exam, lock, `\n${refusal.message}`, { refusal });
    let result: RepairResult;
    try {
      // Name ourselves in LOCK before changing anything: a node refused meanwhile says who.
      await held.announce();
      result = await applyRepair(ctx.fs, plan);
    } catch (err) {
      const message = `repair FAILED: ${err instanceof Error ? err.message : String(err)}. The backup folder (if created) holds the original files; run \`${RUN} inspect ${dir}\`.`;
      return done(EXIT.software, plan, exam, lock, message, {
        error: errorJson(err, 'ERR_REPAIR_FAILED', message),
        stream: 'err',
      });
    }
    const state = {
      currentTerm: result.recovered.state.currentTerm,
      votedFor: result.recovered.state.votedFor,
      lastSeq: result.recovered.lastSeq,
    };
    const copiedBytes = result.copied.reduce((sum, c) => sum + c.bytes, 0);
    if (!ctx.json) {
      ctx.io.out(
        `\n${labelled([
          ['backup', `${result.backupDir} (${result.copied.length} files, ${bytes(copiedBytes)})`],
          ['created', `${result.created} (empty, format v2)`],
          ['removed', result.removed.length > 0 ? result.removed.join(', ') : 'nothing'],
          ...result.setAside.map((f): [string, string] => [
            'set aside',
            `${f.name} (${f.directoryId === undefined ? 'format v1' : `directory id ${f.directoryId}`}), now only in ${result.backupDir}/${FOREIGN_FOLDER}/`,
          ]),
          ['identity', `directory id ${result.directoryId}, node identity ${identityText(result.identity)}`],
          [
            'after',
            plan.groupRepairs.length > 0
              ? `a node loads ${plural(result.recovered.groups.size, 'live group')} and ${plural(result.recovered.removed.size, 'tombstone')}, each as planned, last seq ${state.lastSeq} (checked by loading the directory again)`
              : `a node loads ${stateText(state)} (checked by loading the directory again)`,
          ],
        ])}`,
      );
    }
    return done(
      EXIT.ok,
      plan,
      exam,
      lock,
      'REPAIRED. The node can start again. Keep the backup until the node has rejoined its cluster.',
      {
        result: {
          backupDir: result.backupDir,
          copied: result.copied,
          removed: result.removed,
          state,
        },
        repaired: {
          created: result.created,
          directoryId: result.directoryId,
          identity: identityJson(result.identity),
          groups: { live: result.recovered.groups.size, removed: result.recovered.removed.size },
          setAside: result.setAside.map((f) => ({
            name: f.name,
            directoryId: f.directoryId ?? null,
            movedTo: `${result.backupDir}/${FOREIGN_FOLDER}/${f.name}`,
          })),
        },
      },
    );
  } finally {
    await held.release();
  }
}

/** `3 groups and 1 tombstone (2 kept, 2 raised to terms 5..20, no vote)`: what the new snapshot holds. */
function groupsWritten(plan: RepairPlan): string {
  const json = groupRepairsJson(plan);
  if (json === null) return '';
  const range = json.raisedTerms;
  const to =
    range === null
      ? ''
      : range.min === range.max
        ? ` to term ${range.max}`
        : ` to terms ${range.min}..${range.max}`;
  const floor = plan.floorTerm > 0 ? `; every group not listed at term ${plan.floorTerm}, no vote` : '';
  return `${plural(plan.groups.size, 'live group')} and ${plural(plan.removed.size, 'tombstone')} (${json.kept} kept as they are, ${json.raised} raised${to} with no vote${floor})`;
}

/** How many raised groups the text lists one per line. */
const RAISED_LISTED = 20;

/** Each group the plan raises, one per line (the first {@link RAISED_LISTED}), and the count of those kept. */
function groupPlanText(plan: RepairPlan): string {
  const kept = plan.groupRepairs.filter((g) => g.proven);
  const raised = plan.groupRepairs.filter((g) => !g.proven);
  const lines = [
    `${plural(plan.groupRepairs.length, 'group')}: ${kept.length} proven by the disk (kept, term and vote), ${raised.length} not proven (raised, no vote)`,
  ];
  for (const g of raised.slice(0, RAISED_LISTED)) {
    const before =
      g.before === undefined
        ? 'no readable state'
        : `${g.before.removed ? 'removed at term ' : 'term '}${g.before.currentTerm}${g.before.removed ? '' : `, vote ${vote(g.before.votedFor)}`}`;
    const after = plan.needsMinTerm && !g.termProven ? 'at least --min-term' : `term ${g.after.currentTerm}`;
    lines.push(
      `group ${g.group}: ${before} -> ${after}, vote none${g.after.removed ? ', still removed' : ''} (highest term seen ${g.highestTerm.value}; ${g.reason})`,
    );
  }
  if (raised.length > RAISED_LISTED)
    lines.push(`... and ${raised.length - RAISED_LISTED} more (--json lists every one)`);
  return lines.join('\n');
}

function keepText(plan: RepairPlan): string {
  const id =
    plan.keep.directoryId === undefined
      ? 'a new directory id (format v1 has none)'
      : `directory id ${plan.keep.directoryId} (from ${plan.keep.directoryIdFrom})`;
  return `${id}, node identity ${identityText(plan.keep.identity)}`;
}

function exitForPlan(plan: RepairPlan, lock: LockStatus): number {
  if (plan.strategy === 'none') return EXIT.ok;
  if (lock.state === 'held') return EXIT.locked;
  if (plan.needsMinTerm || plan.after === undefined) return EXIT.refused;
  return PLAN_ONLY;
}
