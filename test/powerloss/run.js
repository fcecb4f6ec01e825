// Power-loss test on a real file system: `npm run test:powerloss` (root, FUSE and LazyFS needed;
// see docs/testing.md). For each mode (a MetadataManager; a MetadataStore of many groups), rounds
// of: mount LazyFS over the directory's disk, start a child that updates without pause
// (child.mjs), freeze it (SIGSTOP) at a random moment, cut the power (every byte not fsynced is
// dropped), kill it, unmount, then load the disk with the library and check, for every group:
//   - the directory loads (a torn tail is fine; anything `verify` calls corrupt is a failure);
//   - the state is one the child submitted for that group, at or after its last acknowledged one
//     (no acknowledged update lost, no group showing another's state, no term going down);
//   - every vote in a term is the one vote acknowledged or loaded before in that term;
//   - the next child's open sees exactly that state.
// POWERLOSS_ROUNDS (default 25 per mode), POWERLOSS_SEED, POWERLOSS_MAX_DELAY_MS (default 400),
// POWERLOSS_MODES (default "manager,store"), POWERLOSS_GROUPS (default 64).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, MetadataStore } from '../../dist/index.js';
import { findLazyfs, LazyMount } from './lazyfs.js';

const ROUNDS = Number(process.env.POWERLOSS_ROUNDS ?? 25);
const MAX_DELAY_MS = Number(process.env.POWERLOSS_MAX_DELAY_MS ?? 400);
const GROUPS = Number(process.env.POWERLOSS_GROUPS ?? 64);
const MODES = (process.env.POWERLOSS_MODES ?? 'manager,store').split(',');
const SEED = Number(process.env.POWERLOSS_SEED ?? Date.now() % 2 ** 31);
const CHILD = join(import.meta.dirname, 'child.mjs');
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

const binary = findLazyfs();
if (binary === undefined) {
  console.error(
    'test:powerloss needs LazyFS: build it with ../shared/tools/build-lazyfs.sh, or set LAZYFS=/path/to/lazyfs',
  );
  process.exit(2);
}

let rng = SEED >>> 0;
const random = () => {
  rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0;
  return rng / 4294967296;
};
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const key = ([t, v, r]) => `${t}/${v}/${r}`;

/** Starts the child on `dir`, freezes it at a random moment, cuts the power, kills it. */
async function roundWithPowerCut(mount, mode, dir, seed) {
  const child = spawn(process.execPath, [CHILD, mode, dir, String(seed), String(GROUPS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => {
    stdout += c;
  });
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
  // One round in five cuts the power during the open (recovery, compaction of a torn tail, the
  // first snapshot); the others once the child has started updating.
  const duringOpen = random() < 0.2;
  if (!duringOpen) {
    for (let i = 0; i < 400 && !stdout.includes('\n'); i++) await sleep(10);
  }
  await sleep(random() * (duringOpen ? 150 : MAX_DELAY_MS));
  child.kill('SIGSTOP');
  // Every line in the pipe now was written before the freeze: its update was durable by then.
  await mount.powerCut();
  child.kill('SIGKILL');
  const end = await exited;
  // Bytes written between the freeze and the kill (a request LazyFS had already taken) go too.
  await mount.powerCut();
  await mount.unmount();
  if (end.signal !== 'SIGKILL')
    throw new Error(`child exited on its own (${JSON.stringify(end)}): ${stderr}`);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Loads every group's state from the disk (the backing directory, LazyFS unmounted). */
async function loadDisk(mode, dir) {
  const states = [];
  if (mode === 'manager') {
    const m = await Metadata.load(dir);
    states.push([m.currentTerm, m.votedFor, 0]);
    return states;
  }
  const live = await MetadataStore.load(dir);
  for (let g = 0; g < GROUPS; g++) {
    const l = live.get(g);
    if (l !== undefined) {
      states.push([l.currentTerm, l.votedFor, 0]);
      continue;
    }
    const m = await Metadata.load(dir, { group: g });
    states.push([m.currentTerm, m.votedFor, m.currentTerm > 0 || m.votedFor !== 0 ? 1 : 0]);
  }
  return states;
}

async function runMode(mode, work) {
  const mount = new LazyMount(binary, work);
  const diskDir = join(mount.root, 'node');
  const mntDir = join(mount.mnt, 'node');
  const groups = mode === 'store' ? GROUPS : 1;
  // What the disk held after the last check, and every vote known per group and term.
  let verified = Array.from({ length: groups }, () => [0, 0, 0]);
  const votes = Array.from({ length: groups }, () => new Map());
  let created = false;
  const totals = { rounds: 0, acks: 0, submitted: 0, lostUnacked: 0, torn: 0, clean: 0, notCreated: 0 };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await mount.mount();
      const events = await roundWithPowerCut(mount, mode, mntDir, SEED + round);
      // Each group's candidates: its verified state, then what the child submitted, in order.
      const candidates = verified.map((s) => [s]);
      const lastAck = verified.map(() => 0);
      const start = events.find((e) => e.start !== undefined);
      if (start !== undefined) {
        for (const [g, t, v, r] of start.start) {
          if (key([t, v, r]) !== key(verified[g])) {
            throw new Error(
              `${mode} round ${round}: open gave group ${g} ${key([t, v, r])}, the disk held ${key(verified[g])}`,
            );
          }
        }
      }
      for (const e of events) {
        if (e.submit !== undefined) {
          for (const [g, t, v, r] of e.submit) candidates[g].push([t, v, r]);
          totals.submitted += e.submit.length;
        } else if (e.ack !== undefined) {
          const [g, t, v, r] = e.ack;
          const at = candidates[g].findLastIndex((c) => key(c) === key([t, v, r]));
          if (at < 0)
            throw new Error(`${mode} round ${round}: ack of an unsubmitted state ${JSON.stringify(e.ack)}`);
          lastAck[g] = Math.max(lastAck[g], at);
          if (v !== 0) votes[g].set(t, v);
          totals.acks++;
        }
      }
      const verdict = spawnSync(process.execPath, [CLI, 'verify', diskDir], { encoding: 'utf8' });
      if (verdict.status === 1) totals.torn++;
      else if (verdict.status === 0) totals.clean++;
      // Exit 3 (no metadata directory) only before any open has finished creating it.
      else if (verdict.status === 3 && start === undefined && !created) totals.notCreated++;
      else {
        throw new Error(
          `${mode} round ${round}: verify exit ${verdict.status}: ${verdict.stdout}${verdict.stderr}`,
        );
      }
      const exists = verdict.status === 0 || verdict.status === 1;
      created ||= exists;
      const loaded = exists ? await loadDisk(mode, diskDir) : verified;
      for (let g = 0; g < groups; g++) {
        const at = candidates[g].findLastIndex((c) => key(c) === key(loaded[g]));
        if (at < lastAck[g]) {
          const acked = key(candidates[g][lastAck[g]]);
          throw new Error(
            at < 0
              ? `${mode} round ${round}: group ${g} loads ${key(loaded[g])}, never submitted (acknowledged: ${acked})`
              : `${mode} round ${round}: group ${g} lost acknowledged ${acked}: loads ${key(loaded[g])}`,
          );
        }
        totals.lostUnacked += candidates[g].length - 1 - at;
        const [t, v] = loaded[g];
        if (v !== 0) {
          const known = votes[g].get(t);
          if (known !== undefined && known !== v) {
            throw new Error(
              `${mode} round ${round}: group ${g} votes ${v} in term ${t}, where ${known} was acknowledged`,
            );
          }
          votes[g].set(t, v);
        }
      }
      verified = loaded;
      totals.rounds++;
      const acked = events.filter((e) => e.ack !== undefined).length;
      console.log(`${mode} round ${round}: ${acked} acknowledged, verify exit ${verdict.status}, ok`);
    }
  } finally {
    await mount.unmount().catch(() => {});
    mount.close();
  }
  return totals;
}

const work = mkdtempSync(join(tmpdir(), 'raft-metadata-powerloss-'));
let failed = false;
try {
  console.log(
    `power-loss test: seed ${SEED}, ${ROUNDS} rounds per mode, modes ${MODES.join(', ')}, lazyfs ${binary}`,
  );
  for (const mode of MODES) {
    const t = await runMode(mode, join(work, mode));
    console.log(
      `${mode}: ${t.rounds} power cuts, ${t.acks} acknowledged updates all kept, ${t.submitted - t.acks} unacknowledged (${t.lostUnacked} of them lost), ` +
        `verify: ${t.clean} clean, ${t.torn} torn tail, ${t.notCreated} cut before the directory existed`,
    );
  }
} catch (err) {
  failed = true;
  console.error(`FAILED (seed ${SEED}): ${err instanceof Error ? err.message : err}`);
  console.error(`the disk is kept in ${work}`);
} finally {
  if (!failed) rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
