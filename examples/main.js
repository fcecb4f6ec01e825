// The main example (`npm start`): a Raft node's term and vote kept with raft-metadata, step by
// step: open a metadata directory, make durable updates, compact, read the state back, see Raft's
// rules refused, the constructor form (for code written against a `new MetadataManager(meta, ms)`
// API), then a process killed with SIGKILL right after acknowledged updates: none of them is lost.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, MetadataManager } from 'raft-metadata';

const root = await mkdtemp(join(tmpdir(), 'raft-metadata-example-'));
const dir = join(root, 'node-1');
const step = (n, text) => console.log(`\n${n}. ${text}`);

try {
  step(1, `await MetadataManager.open("${dir}"): creates and locks the directory, recovers, ready`);
  const manager = await MetadataManager.open(dir);
  const fresh = manager.get();
  console.log(`   currentTerm=${fresh.currentTerm} votedFor=${fresh.votedFor} (a new node: term 0, no vote)`);

  step(2, 'await updateCurrentTerm(5); await updateVotedFor(101)');
  await manager.updateCurrentTerm(5);
  await manager.updateVotedFor(101);
  const now = manager.get();
  console.log(
    `   get(): currentTerm=${now.currentTerm} votedFor=${now.votedFor} (each await returned after fdatasync: safe to answer the candidate now)`,
  );
  const stats = manager.stats();
  console.log(`   stats: ${stats.fsyncs} fsyncs, ${stats.bytesAppended} bytes appended to the log`);

  step(3, 'await sync(): the log is compacted into the snapshot');
  await manager.sync();
  // `log-next.wal.tmp`, when listed, is the next log being prepared in the background (readers ignore it).
  const files = (await readdir(dir)).sort();
  console.log(`   files: ${files.filter((f) => !f.endsWith('.tmp')).join(', ')}`);
  if (files.some((f) => f.endsWith('.tmp')))
    console.log('   (and log-next.wal.tmp: the next log, being prepared)');
  console.log(
    `   ${Metadata.genMetadataFilepath(dir)}: ${(await readFile(Metadata.genMetadataFilepath(dir), 'utf8')).trim()}`,
  );

  step(4, "Raft's rules are enforced (a refused update changes nothing)");
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

  step(5, 'await close(), then Metadata.load(dir): the saved state, read without writing anything');
  await manager.close();
  const loaded = await Metadata.load(dir);
  console.log(`   currentTerm=${loaded.currentTerm} votedFor=${loaded.votedFor} (from disk)`);

  step(6, 'The constructor form, for code written against new MetadataManager(metadata, flushIntervalMs)');
  // Same manager; it opens in the background and an error there surfaces on the first awaited call.
  // MetadataManager.open is the recommended form: it reports such errors before you use the manager.
  const meta = await Metadata.load(dir);
  const legacy = new MetadataManager(meta, 1000);
  await legacy.updateCurrentTerm(6);
  console.log(
    `   new MetadataManager(meta, 1000), then updateCurrentTerm(6): get().currentTerm=${legacy.get().currentTerm}`,
  );
  await legacy.close();

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
  console.log(
    '   a child raised its term one update at a time, printing "acked N" once each update resolved',
  );
  console.log(`   its last line was "acked ${lastAck}" when SIGKILL stopped it (no close, no sync)`);
  const recovered = await Metadata.load(crashDir);
  const ok = recovered.currentTerm >= lastAck;
  console.log(`   Metadata.load after the kill: currentTerm=${recovered.currentTerm}`);
  if (!ok) {
    console.log(`   LOST UPDATES: ${lastAck} was acknowledged`);
  } else if (recovered.currentTerm === lastAck) {
    console.log(`   = ${lastAck}, the last acknowledged term: nothing acknowledged was lost`);
  } else {
    console.log(
      `   > ${lastAck}, and nothing acknowledged was lost: term ${recovered.currentTerm} was submitted and written`,
    );
    console.log('   to the log, but the child died before it saw the acknowledgement. Raft allows this:');
    console.log(
      '   the state after a crash is the last acknowledged one or a later submitted one, never older',
    );
  }
  const reopened = await MetadataManager.open(crashDir);
  console.log(
    `   MetadataManager.open gets the lock (the kernel dropped it when the child died) and resumes at term ${reopened.get().currentTerm}`,
  );
  await reopened.close();
  if (!ok) process.exitCode = 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
