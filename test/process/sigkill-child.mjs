// Child process for sigkill-random.test.ts. Uses the built package (dist/), as a user would.
//   node sigkill-child.mjs DIR SEED
// Opens a manager on DIR and updates forever, mixing sequential updates, batches of concurrent
// updates (group commits) and sync() (compactions). Writes one JSON line per event to stdout with
// a synchronous write, so a line is out before the next update starts:
//   {"start":[term,vote]}            state after open
//   {"submit":[[term,vote],...]}     states about to be submitted (before the calls)
//   {"ack":[term,vote]}              an update resolved: this state is durable
import { writeSync } from 'node:fs';
import { MetadataManager } from '../../dist/index.js';
import { seededRandom } from '../seeded-random.mjs';

const [dir, seedText] = process.argv.slice(2);
const random = seededRandom(seedText);
const say = (value) => writeSync(1, `${JSON.stringify(value)}\n`);

const manager = await MetadataManager.open(dir, { flushIntervalMs: 2 });
let { currentTerm: term, votedFor: vote } = manager.get();
say({ start: [term, vote] });

for (;;) {
  const roll = random();
  if (roll < 0.1) {
    await manager.sync();
  } else if (roll < 0.55) {
    // Sequential: a new term, maybe a vote in it.
    term += 1;
    vote = random() < 0.5 ? 1 + Math.floor(random() * 5) : 0;
    const states = [[term, 0]];
    if (vote !== 0) states.push([term, vote]);
    say({ submit: states });
    const t = term;
    await manager.updateCurrentTerm(t);
    say({ ack: [t, 0] });
    if (vote !== 0) {
      const v = vote;
      await manager.updateVotedFor(v);
      say({ ack: [t, v] });
    }
  } else {
    // Concurrent callers: all submitted before any resolves; they share group commits.
    const calls = [];
    const states = [];
    const n = 2 + Math.floor(random() * 15);
    for (let i = 0; i < n; i++) {
      term += 1;
      states.push([term, 0]);
      calls.push([term, 0]);
      if (random() < 0.4) {
        vote = 1 + Math.floor(random() * 5);
        states.push([term, vote]);
        calls.push([term, vote]);
      }
    }
    say({ submit: states });
    await Promise.all(
      calls.map(([t, v]) =>
        (v === 0 ? manager.updateCurrentTerm(t) : manager.updateVotedFor(v)).then(() => say({ ack: [t, v] })),
      ),
    );
  }
}
