import { NONE_SERVER_ID, RecordKind } from '../state.js';
import type { Examination } from './examine.js';

/**
 * What a new-term repair does with each group of a multi-group directory (a MetadataStore's):
 * pure, from an {@link Examination}, for planRepair (repair-plan.ts).
 *
 * A record holds its group's whole state after the update (docs/format.md), so a group's state is
 * the one its newest readable record (or the newest whole snapshot) gives, unless something after
 * that point may have held another record of the group: a sequence number no readable record
 * holds (damage, a gap, a record of another directory over ours), or an end of the history the
 * disk does not prove (files of another directory, a missing log, damage at the end: the same
 * reasons as for group 0 in a single-group directory). Such a group, and a group one of whose
 * records broke Raft's rules, is not proven: it moves to max(its highest term seen + 1, minTerm)
 * with no vote. A group whose newest known point may be followed by a lost record may have reached
 * any term there, so its highest term is not proven either, and the repair needs `--min-term`.
 */

/** A group's state as the disk shows it: live (term, vote) or removed (a tombstone: its last term). */
export interface GroupState {
  readonly currentTerm: number;
  readonly votedFor: number;
  readonly removed: boolean;
}

export interface GroupRepair {
  readonly group: number;
  /** Its newest known state (newest readable record or whole snapshot), or undefined when none is readable. */
  readonly before: GroupState | undefined;
  /** The sequence number of that state (0 for none). */
  readonly knownAt: number;
  /** The highest term any readable file shows for the group, and where. */
  readonly highestTerm: { readonly value: number; readonly source: string };
  /** The disk proves its state: it keeps it. */
  readonly proven: boolean;
  /**
   * Every record of the group that may exist is readable, so its highest term is known (a proven
   * group, or one raised only for a broken rule or by --bump-term/--min-term).
   */
  readonly termProven: boolean;
  /** Why it is not proven (undefined when it is). */
  readonly reason: string | undefined;
  /** What the repaired snapshot holds for it. */
  readonly after: GroupState;
}

export interface GroupsPlan {
  /** Every group the directory's own readable files name, ascending. */
  readonly groups: readonly GroupRepair[];
  /** Some raised group's highest term is not proven and no minTerm was given. */
  readonly needsMinTerm: boolean;
  /** A raised term that is not a safe integer (no higher term exists): the plan is impossible. */
  readonly noTermLeft: GroupRepair | undefined;
  /** The highest sequence number no readable record holds (0: none), above what a whole snapshot covers. */
  readonly highestHole: number;
}

export interface GroupsPlanInput {
  readonly exam: Examination;
  /** Why the end of the history is not proven (planRepair's unprovenEnd), or undefined. */
  readonly unprovenEnd: string | undefined;
  /** Raise every group (--bump-term or --min-term on a directory that loads). */
  readonly raiseAll: boolean;
  readonly minTerm: number | undefined;
}

interface Point {
  seq: number;
  state: GroupState;
}

export function planGroups({ exam, unprovenEnd, raiseAll, minTerm }: GroupsPlanInput): GroupsPlan {
  const points = new Map<number, Point>();
  const seen = new Map<number, { value: number; source: string }>();
  const see = (group: number, value: number, source: string): void => {
    const known = seen.get(group);
    if (known === undefined || value > known.value) seen.set(group, { value, source });
  };
  const know = (group: number, seq: number, state: GroupState): void => {
    const known = points.get(group);
    if (known === undefined || seq > known.seq) points.set(group, { seq, state });
  };

  // Whole snapshots: the main one, and a temp one of this directory (a compaction cut short).
  // A damaged one still names groups in its JSON: each counts as seen at the term claimed, so that
  // a group only it held is raised above that term instead of forgotten (resuming at term 0).
  const claimedRemoved = new Set<number>();
  let covered = 0;
  for (const snap of [exam.snapshot, exam.snapshotTemp]) {
    const content = snap?.content;
    if (snap === undefined) continue;
    if (content === undefined) {
      const where = `${snap.name} (damaged, unverified)`;
      const claimed = snap.unverified?.currentTerm;
      if (claimed !== undefined) see(0, claimed, where);
      for (const [group, claim] of snap.unverifiedGroups ?? []) {
        see(group, claim.currentTerm, where);
        if (claim.removed) claimedRemoved.add(group);
      }
      continue;
    }
    const where = `${snap.name} (checksum ok)`;
    for (const [group, state] of content.groups) see(group, state.currentTerm, where);
    for (const [group, term] of content.removed) see(group, term, where);
    const ours = snap === exam.snapshot || content.directoryId === exam.format.directoryId;
    if (!ours) continue;
    covered = Math.max(covered, content.lastSeq);
    for (const [group, state] of content.groups) know(group, content.lastSeq, { ...state, removed: false });
    for (const [group, term] of content.removed)
      know(group, content.lastSeq, { currentTerm: term, votedFor: NONE_SERVER_ID, removed: true });
  }

  // Readable records of the directory's own logs; a torn tail's were never acknowledged (their
  // terms count as seen, their states and sequence numbers do not).
  const present: number[] = [];
  const rejected = new Set<number>();
  for (const log of exam.logs) {
    if (log.foreign !== undefined) continue;
    const end = log.scan?.end;
    const tornFrom = end?.kind === 'torn' ? end.offset : Number.POSITIVE_INFINITY;
    for (const record of log.records) {
      see(record.group, record.currentTerm, `${log.name} byte ${record.offset} (seq ${record.seq})`);
      if (record.status === 'rejected') rejected.add(record.group);
      if (record.offset >= tornFrom) continue;
      present.push(record.seq);
      know(
        record.group,
        record.seq,
        record.kind === RecordKind.Remove
          ? { currentTerm: record.currentTerm, votedFor: NONE_SERVER_ID, removed: true }
          : { currentTerm: record.currentTerm, votedFor: record.votedFor, removed: false },
      );
    }
  }

  // The highest sequence number above the snapshot that no readable record holds.
  let highestHole = 0;
  let expected = covered + 1;
  for (const seq of [...new Set(present)].sort((a, b) => a - b)) {
    if (seq < expected) continue;
    if (seq > expected) highestHole = seq - 1;
    expected = seq + 1;
  }

  const ids = [...new Set([...points.keys(), ...seen.keys()])].sort((a, b) => a - b);
  let needsMinTerm = false;
  let noTermLeft: GroupRepair | undefined;
  const groups = ids.map((group): GroupRepair => {
    const point = points.get(group);
    const highestTerm = seen.get(group) ?? { value: 0, source: 'nothing readable' };
    const knownAt = Math.max(point?.seq ?? 0, covered);
    let threat: string | undefined;
    if (unprovenEnd !== undefined) threat = unprovenEnd;
    else if (highestHole > knownAt)
      threat = `sequence number ${highestHole}, after its newest known state (seq ${knownAt}), is in no readable record: it may have been a record of this group`;
    let reason = threat;
    if (reason === undefined && rejected.has(group))
      reason = "one of its records breaks Raft's rules (the record at which a node refuses to load)";
    if (reason === undefined && point === undefined)
      reason = 'no readable record or snapshot holds its state';
    if (reason === undefined && raiseAll)
      reason = 'every group moves to a new term (--bump-term or --min-term)';
    if (reason === undefined && point !== undefined) {
      return {
        group,
        before: point.state,
        knownAt,
        highestTerm,
        proven: true,
        termProven: true,
        reason,
        after: point.state,
      };
    }
    const termProven = threat === undefined;
    if (!termProven && minTerm === undefined) needsMinTerm = true;
    const term = Math.max(highestTerm.value + 1, minTerm ?? 0);
    const plan: GroupRepair = {
      group,
      before: point?.state,
      knownAt,
      highestTerm,
      proven: false,
      termProven,
      reason,
      after: {
        currentTerm: term,
        votedFor: NONE_SERVER_ID,
        removed: point?.state.removed ?? claimedRemoved.has(group),
      },
    };
    if (!Number.isSafeInteger(term) && noTermLeft === undefined) noTermLeft = plan;
    return plan;
  });
  return { groups, needsMinTerm, noTermLeft, highestHole };
}
