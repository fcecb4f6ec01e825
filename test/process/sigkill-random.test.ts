import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metadata } from '../../src/index.js';
import { tempDir } from '../helpers.js';

/**
 * Real processes, real disk: a child updates the metadata (sequentially, in concurrent batches,
 * with compactions) and is killed with SIGKILL at a random moment: during open and recovery, in
 * the middle of a group commit, of a compaction, anywhere. After each kill the directory must load,
 * hold every update the child reported as acknowledged, hold only states the child submitted, and
 * never show a term going down or a second vote in a term. Then the next child continues from it.
 *
 * SIGKILL does not lose the page cache, so this checks the process-crash half of the story (the
 * simulated disk covers power loss). Bounded: ROUNDS kills, each within MAX_KILL_DELAY_MS.
 */

const CHILD = join(import.meta.dirname, 'sigkill-child.mjs');
const DIST = join(import.meta.dirname, '..', '..', 'dist', 'index.js');
const ROUNDS = 30;
const MAX_KILL_DELAY_MS = 250;

type State = [term: number, vote: number];

interface Run {
  readonly lines: string[];
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Runs the child on `dir` and kills it `delayMs` after it starts (or after its first line). */
function runAndKill(dir: string, seed: number, delayMs: number, afterStart: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let armed = false;
    const arm = (): void => {
      if (armed) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    };
    if (!afterStart) arm();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (afterStart && stdout.includes('\n')) arm();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      // A line cut by the kill is not a report: keep complete lines only.
      const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
      resolve({ lines: complete.split('\n').filter(Boolean), signal, stderr });
    });
  });
}

const isOlder = (a: State, b: State): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] === 0 && b[1] !== 0);

describe('SIGKILL at random moments', () => {
  it.skipIf(!existsSync(DIST))(`loses no acknowledged update over ${ROUNDS} kills`, async () => {
    const dir = tempDir();
    const random = seededRandom(Number(process.env.SIGKILL_SEED ?? Date.now() % 1_000_000));
    const votes = new Map<number, number>();
    let durable: State = [0, 0];
    let acks = 0;
    let killedWhileRunning = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const seed = Math.floor(random() * 1e9);
      const delay = Math.floor(random() * MAX_KILL_DELAY_MS);
      const afterStart = random() < 0.7;
      const run = await runAndKill(dir, seed, delay, afterStart);
      const where = `round ${round} (child seed ${seed}, kill ${delay} ms after ${afterStart ? 'start' : 'spawn'})`;
      expect(run.signal, `${where}: the child exited by itself: ${run.stderr}`).toBe('SIGKILL');

      const submitted = new Set<string>([String(durable)]);
      let lastAcked = durable;
      for (const line of run.lines) {
        const event = JSON.parse(line) as { start?: State; submit?: State[]; ack?: State };
        if (event.start) expect(event.start, `${where}: open saw another state`).toEqual(durable);
        for (const s of event.submit ?? []) submitted.add(String(s));
        if (event.ack) {
          acks++;
          if (isOlder(lastAcked, event.ack)) lastAcked = event.ack;
        }
      }
      if (run.lines.length > 1) killedWhileRunning++;

      const loaded = await Metadata.load(dir);
      const state: State = [loaded.currentTerm, loaded.votedFor];
      expect(isOlder(state, lastAcked), `${where}: loaded ${state}, acknowledged ${lastAcked}`).toBe(false);
      expect(submitted.has(String(state)), `${where}: loaded ${state}, never submitted`).toBe(true);
      expect(state[0], `${where}: term went down`).toBeGreaterThanOrEqual(durable[0]);
      if (state[1] !== 0) {
        const earlier = votes.get(state[0]);
        expect(earlier === undefined || earlier === state[1], `${where}: two votes in term ${state[0]}`).toBe(
          true,
        );
        votes.set(state[0], state[1]);
      }
      durable = state;
    }
    console.log(
      `SIGKILL: ${ROUNDS} kills (${killedWhileRunning} while updating), ${acks} acknowledged updates checked`,
    );
    expect(acks).toBeGreaterThan(ROUNDS);
    expect(killedWhileRunning).toBeGreaterThan(ROUNDS / 3);
  });
});
