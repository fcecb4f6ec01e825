import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata } from '../../src/index.js';
import { tempDir } from '../helpers.js';
import { assertBuilt } from './fixtures/lock-driver-client.js';

/**
 * Issue 9, "taking over a stale lock": the owner of a directory is SIGKILLed (idle, or while it
 * hammers updates, group commits and compactions), and N processes start on the directory at the
 * same moment, as when a supervisor restarts a node while another instance comes up. With the old
 * pid-file lock two of them often both won and acknowledged different votes in one term, or got
 * past the lock and failed inside the directory (ENOENT on a log rename), corrupting it.
 *
 * A pool of contender processes (fixtures/lock-contender.mjs, the built package) waits on stdin;
 * spawning fresh processes for every round would cost far more than the race itself on a busy
 * machine. Each round: the victim (the last round's owner) is SIGKILLed and a fresh process
 * replaces it in the pool; N contenders are released together (one "go" line each, written back to
 * back); each tries MetadataManager.open and, if it wins, votes for its own id in a few fresh terms
 * and then HOLDS the directory until every other contender has answered, so any second winner is a
 * second owner at the same time. Checked per round: exactly one owner; every other contender
 * refused with ERR_METADATA_LOCKED and nothing else (none gets past the lock to fail inside); the
 * owner saw every update the victim had acknowledged; the directory loads cleanly with the owner's
 * last vote; across all rounds no term got two different acknowledged votes.
 *
 * LOCK_RACE_ROUNDS (default 20) is the total over both victim modes; N cycles through 2, 4, 8, 16.
 */

const CONTENDER = join(import.meta.dirname, 'fixtures', 'lock-contender.mjs');
const TOTAL_ROUNDS = Number(process.env.LOCK_RACE_ROUNDS ?? 20);
const ROUNDS_PER_MODE = Math.max(1, Math.round(TOTAL_ROUNDS / 2));
const CONTENDERS = [2, 4, 8, 16];
const POOL = Math.max(...CONTENDERS) + 1;
const VOTES = 3;

interface Message {
  ready?: boolean;
  result?: 'owner' | 'refused' | 'failed';
  code?: string;
  message?: string;
  ack?: [number, number];
  holding?: boolean;
  closed?: boolean;
}

interface Proc {
  readonly child: ChildProcess;
  readonly messages: Message[];
  /** Resolves with the first message at index >= `from` that `match` accepts; rejects if the process exits first. */
  waitFor(match: (m: Message) => boolean, from?: number): Promise<Message>;
  send(line: string): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly dead: () => boolean;
  stderr(): string;
}

function start(): Proc {
  const child = spawn(process.execPath, [CONTENDER], { stdio: ['pipe', 'pipe', 'pipe'] });
  const messages: Message[] = [];
  const watchers: { match: (m: Message) => boolean; from: number; resolve: (m: Message) => void }[] = [];
  let buffered = '';
  let errText = '';
  let dead = false;
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      const message = JSON.parse(line) as Message;
      messages.push(message);
      for (const w of watchers.splice(0)) {
        if (messages.length - 1 >= w.from && w.match(message)) w.resolve(message);
        else watchers.push(w);
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    errText += chunk.toString();
  });
  // A process that died closes its stdin: a late line must not crash the test with EPIPE.
  child.stdin?.on('error', () => {});
  // Exited means reaped ('exit': every thread is gone, so the kernel has closed every descriptor and
  // dropped its locks; 'close' alone can come first, when stdout's descriptor is closed before the
  // lock's) and its output read to the end ('close').
  const exited = Promise.all([
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    ),
    new Promise((resolve) => child.once('close', resolve)),
  ]).then(([status]) => {
    dead = true;
    return status;
  });
  return {
    child,
    messages,
    exited,
    dead: () => dead,
    stderr: () => errText,
    send: (line) => {
      child.stdin?.write(`${line}\n`);
    },
    waitFor: (match, from = 0) =>
      new Promise((resolve, reject) => {
        const seen = messages.slice(from).find(match);
        if (seen !== undefined) return resolve(seen);
        watchers.push({ match, from, resolve });
        void exited.then(() =>
          reject(new Error(`exited before the expected message: ${JSON.stringify(messages.slice(from))}`)),
        );
      }),
  };
}

let pool: Proc[] = [];

/** Replaces a dead pool member with a fresh process (not waited for here). */
function refill(): void {
  pool = pool.map((p) => (p.dead() ? start() : p));
}

const isReady = (p: Proc): boolean => !p.dead() && p.messages.some((m) => m.ready === true);

async function allReady(): Promise<void> {
  await Promise.all(pool.map((p) => p.waitFor((m) => m.ready === true)));
}

async function kill(proc: Proc): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

beforeAll(async () => {
  assertBuilt();
  pool = Array.from({ length: POOL }, start);
  await allReady();
}, 120_000);

afterAll(async () => {
  await Promise.all(pool.map(kill));
});

/** Term -> the one vote acknowledged in it; a second, different one is a double vote. */
type Ledger = Map<number, number>;

function recordAcks(ledger: Ledger, acks: [number, number][], who: string, problems: string[]): void {
  for (const [term, vote] of acks) {
    if (vote === 0) continue;
    const earlier = ledger.get(term);
    if (earlier !== undefined && earlier !== vote)
      problems.push(`two votes acknowledged in term ${term}: ${earlier} and ${vote} (${who})`);
    ledger.set(term, vote);
  }
}

const acksOf = (messages: Message[]): [number, number][] =>
  messages.flatMap((m) => (m.ack === undefined ? [] : [m.ack]));

/**
 * One round over `dir`, whose owner is `victim`. Returns the new owner (undefined if none) and what
 * went wrong (empty when all is well).
 */
async function round(
  dir: string,
  index: number,
  n: number,
  mode: 'idle' | 'mid-write',
  victim: Proc,
  ledger: Ledger,
): Promise<{ owner: Proc | undefined; problems: string[] }> {
  const problems: string[] = [];
  const tag = `round ${index} (${mode}, N=${n})`;

  // The victim is killed idle (holding after its votes), or mid-write after a number of updates
  // that differs from round to round (inside a group commit, a compaction, a vote...).
  const mark = victim.messages.length;
  if (mode === 'mid-write') {
    victim.send(`hammer ${100 + index}`);
    const after = 5 + ((index * 7) % 40);
    await victim.waitFor(() => acksOf(victim.messages.slice(mark)).length >= after, mark);
  }
  await kill(victim);
  const victimAcks = acksOf(victim.messages);
  recordAcks(
    ledger,
    victimAcks.slice(acksOf(victim.messages.slice(0, mark)).length),
    `${tag}, victim`,
    problems,
  );
  const victimHighest = Math.max(0, ...victimAcks.map(([term]) => term));
  // A fresh process takes the victim's place; it joins a later round once it is ready.
  refill();
  let ready = pool.filter(isReady);
  if (ready.length < n) {
    await allReady();
    ready = pool;
  }

  // N contenders, in an order that rotates from round to round, released together.
  const contenders = Array.from({ length: n }, (_, i) => ready[(index + i) % ready.length] as Proc);
  const from = contenders.map((c) => c.messages.length);
  contenders.forEach((c, i) => {
    c.send(`go ${dir} ${i + 1} ${VOTES}`);
  });
  // Everyone answers before any owner lets go: two owners would hold the directory together.
  await Promise.all(
    contenders.map((c, i) =>
      c
        .waitFor((m) => m.holding === true || m.result === 'refused' || m.result === 'failed', from[i])
        .catch(() => undefined),
    ),
  );

  const owners: Proc[] = [];
  contenders.forEach((c, i) => {
    const who = `${tag}, contender ${i + 1} (pid ${c.child.pid})`;
    const said = c.messages.slice(from[i]);
    const result = said.find((m) => m.result !== undefined);
    const acks = acksOf(said);
    recordAcks(ledger, acks, who, problems);
    if (result?.result === 'owner') {
      owners.push(c);
      if (!said.some((m) => m.holding) || acks.length !== VOTES)
        problems.push(`${who}: an owner that acknowledged ${acks.length} votes: ${JSON.stringify(said)}`);
      const first = acks[0];
      if (first !== undefined && first[0] <= victimHighest)
        problems.push(
          `${who}: voted in term ${first[0]}, not above the victim's acknowledged ${victimHighest}`,
        );
    } else if (result?.result !== 'refused' || result.code !== 'ERR_METADATA_LOCKED') {
      problems.push(`${who}: ${JSON.stringify(result ?? 'no answer')} ${c.stderr()}`);
    }
  });
  if (owners.length !== 1) problems.push(`${tag}: ${owners.length} owners at once`);

  // The directory loads cleanly (it is read while the owner holds it: load never writes) and holds
  // the owner's last acknowledged vote.
  try {
    const loaded = await Metadata.load(dir);
    const last = owners.length === 1 ? acksOf(owners[0]?.messages ?? []).at(-1) : undefined;
    if (last !== undefined && (loaded.currentTerm !== last[0] || loaded.votedFor !== last[1]))
      problems.push(
        `${tag}: loads [${loaded.currentTerm}, ${loaded.votedFor}], the owner acknowledged [${last}]`,
      );
  } catch (err) {
    problems.push(`${tag}: Metadata.load fails: ${(err as Error).message}`);
  }
  // Extra owners (a broken lock) are killed so that the next round has one victim.
  for (const extra of owners.slice(1)) await kill(extra);
  return { owner: owners[0], problems };
}

describe.each(['idle', 'mid-write'] as const)('a directory whose owner was SIGKILLed %s', (mode) => {
  it(`N = ${CONTENDERS.join(', ')} contenders: one owner at a time, the others refused (${ROUNDS_PER_MODE} rounds)`, async () => {
    const dir = join(tempDir(), 'meta');
    mkdirSync(dir);
    const ledger: Ledger = new Map();
    const problems: string[] = [];
    // The first owner opens alone.
    let owner = pool[0] as Proc;
    owner.send(`go ${dir} 1 ${VOTES}`);
    await owner.waitFor((m) => m.holding === true);
    recordAcks(ledger, acksOf(owner.messages), 'first owner', problems);
    for (let r = 0; r < ROUNDS_PER_MODE; r++) {
      const n = CONTENDERS[r % CONTENDERS.length] as number;
      const result = await round(dir, r, n, mode, owner, ledger);
      problems.push(...result.problems);
      if (result.owner === undefined || result.problems.some((p) => p.includes('Metadata.load fails'))) break;
      owner = result.owner;
    }
    // The last owner closes cleanly; the directory then opens for anyone.
    if (!owner.dead()) {
      const mark = owner.messages.length;
      owner.send('close');
      await owner.waitFor((m) => m.closed === true, mark);
      const last = pool.find((p) => p !== owner && !p.dead()) as Proc;
      const at = last.messages.length;
      last.send(`go ${dir} 9 1`);
      const answer = await last.waitFor(
        (m) => m.holding === true || (m.result !== undefined && m.result !== 'owner'),
        at,
      );
      if (answer.holding !== true) problems.push(`after the last close: ${JSON.stringify(answer)}`);
      await kill(last);
      await kill(owner);
      refill();
      await allReady();
    }
    expect(problems).toEqual([]);
  }, 600_000);
});
