// Holds a MetadataManager open on argv[2] (the built package, as a running node would), prints
// READY, and closes it cleanly when stdin ends.
import { writeSync } from 'node:fs';
import { MetadataManager } from '../../dist/index.js';

try {
  const manager = await MetadataManager.open(process.argv[2], { flushIntervalMs: 0 });
  writeSync(1, 'READY\n');
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await manager.close();
    process.exit(0);
  });
} catch (err) {
  writeSync(1, `ERROR ${err.code ?? ''} ${err.message}\n`);
  process.exit(1);
}
