import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata } from '../../src/index.js';
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
  tempDir,
  writeAt,
} from './helpers.js';

describe.concurrent('compact', () => {
  it('writes a snapshot covering every record and starts a fresh log', async () => {
    const dir = await makeDirectory(HISTORY);
    const { code, stdout } = await cli('compact', dir);
    expect(code).toBe(0);
    expect(stdout).toMatch(/compacted\s+/);
    expect(stdout).toMatch(/state\s+term 7, vote 1, last seq 6/);
    expect(stdout).toMatch(/removed\s+log-0000000000000003.wal/);
    expect(stdout).toMatch(/created\s+log-0000000000000007.wal/);
    expect(readdirSync(dir).sort()).toEqual(['LOCK', 'log-0000000000000007.wal', 'metadata.json']);
    const loaded = await Metadata.load(dir);
    expect([loaded.currentTerm, loaded.votedFor]).toEqual([7, 1]);
    // Again: nothing to do.
    const again = await cliJson('compact', dir);
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ ok: true, removed: [], created: [], compactions: [] });
  });

  it('--json reports before/after, the compaction event and the manager stats', async () => {
    const dir = await makeDirectory(HISTORY);
    const { code, json } = await cliJson('compact', dir);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      command: 'compact',
      ok: true,
      exitCode: 0,
      before: { verdict: 'clean', files: ['metadata.json', 'log-0000000000000003.wal'] },
      after: { verdict: 'clean', state: { currentTerm: 7, votedFor: 1, lastSeq: 6 } },
      stats: { updatesAcknowledged: 0 },
    });
    // Whether the open or the sync() compacts is the manager's business; one of them covers seq 6.
    const events = json.compactions as { lastSeq: number; durationMs: number }[];
    expect(events.some((e) => e.lastSeq === 6 && e.durationMs >= 0)).toBe(true);
    expect((json.stats as { compactions: number }).compactions).toBe(events.length);
  });

  it('drops a torn tail', async () => {
    const dir = await makeDirectory(HISTORY);
    writeAt(newestLog(dir), slot(4), new Uint8Array(5).fill(1));
    const { code, stdout } = await cli('compact', dir);
    expect(code).toBe(0);
    expect(stdout).toContain('the torn tail (never acknowledged) was dropped');
    expect((await cli('verify', dir)).code).toBe(0);
  });

  it('refuses while another process holds the directory open', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    try {
      const before = contents(dir);
      const { code, stderr, stdout } = await cli('compact', dir);
      expect(code).toBe(4);
      expect(stdout).toBe('');
      expect(stderr).toContain(`is locked by pid ${holder.pid} on host ${hostname()} since `);
      expect(stderr).toContain('(ERR_METADATA_LOCKED)');
      const refused = await cliJson('compact', dir);
      expect(refused.code).toBe(4);
      // The same lock shape as everywhere else (it used to be a string and a pid).
      expect(refused.json).toMatchObject({
        ok: false,
        exitCode: 4,
        after: null,
        refusal: {
          reason: 'locked',
          lock: { state: 'held', owner: { pid: holder.pid, hostname: hostname() } },
        },
      });
      expect(contents(dir)).toEqual(before);
    } finally {
      await holder.stop();
    }
  });

  it('goes ahead after the holder was killed (its LOCK file names it, nobody holds the lock)', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    await holder.kill();
    const { code, json } = await cliJson('compact', dir);
    expect(code).toBe(0);
    expect(json.lock).toMatchObject({ state: 'free', lastOwner: { pid: holder.pid } });
  });

  it('exits 2 on a corrupt directory and changes nothing', async () => {
    const dir = await makeDirectory(HISTORY);
    flipByte(newestLog(dir), slot(1) + 20);
    const before = contents(dir);
    const { code, stderr } = await cli('compact', dir);
    expect(code).toBe(2);
    expect(stderr).toContain(`corrupt at byte ${slot(1)}`);
    expect(stderr).toContain('compact does not repair');
    expect(contents(dir)).toEqual(before);
  });

  it('exits 3 and creates nothing for a missing or empty directory', async () => {
    const base = tempDir();
    const missing = await cli('compact', join(base, 'missing'));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('compact never creates one');
    expect(readdirSync(base)).toEqual([]);
  });
});
