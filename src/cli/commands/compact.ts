import diagnosticsChannel from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { CorruptionError, LockedError } from '../../errors.js';
import { MetadataManager } from '../../manager.js';
import { examineDirectory } from '../../repair.js';
import { CHANNELS, type ManagerStats } from '../../stats.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { labelled, millis, stateText } from '../format.js';
import { printJson } from '../io.js';
import { notMetadataText } from '../report.js';

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

export async function compact(ctx: CommandContext): Promise<number> {
  const dir = ctx.dir;
  const before = await examineDirectory(ctx.fs, dir);
  if (before.verdict === 'not-metadata') {
    const why = `not a metadata directory: ${notMetadataText(before)}. compact never creates one.`;
    if (ctx.json)
      printJson(ctx.io, {
        command: 'compact',
        dir: resolve(dir),
        ok: false,
        exitCode: EXIT.notMetadata,
        error: why,
      });
    else ctx.io.err(`raft-metadata compact: ${why}`);
    return EXIT.notMetadata;
  }

  const events: CompactionEvent[] = [];
  const onCompaction = (message: unknown): void => {
    if (isCompactionEvent(message) && resolve(message.dir) === resolve(dir)) events.push(message);
  };
  diagnosticsChannel.subscribe(CHANNELS.compaction, onCompaction);
  let stats: ManagerStats;
  try {
    const manager = await MetadataManager.open(dir, { fs: ctx.fs, flushIntervalMs: 0 });
    try {
      await manager.sync();
      stats = manager.stats();
    } finally {
      await manager.close();
    }
  } catch (err) {
    if (err instanceof LockedError) {
      const holder = err.pid === undefined ? 'another process' : `live process ${err.pid}`;
      const why = `refusing: ${resolve(dir)} is locked by ${holder} (ERR_METADATA_LOCKED). A running node compacts by itself; stop it first for an offline compaction.`;
      if (ctx.json)
        printJson(ctx.io, {
          command: 'compact',
          dir: resolve(dir),
          ok: false,
          exitCode: EXIT.locked,
          error: why,
          pid: err.pid ?? null,
        });
      else ctx.io.err(`raft-metadata compact: ${why}`);
      return EXIT.locked;
    }
    if (err instanceof CorruptionError) {
      const why = `${err.message} (ERR_METADATA_CORRUPT). compact does not repair: see \`raft-metadata verify ${dir}\` and \`raft-metadata repair ${dir}\`.`;
      if (ctx.json)
        printJson(ctx.io, {
          command: 'compact',
          dir: resolve(dir),
          ok: false,
          exitCode: EXIT.corrupt,
          error: why,
        });
      else ctx.io.err(`raft-metadata compact: ${why}`);
      return EXIT.corrupt;
    }
    throw err;
  } finally {
    diagnosticsChannel.unsubscribe(CHANNELS.compaction, onCompaction);
  }

  const after = await examineDirectory(ctx.fs, dir);
  const beforeFiles = fileNames(before);
  const afterFiles = fileNames(after);
  const removed = beforeFiles.filter((n) => !afterFiles.includes(n));
  const created = afterFiles.filter((n) => !beforeFiles.includes(n));
  const state = after.recovered ? { ...after.recovered.state, lastSeq: after.recovered.lastSeq } : null;
  const durationMs = events.reduce((sum, e) => sum + e.durationMs, 0);
  if (ctx.json) {
    printJson(ctx.io, {
      command: 'compact',
      dir: resolve(dir),
      ok: true,
      exitCode: EXIT.ok,
      before: { verdict: before.verdict, files: beforeFiles },
      after: { verdict: after.verdict, state, files: afterFiles },
      removed,
      created,
      compactions: events,
      stats,
    });
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ['compacted', resolve(dir)],
    ['state', state ? stateText(state) : 'unknown'],
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
      'took',
      events.length === 0
        ? 'nothing to do: the snapshot already covers every record'
        : `${events.length} compaction(s), ${millis(durationMs)} (stats(): ${stats.compactions} compactions, ${stats.fsyncs} log fsyncs)`,
    ],
  ];
  if (before.verdict === 'torn') rows.push(['note', 'the torn tail (never acknowledged) was dropped']);
  if (before.lock.state === 'stale')
    rows.push(['lock', `took over the stale LOCK (pid ${before.lock.pid} was not running)`]);
  ctx.io.out(labelled(rows));
  return EXIT.ok;
}
