/**
 * Peers: what a user might pick instead of raft-metadata to keep one small state durable. The
 * optional packages load from their own install (bench/peers, see its index.js).
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { driveAsync, driveSync } from '../lib/drive.js';
import { importPeer } from '../peers/index.js';

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

/**
 * Loads the optional peers from their own install (bench/peers, see its index.js); a peer that is
 * not installed is reported and skipped.
 */
export async function loadPeers(log) {
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
