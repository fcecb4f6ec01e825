// Workload traced by strace-syscalls.test.ts: updates, a compaction, more updates. Prints
// "ACK <n>" with a direct write(2) to stdout after each update resolves, so that the trace shows
// where each acknowledgement happened among the syscalls.
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { MetadataManager } from '../../dist/index.js';

const dir = join(process.argv[2], 'node-1', 'raft');
writeSync(1, `PID ${process.pid}\n`);
const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
let n = 0;
const ack = () => writeSync(1, `ACK ${++n}\n`);
for (let term = 1; term <= 4; term++) {
  await manager.updateCurrentTerm(term);
  ack();
}
await manager.updateVotedFor(7);
ack();
await manager.sync();
writeSync(1, 'SYNCED\n');
await Promise.all([manager.updateCurrentTerm(5), manager.updateVotedFor(2)]);
ack();
await manager.updateCurrentTerm(6);
ack();
await manager.close();
