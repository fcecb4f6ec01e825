import type { FileHandle, FileSystem } from '../../fs/types.js';
import type { SimulatedProcess } from '../sim/types.js';
import { type HardStateModel, type HardStateValue, sameState, showState } from './model.js';
import { type ConformanceSystem, describeError, fail, type HardStateStore, settle } from './system.js';

/**
 * Opening, loading and closing the store under the conformance checks: what `open` and `load`
 * return must be an allowed state, `load` must not write (readOnlyProbe), and the state `open`
 * returns becomes the model's durable baseline.
 */

/**
 * `fs` as seen through a recorder: every call that could change the disk (open for 'create' or
 * 'write', write, writeDurable, rename, unlink, mkdir) is listed in `mutations`; `traced()` counts
 * the operations the disk traces for them.
 */
export function readOnlyProbe(fs: FileSystem): { fs: FileSystem; mutations: string[]; traced: () => number } {
  const mutations: string[] = [];
  let traced = 0;
  const count = <T>(n: number, promise: Promise<T>): Promise<T> => {
    traced += n;
    return promise;
  };
  const wrapHandle = (handle: FileHandle, path: string): FileHandle => ({
    read: (b, o, l, p) => count(1, handle.read(b, o, l, p)),
    write: (d, p) => {
      mutations.push(`write ${path}`);
      return count(1, handle.write(d, p));
    },
    writeDurable: (d, p) => {
      mutations.push(`writeDurable ${path}`);
      return count(2, handle.writeDurable(d, p));
    },
    datasync: () => count(1, handle.datasync()),
    sync: () => count(1, handle.sync()),
    size: () => count(1, handle.size()),
    close: () => count(1, handle.close()),
  });
  const probe: FileSystem = {
    open: async (path, mode) => {
      if (mode !== 'read') mutations.push(`open ${path} (${mode})`);
      return wrapHandle(await count(1, fs.open(path, mode)), path);
    },
    readFile: (path) => count(1, fs.readFile(path)),
    rename: (from, to) => {
      mutations.push(`rename ${from} -> ${to}`);
      return count(1, fs.rename(from, to));
    },
    unlink: (path) => {
      mutations.push(`unlink ${path}`);
      return count(1, fs.unlink(path));
    },
    readdir: (dir) => count(1, fs.readdir(dir)),
    mkdir: (dir) => {
      mutations.push(`mkdir ${dir}`);
      return count(1, fs.mkdir(dir));
    },
    syncDir: (dir) => count(1, fs.syncDir(dir)),
    stat: (path) => count(1, fs.stat(path)),
    openLocked: async (path) => {
      mutations.push(`openLocked ${path}`);
      const handle = await count(1, fs.openLocked(path));
      return handle === undefined ? undefined : wrapHandle(handle, path);
    },
    probeLock: (path) => count(1, fs.probeLock(path)),
  };
  return { fs: probe, mutations, traced: () => traced };
}

/**
 * Runs the read-only loader through {@link readOnlyProbe}: it must call nothing that writes, and
 * when nothing else ran meanwhile the disk's fingerprint must be unchanged. Returns the loaded state
 * (validated against the model), or undefined without a loader or after an injected read error.
 */
export async function checkedLoad(
  m: HardStateModel,
  real: ConformanceSystem,
  what: string,
): Promise<HardStateValue | undefined> {
  const load = real.loadState;
  if (!load) return undefined;
  const disk = real.disk;
  const before = disk.fingerprint();
  const traceBefore = disk.trace.length;
  const probe = readOnlyProbe(real.lend(disk));
  let loaded: HardStateValue | undefined;
  let failure: unknown;
  try {
    loaded = await load(real.dir, { fs: probe.fs });
  } catch (error) {
    failure = error;
  }
  if (probe.mutations.length > 0)
    fail(real, `${what}: load wrote to the disk: ${probe.mutations.join(', ')}`);
  const alone = disk.trace.length - traceBefore === probe.traced();
  if (alone && disk.fingerprint() !== before) fail(real, `${what}: load modified the disk`);
  if (loaded === undefined) {
    if (disk.trace.slice(traceBefore).some((e) => e.injected)) return undefined; // an injected read error
    fail(real, `${what}: load failed: ${describeError(failure)}`);
  }
  const state = { currentTerm: loaded.currentTerm, votedFor: loaded.votedFor };
  try {
    m.validate(state, `${what}: load`);
  } catch (error) {
    fail(real, (error as Error).message);
  }
  real.note(`  load -> ${showState(state)}`);
  return state;
}

/** Opens the store on the current disk and makes its state the model's durable baseline. */
export async function checkedOpen(
  m: HardStateModel,
  real: ConformanceSystem,
  what: string,
  loaded: HardStateValue | undefined,
  mayFail: boolean,
  process: SimulatedProcess = real.disk.process(),
): Promise<void> {
  const traceBefore = real.disk.trace.length;
  let store: HardStateStore;
  try {
    store = await real.openStore(real.dir, { fs: real.lend(process) });
  } catch (error) {
    const injected = real.disk.trace.slice(traceBefore).some((e) => e.injected);
    if (mayFail && (injected || real.disk.crashed || process.killed)) {
      real.note(`  open -> ${describeError(error)}`);
      m.open = false;
      return;
    }
    fail(real, `${what}: open failed: ${describeError(error)}`);
  }
  const got = store.get();
  const state = { currentTerm: got.currentTerm, votedFor: got.votedFor };
  real.note(`  open -> ${showState(state)}`);
  if (loaded && !sameState(state, loaded)) {
    fail(real, `${what}: open returned ${showState(state)} but load returned ${showState(loaded)}`);
  }
  try {
    // Once open resolves, the node acts on this state: it must be durable from now on.
    m.reload(state, `${what}: open`);
  } catch (error) {
    fail(real, (error as Error).message);
  }
  real.store = store;
  real.process = process;
  real.openedAt = real.disk.trace.length;
  m.open = true;
  m.failed = false;
}

export async function closeStore(
  m: HardStateModel,
  real: ConformanceSystem,
  allowFailure: boolean,
): Promise<void> {
  const store = real.store;
  real.store = undefined;
  m.open = false;
  m.failed = false;
  if (!store) return;
  const result = await settle(Promise.resolve().then(() => store.close()));
  real.note(`  close -> ${result.ok ? 'resolved' : describeError(result.error)}`);
  if (!result.ok && !allowFailure && !real.faultFiredSinceOpen()) {
    fail(real, `close failed: ${describeError(result.error)}`);
  }
}
