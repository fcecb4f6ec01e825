// Child of examples/main.js: raises the term forever, printing each term once it is acknowledged.
import { writeSync } from 'node:fs';
import { MetadataManager } from 'raft-metadata';

const manager = await MetadataManager.open(process.argv[2]);
for (let term = 1; ; term++) {
  await manager.updateCurrentTerm(term);
  writeSync(1, `acked ${term}\n`);
}
