import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { describeIdentity } from '../errors.js';
import { headerNeverWritten, type LogHeader } from '../format/record.js';
import type { NodeIdentity } from '../identity.js';
import type { CorruptionInfo, Examination, ExaminedLog } from '../ops/examine.js';
import type { DamagedRange, SalvagedLog } from '../ops/salvage.js';
import { NONE_SERVER_ID } from '../state.js';
import type { LockOwner, LockStatus } from '../storage/lock.js';
import type { LogEnd } from '../storage/log-reader.js';
import {
  type FormatJson,
  formatJson,
  type GroupStateJson,
  type GroupsJson,
  groupStateJson,
  groupsJson,
  logJson,
  nameIn,
  type SnapshotJson,
} from './document.js';
import { RUN } from './help.js';

/**
 * Every text the commands print, and nothing else: the JSON documents are built in document.ts,
 * and a text that reports what a document holds renders from the document's own builders, so the
 * two never disagree.
 */

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function bytes(n: number): string {
  if (n < 1024) return plural(n, 'byte');
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function vote(votedFor: number): string {
  return votedFor === NONE_SERVER_ID ? 'none' : String(votedFor);
}

export function stateText(state: { currentTerm: number; votedFor: number; lastSeq?: number }): string {
  const seq = state.lastSeq === undefined ? '' : `, last seq ${state.lastSeq}`;
  return `term ${state.currentTerm}, vote ${vote(state.votedFor)}${seq}`;
}

export function corruptionText(dir: string, error: CorruptionInfo): string {
  return `${nameIn(dir, error.file)}: corrupt at byte ${error.offset}: ${error.reason}`;
}

export function ownerText(owner: LockOwner | undefined): string {
  if (owner === undefined) return 'an owner that has not written LOCK yet';
  const me = owner.pid === process.pid && owner.hostname === hostname() ? ' (this command)' : '';
  return `pid ${owner.pid} on host ${owner.hostname} since ${owner.startedAt}${me}`;
}

export function lockText(lock: LockStatus): string {
  switch (lock.state) {
    case 'free':
      return lock.lastOwner === undefined ? 'free' : `free (last held by ${ownerText(lock.lastOwner)})`;
    case 'held':
      return lock.owner === undefined
        ? 'held by a process that has not written its name into LOCK yet (opening right now)'
        : `held by ${ownerText(lock.owner)}`;
    case 'missing':
      return 'free (no LOCK file)';
    case 'unknown':
      return `unknown: ${lock.reason}`;
  }
}

export function tailText(end: LogEnd): string {
  if (end.kind === 'clean') return `clean (valid records end at byte ${end.offset})`;
  return `torn at byte ${end.offset} (${end.reason}), ${plural(end.bytesAfter, 'non-zero byte')} after it`;
}

export function damageText(range: DamagedRange): string {
  return `bytes ${range.offset}..${range.offset + range.length - 1} do not decode (${range.reason}; ${plural(range.nonZeroBytes, 'non-zero byte')})`;
}

/** Left-aligned label column, for `inspect` and friends. */
export function labelled(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines: string[] = [];
  for (const [label, text] of rows) {
    const [first, ...rest] = text.split('\n');
    lines.push(`${label.padEnd(width)}  ${first ?? ''}`.trimEnd());
    for (const line of rest) lines.push(`${' '.repeat(width)}  ${line}`.trimEnd());
  }
  return lines.join('\n');
}

/** A right-aligned table (numbers) with left-aligned columns where `left` says so. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left: readonly number[] = [],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (left.includes(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Milliseconds with sensible precision (microseconds below 1 ms). */
export function millis(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} us`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(1)} ms`;
}

// ---- an examined directory ------------------------------------------------------------------

/** Why DIR is not a metadata directory, in one sentence. */
export function notMetadataText(exam: Examination): string {
  const dir = resolve(exam.dir);
  switch (exam.kind) {
    case 'missing':
      return `${dir} does not exist`;
    case 'not-directory':
      return `${dir} is not a directory`;
    default: {
      const others =
        exam.otherNames.length === 0 ? 'it is empty' : `it holds only ${exam.otherNames.join(', ')}`;
      return `${dir} has no metadata.json and no log-*.wal file (${others}). A node started here would begin at term 0 with no vote: right for a brand-new node, dangerous for one that ran before (it could vote twice in a term)`;
    }
  }
}

export const VERDICT_TEXT = {
  clean: 'clean',
  torn: 'torn tail (recoverable: the next open discards it)',
  corrupt: 'CORRUPT (a node refuses to start)',
  'not-metadata': 'not a metadata directory',
} as const;

export function snapshotText(
  snapshot: SnapshotJson | null,
  format?: FormatJson,
  groups?: { readonly live: number; readonly removed: number },
): string {
  if (snapshot === null) return 'none (state starts at term 0; the logs hold everything)';
  if (snapshot.checksumOk) {
    const version = format?.snapshot?.version;
    const v = version === undefined || version === null ? '' : `format v${version}, `;
    // A multi-group directory's snapshot: its counts (group 0's term alone says little).
    const held =
      groups === undefined
        ? `term ${snapshot.currentTerm}, vote ${vote(snapshot.votedFor ?? 0)}`
        : `${plural(groups.live, 'live group')} and ${plural(groups.removed, 'tombstone')}`;
    return `${snapshot.name}: ${v}covers seq 1..${snapshot.lastSeq}, ${held}, checksum ok, ${plural(snapshot.size, 'byte')}`;
  }
  const claims = snapshot.unverified
    ? `; its JSON claims ${Object.entries(snapshot.unverified)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} (unverified)`
    : '';
  return `${snapshot.name}: DAMAGED at byte ${snapshot.problem?.offset}: ${snapshot.problem?.reason}, ${plural(snapshot.size, 'byte')}${claims}`;
}

/** A log's header in words: `decoded` when it decodes, else never written or damaged (and why). */
export function headerText(salvage: SalvagedLog, decoded: (header: LogHeader) => string): string {
  if (salvage.header !== undefined) return decoded(salvage.header);
  const problem = salvage.headerProblem;
  if (problem === undefined || headerNeverWritten(problem)) return 'header never written';
  return `header DAMAGED (${problem.reason})`;
}

export function logText(examined: ExaminedLog): string {
  const log = logJson(examined);
  const version = headerText(examined.salvage, (header) => `format v${header.layout.version}`);
  const range =
    log.recordCount === 0
      ? ''
      : log.firstRecordSeq === log.lastRecordSeq
        ? ` (seq ${log.firstRecordSeq})`
        : ` (seq ${log.firstRecordSeq}..${log.lastRecordSeq})`;
  const lines = [
    `${log.name}: ${version}, ${plural(log.recordCount, 'record')}${range}, ${plural(log.size, 'byte')}`,
  ];
  if (log.tail.kind === 'corrupt') lines.push(`CORRUPT at byte ${log.tail.offset}: ${log.tail.reason}`);
  else lines.push(`tail: ${tailText(log.tail)}`);
  if (log.readableRecords !== log.recordCount) {
    lines.push(`${plural(log.readableRecords, 'readable record')} in all, counting those after the damage`);
  }
  if (log.tail.kind === 'corrupt') for (const d of log.damage) lines.push(damageText(d));
  lines.push(...foreignLines(examined));
  return lines.join('\n');
}

/** What of a log belongs to another directory, in lines (none when nothing does). */
export function foreignLines(examined: ExaminedLog): string[] {
  const lines: string[] = [];
  const file = examined.foreign;
  if (file !== undefined) {
    const whose =
      file.directoryId === undefined ? 'a format-v1 log after format v2' : `directory id ${file.directoryId}`;
    lines.push(`BELONGS TO ANOTHER DIRECTORY (${whose}): never replayed; \`repair\` sets it aside`);
  }
  const foreign = examined.salvage.foreign;
  const first = foreign[0];
  if (first !== undefined) {
    lines.push(
      `${plural(foreign.length, 'whole record')} of another directory (the first at byte ${first.offset}, seq ${first.seq}): not this node's, never replayed`,
    );
  }
  return lines;
}

export function identityText(identity: NodeIdentity | undefined | null): string {
  if (identity === undefined || identity === null) {
    return 'none (not stamped: the next MetadataManager.open with the identity option stamps it)';
  }
  return describeIdentity(identity);
}

/** The directory's id in words. */
export function directoryIdText(format: FormatJson): string {
  if (format.directoryId === null) return 'none (format v1 has none: the next open makes one)';
  return `${format.directoryId} (from ${format.directoryIdFrom})`;
}

/** Rows saying which format each file is in and whose directory this is (inspect, repair). */
export function formatRows(format: FormatJson): [string, string][] {
  const rows: [string, string][] = [
    ['format', format.message],
    ['directory id', directoryIdText(format)],
    ['identity', identityText(format.identity)],
  ];
  for (const file of format.foreignFiles) rows.push(['FOREIGN', file.message]);
  return rows;
}

/** One line for verify and dump: the format of every file, the directory id, the identity. */
export function formatLine(exam: Examination): string {
  const format = formatJson(exam);
  const files = [
    ...(format.snapshot ? [`${format.snapshot.name} ${versionText(format.snapshot.version)}`] : []),
    ...format.logs.map(
      (log) => `${log.name} ${versionText(log.version)}${log.foreign ? " (another directory's)" : ''}`,
    ),
  ];
  return `Format: ${format.message} (${files.join(', ')}); directory id ${directoryIdText(format)}; node identity ${identityText(format.identity)}.`;
}

function versionText(version: 1 | 2 | null): string {
  return version === null ? 'unreadable' : `v${version}`;
}

/** The verify verdict as sentences: the first line is the summary. */
export function verifyLines(exam: Examination, group?: number): string[] {
  const dir = exam.dir;
  const recovered = exam.recovered;
  const lines: string[] = [];
  const loaded = (): string => loadsText(exam, group);
  switch (exam.verdict) {
    case 'not-metadata':
      lines.push(`NOT A METADATA DIRECTORY: ${notMetadataText(exam)}.`);
      break;
    case 'clean':
      if (recovered) lines.push(`OK: ${resolve(dir)} is clean; a node loads ${loaded()}.`);
      lines.push(formatLine(exam));
      break;
    case 'torn': {
      if (!recovered) break;
      const torn = recovered.logs.flatMap((log) =>
        log.scan.end.kind === 'torn' ? [`${log.name}: ${tailText(log.scan.end)}.`] : [],
      );
      lines.push(`TORN TAIL (recoverable) in ${resolve(dir)}: ${torn[0] ?? ''}`, ...torn.slice(1));
      lines.push(formatLine(exam));
      lines.push(
        'A crash cut the last write short before its fdatasync returned: none of it was acknowledged, nothing is lost.',
        `A node loads ${loaded()}. The next open keeps every valid record, starts a new log after seq ${recovered.lastSeq} and removes the torn log; \`${RUN} compact ${dir}\` does it now.`,
      );
      break;
    }
    case 'corrupt': {
      const error = exam.error;
      if (!error) break;
      lines.push(`CORRUPT: ${corruptionText(dir, error)}`);
      lines.push(
        'A node refuses to start on this directory (ERR_METADATA_CORRUPT): this is not what a crash leaves.',
        formatLine(exam),
      );
      for (const file of exam.format.foreignFiles) {
        lines.push(`${file.message}; never replayed (\`repair\` moves it into its backup folder)`);
      }
      for (const log of exam.logs) {
        const first = log.salvage.foreign[0];
        if (log.foreign === undefined && first !== undefined) {
          lines.push(
            `${log.name}: ${plural(log.salvage.foreign.length, 'whole record')} of another directory from byte ${first.offset}: not this node's, never replayed`,
          );
        }
      }
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

// ---- groups (a MetadataStore's directory) ----------------------------------------------------

/** `2 live groups (1 with a vote), 1 removed`: the counts of what a node loads. */
export function groupCountText(groups: GroupsJson): string {
  if (!groups.loaded)
    return `${plural(groups.named, 'group')} named by readable files (a node refuses to start)`;
  const live = groups.live ?? 0;
  return `${plural(live, 'live group')} (${groups.voted ?? 0} with a vote), ${groups.removed ?? 0} removed`;
}

/** The summary of every group: counts, term range, the highest terms. */
export function groupsText(groups: GroupsJson): string {
  const parts = [groupCountText(groups)];
  if (groups.termRange !== null) {
    const { min, max } = groups.termRange;
    parts.push(min === max ? `every term ${max}` : `terms ${min}..${max}`);
  }
  const lines = [parts.join('; ')];
  if (groups.highest.length > 0) {
    const list = groups.highest.map(
      (g) =>
        `group ${g.group} term ${g.currentTerm}${g.votedFor === NONE_SERVER_ID ? '' : ` (vote ${g.votedFor})`}`,
    );
    lines.push(`highest: ${list.join(', ')}`);
  }
  if ((groups.floorTerm ?? 0) > 0)
    lines.push(
      `every group not listed starts at term ${groups.floorTerm} with no vote (floorTerm, set by a repair)`,
    );
  lines.push('`--group N` shows one group');
  return lines.join('\n');
}

/** One group's state in words: `group 5: term 4, vote none, last seq 5` (and what removed or never updated means). */
export function groupStateText(state: GroupStateJson): string {
  const what =
    state.status === 'removed'
      ? ' (removed: a tombstone; it resumes at this term with no vote and cannot vote in it)'
      : state.status === 'none'
        ? state.currentTerm === 0
          ? ' (never updated: term 0, no vote)'
          : ' (not listed: it starts from the floor a repair set, with no vote, and may vote in this term)'
        : '';
  return `group ${state.group}: ${stateText(state)}${what}`;
}

/** Whether `exam` is a multi-group directory (its output adds the group summary). */
export function multiGroup(exam: Examination): boolean {
  return groupsJson(exam).multiGroup;
}

/** The snapshot's group counts, for {@link snapshotText}, when `exam` is a multi-group directory. */
export function snapshotGroups(exam: Examination): { live: number; removed: number } | undefined {
  const content = exam.snapshot?.content;
  if (content === undefined || !multiGroup(exam)) return undefined;
  return { live: content.groups.size, removed: content.removed.size };
}

/**
 * What a node loads, in words: group 0's state (a directory of MetadataManager), group `group`'s
 * (`--group N`), or the summary of every group (a multi-group directory).
 */
export function loadsText(exam: Examination, group?: number): string {
  const recovered = exam.recovered;
  if (recovered === undefined) return 'nothing (it refuses to start)';
  if (group !== undefined) {
    const state = groupStateJson(exam, group);
    if (state !== null) return groupStateText(state);
  }
  const groups = groupsJson(exam);
  if (!groups.multiGroup) return stateText({ ...recovered.state, lastSeq: recovered.lastSeq });
  const range = groups.termRange;
  const terms =
    range === null
      ? ''
      : range.min === range.max
        ? `, every term ${range.max}`
        : `, terms ${range.min}..${range.max}`;
  return `${groupCountText(groups)}${terms}, last seq ${recovered.lastSeq}`;
}
