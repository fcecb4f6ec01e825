import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager } from '../../src/index.js';
import {
  cli,
  cliJson,
  contents,
  flipByte,
  HISTORY,
  holdOpen,
  makeDirectory,
  newestLog,
  slot,
  writeAt,
} from './helpers.js';

interface RepairJson {
  applied: boolean;
  exitCode: number;
  strategy: string;
  before: { currentTerm: number; votedFor: number; lastSeq: number } | null;
  after: { currentTerm: number; votedFor: number; lastSeq: number } | null;
  highestTerm: { value: number; source: string };
  needsMinTerm: boolean;
  backupFiles: string[];
  removeFiles: string[];
  result?: { backupDir: string; copied: { name: string; bytes: number }[]; removed: string[] };
}

async function repairJson(...args: string[]): Promise<{ code: number; json: RepairJson }> {
  const { code, json } = await cliJson('repair', ...args);
  return { code, json: json as unknown as RepairJson };
}

/** After a repair, the node may vote once in the new term, and never in an earlier one. */
async function expectFreshTerm(dir: string, term: number): Promise<void> {
  const loaded = await Metadata.load(dir);
  expect([loaded.currentTerm, loaded.votedFor]).toEqual([term, 0]);
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  try {
    await expect(manager.updateCurrentTerm(term - 1)).rejects.toMatchObject({ code: 'ERR_TERM_REGRESSION' });
    await manager.updateVotedFor(4);
    await expect(manager.updateVotedFor(5)).rejects.toMatchObject({ code: 'ERR_VOTE_CONFLICT' });
  } finally {
    await manager.close();
  }
}

describe.concurrent('repair', () => {
  it('without --yes prints the plan, changes nothing and exits 1', async () => {
    const dir = await makeDirectory(HISTORY);
    flipByte(newestLog(dir), slot(1) + 20);
    const before = contents(dir);
    const { code, stdout } = await cli('repair', dir);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      new RegExp(`diagnosis\\s+CORRUPT: log-0000000000000003.wal: corrupt at byte ${slot(1)}`),
    );
    expect(stdout).toMatch(
      new RegExp(`highest term\\s+7, in log-0000000000000003.wal byte ${slot(2)} \\(seq 5\\)`),
    );
    expect(stdout).toMatch(/after\s+term 8, vote none, last seq 6/);
    expect(stdout).toContain('Nothing was changed. Run again with --yes to apply');
    expect(contents(dir)).toEqual(before);
  });

  it('on corruption: backs up, moves to a term above every term seen with no vote, and checks it', async () => {
    const dir = await makeDirectory(HISTORY);
    flipByte(newestLog(dir), slot(1) + 20);
    const original = contents(dir);
    const { code, json } = await repairJson('--yes', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      applied: true,
      strategy: 'new-term',
      before: null,
      after: { currentTerm: 8, votedFor: 0, lastSeq: 6 },
      highestTerm: { value: 7 },
      backupFiles: ['metadata.json', 'log-0000000000000003.wal'],
      removeFiles: ['log-0000000000000003.wal'],
    });
    const backupDir = json.result?.backupDir ?? '';
    expect(backupDir.startsWith(join(dir, 'backup-'))).toBe(true);
    // The backup holds the damaged files byte for byte.
    for (const name of ['metadata.json', 'log-0000000000000003.wal']) {
      expect(readFileSync(join(backupDir, name)).toString('hex')).toBe(original[name]);
    }
    // The library ignores the backup folder: the directory verifies clean.
    expect((await cli('verify', dir)).code).toBe(0);
    // The snapshot and the empty log it names as the one after it (seq 7 on).
    expect(
      readdirSync(dir)
        .filter((n) => !n.startsWith('backup-'))
        .sort(),
    ).toEqual(['LOCK', 'log-0000000000000007.wal', 'metadata.json']);
    await expectFreshTerm(dir, 8);
  });

  it('on a torn tail: keeps the state and the vote, drops the torn bytes', async () => {
    const dir = await makeDirectory(HISTORY);
    writeAt(newestLog(dir), slot(4), new Uint8Array(10).fill(7));
    const plan = await cli('repair', dir);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain('Only a torn tail');
    const { code, stdout } = await cli('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(stdout).toMatch(/backup\s+.*backup-\d{8}T\d{6}Z \(2 files/);
    expect(stdout).toMatch(/after\s+a node loads term 7, vote 1, last seq 6 \(checked/);
    expect(stdout).toContain('REPAIRED.');
    expect((await cli('verify', dir)).code).toBe(0);
    const loaded = await Metadata.load(dir);
    expect([loaded.currentTerm, loaded.votedFor]).toEqual([7, 1]);
  });

  it('has nothing to do on a clean directory (exit 0), unless --bump-term', async () => {
    const dir = await makeDirectory(HISTORY);
    const before = contents(dir);
    const clean = await cli('repair', '--yes', dir);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('Nothing to repair.');
    expect(contents(dir)).toEqual(before);
    const { code, json } = await repairJson('--yes', '--bump-term', dir);
    expect(code).toBe(0);
    expect(json.after).toEqual({ currentTerm: 8, votedFor: 0, lastSeq: 6 });
    await expectFreshTerm(dir, 8);
  });

  it('counts a damaged snapshot whose JSON still parses, and records after the damage', async () => {
    const dir = await makeDirectory(HISTORY);
    // Raise the snapshot's term by hand (checksum now wrong): a repair must stay above it too.
    const path = join(dir, 'metadata.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"groups":[[0,3,2]]', '"groups":[[0,30,2]]'));
    const { code, json } = await repairJson('--yes', dir);
    expect(code).toBe(0);
    expect(json.highestTerm).toEqual({ value: 30, source: 'metadata.json (damaged, unverified)' });
    expect(json.after).toMatchObject({ currentTerm: 31, votedFor: 0 });
    await expectFreshTerm(dir, 31);
  });

  it('refuses (exit 5) when the highest term is not provable, then obeys --min-term', async () => {
    // Compacted: the log is empty, so the damaged snapshot is the only witness of the term.
    const dir = await makeDirectory([...HISTORY, 'sync']);
    const path = join(dir, 'metadata.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"groups":[[0,7,1]]', '"groups":[[0,6,1]]'));
    const before = contents(dir);
    const refused = await cli('repair', '--yes', dir);
    expect(refused.code).toBe(5);
    expect(refused.stdout).toContain('The disk does not prove the highest term the node reached');
    expect(refused.stdout).toContain('Refused: rerun with --min-term N');
    expect(contents(dir)).toEqual(before);
    const { code, json } = await repairJson('--yes', '--min-term', '12', dir);
    expect(code).toBe(0);
    expect(json.after).toMatchObject({ currentTerm: 12, votedFor: 0 });
    await expectFreshTerm(dir, 12);
  });

  it('refuses while a node holds the directory open (exit 4), with or without --yes, and changes nothing', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    flipByte(newestLog(dir), slot(1) + 20); // under the running node (which does not read it again)
    try {
      const before = contents(dir);
      const { code, stderr } = await cli('repair', '--yes', dir);
      expect(code).toBe(4);
      expect(stderr).toContain(`locked by pid ${holder.pid} on host ${hostname()} since `);
      expect(stderr).toContain('(ERR_METADATA_LOCKED)');
      expect(stderr).toContain('Nothing was changed');
      const plan = await repairJson(dir);
      expect(plan.code).toBe(4);
      const bump = await cli('repair', '--yes', '--bump-term', dir);
      expect(bump.code).toBe(4);
      expect(contents(dir)).toEqual(before);
    } finally {
      await holder.stop();
    }
  });

  it('goes ahead after the holder was killed, and releases the lock afterwards', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    await holder.kill();
    flipByte(newestLog(dir), slot(1) + 20);
    const { code, stdout } = await cli('repair', '--yes', dir);
    expect(code).toBe(0);
    expect(stdout).toMatch(/lock\s+held by pid \d+ on host .* \(this command\)\n/);
    expect(stdout).toContain('REPAIRED.');
    const after = await cliJson('inspect', dir);
    expect(after.json.lock).toMatchObject({ state: 'free' });
  });

  it('--min-term on a clean directory raises the term to it (the repair asked for)', async () => {
    const dir = await makeDirectory(HISTORY);
    const plan = await cli('repair', '--min-term', '12', dir);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/after\s+term 12, vote none, last seq 6/);
    expect(plan.stdout).toContain(
      `Run again with --yes to apply: npx raft-metadata repair --yes --min-term 12 ${dir}`,
    );
    expect(plan.stdout).not.toContain('Nothing to repair');
    const { code, stdout } = await cli('repair', '--yes', '--min-term', '12', dir);
    expect(code).toBe(0);
    expect(stdout).toContain('--min-term 12: moving to a new term of at least 12 with no vote');
    expect(stdout).toContain('REPAIRED.');
    await expectFreshTerm(dir, 12);
  });

  it('a --min-term not above the highest term seen: the term is the highest + 1, and it says so', async () => {
    const dir = await makeDirectory(HISTORY);
    const { code, json } = await cliJson('repair', '--yes', '--min-term', '5', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      minTerm: 5,
      after: { currentTerm: 8, votedFor: 0 },
      warnings: [
        {
          code: 'min-term-overridden',
          message: expect.stringContaining('--min-term 5 is not above the highest term seen (7'),
        },
      ],
    });
    await expectFreshTerm(dir, 8);
    const text = await cli('repair', '--min-term', '3', dir);
    expect(text.stdout).toMatch(
      /WARNING\s+--min-term 3 is not above the highest term seen \(8,.*the repaired term is 9/,
    );
  });

  it('exits 3 for a directory that is not a metadata directory', async () => {
    const { code, stderr } = await cli('repair', '--yes', '/nonexistent/raft-metadata');
    expect(code).toBe(3);
    expect(stderr).toContain('Nothing to repair');
  });
});
