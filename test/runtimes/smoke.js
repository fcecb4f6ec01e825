// The runtime smoke suite: the same file runs on every runtime `npm run test:runtimes` tests (Node
// 20.19+/22/24, Bun, Deno), so it is plain JavaScript with node:assert and node: modules only, no
// test framework. It uses the built package (dist/), as a user's program would:
//
//   node test/runtimes/smoke.js          bun test/runtimes/smoke.js          deno run -A test/runtimes/smoke.js
//
// Prints one "ok"/"not ok" line per check and exits 1 if any failed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, MetadataManager } from '../../dist/index.js';

const here = import.meta.dirname;
const root = join(here, '..', '..');
const work = await mkdtemp(join(tmpdir(), 'raft-metadata-smoke-'));

/** How this runtime runs a script: Deno needs `run -A` (files, FFI for the lock, workers, env). */
const scriptArgs = (file, ...args) =>
  typeof globalThis.Deno !== 'undefined' ? ['run', '-A', file, ...args] : [file, ...args];

function runtimeName() {
  if (typeof globalThis.Deno !== 'undefined') return `deno ${globalThis.Deno.version.deno}`;
  if (process.versions.bun !== undefined) return `bun ${process.versions.bun}`;
  return `node ${process.versions.node}`;
}

/** Runs a script with this runtime; resolves with its exit code and output. */
function run(file, args, { onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, scriptArgs(file, ...args), {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (onLine === undefined) return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line, child);
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check('open on a new directory, update, reload', async () => {
  const dir = join(work, 'basic');
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  const state = () => [manager.get().currentTerm, manager.get().votedFor];
  assert.deepEqual(state(), [0, 0]);
  await manager.updateCurrentTerm(3);
  await manager.updateVotedFor(2);
  assert.deepEqual(state(), [3, 2]);
  await assert.rejects(manager.updateCurrentTerm(2), { code: 'ERR_TERM_REGRESSION' });
  await assert.rejects(manager.updateVotedFor(5), { code: 'ERR_VOTE_CONFLICT' });
  // A second manager on the same directory is refused while the first holds it.
  await assert.rejects(MetadataManager.open(dir), { code: 'ERR_METADATA_LOCKED' });
  await manager.close();
  const loaded = await Metadata.load(dir);
  assert.equal(loaded.currentTerm, 3);
  assert.equal(loaded.votedFor, 2);
});

check('the constructor form and compaction (sync) survive a reload', async () => {
  const dir = join(work, 'constructor');
  const manager = new MetadataManager(await Metadata.load(dir), 0);
  await manager.updateCurrentTerm(7);
  await manager.sync();
  await manager.updateVotedFor(1);
  await manager.close();
  const loaded = await Metadata.load(dir);
  assert.deepEqual([loaded.currentTerm, loaded.votedFor], [7, 1]);
});

check('concurrent updates: every promise settles, state is the last accepted one', async () => {
  const dir = join(work, 'concurrent');
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  const updates = [];
  for (let term = 1; term <= 200; term++) {
    updates.push(manager.updateCurrentTerm(term));
    updates.push(manager.updateVotedFor(term % 5 === 0 ? 0 : (term % 3) + 1));
  }
  const settled = await Promise.allSettled(updates);
  const rejected = settled.filter((s) => s.status === 'rejected');
  assert.deepEqual(rejected, [], 'no update in this sequence breaks a rule');
  assert.equal(manager.get().currentTerm, 200);
  const stats = manager.stats();
  assert.ok(stats.fsyncs >= 1 && stats.fsyncs <= updates.length, `fsyncs ${stats.fsyncs}`);
  await manager.close();
  const loaded = await Metadata.load(dir);
  assert.deepEqual([loaded.currentTerm, loaded.votedFor], [200, 0]);
});

check(
  'SIGKILL of a child after acknowledged updates: reload keeps them, a new owner takes over',
  async () => {
    const dir = join(work, 'sigkill');
    let lastAck = 0;
    let probe; // an open in this process while the child owns the directory: refused by the lock
    const result = await run(join(here, 'sigkill-child.js'), [dir], {
      onLine(line, child) {
        const match = /^acked (\d+)$/.exec(line);
        if (match === null) return;
        lastAck = Math.max(lastAck, Number(match[1]));
        if (lastAck >= 50 && probe === undefined) {
          probe = MetadataManager.open(dir)
            .then(
              (manager) => manager.close().then(() => 'opened'),
              (err) => err.code,
            )
            .finally(() => child.kill('SIGKILL'));
        }
      },
    });
    assert.equal(
      result.signal,
      'SIGKILL',
      `child ended with ${result.code}/${result.signal}: ${result.stderr}`,
    );
    assert.equal(await probe, 'ERR_METADATA_LOCKED', 'an open while another process owns the directory');
    assert.ok(lastAck >= 50, `the child acknowledged ${lastAck} updates`);
    const loaded = await Metadata.load(dir);
    // At least the last acknowledged term; more if an update was submitted but not yet acknowledged.
    assert.ok(loaded.currentTerm >= lastAck, `reloaded term ${loaded.currentTerm} < acknowledged ${lastAck}`);
    const reopened = await MetadataManager.open(dir, { flushIntervalMs: 0 });
    assert.equal(reopened.get().currentTerm, loaded.currentTerm);
    await reopened.updateCurrentTerm(loaded.currentTerm + 1);
    await reopened.close();
  },
);

check('CLI: raft-metadata verify --json on a clean directory', async () => {
  const dir = join(work, 'basic');
  const result = await run(join(root, 'dist', 'cli.js'), ['verify', '--json', dir]);
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stdout}${result.stderr}`);
  assert.doesNotThrow(() => JSON.parse(result.stdout), `one JSON document: ${result.stdout}`);
  const missing = await run(join(root, 'dist', 'cli.js'), ['verify', join(work, 'missing')]);
  assert.equal(missing.code, 3, `exit ${missing.code} on a missing directory: ${missing.stdout}`);
});

check('testing kit: SimulatedDisk crash and reload keep every acknowledged update', async () => {
  // dist/testing needs fast-check, an optional peer dependency (a devDependency here).
  const { SimulatedDisk, dropAllPlan } = await import('../../dist/testing/index.js');
  for (let seed = 0; seed < 5; seed++) {
    const disk = new SimulatedDisk();
    const manager = await MetadataManager.open('/raft', { fs: disk, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(4);
    await manager.updateVotedFor(2);
    const late = manager.updateCurrentTerm(5).catch(() => undefined); // submitted, maybe not acknowledged
    const rebooted = seed === 0 ? disk.crashWith(dropAllPlan(disk.pending())) : disk.crash(seed);
    await late;
    await manager.close().catch(() => {}); // the old manager only sees EIO now
    const state = await Metadata.load('/raft', { fs: rebooted });
    assert.ok(
      (state.currentTerm === 4 && state.votedFor === 2) || (state.currentTerm === 5 && state.votedFor === 0),
      `seed ${seed}: reloaded ${state.currentTerm}/${state.votedFor}`,
    );
    const reopened = await MetadataManager.open('/raft', { fs: rebooted, flushIntervalMs: 0 });
    await reopened.updateCurrentTerm(6);
    await reopened.close();
  }
});

let failed = 0;
console.log(`# raft-metadata smoke suite on ${runtimeName()}`);
for (const { name, fn } of checks) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}`);
    console.log(
      `  ${String(err instanceof Error ? (err.stack ?? err.message) : err).replaceAll('\n', '\n  ')}`,
    );
  }
}
console.log(`# ${checks.length - failed}/${checks.length} passed`);
await rm(work, { recursive: true, force: true });
// Exit explicitly: the suite is done, whatever handles a runtime keeps open.
process.exit(failed === 0 ? 0 : 1);
