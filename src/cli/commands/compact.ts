import diagnosticsChannel from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { MetadataManager } from '../../engine/manager.js';
import { MetadataStore, type StoreStats } from '../../engine/store.js';
import { CorruptionError, LockedError, MultiGroupDirectoryError } from '../../errors.js';
import { examineDirectory, isMultiGroup } from '../../ops/examine.js';
import { CHANNELS, type ManagerStats } from '../../stats.js';
import type { CommandContext } from '../context.js';
import { FORMAT_TEXT, formatJson, groupsJson, lockJson, type RefusalJson, stateJson } from '../document.js';
import { EXIT } from '../exit-codes.js';
import { RUN } from '../help.js';
import { groupsText, labelled, loadsText, millis, notMetadataText, ownerText } from '../text.js';

interface CompactionEvent {
  readonly dir: string;
  readonly lastSeq: number;
  readonly durationMs: number;
  readonly rotatedLog: boolean;
}

function isCompactionEvent(value: unknown): value is CompactionEvent {
  return typeof value === 'object' && value !== null && 'durationMs' in value && 'lastSeq' in value;
}

function fileNames(exam: Awaited<ReturnType<typeof examineDirectory>>): string[] {
  return [...(exam.snapshot ? [exam.snapshot.name] : []), ...exam.logs.map((l) => l.name)];
}

/** Opens the directory as a node does (a store, or a manager), compacts, closes: the stats before closing. */
async function openAndCompact(ctx: CommandContext, viaStore: boolean): Promise<ManagerStats | StoreStats> {
  const options = { fs: ctx.fs, flushIntervalMs: 0 };
  const opened = viaStore
    ? await MetadataStore.open(ctx.dir, options)
    : await MetadataManager.open(ctx.dir, options);
  try {
    await opened.sync();
    return opened.stats();
  } finally {
    await opened.close();
  }
}

export async function compact(ctx: CommandContext): Promise<number> {
  const dir = ctx.dir;
  const before = await examineDirectory(ctx.fs, dir);
  const beforeFiles = fileNames(before);
  /** The document's fields when nothing was compacted. */
  const nothing = {
    before: { verdict: before.verdict, files: beforeFiles },
    after: null,
    removed: [],
    created: [],
    compactions: [],
    stats: null,
    lock: lockJson(before.lock),
    format: { before: formatJson(before), after: null },
    groups: groupsJson(before),
  };
  const refuse = (code: number, refusal: RefusalJson): number =>
    ctx.refuse(code, refusal.message, { ...nothing, refusal });
  if (before.verdict === 'not-metadata') {
    return refuse(EXIT.notMetadata, {
      reason: 'not-metadata',
      message: `not a metadata directory: ${notMetadataText(before)}. compact never creates one.`,
    });
  }

  const events: CompactionEvent[] = [];
  const onCompaction = (message: unknown): void => {
    if (isCompactionEvent(message) && resolve(message.dir) === resolve(dir)) events.push(message);
  };
  diagnosticsChannel.subscribe(CHANNELS.compaction, onCompaction);
  // A MetadataStore's directory (groups other than 0) opens as a store, exactly as its node opens
  // it; a MetadataManager's as a manager (whose output this command always printed).
  const viaStore = isMultiGroup(before);
  let stats: ManagerStats | StoreStats;
  try {
    try {
      stats = await openAndCompact(ctx, viaStore);
    } catch (err) {
      // Groups the examination could not see (a manager refuses them before changing anything).
      if (!(err instanceof MultiGroupDirectoryError) || viaStore) throw err;
      stats = await openAndCompact(ctx, true);
    }
  } catch (err) {
    if (err instanceof LockedError) {
      const lock = lockJson(
        err.owner === undefined ? { state: 'held' } : { state: 'held', owner: err.owner },
      );
      return refuse(EXIT.locked, {
        reason: 'locked',
        message: `refusing: ${resolve(dir)} is locked by ${ownerText(err.owner)} (ERR_METADATA_LOCKED). A running node compacts by itself; stop it first for an offline compaction.`,
        lock,
      });
    }
    if (err instanceof CorruptionError) {
      return refuse(EXIT.corrupt, {
        reason: 'corrupt',
        message: `${err.message} (ERR_METADATA_CORRUPT). compact does not repair: see \`${RUN} verify ${dir}\` and \`${RUN} repair ${dir}\`.`,
      });
    }
    throw err;
  } finally {
    diagnosticsChannel.unsubscribe(CHANNELS.compaction, onCompaction);
  }

  const after = await examineDirectory(ctx.fs, dir);
  const afterFiles = fileNames(after);
  const removed = beforeFiles.filter((n) => !afterFiles.includes(n));
  const created = afterFiles.filter((n) => !beforeFiles.includes(n));
  const state = stateJson(after);
  const durationMs = events.reduce((sum, e) => sum + e.durationMs, 0);
  if (ctx.json) {
    ctx.emit(EXIT.ok, {
      before: { verdict: before.verdict, files: beforeFiles },
      after: { verdict: after.verdict, state, files: afterFiles },
      removed,
      created,
      compactions: events.map((e) => ({
        lastSeq: e.lastSeq,
        durationMs: e.durationMs,
        rotatedLog: e.rotatedLog,
      })),
      stats,
      lock: lockJson(before.lock),
      refusal: null,
      format: { before: formatJson(before), after: formatJson(after) },
      groups: groupsJson(after),
    });
    return EXIT.ok;
  }
  const groups = groupsJson(after);
  const rows: [string, string][] = [
    ['compacted', resolve(dir)],
    ['state', state ? loadsText(after) : 'unknown'],
    ...(groups.multiGroup ? [['groups', groupsText(groups)] as [string, string]] : []),
    [
      'snapshot',
      after.snapshot?.content
        ? `${after.snapshot.name} covers seq 1..${after.snapshot.content.lastSeq}`
        : 'none',
    ],
    ['removed', removed.length > 0 ? removed.join(', ') : 'nothing'],
    ['created', created.length > 0 ? created.join(', ') : 'nothing'],
    ['files now', afterFiles.join(', ')],
    [
      'format',
      before.format.summary === after.format.summary
        ? FORMAT_TEXT[after.format.summary]
        : `${FORMAT_TEXT[before.format.summary]}; now ${FORMAT_TEXT[after.format.summary]}`,
    ],
    [
      'took',
      events.length === 0
        ? 'nothing to do: the snapshot already covers every record'
        : `${events.length} compaction(s), ${millis(durationMs)} (stats(): ${stats.compactions} compactions, ${stats.fsyncs} log fsyncs)`,
    ],
  ];
  if (before.verdict === 'torn') rows.push(['note', 'the torn tail (never acknowledged) was dropped']);
  ctx.io.out(labelled(rows));
  return EXIT.ok;
}
