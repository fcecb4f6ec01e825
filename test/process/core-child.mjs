// A child process for the core's process tests. Uses the built package, as a user would.
//   hold DIR            open a manager, print READY, stay alive until killed
//   updates DIR FROM    sequential term updates from FROM upwards, printing "ACK <term>" after each
//                       resolves, forever (until killed)
//   concurrent DIR FROM batches of 16 concurrent term updates, printing "ACK <term>" per resolution
import { writeSync } from 'node:fs';
import { MetadataManager } from '../../dist/index.js';

const [command, dir, from] = process.argv.slice(2);
const say = (line) => writeSync(1, `${line}\n`);

try {
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 5 });
  if (command === 'hold') {
    say('READY');
    setInterval(() => {}, 1 << 30);
  } else if (command === 'updates') {
    say('READY');
    for (let term = Number(from); ; term++) {
      await manager.updateCurrentTerm(term);
      say(`ACK ${term}`);
      if (term % 7 === 0)
        await manager.updateVotedFor((term % 5) + 1).then(() => say(`VOTE ${term} ${(term % 5) + 1}`));
    }
  } else if (command === 'concurrent') {
    say('READY');
    for (let base = Number(from); ; base += 16) {
      await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          manager.updateCurrentTerm(base + i).then(() => say(`ACK ${base + i}`)),
        ),
      );
    }
  } else {
    throw new Error(`unknown command ${command}`);
  }
} catch (err) {
  say(`ERROR ${err.code ?? ''} ${err.message}`);
  process.exitCode = 1;
}
