// Child of test/runtimes/smoke.js: raises the term forever, printing each term once it is
// acknowledged (durable), until the parent kills it with SIGKILL.
import { writeSync } from 'node:fs';
import { MetadataManager } from '../../dist/index.js';

const manager = await MetadataManager.open(process.argv[2]);
for (let term = 1; ; term++) {
  await manager.updateCurrentTerm(term);
  writeSync(1, `acked ${term}\n`);
}
