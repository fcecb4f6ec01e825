/**
 * Every benchmarked way of making one small update durable. A variant is
 *   { id, label, group, writers, blocksLoop, setup(dir) -> state, run(state, ms) -> result, teardown(state) }
 * where `result` is { ops, elapsedMs, latency: LatencyRecorder, batch?, extra? }. Each run gets a
 * fresh directory; setup and teardown are not timed.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { MetadataManager, NodeFileSystem } from '../../dist/index.js';
import { importPeer } from '../peers/index.js';
import { CountingFileSystem } from './counting-fs.js';
import { driveAsync, driveCallback, driveSync } from './drive.js';
import { LatencyRecorder } from './stats.js';

const execFileAsync = promisify(execFile);

/** One durable update is one 32-byte record, the size of a raft-metadata log record. */
const RECORD = 32;
/** Zero-filled ahead for the in-place variants; writes wrap around at the end (never reached at defaults). */
const PREALLOCATE = 8 << 20;

function recordBytes(seq) {
  const bytes = new Uint8Array(RECORD).fill(0xab);
  new DataView(bytes.buffer).setFloat64(0, seq, true);
  return bytes;
}

function nextPosition(position, inPlace) {
  const next = position + RECORD;
  return inPlace && next + RECORD > PREALLOCATE ? 0 : next;
}

/** Zero-fills `PREALLOCATE` bytes of `fd` and makes them durable (untimed setup). */
function preallocateSync(fd) {
  const zeros = new Uint8Array(1 << 20);
  for (let at = 0; at < PREALLOCATE; at += zeros.byteLength) fs.writeSync(fd, zeros, 0, zeros.byteLength, at);
  fs.fsyncSync(fd);
}

// ---- floors: one writer, raw syscalls --------------------------------------------------------

function nodeSync(inPlace) {
  return {
    id: `node-sync-${inPlace ? 'inplace' : 'append'}`,
    label: `Node writeSync+fdatasyncSync, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: true,
    setup(dir) {
      const fd = fs.openSync(join(dir, 'data'), 'w+');
      if (inPlace) preallocateSync(fd);
      return { fd };
    },
    run(state, ms) {
      let position = 0;
      let seq = 0;
      return driveSync(ms, () => {
        fs.writeSync(state.fd, recordBytes(++seq), 0, RECORD, position);
        fs.fdatasyncSync(state.fd);
        position = nextPosition(position, inPlace);
      });
    },
    teardown(state) {
      fs.closeSync(state.fd);
    },
  };
}

function nodePromises(inPlace) {
  return {
    id: `node-promises-${inPlace ? 'inplace' : 'append'}`,
    label: `Node FileHandle write+datasync, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: false,
    async setup(dir) {
      const handle = await fsp.open(join(dir, 'data'), 'w+');
      if (inPlace) preallocateSync(handle.fd);
      return { handle };
    },
    run(state, ms) {
      let position = 0;
      let seq = 0;
      return driveAsync(1, ms, async () => {
        await state.handle.write(recordBytes(++seq), 0, RECORD, position);
        await state.handle.datasync();
        position = nextPosition(position, inPlace);
      });
    },
    teardown(state) {
      return state.handle.close();
    },
  };
}

function nodeCallback(inPlace) {
  return {
    id: `node-callback-${inPlace ? 'inplace' : 'append'}`,
    label: `Node fs.write+fs.fdatasync callbacks, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: false,
    setup(dir) {
      const fd = fs.openSync(join(dir, 'data'), 'w+');
      if (inPlace) preallocateSync(fd);
      return { fd };
    },
    run(state, ms) {
      let position = 0;
      let seq = 0;
      return driveCallback(ms, (done) => {
        fs.write(state.fd, recordBytes(++seq), 0, RECORD, position, (err) => {
          if (err) {
            done(err);
            return;
          }
          fs.fdatasync(state.fd, (err2) => {
            position = nextPosition(position, inPlace);
            done(err2);
          });
        });
      });
    },
    teardown(state) {
      fs.closeSync(state.fd);
    },
  };
}

/** raft-metadata's own I/O layer, no manager: NodeFileSystem's writeDurable on its I/O thread. */
function ioThread(inPlace) {
  return {
    id: `io-thread-${inPlace ? 'inplace' : 'append'}`,
    label: `I/O thread writeDurable, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: false,
    async setup(dir) {
      const nfs = new NodeFileSystem();
      const handle = await nfs.open(join(dir, 'data'), 'create');
      if (inPlace) {
        const zeros = new Uint8Array(1 << 20);
        for (let at = 0; at < PREALLOCATE; at += zeros.byteLength) await handle.write(zeros, at);
        await handle.sync();
      }
      // Start the I/O thread outside the timed window.
      await handle.writeDurable(recordBytes(0), 0);
      return { nfs, handle };
    },
    run(state, ms) {
      let position = RECORD;
      let seq = 0;
      return driveAsync(1, ms, async () => {
        await state.handle.writeDurable(recordBytes(++seq), position);
        position = nextPosition(position, inPlace);
      });
    },
    async teardown(state) {
      await state.handle.close();
      await state.nfs.dispose();
    },
  };
}

/** The C loop, compiled at run time (see bench/fsync-floor.c); only when a compiler exists. */
function cFloor(binary, mode) {
  const labels = { append: 'append', inplace: 'in place', fallocate: 'in place, fallocate(2)d' };
  return {
    id: `c-${mode}`,
    label: `C pwrite+fdatasync, ${labels[mode]}`,
    group: 'floor',
    writers: 1,
    blocksLoop: undefined,
    setup(dir) {
      return { path: join(dir, 'data') };
    },
    async run(state, ms) {
      const { stdout } = await execFileAsync(binary, [state.path, String(ms), mode, String(PREALLOCATE)]);
      const out = JSON.parse(stdout);
      return {
        ops: out.ops,
        elapsedMs: out.elapsed_ms,
        latency: { summary: () => ({ p50: out.p50_us, p99: out.p99_us, max: out.max_us, samples: out.ops }) },
      };
    },
    teardown() {},
  };
}

// ---- peers: what a user would pick instead ----------------------------------------------------

const STATE_SIZE_NOTE = 'one {currentTerm, votedFor} state per update';

function sqlite(Database) {
  return {
    id: 'sqlite',
    label: 'better-sqlite3 WAL, synchronous=FULL',
    group: 'peer',
    writers: 1,
    blocksLoop: true,
    note: STATE_SIZE_NOTE,
    setup(dir) {
      const db = new Database(join(dir, 'meta.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(
        'CREATE TABLE meta (id INTEGER PRIMARY KEY, term INTEGER NOT NULL, voted_for INTEGER NOT NULL)',
      );
      const upsert = db.prepare(
        'INSERT INTO meta (id, term, voted_for) VALUES (1, ?, 0) ' +
          'ON CONFLICT(id) DO UPDATE SET term = excluded.term, voted_for = excluded.voted_for',
      );
      upsert.run(0);
      return { db, upsert };
    },
    run(state, ms) {
      let term = 0;
      return driveSync(ms, () => {
        state.upsert.run(++term);
      });
    },
    teardown(state) {
      state.db.close();
    },
  };
}

function classicLevel(ClassicLevel) {
  return {
    id: 'level',
    label: 'classic-level put {sync: true}',
    group: 'peer',
    writers: 1,
    blocksLoop: false,
    note: STATE_SIZE_NOTE,
    async setup(dir) {
      const db = new ClassicLevel(join(dir, 'db'));
      await db.open();
      await db.put('state', JSON.stringify({ currentTerm: 0, votedFor: 0 }), { sync: true });
      return { db };
    },
    run(state, ms) {
      let term = 0;
      return driveAsync(1, ms, () =>
        state.db.put('state', JSON.stringify({ currentTerm: ++term, votedFor: 0 }), { sync: true }),
      );
    },
    teardown(state) {
      return state.db.close();
    },
  };
}

function jsonRewrite() {
  return {
    id: 'json-fsync',
    label: 'JSON file rewrite + fsync (fs/promises)',
    group: 'peer',
    writers: 1,
    blocksLoop: false,
    note: 'open(w) + writeFile + fsync + close; not atomic',
    setup(dir) {
      return { path: join(dir, 'metadata.json') };
    },
    run(state, ms) {
      let term = 0;
      return driveAsync(1, ms, async () => {
        const handle = await fsp.open(state.path, 'w');
        try {
          await handle.writeFile(JSON.stringify({ currentTerm: ++term, votedFor: 0 }));
          await handle.sync();
        } finally {
          await handle.close();
        }
      });
    },
    teardown() {},
  };
}

function writeFileAtomicVariant(writeFileAtomic) {
  return {
    id: 'write-file-atomic',
    label: 'write-file-atomic (temp + fsync + rename)',
    group: 'peer',
    writers: 1,
    blocksLoop: false,
    note: 'does not fsync the directory after the rename',
    setup(dir) {
      return { path: join(dir, 'metadata.json') };
    },
    run(state, ms) {
      let term = 0;
      return driveAsync(1, ms, () =>
        writeFileAtomic(state.path, JSON.stringify({ currentTerm: ++term, votedFor: 0 })),
      );
    },
    teardown() {},
  };
}

// ---- raft-metadata ----------------------------------------------------------------------------

/**
 * `writers` concurrent loops, each awaiting `updateCurrentTerm` with the next value of a shared
 * counter taken at call time: calls reach the manager in counter order, so no term is refused.
 * `compactLoop` runs `sync()` back to back while the writers run (compaction as often as possible).
 */
function raft({ writers, flushIntervalMs, compactLoop = false, id, label, group = 'raft' }) {
  return {
    id,
    label,
    group,
    writers,
    blocksLoop: false,
    async setup(dir) {
      const counting = new CountingFileSystem(new NodeFileSystem());
      const options = { fs: counting };
      if (flushIntervalMs !== undefined) options.flushIntervalMs = flushIntervalMs;
      const manager = await MetadataManager.open(join(dir, 'meta'), options);
      // First durable write outside the timed window (starts the I/O thread).
      await manager.updateCurrentTerm(1);
      return { manager, counting, term: 1 };
    },
    async run(state, ms) {
      const { manager, counting } = state;
      const before = counting.snapshot();
      const statsBefore = manager.stats();
      let running = true;
      const syncLatency = new LatencyRecorder();
      const compactor = (async () => {
        if (!compactLoop) return;
        while (running) {
          const t = performance.now();
          await manager.sync();
          syncLatency.add((performance.now() - t) * 1000);
        }
      })();
      const result = await driveAsync(writers, ms, () => manager.updateCurrentTerm(++state.term));
      running = false;
      await compactor;
      const after = counting.snapshot();
      const statsAfter = manager.stats();
      // Record writes only: a compaction's new log is zero-filled under a .tmp name first.
      const logWrites =
        after.writeDurable - after.writeDurableTemp - (before.writeDurable - before.writeDurableTemp);
      const acknowledged = statsAfter.updatesAcknowledged - statsBefore.updatesAcknowledged;
      return {
        ...result,
        batch: logWrites > 0 ? result.ops / logWrites : undefined,
        extra: {
          logWrites,
          durableCalls: after.durable - before.durable,
          statsFsyncs: statsAfter.fsyncs - statsBefore.fsyncs,
          statsAcknowledged: acknowledged,
          statsMeanBatch:
            statsAfter.fsyncs > statsBefore.fsyncs
              ? acknowledged / (statsAfter.fsyncs - statsBefore.fsyncs)
              : undefined,
          compactions: statsAfter.compactions - statsBefore.compactions,
          syncLatency: compactLoop ? syncLatency.summary() : undefined,
        },
      };
    },
    async teardown(state) {
      await state.manager.close();
      await state.counting.dispose();
    },
  };
}

/**
 * Ablation of the group-commit policy, outside the library: the same I/O thread and in-place log,
 * a minimal batcher that either flushes at once when idle (`immediate`) or waits one event-loop turn
 * (`setImmediate`, what the manager does).
 */
class MiniGroupCommit {
  #handle;
  #policy;
  #position = 0;
  #pending = [];
  #inflight = false;
  #scheduled = false;
  writes = 0;

  constructor(handle, policy) {
    this.#handle = handle;
    this.#policy = policy;
  }

  submit() {
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#schedule();
    });
  }

  #schedule() {
    if (this.#inflight || this.#scheduled || this.#pending.length === 0) return;
    if (this.#policy === 'immediate') {
      void this.#flush();
      return;
    }
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush() {
    if (this.#inflight || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#inflight = true;
    const bytes = new Uint8Array(batch.length * RECORD).fill(0xab);
    if (this.#position + bytes.byteLength > PREALLOCATE) this.#position = 0;
    try {
      await this.#handle.writeDurable(bytes, this.#position);
    } catch (err) {
      for (const waiter of batch) waiter.reject(err);
      return;
    }
    this.#position += bytes.byteLength;
    this.writes++;
    this.#inflight = false;
    for (const waiter of batch) waiter.resolve();
    this.#schedule();
  }
}

function groupCommitAblation(policy, writers) {
  return {
    id: `gc-${policy.toLowerCase()}-${writers}`,
    label: `group commit model, ${writers} writer${writers === 1 ? '' : 's'}, flush ${policy === 'immediate' ? 'at once' : 'after setImmediate'}`,
    group: 'ablation',
    writers,
    blocksLoop: false,
    async setup(dir) {
      const nfs = new NodeFileSystem();
      const handle = await nfs.open(join(dir, 'data'), 'create');
      const zeros = new Uint8Array(1 << 20);
      for (let at = 0; at < PREALLOCATE; at += zeros.byteLength) await handle.write(zeros, at);
      await handle.sync();
      await handle.writeDurable(new Uint8Array(RECORD), 0);
      return { nfs, handle };
    },
    async run(state, ms) {
      const batcher = new MiniGroupCommit(state.handle, policy);
      const result = await driveAsync(writers, ms, () => batcher.submit());
      return { ...result, batch: batcher.writes > 0 ? result.ops / batcher.writes : undefined };
    },
    async teardown(state) {
      await state.handle.close();
      await state.nfs.dispose();
    },
  };
}

export const WRITER_COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/**
 * Loads the optional peers from their own install (bench/peers, see its index.js); a peer that is
 * not installed is reported and skipped.
 */
async function loadPeers(log) {
  const peers = [];
  const tryImport = async (name, make) => {
    try {
      peers.push(make(await importPeer(name)));
    } catch (err) {
      log(`  skipping ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await tryImport('better-sqlite3', (m) => sqlite(m.default));
  await tryImport('classic-level', (m) => classicLevel(m.ClassicLevel));
  peers.push(jsonRewrite());
  await tryImport('write-file-atomic', (m) => writeFileAtomicVariant(m.default));
  return peers;
}

/** Every variant, in the order the tables list them. `cBinary` is the compiled C floor or undefined. */
export async function allVariants({ cBinary, log }) {
  const variants = [];
  if (cBinary !== undefined) {
    variants.push(cFloor(cBinary, 'append'), cFloor(cBinary, 'inplace'), cFloor(cBinary, 'fallocate'));
  }
  variants.push(
    nodeSync(false),
    nodeSync(true),
    nodePromises(false),
    nodePromises(true),
    nodeCallback(false),
    nodeCallback(true),
    ioThread(false),
    ioThread(true),
  );
  variants.push(...(await loadPeers(log)));
  for (const writers of WRITER_COUNTS) {
    variants.push(
      raft({
        writers,
        id: `raft-${writers}`,
        label: `raft-metadata, ${writers} writer${writers === 1 ? '' : 's'}`,
      }),
    );
  }
  for (const writers of [1, 16]) {
    variants.push(
      raft({
        writers,
        flushIntervalMs: 0,
        id: `raft-${writers}-nocompact`,
        label: `raft-metadata, ${writers} writer${writers === 1 ? '' : 's'}, compaction off`,
        group: 'compaction',
      }),
      raft({
        writers,
        flushIntervalMs: 0,
        compactLoop: true,
        id: `raft-${writers}-syncloop`,
        label: `raft-metadata, ${writers} writer${writers === 1 ? '' : 's'}, sync() back to back`,
        group: 'compaction',
      }),
    );
  }
  for (const writers of [1, 16]) {
    variants.push(groupCommitAblation('immediate', writers), groupCommitAblation('setImmediate', writers));
  }
  return variants;
}
