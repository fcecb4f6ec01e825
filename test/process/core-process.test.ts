import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata, MetadataManager } from '../../src/index.js';
import { tempDir } from '../helpers.js';

const CHILD = join(import.meta.dirname, 'core-child.mjs');

interface Running {
  child: ChildProcess;
  lines: string[];
  /** Resolves when a line matching `pattern` has been printed. */
  waitFor(pattern: RegExp): Promise<string>;
  exited: Promise<void>;
}

function start(...args: string[]): Running {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of watchers.splice(0)) {
        if (w.pattern.test(line)) w.resolve(line);
        else watchers.push(w);
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    child,
    lines,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => pattern.test(l));
        if (seen) return resolve(seen);
        watchers.push({ pattern, resolve });
        void exited.then(() => reject(new Error(`child exited before ${pattern}: ${lines.join(' | ')}`)));
      }),
  };
}

describe('the lock across processes', () => {
  it('refuses a second owner while another live process holds the directory', async () => {
    const dir = tempDir();
    const holder = start('hold', dir);
    await holder.waitFor(/^READY$/);
    const err = await MetadataManager.open(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_METADATA_LOCKED', pid: holder.child.pid });
    // Another child is refused the same way.
    const second = start('hold', dir);
    expect(await second.waitFor(/^ERROR/)).toContain('ERR_METADATA_LOCKED');
    holder.child.kill('SIGKILL');
    await holder.exited;
  });

  it('takes over a lock left by a process killed with SIGKILL', async () => {
    const dir = tempDir();
    const holder = start('hold', dir);
    await holder.waitFor(/^READY$/);
    holder.child.kill('SIGKILL');
    await holder.exited;
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(1);
    await manager.close();
  });

  it('takes over a LOCK naming a dead pid or holding nothing', async () => {
    for (const content of ['2147483646\n', '']) {
      const dir = tempDir();
      writeFileSync(join(dir, 'LOCK'), content);
      const manager = await MetadataManager.open(dir);
      await manager.close();
    }
  });
});

describe('SIGKILL right after acknowledged updates', () => {
  it.each(['updates', 'concurrent'])('loses no acknowledged update (%s)', async (mode) => {
    const dir = tempDir();
    let from = 1;
    for (let round = 0; round < 4; round++) {
      const child = start(mode, dir, String(from));
      const target = from + 20 + round * 37;
      await child.waitFor(new RegExp(`^ACK ${target}$`));
      child.child.kill('SIGKILL');
      await child.exited;
      const acked = child.lines.filter((l) => l.startsWith('ACK ')).map((l) => Number(l.slice(4)));
      const highest = Math.max(...acked);
      const loaded = await Metadata.load(dir);
      // Everything acknowledged is there; at most the in-flight batch beyond it.
      expect(loaded.currentTerm).toBeGreaterThanOrEqual(highest);
      expect(loaded.currentTerm).toBeLessThanOrEqual(highest + 16);
      const votes = child.lines.filter((l) => l.startsWith(`VOTE ${loaded.currentTerm} `));
      if (votes.length > 0) expect(loaded.votedFor).toBe(Number(votes[0]?.split(' ')[2]));
      from = loaded.currentTerm + 1;
    }
  });
});
