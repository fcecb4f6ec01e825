/**
 * The floors: one writer making 48-byte updates durable with raw syscalls (C, Node's sync, promise
 * and callback APIs) and with raft-metadata's I/O layer alone (`NodeFileSystem`'s writeDurable, no
 * manager).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { NodeFileSystem } from '../../dist/index.js';
import { driveAsync, driveCallback, driveSync } from '../lib/drive.js';
import { execFileAsync } from '../lib/shell.js';
import {
  nextPosition,
  openDataSync,
  PREALLOCATE,
  preallocateHandle,
  preallocateSync,
  RECORD,
  recordBytes,
} from './common.js';

export function nodeSync(inPlace) {
  return {
    id: `node-sync-${inPlace ? 'inplace' : 'append'}`,
    label: `Node writeSync+fdatasyncSync, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: true,
    setup(dir) {
      return { fd: openDataSync(dir, inPlace) };
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

export function nodePromises(inPlace) {
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

export function nodeCallback(inPlace) {
  return {
    id: `node-callback-${inPlace ? 'inplace' : 'append'}`,
    label: `Node fs.write+fs.fdatasync callbacks, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: false,
    setup(dir) {
      return { fd: openDataSync(dir, inPlace) };
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
export function ioThread(inPlace) {
  return {
    id: `io-thread-${inPlace ? 'inplace' : 'append'}`,
    label: `I/O thread writeDurable, ${inPlace ? 'in place' : 'append'}`,
    group: 'floor',
    writers: 1,
    blocksLoop: false,
    async setup(dir) {
      const nfs = new NodeFileSystem();
      const handle = await nfs.open(join(dir, 'data'), 'create');
      if (inPlace) await preallocateHandle(handle);
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
export function cFloor(binary, mode) {
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
