import { SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME } from '../format/names.js';
import type { SnapshotContent } from '../format/snapshot-codec.js';
import { NONE_SERVER_ID } from '../state.js';
import type { Examination, Verdict } from './examine.js';

/**
 * What a repair of a metadata directory does, decided from an {@link Examination}: {@link planRepair}
 * is pure (no I/O, no clock), so every decision and its reasons can be tested on examinations
 * alone. `applyRepair` (repair-apply.ts) carries a plan out.
 */

export type RepairStrategy =
  /** Nothing to do: the directory is clean. */
  | 'none'
  /**
   * Torn tail: what an open followed by a compaction does. The state a node loads is written as the
   * snapshot, and the logs (including the torn bytes, never acknowledged) are removed.
   */
  | 'compact'
  /**
   * Corruption (or `--bump-term`): a snapshot with a term above every term seen and no vote, and
   * the logs removed. The node can vote at most once in the new term, and in no earlier term.
   */
  | 'new-term';

/** A value and where it was read. */
export interface Evidence {
  readonly value: number;
  readonly source: string;
}

export interface RepairOptions {
  /**
   * The repaired term is at least this (an operator's floor, e.g. the cluster's term + 1). Given,
   * it asks for a new term even on a clean or torn directory (like `bumpTerm`): the new term is
   * max(minTerm, highest term seen + 1), with no vote.
   */
  readonly minTerm?: number;
  /** Move to a new term with no vote even when the directory is clean or only torn. */
  readonly bumpTerm?: boolean;
}

export interface RepairPlan {
  readonly dir: string;
  readonly verdict: Verdict;
  readonly strategy: RepairStrategy;
  /** What a node loads now (undefined when it refuses to start). */
  readonly before:
    | { readonly currentTerm: number; readonly votedFor: number; readonly lastSeq: number }
    | undefined;
  /** The snapshot the repair writes (undefined for `none`, or when no new term is possible). */
  readonly after: SnapshotContent | undefined;
  /** Highest term in any readable record or snapshot (including damaged snapshots that parse). */
  readonly highestTerm: Evidence;
  /** Highest sequence number any file shows (records, snapshots, log names and headers). */
  readonly highestSeq: Evidence;
  /**
   * Whether the disk proves the end of the history: a CRC-valid record or a checksummed snapshot at
   * `highestSeq`. If not, records with the highest terms may be among the damage, and a `new-term`
   * repair needs `minTerm` from the operator.
   */
  readonly endProven: boolean;
  /** Set when the plan cannot proceed without `minTerm`. */
  readonly needsMinTerm: boolean;
  /** Names copied into the backup folder first. */
  readonly backup: readonly string[];
  /** Log names removed after the new snapshot is durable. */
  readonly remove: readonly string[];
  /** Why this plan, and why it is safe, in sentences. */
  readonly reasons: readonly string[];
  /** What the operator asked for that the plan does not do as asked (a `minTerm` too low). */
  readonly warnings: readonly string[];
}

/** Every number the directory shows, for the highest term and sequence number. */
function collectEvidence(exam: Examination): {
  terms: Evidence[];
  seqs: Evidence[];
  proofs: Evidence[];
} {
  const terms: Evidence[] = [];
  const seqs: Evidence[] = [];
  /** Sequence numbers at which the term is known for sure (a CRC-valid record or checksummed snapshot). */
  const proofs: Evidence[] = [];
  for (const snap of [exam.snapshot, exam.snapshotTemp]) {
    if (snap === undefined) continue;
    if (snap.content !== undefined) {
      const where = `${snap.name} (checksum ok)`;
      terms.push({ value: snap.content.currentTerm, source: where });
      seqs.push({ value: snap.content.lastSeq, source: where });
      proofs.push({ value: snap.content.lastSeq, source: where });
    } else if (snap.unverified !== undefined) {
      const where = `${snap.name} (damaged, unverified)`;
      if (snap.unverified.currentTerm !== undefined)
        terms.push({ value: snap.unverified.currentTerm, source: where });
      if (snap.unverified.lastSeq !== undefined) seqs.push({ value: snap.unverified.lastSeq, source: where });
    }
  }
  for (const log of exam.logs) {
    seqs.push({ value: log.nameFirstSeq - 1, source: `${log.name} (file name)` });
    const header = log.salvage.header;
    if (header !== undefined) seqs.push({ value: header.firstSeq - 1, source: `${log.name} (header)` });
    for (const record of log.salvage.records) {
      const where = `${log.name} byte ${record.offset} (seq ${record.seq})`;
      terms.push({ value: record.currentTerm, source: where });
      seqs.push({ value: record.seq, source: where });
      proofs.push({ value: record.seq, source: where });
    }
  }
  return { terms, seqs, proofs };
}

/**
 * Why the disk does not prove the highest term the node reached, or undefined when it does. Terms
 * only grow with the sequence number, so the term at the highest sequence number any file shows
 * is the highest of all, provided a CRC-valid record or a checksummed snapshot holds it and no
 * damage can hide later records.
 */
function unprovenEnd(
  exam: Examination,
  highestSeq: Evidence,
  proofs: readonly Evidence[],
): string | undefined {
  const snapshot = exam.snapshot;
  if (snapshot !== undefined && snapshot.content === undefined && exam.logs.length === 0) {
    return 'the snapshot is damaged and no log follows it';
  }
  if (highestSeq.value > 0 && !proofs.some((p) => p.value >= highestSeq.value)) {
    return `sequence number ${highestSeq.value} (${highestSeq.source}) is above every CRC-valid record and checksummed snapshot`;
  }
  const newest = exam.logs.at(-1);
  if (newest !== undefined && newest.scanError !== undefined) {
    // Damage after the last readable record of the newest log is a torn write when the library's
    // reader says so (never acknowledged); otherwise it may have held acknowledged records.
    const lastRecord = newest.salvage.records.at(-1)?.offset ?? 0;
    const trailing = newest.salvage.damage.find((d) => d.offset > lastRecord);
    if (trailing !== undefined) {
      return `${newest.name} (the newest log) is damaged at byte ${trailing.offset} after its last readable record`;
    }
  }
  return undefined;
}

function highest(list: readonly Evidence[], fallback: Evidence): Evidence {
  let best = fallback;
  for (const e of list) if (e.value > best.value) best = e;
  return best;
}

/** Decides what a repair of `exam` does. Pure: changes nothing. */
export function planRepair(exam: Examination, options: RepairOptions = {}): RepairPlan {
  const { terms, seqs, proofs } = collectEvidence(exam);
  const highestTerm = highest(terms, { value: 0, source: 'nothing readable (fresh state)' });
  const highestSeq = highest(seqs, { value: 0, source: 'nothing readable' });
  const unproven = unprovenEnd(exam, highestSeq, proofs);
  const endProven = unproven === undefined;
  const before = exam.recovered ? { ...exam.recovered.state, lastSeq: exam.recovered.lastSeq } : undefined;
  const present = [
    ...(exam.snapshot ? [SNAPSHOT_NAME] : []),
    ...(exam.snapshotTemp ? [SNAPSHOT_TEMP_NAME] : []),
    ...exam.logs.map((l) => l.name),
  ];
  const logNames = exam.logs.map((l) => l.name);
  const reasons: string[] = [];
  const base = {
    dir: exam.dir,
    verdict: exam.verdict,
    before,
    highestTerm,
    highestSeq,
    endProven,
  };

  const nothingToDo = (reason: string): RepairPlan => ({
    ...base,
    strategy: 'none',
    after: undefined,
    needsMinTerm: false,
    backup: [],
    remove: [],
    reasons: [reason],
    warnings: [],
  });
  if (exam.verdict === 'not-metadata') return nothingToDo('not a metadata directory: nothing to repair');
  const wantNewTerm =
    exam.verdict === 'corrupt' || options.bumpTerm === true || options.minTerm !== undefined;
  if (!wantNewTerm) {
    if (exam.verdict === 'clean' || before === undefined) {
      return nothingToDo('the directory is clean: nothing to repair');
    }
    reasons.push(
      'Only a torn tail: the last write was cut short by a crash before its fdatasync returned, so none of its records was acknowledged to anyone.',
      `The repair keeps every valid record: the state a node loads now (term ${before.currentTerm}, vote ${before.votedFor}, up to seq ${before.lastSeq}) becomes the snapshot and the logs are removed, which is what a normal open followed by a compaction does.`,
    );
    return {
      ...base,
      strategy: 'compact',
      after: { currentTerm: before.currentTerm, votedFor: before.votedFor, lastSeq: before.lastSeq },
      needsMinTerm: false,
      backup: present,
      remove: logNames,
      reasons,
      warnings: [],
    };
  }

  if (exam.verdict === 'corrupt') {
    reasons.push(
      'The directory is corrupt: the damage is not what a crash leaves, so some acknowledged updates may be unreadable, possibly a vote.',
    );
  } else if (options.bumpTerm === true) {
    reasons.push('--bump-term: moving to a new term even though the directory loads.');
  } else {
    reasons.push(
      `--min-term ${options.minTerm}: moving to a new term of at least ${options.minTerm} with no vote, even though the directory loads.`,
    );
  }
  reasons.push(
    `Every CRC-valid record in every log was read, including records after the damage, and every snapshot whose JSON still parses; the highest term seen is ${highestTerm.value} (${highestTerm.source}).`,
    `The node may have voted in term ${highestTerm.value} or in any earlier term. The repaired state is a term above all of them with no vote: the node can vote at most once in that new term and in no term it may already have voted in.`,
  );
  let needsMinTerm = false;
  if (!endProven) {
    reasons.push(
      `The disk does not prove the highest term the node reached: ${unproven}; records or a snapshot with higher terms may be lost.`,
    );
    if (options.minTerm === undefined) {
      needsMinTerm = true;
      reasons.push(
        "Pass --min-term N with N above any term the cluster has reached (for example the current leader's term + 1): the repaired term will be at least N.",
      );
    }
  }
  const candidate = highestTerm.value + 1;
  let term = candidate;
  const warnings: string[] = [];
  if (options.minTerm !== undefined && options.minTerm > term) {
    term = options.minTerm;
    reasons.push(`--min-term ${options.minTerm} is above ${candidate}: the repaired term is ${term}.`);
  } else if (options.minTerm !== undefined && options.minTerm <= highestTerm.value) {
    // Never below what the node may have voted in: the floor is ignored, not obeyed.
    warnings.push(
      `--min-term ${options.minTerm} is not above the highest term seen (${highestTerm.value}, in ${highestTerm.source}): the repaired term is ${candidate} (the highest seen + 1), not ${options.minTerm}. If the cluster is past ${highestTerm.value}, pass a higher --min-term.`,
    );
  }
  if (!Number.isSafeInteger(term)) {
    return {
      ...base,
      strategy: 'new-term',
      after: undefined,
      needsMinTerm: false,
      backup: present,
      remove: logNames,
      reasons: [
        ...reasons,
        `Impossible: the highest term seen (${highestTerm.value}) leaves no higher safe integer for a new term.`,
      ],
      warnings,
    };
  }
  reasons.push(
    `The new snapshot covers sequence number ${highestSeq.value}, the highest any file shows, so no record that might survive anywhere can be replayed over it; the logs are removed (after the backup).`,
  );
  return {
    ...base,
    strategy: 'new-term',
    after: { currentTerm: term, votedFor: NONE_SERVER_ID, lastSeq: highestSeq.value },
    needsMinTerm,
    backup: present,
    remove: logNames,
    reasons,
    warnings,
  };
}
