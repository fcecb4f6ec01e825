import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import type { CorruptionInfo } from '../ops/examine.js';
import type { DamagedRange } from '../ops/salvage.js';
import { NONE_SERVER_ID } from '../state.js';
import type { LockOwner, LockStatus } from '../storage/lock.js';
import type { LogEnd } from '../storage/log-reader.js';

/** Small text helpers shared by the commands. */

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

/** `file` relative to `dir` when it is directly inside it (the library's errors carry full paths). */
export function nameIn(dir: string, file: string): string {
  return resolve(dirname(file)) === resolve(dir) ? basename(file) : file;
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
