// The main example (`npm start`): the seed tutorial's scenario step by step, then a process killed
// with SIGKILL right after acknowledged updates, to show that none of them is lost.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, MetadataManager } from 'raft-metadata';

const root = await mkdtemp(join(tmpdir(), 'raft-metadata-example-'));
const dir = join(root, 'node-1');
const step = (n, text) => console.log(`\n${n}. ${text}`);

try {
  step(1, `Metadata.load("${dir}") on a directory that does not exist yet`);
  const meta = await Metadata.load(dir);
  console.log(`   currentTerm=${meta.currentTerm} votedFor=${meta.votedFor} (fresh state)`);

  step(2, 'new MetadataManager(meta, 1000): opens and locks the directory, flushes every second');
  const manager = new MetadataManager(meta, 1000);

  step(3, 'await updateCurrentTerm(5); await updateVotedFor(101)');
  await manager.updateCurrentTerm(5);
  await manager.updateVotedFor(101);
  const now = manager.get();
  console.log(
    `   get(): currentTerm=${now.currentTerm} votedFor=${now.votedFor} (no sleep: each await returned after fdatasync)`,
  );
  const stats = manager.stats();
  console.log(`   stats: ${stats.fsyncs} fsyncs, ${stats.bytesAppended} bytes appended to the log`);

  step(4, 'await sync(): the log is compacted into the snapshot');
  await manager.sync();
  console.log(`   files: ${(await readdir(dir)).sort().join(', ')}`);
  console.log(
    `   ${Metadata.genMetadataFilepath(dir)}: ${(await readFile(Metadata.genMetadataFilepath(dir), 'utf8')).trim()}`,
  );

  step(5, 'Metadata.load(dir) again');
  const loaded = await Metadata.load(dir);
  console.log(`   currentTerm=${loaded.currentTerm} votedFor=${loaded.votedFor} (from disk)`);

  step(6, "Raft's rules are enforced");
  for (const [what, call] of [
    ['updateVotedFor(7) in the same term', () => manager.updateVotedFor(7)],
    ['updateCurrentTerm(4)', () => manager.updateCurrentTerm(4)],
    ['updateCurrentTerm(-1)', () => manager.updateCurrentTerm(-1)],
  ]) {
    await call().then(
      () => console.log(`   ${what}: accepted?!`),
      (err) => console.log(`   ${what}: refused with ${err.code}`),
    );
  }
  await manager.close();

  step(7, 'SIGKILL right after acknowledged updates');
  const crashDir = join(root, 'node-2');
  const child = spawn(process.execPath, [join(import.meta.dirname, 'sigkill-child.js'), crashDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let lastAck = 0;
  let buffered = '';
  await new Promise((resolve) => {
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        const term = Number(line.replace('acked ', ''));
        if (term > lastAck) lastAck = term;
        if (lastAck >= 200 && !child.killed) {
          child.kill('SIGKILL');
        }
      }
    });
    child.on('close', resolve);
  });
  console.log(`   the child printed "acked ${lastAck}" and was killed with SIGKILL (no close, no sync)`);
  const recovered = await Metadata.load(crashDir);
  const ok = recovered.currentTerm >= lastAck;
  console.log(
    `   Metadata.load after the kill: currentTerm=${recovered.currentTerm} (>= ${lastAck}: ${ok ? 'nothing acknowledged was lost' : 'LOST UPDATES'})`,
  );
  const reopened = await MetadataManager.open(crashDir);
  console.log(`   a new manager takes over the stale lock and resumes at term ${reopened.get().currentTerm}`);
  await reopened.close();
  if (!ok) process.exitCode = 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
