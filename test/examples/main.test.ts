// `npm start` runs examples/main.js: the first thing a user sees. It imports the package as
// 'raft-metadata', which resolves to dist/: run `npm run build` first.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { root } from './typecheck.js';

describe('examples/main.js (npm start)', () => {
  it('walks through open, updates, compaction, the rules, the constructor form and a SIGKILL', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'examples', 'main.js')]);
    const steps = [...stdout.matchAll(/^(\d)\. (.*)$/gm)].map((m) => `${m[1]}. ${m[2]?.split(':')[0]}`);
    expect(steps).toEqual([
      expect.stringMatching(/^1\. await MetadataManager\.open\(/),
      '2. await updateCurrentTerm(5); await updateVotedFor(101)',
      '3. await sync()',
      "4. Raft's rules are enforced (a refused update changes nothing)",
      '5. await close(), then Metadata.load(dir)',
      '6. The constructor form, for code written against new MetadataManager(metadata, flushIntervalMs)',
      '7. SIGKILL right after acknowledged updates',
    ]);
    expect(stdout).toContain('currentTerm=0 votedFor=0 (a new node: term 0, no vote)');
    expect(stdout).toContain('get(): currentTerm=5 votedFor=101');
    expect(stdout).toMatch(/files: LOCK, log-\d{16}\.wal, metadata\.json/);
    expect(stdout).toContain('updateVotedFor(7) in the same term: refused with ERR_VOTE_CONFLICT');
    expect(stdout).toContain('updateCurrentTerm(4): refused with ERR_TERM_REGRESSION');
    expect(stdout).toContain('updateCurrentTerm(-1): refused with ERR_OUT_OF_RANGE');
    expect(stdout).toContain('currentTerm=5 votedFor=101 (from disk)');
    expect(stdout).toContain('then updateCurrentTerm(6): get().currentTerm=6');
    expect(stdout).toContain('nothing acknowledged was lost');
    expect(stdout).not.toContain('LOST UPDATES');
    // Words that mean nothing to a user who never saw this project's history.
    expect(stdout).not.toMatch(/seed|tutorial/i);

    // The reloaded term is the last acknowledged one, or a later one that was only submitted.
    const acked = Number(/its last line was "acked (\d+)"/.exec(stdout)?.[1]);
    const reloaded = Number(/Metadata\.load after the kill: currentTerm=(\d+)/.exec(stdout)?.[1]);
    expect(acked).toBeGreaterThanOrEqual(200);
    expect(reloaded).toBeGreaterThanOrEqual(acked);
    if (reloaded > acked) expect(stdout).toContain(`term ${reloaded} was submitted and written`);
    expect(stdout).toContain(`resumes at term ${reloaded}`);
  });
});
