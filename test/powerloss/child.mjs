// Workload for test/powerloss/run.js. Uses the built package (dist/), as a user would.
//   node child.mjs manager|store DIR SEED GROUPS
// Opens DIR (a MetadataManager, or a MetadataStore with groups 0..GROUPS-1) and updates forever:
// batches of concurrent updates across groups (group commits), sequential updates, sync()
// (compactions) and, for a store, removeGroup. One JSON line per event on stdout, written with a
// synchronous write, so a line is in the pipe before the next step starts:
//   {"start":[[g,term,vote,removed],...]}   every group's state after open (removed: 0 or 1)
//   {"submit":[[g,term,vote,removed],...]}  states about to be submitted, in call order
//   {"ack":[g,term,vote,removed]}           that update resolved: it is durable
import { writeSync } from 'node:fs';
import { MetadataManager, MetadataStore } from '../../dist/index.js';
import { seededRandom } from '../seeded-random.mjs';

const [mode, dir, seedText, groupsText] = process.argv.slice(2);
const GROUPS = mode === 'store' ? Number(groupsText) : 1;
const random = seededRandom(seedText);
const pick = (n) => Math.floor(random() * n);
const say = (value) => writeSync(1, `${JSON.stringify(value)}\n`);

const options = { flushIntervalMs: 3, createIfMissing: true };
const target =
  mode === 'store' ? await MetadataStore.open(dir, options) : await MetadataManager.open(dir, options);
const handle = (g) => (mode === 'store' ? target.group(g) : target);
// The child's own view, to submit only updates the rules accept: [term, vote, removed].
const state = [];
const live = new Set(mode === 'store' ? target.groups() : [0]);
for (let g = 0; g < GROUPS; g++) {
  const { currentTerm, votedFor } = handle(g).get();
  state.push([currentTerm, votedFor, mode === 'store' && currentTerm > 0 && !live.has(g) ? 1 : 0]);
}
say({ start: state.map(([t, v, r], g) => [g, t, v, r]) });

/** The next update of group `g` in the child's view: a new term, or a vote in the current one. */
function next(g) {
  const [term, vote, removed] = state[g];
  if (removed === 1 || vote !== 0 || term === 0 || random() < 0.55) {
    state[g] = [term + 1 + pick(3), 0, 0];
  } else {
    state[g] = [term, 1 + pick(5), 0];
  }
  return [g, ...state[g]];
}

const run = ([g, term, vote, removed]) => {
  if (removed === 1) return target.removeGroup(g);
  return vote === 0 ? handle(g).updateCurrentTerm(term) : handle(g).updateVotedFor(vote);
};

for (;;) {
  const roll = random();
  if (roll < 0.06) {
    await target.sync();
  } else if (roll < 0.1 && mode === 'store') {
    const g = pick(GROUPS);
    if (state[g][0] === 0 || state[g][2] === 1) continue;
    state[g] = [state[g][0], 0, 1];
    const s = [g, ...state[g]];
    say({ submit: [s] });
    await run(s);
    say({ ack: s });
  } else if (roll < 0.35) {
    const s = next(pick(GROUPS));
    say({ submit: [s] });
    await run(s);
    say({ ack: s });
  } else {
    // Concurrent callers of any groups, all submitted in one tick: they share group commits.
    const batch = [];
    const n = 2 + pick(mode === 'store' ? 40 : 12);
    for (let i = 0; i < n; i++) batch.push(next(pick(GROUPS)));
    say({ submit: batch });
    await Promise.all(batch.map((s) => run(s).then(() => say({ ack: s }))));
  }
}
