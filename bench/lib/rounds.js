/**
 * Rounds: every variant (or load size) runs once per round, in an order rotated from round to round,
 * and comparisons are made within a round.
 */
import { median } from './stats.js';

/** `list` rotated left by `by` places. */
export function rotate(list, by) {
  const k = list.length === 0 ? 0 : by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** Median over rounds of (a's updates/s / b's updates/s) in the same round; undefined if either is missing. */
export function ratio(a, b) {
  if (a === undefined || b === undefined) return undefined;
  const values = a.rounds.map((r, i) => {
    const other = b.rounds[i];
    return r && other && other.opsPerSec > 0 ? r.opsPerSec / other.opsPerSec : undefined;
  });
  return median(values);
}
