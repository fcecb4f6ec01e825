// A node that compacts every few milliseconds: opens a manager on argv[2] with flushIntervalMs
// argv[3] (default 2) and keeps raising the term and voting, prints READY after the first updates,
// and closes cleanly when stdin ends, printing STATS {compactions, term}. Uses the built package, as a running node would.
import { writeSync } from 'node:fs';
import { MetadataManager } from '../../dist/index.js';

try {
  const flushIntervalMs = Number(process.argv[3] ?? 2);
  const manager = await MetadataManager.open(process.argv[2], { flushIntervalMs });
  let stop = false;
  let term = manager.get().currentTerm;
  const loop = (async () => {
    while (!stop) {
      term++;
      await manager.updateCurrentTerm(term);
      await manager.updateVotedFor(1 + (term % 5));
      if (term % 50 === 0) await new Promise((done) => setTimeout(done, 1));
    }
  })();
  for (let i = 0; i < 20; i++) {
    term++;
    await manager.updateCurrentTerm(term);
  }
  writeSync(1, 'READY\n');
  process.stdin.resume();
  process.stdin.on('end', async () => {
    stop = true;
    await loop;
    const { compactions } = manager.stats();
    await manager.close();
    writeSync(1, `STATS ${JSON.stringify({ compactions, term })}\n`);
    process.exit(0);
  });
} catch (err) {
  writeSync(1, `ERROR ${err.code ?? ''} ${err.message}\n`);
  process.exit(1);
}
