import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataStore } from '../../src/index.js';
import {
  cli,
  cliJson,
  contents,
  flipByte,
  HISTORY,
  logNames,
  makeDirectory,
  newestLog,
  slot,
  storeDirectory,
  tempDir,
  writeAt,
} from './helpers.js';

/**
 * inspect, verify and dump on a MetadataStore's directory: a summary of every group, `--group N`
 * for one (dump: its records only); a MetadataManager's directory prints what it always did.
 */

const SUMMARY = {
  multiGroup: true,
  named: 4,
  loaded: true,
  live: 3,
  removed: 1,
  voted: 2,
  termRange: { min: 2, max: 6 },
  highest: [
    { group: 7, currentTerm: 6, votedFor: 2 },
    { group: 5, currentTerm: 4, votedFor: 0 },
    { group: 0, currentTerm: 2, votedFor: 1 },
  ],
  floorTerm: 0,
};

describe.concurrent('inspect, verify, dump on a multi-group directory', () => {
  it('inspect: a summary of every group, in text and JSON', async () => {
    const dir = await storeDirectory();
    const text = await cli('inspect', dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^state +3 live groups \(2 with a vote\), 1 removed, last seq 7 \(what a node loads\)$/m,
    );
    expect(text.stdout).toMatch(/^groups +3 live groups \(2 with a vote\), 1 removed; terms 2\.\.6$/m);
    expect(text.stdout).toContain(
      'highest: group 7 term 6 (vote 2), group 5 term 4, group 0 term 2 (vote 1)',
    );
    expect(text.stdout).toMatch(
      /snapshot +metadata\.json: format v2, covers seq 1\.\.5, 2 live groups and 1 tombstone/,
    );
    // The store's preallocated end (not a whole number of records) is not damage.
    expect(text.stdout).not.toMatch(/DAMAGE|do not decode/);
    const { code, json } = await cliJson('inspect', dir);
    expect(code).toBe(0);
    expect(json.groups).toEqual(SUMMARY);
    expect(json).not.toHaveProperty('group');
    expect(json.state).toMatchObject({ currentTerm: 2, votedFor: 1, lastSeq: 7 }); // group 0's
  });

  it('inspect --group N: one group (live, removed, never updated)', async () => {
    const dir = await storeDirectory();
    expect((await cli('inspect', '--group', '7', dir)).stdout).toMatch(
      /^state +group 7: term 6, vote 2, last seq 7 \(what a node loads\)$/m,
    );
    expect((await cli('inspect', '--group', '9', dir)).stdout).toMatch(
      /^state +group 9: term 3, vote none, last seq 7 \(removed: a tombstone/m,
    );
    const cases = [
      ['5', { group: 5, status: 'live', currentTerm: 4, votedFor: 0, lastSeq: 7 }],
      ['9', { group: 9, status: 'removed', currentTerm: 3, votedFor: 0, lastSeq: 7 }],
      ['42', { group: 42, status: 'none', currentTerm: 0, votedFor: 0, lastSeq: 7 }],
    ] as const;
    for (const [id, expected] of cases) {
      const { code, json } = await cliJson('inspect', '--group', id, dir);
      expect(code).toBe(0);
      expect(json.group).toEqual(expected);
      expect(json.groups).toEqual(SUMMARY);
    }
    for (const text of ['-1', '-0', '+1', '1e3']) {
      const bad = await cli('inspect', '--group', text, dir);
      expect(bad.code).toBe(64);
      expect(bad.stderr).toContain('--group must be an integer >= 0');
    }
  });

  it('verify: the summary, or one group with --group N; exit codes as ever', async () => {
    const dir = await storeDirectory();
    const all = await cli('verify', dir);
    expect(all.code).toBe(0);
    expect(all.stdout.split('\n')[0]).toBe(
      `OK: ${dir} is clean; a node loads 3 live groups (2 with a vote), 1 removed, terms 2..6, last seq 7.`,
    );
    const one = await cli('verify', '--group', '5', dir);
    expect(one.stdout.split('\n')[0]).toBe(
      `OK: ${dir} is clean; a node loads group 5: term 4, vote none, last seq 7.`,
    );
    const { code, json } = await cliJson('verify', '--group', '7', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      verdict: 'clean',
      groups: SUMMARY,
      group: { group: 7, status: 'live', currentTerm: 6, votedFor: 2 },
    });
    expect(String(json.message)).toContain('a node loads group 7: term 6, vote 2, last seq 7.');

    // Corrupt: group 7's term record damaged, its vote record (a later write) after it.
    flipByte(newestLog(dir), slot(0) + 20);
    const corrupt = await cliJson('verify', '--group', '7', dir);
    expect(corrupt.code).toBe(2);
    expect(corrupt.json).toMatchObject({
      state: null,
      group: null,
      groups: { multiGroup: true, loaded: false, live: null, removed: null, voted: null, termRange: null },
    });
  });

  it('dump --group N lists that group records only', async () => {
    const dir = await storeDirectory();
    const all = await cliJson('dump', dir);
    const allRecords = (all.json.logs as { records: { group?: number }[] }[]).flatMap((l) => l.records);
    expect(allRecords.length).toBe(2); // the log after the snapshot holds group 7's two records
    const { code, json } = await cliJson('dump', '--group', '7', dir);
    expect(code).toBe(0);
    const records = (json.logs as { records: { group?: number; kind: string }[] }[]).flatMap(
      (l) => l.records,
    );
    expect(records.map((r) => [r.kind, r.group])).toEqual([
      ['term', 7],
      ['vote', 7],
    ]);
    expect(json.group).toMatchObject({ group: 7, status: 'live', currentTerm: 6, votedFor: 2 });
    const none = await cliJson('dump', '--group', '5', dir);
    expect((none.json.logs as { records: unknown[] }[]).flatMap((l) => l.records)).toEqual([]);
    const text = await cli('dump', '--group', '5', dir);
    expect(text.stdout).toContain('(no records)');
    expect(text.stdout).toContain('records   of group 5 only');
    expect(text.stdout).toContain('a node loads: group 5: term 4, vote none, last seq 7');
    expect((await cli('dump', '--group', '7', dir)).stdout).toMatch(/term@g7 +6 +none +applied/);
  });

  it('a MetadataManager directory prints what it did before (group 0), and reads change nothing', async () => {
    const dir = await makeDirectory(HISTORY);
    const before = contents(dir);
    const inspect = await cli('inspect', dir);
    expect(inspect.stdout).toMatch(/^state +term 7, vote 1, last seq 6 \(what a node loads\)$/m);
    expect(inspect.stdout).not.toMatch(/^groups/m);
    expect(inspect.stdout).toMatch(
      /snapshot +metadata\.json: format v2, covers seq 1\.\.2, term 3, vote 2, checksum ok/,
    );
    const verify = await cli('verify', dir);
    expect(verify.stdout.split('\n')[0]).toBe(
      `OK: ${dir} is clean; a node loads term 7, vote 1, last seq 6.`,
    );
    const dump = await cli('dump', dir);
    expect(dump.stdout).not.toMatch(/^groups/m);
    expect(dump.stdout).toContain('a node loads: term 7, vote 1, last seq 6');
    const { json } = await cliJson('inspect', dir);
    expect(json.groups).toEqual({
      multiGroup: false,
      named: 1,
      loaded: true,
      live: 1,
      removed: 0,
      voted: 1,
      termRange: { min: 7, max: 7 },
      highest: [{ group: 0, currentTerm: 7, votedFor: 1 }],
      floorTerm: 0,
    });
    // --group 0 works on any directory.
    expect((await cliJson('verify', '--group', '0', dir)).json.group).toMatchObject({
      currentTerm: 7,
      votedFor: 1,
    });
    expect(contents(dir)).toEqual(before);
  });
});

describe.concurrent('compact on a multi-group directory', () => {
  it('opens it as a MetadataStore: every group and tombstone kept, one fresh log', async () => {
    const dir = await storeDirectory();
    const { code, json } = await cliJson('compact', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      refusal: null,
      before: { verdict: 'clean', files: ['metadata.json', 'log-0000000000000006.wal'] },
      after: { verdict: 'clean', state: { currentTerm: 2, votedFor: 1, lastSeq: 7 } },
      removed: ['log-0000000000000006.wal'],
      created: ['log-0000000000000008.wal'],
      groups: SUMMARY,
      stats: { groups: 3, removedGroups: 1 },
    });
    expect(logNames(dir)).toEqual(['log-0000000000000008.wal']);
    const loaded = await MetadataStore.load(dir);
    expect([...loaded.keys()]).toEqual([0, 5, 7]);
    expect(loaded.get(7)).toMatchObject({ currentTerm: 6, votedFor: 2 });
    expect(await Metadata.load(dir, { group: 9 })).toMatchObject({ currentTerm: 3, votedFor: 0 });
    const text = await cli('compact', dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^state +3 live groups \(2 with a vote\), 1 removed, terms 2\.\.6, last seq 7$/m,
    );
    expect(text.stdout).toMatch(/^groups +3 live groups/m);
    expect(text.stdout).toMatch(/^took +nothing to do/m);
  });

  it('a corrupt multi-group directory: exit 2, nothing changed', async () => {
    const dir = await storeDirectory();
    flipByte(newestLog(dir), slot(0) + 20);
    const before = contents(dir);
    const { code, json } = await cliJson('compact', dir);
    expect(code).toBe(2);
    expect(json).toMatchObject({ refusal: { reason: 'corrupt' }, after: null, groups: { loaded: false } });
    expect(contents(dir)).toEqual(before);
  });
});

describe.concurrent('repair on a multi-group directory: per group, never a vote invented', () => {
  it('corrupt: a group the disk proves keeps its state; the others move to --min-term with no vote', async () => {
    const dir = await storeDirectory();
    // Group 7's term record (seq 6) damaged; its vote (seq 7, a later write) is readable.
    flipByte(newestLog(dir), slot(0) + 20);
    const before = contents(dir);
    const plan = await cliJson('repair', dir);
    expect(plan.code).toBe(5);
    expect(plan.json).toMatchObject({
      strategy: 'new-term',
      needsMinTerm: true,
      refusal: { reason: 'needs-min-term' },
      otherGroups: [5, 7, 9],
      groupRepairs: { groups: 4, kept: 1, raised: 3 },
    });
    const raised = (plan.json.groupRepairs as { raisedGroups: { group: number; termProven: boolean }[] })
      .raisedGroups;
    expect(raised.map((g) => [g.group, g.termProven])).toEqual([
      [0, false],
      [5, false],
      [9, false],
    ]);
    expect(contents(dir)).toEqual(before);
    const text = await cli('repair', '--min-term', '10', dir);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(
      /^groups +4 groups: 1 proven by the disk \(kept, term and vote\), 3 not proven/m,
    );
    expect(text.stdout).toContain('group 0: term 2, vote 1 -> term 10, vote none');
    expect(text.stdout).toContain('group 9: removed at term 3 -> term 10, vote none, still removed');

    const { code, json } = await cliJson('repair', '--yes', '--min-term', '10', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      applied: true,
      after: { currentTerm: 10, votedFor: 0, lastSeq: 7 },
      repaired: { groups: { live: 3, removed: 1 } },
    });
    const loaded = await MetadataStore.load(dir);
    expect([...loaded].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual([
      [0, 10, 0],
      [5, 10, 0],
      [7, 6, 2], // proven: kept, vote included
    ]);
    expect(await Metadata.load(dir, { group: 9 })).toMatchObject({ currentTerm: 10, votedFor: 0 });
    expect((await cli('verify', dir)).code).toBe(0);
    // The removed group stays removed and cannot vote in its tombstone's term.
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    try {
      expect(store.groups()).toEqual([0, 5, 7]);
      await expect(store.group(9).updateVotedFor(4)).rejects.toThrow();
    } finally {
      await store.close();
    }
  });

  it('a damaged snapshot: the groups only it held are raised above the terms its JSON claims, not forgotten', async () => {
    const dir = join(tempDir(), 'meta');
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    try {
      await store.group(1).updateCurrentTerm(3);
      await store.group(1).updateVotedFor(4);
      await store.group(2).updateCurrentTerm(8);
      await store.group(3).updateCurrentTerm(5);
      await store.removeGroup(3);
      await store.sync(); // groups 1, 2 and tombstone 3 are in the snapshot only
      await store.group(4).updateCurrentTerm(2); // in the log
    } finally {
      await store.close();
    }
    // The checksum field damaged: every claim in the JSON is still what the node wrote.
    const snapshot = join(dir, 'metadata.json');
    const text = readFileSync(snapshot, 'utf8');
    writeFileSync(
      snapshot,
      text.replace(/"crc32":"(.)/, (_m, c: string) => `"crc32":"${c === '0' ? '1' : '0'}`),
    );
    expect((await cli('verify', dir)).code).toBe(2);
    // The claims are unverified (a damaged digit could lower a term): --min-term is required.
    const plan = await cliJson('repair', dir);
    expect(plan.json).toMatchObject({ needsMinTerm: true, refusal: { reason: 'needs-min-term' } });
    expect(JSON.stringify(plan.json.warnings)).toContain('the 3 groups its JSON still names');
    const { code, json } = await cliJson('repair', '--yes', '--min-term', '6', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({ applied: true, groupRepairs: { groups: 4 } });
    const loaded = await MetadataStore.load(dir);
    // None resumes at term 0 (where group 1 could vote again in term 3); none keeps a vote.
    expect([...loaded].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual([
      [1, 6, 0],
      [2, 9, 0],
      [4, 2, 0], // its record after the snapshot proves it: kept
    ]);
    expect(await Metadata.load(dir, { group: 3 })).toMatchObject({ currentTerm: 6, votedFor: 0 });
    // A group only an unreadable row may have held: above every term seen (group 2's claimed 8),
    // at least --min-term, no vote.
    expect(await Metadata.load(dir, { group: 99 })).toMatchObject({ currentTerm: 9, votedFor: 0 });
    expect((await cliJson('inspect', dir)).json.groups).toMatchObject({ floorTerm: 9 });
    expect(json.groupRepairs).toMatchObject({ floorTerm: 9 });
    const reopened = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    try {
      expect(reopened.groups()).toEqual([1, 2, 4]); // 3 stays removed
    } finally {
      await reopened.close();
    }
  });

  for (const length of [48, 96, 120]) {
    it(`a log cut to ${length} bytes, short of the size it was created with: refused, then raised with --min-term`, async () => {
      const dir = join(tempDir(), 'meta');
      const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
      try {
        await store.group(1).updateCurrentTerm(3);
        await store.sync();
        await store.group(1).updateVotedFor(9); // seq 2, byte 48 of the new log
        await store.group(2).updateCurrentTerm(40); // seq 3, byte 96
        await store.group(2).updateVotedFor(1); // seq 4, byte 144
      } finally {
        await store.close();
      }
      truncateSync(newestLog(dir), length);
      const verify = await cli('verify', dir);
      expect(verify.code).toBe(2);
      expect(verify.stdout).toContain('log cut short');
      const refused = await cliJson('repair', '--yes', dir);
      expect(refused.json).toMatchObject({ needsMinTerm: true, refusal: { reason: 'needs-min-term' } });
      expect((await cliJson('repair', '--yes', '--min-term', '41', dir)).code).toBe(0);
      for (const g of [1, 2]) {
        expect(await Metadata.load(dir, { group: g })).toMatchObject({ currentTerm: 41, votedFor: 0 });
      }
    });
  }

  for (const length of [0, 20, 47]) {
    it(`the log the snapshot names cut to ${length} bytes (no header left): nothing is proven, --min-term is needed`, async () => {
      const dir = join(tempDir(), 'meta');
      const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
      try {
        await store.group(1).updateCurrentTerm(3);
        await store.group(2).updateCurrentTerm(4);
        await store.sync(); // the snapshot: group 1 at 3, group 2 at 4; its next log follows
        await store.group(1).updateVotedFor(9); // acknowledged, in the log only
        await store.group(2).updateCurrentTerm(40);
      } finally {
        await store.close();
      }
      truncateSync(newestLog(dir), length);
      expect((await cli('verify', dir)).code).toBe(2);
      const refused = await cliJson('repair', '--yes', dir);
      expect(refused.code).toBe(5);
      expect(refused.json).toMatchObject({ needsMinTerm: true, refusal: { reason: 'needs-min-term' } });
      const { code } = await cliJson('repair', '--yes', '--min-term', '41', dir);
      expect(code).toBe(0);
      // Never the snapshot's older state (group 1 without its vote in term 3, group 2 at term 4).
      for (const g of [1, 2]) {
        expect(await Metadata.load(dir, { group: g })).toMatchObject({ currentTerm: 41, votedFor: 0 });
      }
    });
  }

  it('corrupt, every group with a record after the damage: all proven, nothing raised, no --min-term', async () => {
    const dir = join(tempDir(), 'meta');
    const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
    try {
      await store.group(1).updateCurrentTerm(3); // seq 1, slot 0: damaged below
      await store.group(2).updateCurrentTerm(4);
      await store.group(1).updateVotedFor(5);
      await store.group(2).updateVotedFor(6);
    } finally {
      await store.close();
    }
    flipByte(newestLog(dir), slot(0) + 20);
    expect((await cli('verify', dir)).code).toBe(2);
    const { code, json } = await cliJson('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({ needsMinTerm: false, groupRepairs: { groups: 2, kept: 2, raised: 0 } });
    const loaded = await MetadataStore.load(dir);
    expect([...loaded].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual([
      [1, 3, 5],
      [2, 4, 6],
    ]);
  });

  it('--bump-term on a clean directory raises every group (and tombstone) above its own term, no vote', async () => {
    const dir = await storeDirectory();
    const { code, json } = await cliJson('repair', '--yes', '--bump-term', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      needsMinTerm: false,
      groupRepairs: { groups: 4, kept: 0, raised: 4, raisedTerms: { min: 3, max: 7 } },
    });
    const loaded = await MetadataStore.load(dir);
    expect([...loaded].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual([
      [0, 3, 0],
      [5, 5, 0],
      [7, 7, 0],
    ]);
    expect(await Metadata.load(dir, { group: 9 })).toMatchObject({ currentTerm: 4, votedFor: 0 });
  });

  it('a torn tail: every group kept as a node loads it (votes included)', async () => {
    const dir = await storeDirectory();
    writeAt(newestLog(dir), slot(2), new Uint8Array(10).fill(7));
    expect((await cli('verify', dir)).code).toBe(1);
    const { code, json } = await cliJson('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      strategy: 'compact',
      groupRepairs: null,
      repaired: { groups: { live: 3, removed: 1 } },
    });
    const loaded = await MetadataStore.load(dir);
    expect([...loaded].map(([id, m]) => [id, m.currentTerm, m.votedFor])).toEqual([
      [0, 2, 1],
      [5, 4, 0],
      [7, 6, 2],
    ]);
  });
});
