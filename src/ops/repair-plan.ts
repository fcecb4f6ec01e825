import type { DirectoryId } from '../format/directory-id.js';
import { logName, SNAPSHOT_NAME, SNAPSHOT_TEMP_NAME } from '../format/names.js';
import type { NodeIdentity } from '../identity.js';
import { groupStateIn, type HardState, NONE_SERVER_ID } from '../state.js';
import { type Examination, type ForeignFile, groupsNamed, isMultiGroup, type Verdict } from './examine.js';
import { type GroupRepair, planGroups } from './repair-groups.js';

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

/** Group 0's state the repaired snapshot holds, and the last sequence number it covers. */
export interface RepairTarget {
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly lastSeq: number;
}

/** Whose directory the repaired one is: the same as before the repair. */
export interface KeptIdentity {
  /** The directory's id ({@link ownDirectoryId}); undefined: it has none yet (format v1), one is made. */
  readonly directoryId: DirectoryId | undefined;
  /** Where it was read. */
  readonly directoryIdFrom: string | undefined;
  /** The node identity of the snapshot (or of a whole `metadata.json.tmp` of the same directory). */
  readonly identity: NodeIdentity | undefined;
}

export interface RepairWarning {
  /** `min-term-overridden`, `identity-unknown`. */
  readonly code: string;
  readonly message: string;
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
  readonly after: RepairTarget | undefined;
  /** Every group the snapshot holds (group 0 is {@link after}'s; others only for `compact`). */
  readonly groups: ReadonlyMap<number, HardState>;
  /** Removed groups the snapshot keeps (`compact` only). */
  readonly removed: ReadonlyMap<number, number>;
  /**
   * The snapshot's `floorTerm`: the term every group it does not list starts from, with no vote
   * (format.md). Kept as it is by a torn-tail repair; raised by a new-term repair of a multi-group
   * directory when a lost record may have been the only one of a group no readable file names.
   */
  readonly floorTerm: number;
  /** The directory id and node identity the repaired directory keeps. */
  readonly keep: KeptIdentity;
  /** Groups other than 0 this directory's files hold (a multi-group store's directory). */
  readonly otherGroups: readonly number[];
  /**
   * A `new-term` repair of a multi-group directory: what it does with each group (kept when the
   * disk proves its state, else raised to a new term with no vote). Empty otherwise.
   */
  readonly groupRepairs: readonly GroupRepair[];
  /** Files of another directory: moved into the backup folder's `foreign/`, never replayed. */
  readonly setAside: readonly ForeignFile[];
  /**
   * The empty format-v2 log the repair creates, `log-<lastSeq + 1>`: the log the new snapshot
   * names as the one after it (undefined when nothing is written).
   */
  readonly createLog: string | undefined;
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
  /** Names copied into the backup folder first (the foreign ones into its `foreign/`). */
  readonly backup: readonly string[];
  /** Names removed after the new snapshot is durable (old logs, foreign files). */
  readonly remove: readonly string[];
  /** Why this plan, and why it is safe, in sentences. */
  readonly reasons: readonly string[];
  /** What the plan does not do as asked (a `minTerm` too low), or cannot keep (an unreadable identity). */
  readonly warnings: readonly RepairWarning[];
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
      // Group 0's term: live, else its tombstone's, else the floor (0 when fresh).
      terms.push({ value: groupStateIn(snap.content, 0).currentTerm, source: where });
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
    // A file of another directory is set aside: none of its numbers is this node's.
    if (log.foreign !== undefined) continue;
    seqs.push({ value: log.nameFirstSeq - 1, source: `${log.name} (file name)` });
    const header = log.salvage.header;
    // A version-1 header names its first sequence number too (version 2 leaves it to the name).
    if (header?.firstSeq !== undefined)
      seqs.push({ value: header.firstSeq - 1, source: `${log.name} (header)` });
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
  const own = exam.logs.filter((log) => log.foreign === undefined);
  const foreign = exam.format.foreignFiles;
  if (foreign.length > 0) {
    return `${foreign.map((f) => f.name).join(', ')} belong${foreign.length === 1 ? 's' : ''} to another directory, and may stand in place of this directory's own files of the same name, whose records (and terms) are then lost`;
  }
  const overwritten = own.find((log) => log.salvage.foreign.length > 0);
  if (overwritten !== undefined) {
    const first = overwritten.salvage.foreign[0];
    return `${overwritten.name} holds records of another directory (the first at byte ${first?.offset}), written over this directory's own, which are then lost`;
  }
  const content = snapshot?.content;
  if (content?.version === 2 && !own.some((log) => log.nameFirstSeq === content.lastSeq + 1)) {
    return `the snapshot names ${logName(content.lastSeq + 1)} as the log after seq ${content.lastSeq}, and it is missing: updates acknowledged after the snapshot may be lost`;
  }
  // A header that records the size its log was created with, over a file shorter than that: cut
  // short (a log only grows), and the records past the cut are lost.
  const cut = own.find((log) => (log.salvage.header?.createdSize ?? 0) > log.salvage.size);
  if (cut !== undefined) {
    return `${cut.name} was cut short: ${cut.salvage.size} of the ${cut.salvage.header?.createdSize} bytes it was created with remain, so records past byte ${cut.salvage.size} may be lost`;
  }
  // Every log of a version-2 directory is created whole (header and zeros fsynced under a temp
  // name, then renamed): one with no readable header and no readable record was cut short, zeroed
  // or replaced, and the records it held (and their terms) are lost with it.
  const emptied =
    content?.version === 2
      ? own.find((log) => log.salvage.header === undefined && log.salvage.records.length === 0)
      : undefined;
  if (emptied !== undefined) {
    return `${emptied.name} has no readable header and no readable record (${emptied.salvage.size} bytes: cut short, zeroed or replaced), so the records it held are lost`;
  }
  if (snapshot !== undefined && snapshot.content === undefined && own.length === 0) {
    return 'the snapshot is damaged and no log follows it';
  }
  if (highestSeq.value > 0 && !proofs.some((p) => p.value >= highestSeq.value)) {
    return `sequence number ${highestSeq.value} (${highestSeq.source}) is above every CRC-valid record and checksummed snapshot`;
  }
  const newest = own.at(-1);
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

/** The directory id and node identity the repair keeps, and a warning when the identity is unreadable. */
function keptIdentity(exam: Examination): { keep: KeptIdentity; warning: RepairWarning | undefined } {
  const format = exam.format;
  let identity = format.identity;
  let warning: RepairWarning | undefined;
  if (exam.snapshot !== undefined && exam.snapshot.content === undefined) {
    // The damaged snapshot may have carried a stamp; a whole temp snapshot of the same directory
    // (a compaction cut short) carries the same one.
    const temp = exam.snapshotTemp?.content;
    if (temp?.directoryId !== undefined && temp.directoryId === format.directoryId) identity = temp.identity;
    else {
      warning = {
        code: 'identity-unknown',
        message:
          "metadata.json is damaged, so the node identity it may carry ({clusterId, nodeId}) cannot be read: the repaired directory has none, and the next MetadataManager.open with the identity option stamps it. Open it with this node's identity.",
      };
    }
  }
  return {
    keep: { directoryId: format.directoryId, directoryIdFrom: format.directoryIdFrom, identity },
    warning,
  };
}

/** Groups other than 0 in this directory's own files (records, snapshots). */
function otherGroupsOf(exam: Examination): number[] {
  return groupsNamed(exam).filter((id) => id !== 0);
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
  const setAside = exam.format.foreignFiles;
  const { keep, warning: identityWarning } = keptIdentity(exam);
  const otherGroups = otherGroupsOf(exam);
  const reasons: string[] = [];
  const base = {
    dir: exam.dir,
    verdict: exam.verdict,
    before,
    highestTerm,
    highestSeq,
    endProven,
    keep,
    otherGroups,
    groupRepairs: [] as readonly GroupRepair[],
    setAside,
  };
  /** Every log goes but the one the repair creates (its creation replaces one of that name). */
  const removeFor = (createLog: string): string[] =>
    exam.logs.map((l) => l.name).filter((name) => name !== createLog);
  const aside = (): string[] =>
    setAside.length === 0
      ? []
      : [
          `${setAside.map((f) => `${f.name} (${f.directoryId === undefined ? `format v${f.version}` : `directory id ${f.directoryId}`})`).join(', ')}: ${setAside.length === 1 ? 'a file' : 'files'} of another directory (this directory's id is ${keep.directoryId ?? 'none'}, from ${keep.directoryIdFrom ?? 'nothing'}). The repair moves it into the backup folder's foreign/ subfolder: never replayed and never adopted; none of its numbers counts as this node's.`,
        ];
  const identityReason = (): string =>
    keep.directoryId === undefined
      ? 'The directory has no directory id yet (format v1): the repair makes one, and writes it into the new snapshot and the new log (format v2).'
      : `The repaired directory keeps its directory id ${keep.directoryId} (from ${keep.directoryIdFrom}) and its node identity (${keep.identity === undefined ? 'none' : `clusterId ${JSON.stringify(keep.identity.clusterId)}, nodeId ${JSON.stringify(keep.identity.nodeId)}`}).`;

  const nothingToDo = (reason: string): RepairPlan => ({
    ...base,
    strategy: 'none',
    after: undefined,
    groups: new Map(),
    removed: new Map(),
    floorTerm: 0,
    createLog: undefined,
    needsMinTerm: false,
    backup: [],
    remove: [],
    reasons: [reason],
    warnings: [],
  });
  if (exam.verdict === 'not-metadata') return nothingToDo('not a metadata directory: nothing to repair');
  const wantNewTerm =
    exam.verdict === 'corrupt' || options.bumpTerm === true || options.minTerm !== undefined;
  const recovered = exam.recovered;
  if (!wantNewTerm) {
    if (exam.verdict === 'clean' || before === undefined || recovered === undefined) {
      return nothingToDo('the directory is clean: nothing to repair');
    }
    const createLog = logName(before.lastSeq + 1);
    reasons.push(
      'Only a torn tail: the last write was cut short by a crash before its fdatasync returned, so none of its records was acknowledged to anyone.',
      `The repair keeps every valid record: the state a node loads now (term ${before.currentTerm}, vote ${before.votedFor}, up to seq ${before.lastSeq}) becomes the snapshot, an empty ${createLog} follows it and the old logs are removed, which is what a normal open followed by a compaction does.`,
      identityReason(),
    );
    return {
      ...base,
      strategy: 'compact',
      after: { currentTerm: before.currentTerm, votedFor: before.votedFor, lastSeq: before.lastSeq },
      groups: recovered.groups,
      removed: recovered.removed,
      floorTerm: recovered.floorTerm,
      createLog,
      needsMinTerm: false,
      backup: present,
      remove: removeFor(createLog),
      reasons,
      warnings: identityWarning ? [identityWarning] : [],
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
  reasons.push(...aside());
  // A store's directory (other groups, a removed group 0, a floor) is repaired per group, keeping
  // tombstones and the floor; the single-group plan below knows group 0 only.
  if (isMultiGroup(exam))
    return planMultiGroup(exam, options, unproven, {
      base,
      reasons,
      present,
      identityReason,
      identityWarning,
    });
  reasons.push(
    `Every CRC-valid record in every log of this directory was read, including records after the damage, and every snapshot whose JSON still parses; the highest term seen is ${highestTerm.value} (${highestTerm.source}).`,
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
  const warnings: RepairWarning[] = identityWarning ? [identityWarning] : [];
  if (options.minTerm !== undefined && options.minTerm > term) {
    term = options.minTerm;
    reasons.push(`--min-term ${options.minTerm} is above ${candidate}: the repaired term is ${term}.`);
  } else if (options.minTerm !== undefined && options.minTerm <= highestTerm.value) {
    // Never below what the node may have voted in: the floor is ignored, not obeyed.
    warnings.push({
      code: 'min-term-overridden',
      message: `--min-term ${options.minTerm} is not above the highest term seen (${highestTerm.value}, in ${highestTerm.source}): the repaired term is ${candidate} (the highest seen + 1), not ${options.minTerm}. If the cluster is past ${highestTerm.value}, pass a higher --min-term.`,
    });
  }
  // The new snapshot covers the highest sequence number any file shows, or one more when the log
  // after it would take the name of a file already there or of the log the current snapshot names:
  // creating that log (before the new snapshot, see applyRepair) would then replace a foreign or a
  // damaged file, or fill in a missing one, and a crash right after could leave a directory that
  // loads its old state (votes lost with it) instead of refusing. Skipping one sequence number is
  // harmless: no record holds it.
  const taken =
    exam.logs.some((log) => log.nameFirstSeq === highestSeq.value + 1) ||
    exam.snapshot?.content?.lastSeq === highestSeq.value;
  const lastSeq = taken ? highestSeq.value + 1 : highestSeq.value;
  const createLog = logName(lastSeq + 1);
  const impossible = (why: string): RepairPlan => ({
    ...base,
    strategy: 'new-term',
    after: undefined,
    groups: new Map(),
    removed: new Map(),
    floorTerm: 0,
    createLog: undefined,
    needsMinTerm: false,
    backup: present,
    remove: removeFor(createLog),
    reasons: [...reasons, why],
    warnings,
  });
  if (!Number.isSafeInteger(term)) {
    return impossible(
      `Impossible: the highest term seen (${highestTerm.value}) leaves no higher safe integer for a new term.`,
    );
  }
  reasons.push(
    `The new snapshot covers sequence number ${lastSeq}, ${taken ? `one above ${highestSeq.value}, the highest any file of this directory shows (so that the empty log after it takes no name already in use or named by the current snapshot)` : 'the highest any file of this directory shows'}, so no record that might survive anywhere can be replayed over it; an empty ${createLog} (the log the snapshot names as the one after it) follows it, and the old logs are removed (after the backup).`,
    identityReason(),
  );
  const after = { currentTerm: term, votedFor: NONE_SERVER_ID, lastSeq };
  return {
    ...base,
    strategy: 'new-term',
    after,
    groups: new Map([[0, { currentTerm: term, votedFor: NONE_SERVER_ID }]]),
    removed: new Map(),
    // A single-group directory: no group but 0 to give a floor to (a floor is only ever written
    // next to other groups, and they make the directory a multi-group one).
    floorTerm: 0,
    createLog,
    needsMinTerm,
    backup: present,
    remove: removeFor(createLog),
    reasons,
    warnings,
  };
}

/**
 * The sequence number a new-term snapshot covers: the highest any file of the directory shows, or
 * one more when the log after it would take the name of a file already there or of the log the
 * current snapshot names: creating that log (before the new snapshot, see applyRepair) would then
 * replace a foreign or a damaged file, or fill in a missing one, and a crash right after could
 * leave a directory that loads its old state (votes lost with it) instead of refusing. Skipping
 * one sequence number is harmless: no record holds it.
 */
function newTermSeq(exam: Examination, highestSeq: Evidence): { lastSeq: number; taken: boolean } {
  const taken =
    exam.logs.some((log) => log.nameFirstSeq === highestSeq.value + 1) ||
    exam.snapshot?.content?.lastSeq === highestSeq.value;
  return { lastSeq: taken ? highestSeq.value + 1 : highestSeq.value, taken };
}

/** How many group ids a reason or a text lists before it says "and N more". */
const LISTED = 10;

function listIds(ids: readonly number[]): string {
  const shown = ids.slice(0, LISTED).join(', ');
  return ids.length > LISTED ? `${shown} and ${ids.length - LISTED} more` : shown;
}

/**
 * A new-term repair of a multi-group directory (a MetadataStore's), per group ({@link planGroups}):
 * a group whose state the disk proves keeps it; every other one moves to max(its highest term
 * seen + 1, minTerm) with no vote (a tombstone stays one, at that term). Never a vote invented.
 */
function planMultiGroup(
  exam: Examination,
  options: RepairOptions,
  unproven: string | undefined,
  ctx: {
    base: Omit<
      RepairPlan,
      | 'strategy'
      | 'after'
      | 'groups'
      | 'removed'
      | 'floorTerm'
      | 'createLog'
      | 'needsMinTerm'
      | 'backup'
      | 'remove'
      | 'reasons'
      | 'warnings'
    >;
    reasons: string[];
    present: string[];
    identityReason: () => string;
    identityWarning: RepairWarning | undefined;
  },
): RepairPlan {
  const { base, reasons, present } = ctx;
  const raiseAll = exam.verdict !== 'corrupt';
  const planned = planGroups({ exam, unprovenEnd: unproven, raiseAll, minTerm: options.minTerm });
  const { lastSeq, taken } = newTermSeq(exam, base.highestSeq);
  const createLog = logName(lastSeq + 1);
  const remove = exam.logs.map((l) => l.name).filter((name) => name !== createLog);
  const warnings: RepairWarning[] = ctx.identityWarning ? [ctx.identityWarning] : [];
  const kept = planned.groups.filter((g) => g.proven);
  const raised = planned.groups.filter((g) => !g.proven);
  const unprovenTerms = raised.filter((g) => !g.termProven);
  reasons.push(
    `A multi-group directory (${planned.groups.length} groups: ${listIds(planned.groups.map((g) => g.group))}): the repair decides per group. Every record holds its group's whole state, so a group's newest readable record (or the newest whole snapshot) gives its state, unless a record the disk no longer shows may follow it.`,
  );
  if (kept.length > 0) {
    reasons.push(
      `${kept.length === 1 ? 'Group' : 'Groups'} ${listIds(kept.map((g) => g.group))}: the disk proves ${kept.length === 1 ? 'its' : 'their'} state (no sequence number after ${kept.length === 1 ? 'its' : 'their'} newest record is missing, and the end of the history is proven): kept as ${kept.length === 1 ? 'it is' : 'they are'}, term and vote.`,
    );
  }
  if (raised.length > 0) {
    reasons.push(
      `${raised.length === 1 ? 'Group' : 'Groups'} ${listIds(raised.map((g) => g.group))}: not proven (${raised[0]?.reason}${raised.length > 1 ? ', and so on' : ''}). Each moves to a term above the highest it shows, at least --min-term when given, with no vote: it can vote at most once in that new term and in no term it may already have voted in. A removed group stays removed, at that term.`,
    );
  }
  if (unprovenTerms.length > 0) {
    reasons.push(
      `The disk does not prove the highest term of ${unprovenTerms.length === 1 ? 'group' : 'groups'} ${listIds(unprovenTerms.map((g) => g.group))}: ${unprovenTerms[0]?.reason}; ${unprovenTerms.length === 1 ? 'its' : 'their'} records with higher terms may be lost.`,
    );
    if (options.minTerm === undefined) {
      reasons.push(
        'Pass --min-term N with N above any term those groups have reached in the cluster (for example the highest leader term among them + 1): each of them moves to at least N.',
      );
    }
  }
  // A group no readable file names may still exist (its only record lost, or only a damaged
  // snapshot held it): every group the new snapshot does not list starts from the floor, above
  // every term any group shows and above the old floor, and at least --min-term.
  const snapshotDamaged = exam.snapshot !== undefined && exam.snapshot.content === undefined;
  const unseenRisk = snapshotDamaged || planned.highestHole > 0 || unproven !== undefined;
  const oldFloor =
    exam.recovered?.floorTerm ?? exam.snapshot?.content?.floorTerm ?? exam.snapshot?.unverifiedFloorTerm ?? 0;
  const floorTerm = unseenRisk
    ? Math.min(
        Number.MAX_SAFE_INTEGER,
        Math.max(options.minTerm ?? 0, oldFloor + 1, ...planned.groups.map((g) => g.highestTerm.value + 1)),
      )
    : oldFloor;
  const unlisted = `resumes at term ${floorTerm} (the new snapshot's floorTerm, the term every group it does not list starts from), with no vote: safe unless such a group had reached term ${floorTerm} before. --min-term N raises that floor to at least N`;
  if (snapshotDamaged) {
    warnings.push({
      code: 'unseen-groups',
      message:
        exam.snapshot?.unverifiedGroups !== undefined
          ? `metadata.json is damaged: the ${exam.snapshot.unverifiedGroups.size} groups its JSON still names are in the repaired snapshot, each above the term claimed, with no vote; a group it held in a row the damage made unreadable is not, and ${unlisted}. Check the list of groups against what this node should hold; restore metadata.json from a backup if one is missing.`
          : `metadata.json is damaged: groups that only it held (no readable record names them) are not in the repaired snapshot; each ${unlisted}. Check the list of groups against what this node should hold; restore metadata.json from a backup if one is missing.`,
    });
  } else if (unseenRisk) {
    warnings.push({
      code: 'unseen-groups',
      message: `A record the disk no longer shows may have been the only one of a group no readable file names: such a group is not in the repaired snapshot, and ${unlisted}. Check the list of groups against what this node should hold.`,
    });
  }
  if (floorTerm > oldFloor) {
    reasons.push(
      `Every group the new snapshot does not list starts from term ${floorTerm}, with no vote (its floorTerm${oldFloor > 0 ? `, raised from ${oldFloor}` : ''}): a group whose only record was lost, or that only the damaged snapshot held, cannot vote again in a term it may have voted in, unless it had reached term ${floorTerm}.`,
    );
  }
  const empty = { groups: new Map(), removed: new Map(), floorTerm: 0 };
  if (planned.noTermLeft !== undefined) {
    return {
      ...base,
      ...empty,
      strategy: 'new-term',
      after: undefined,
      createLog: undefined,
      needsMinTerm: false,
      groupRepairs: planned.groups,
      backup: present,
      remove,
      reasons: [
        ...reasons,
        `Impossible: group ${planned.noTermLeft.group}'s highest term seen (${planned.noTermLeft.highestTerm.value}) leaves no higher safe integer for a new term.`,
      ],
      warnings,
    };
  }
  const groups = new Map<number, { currentTerm: number; votedFor: number }>();
  const removed = new Map<number, number>();
  for (const g of planned.groups) {
    if (g.after.removed) removed.set(g.group, g.after.currentTerm);
    // A group at term 0 with no vote is not written down (the library leaves it out too).
    else if (g.after.currentTerm !== 0 || g.after.votedFor !== NONE_SERVER_ID)
      groups.set(g.group, { currentTerm: g.after.currentTerm, votedFor: g.after.votedFor });
  }
  reasons.push(
    `The new snapshot holds every group (${groups.size} live, ${removed.size} removed) and covers sequence number ${lastSeq}, ${taken ? `one above ${base.highestSeq.value}, the highest any file of this directory shows (so that the empty log after it takes no name already in use or named by the current snapshot)` : 'the highest any file of this directory shows'}, so no record that might survive anywhere can be replayed over it; an empty ${createLog} follows it, and the old logs are removed (after the backup).`,
    ctx.identityReason(),
  );
  // Group 0 as a reader of the new snapshot gives it: removed, its tombstone's term; not listed,
  // the floor.
  const group0 = groupStateIn({ groups, removed, floorTerm }, 0);
  return {
    ...base,
    strategy: 'new-term',
    after: { ...group0, lastSeq },
    groups,
    removed,
    floorTerm,
    createLog,
    needsMinTerm: planned.needsMinTerm,
    groupRepairs: planned.groups,
    backup: present,
    remove,
    reasons,
    warnings,
  };
}
