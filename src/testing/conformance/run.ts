import fc from 'fast-check';
import { SimulatedDisk } from '../sim/disk.js';
import type { SimulatedDiskOptions } from '../sim/types.js';
import { type Cmd, type CommandOptions, conformanceCommands } from './commands.js';
import { HardStateModel, type HardStateValue } from './model.js';
import { checkedLoad, checkedOpen, closeStore } from './open-load.js';
import {
  ConformanceSystem,
  type ErrorCodes,
  type LoadState,
  type OpenStore,
  RAFT_METADATA_CODES,
} from './system.js';

/** {@link runConformance}: the conformance model run with fast-check, and its setup and teardown. */

/** A fresh system and model: an empty simulated disk, the store not yet open. */
/** What one run of the model needs: the store under test and the simulated disk's setup. */
export interface ConformanceRunOptions {
  openStore: OpenStore;
  loadState?: LoadState | undefined;
  dir?: string;
  codes?: ErrorCodes | false;
  disk?: SimulatedDiskOptions | undefined;
  /**
   * Files already in the directory (name → bytes, durable) and the state they hold: the run starts
   * from them instead of an empty directory (this repository's model runs start from the format-v1
   * directories of test/fixtures/v1, so the upgrade is covered too).
   */
  start?: { readonly files: ReadonlyMap<string, Uint8Array>; readonly state: HardStateValue } | undefined;
}

export function newConformanceRun(options: ConformanceRunOptions): {
  model: HardStateModel;
  real: ConformanceSystem;
} {
  const disk = new SimulatedDisk(options.disk ?? {});
  const dir = options.dir ?? '/data/raft';
  if (options.start !== undefined) {
    disk.mkdirp(dir);
    for (const [name, bytes] of options.start.files) disk.putFile(`${dir}/${name}`, bytes);
  }
  const model = new HardStateModel(options.start?.state);
  const real = new ConformanceSystem({
    disk,
    dir,
    openStore: options.openStore,
    loadState: options.loadState,
    codes: options.codes ?? RAFT_METADATA_CODES,
  });
  return { model, real };
}

/** Opens the store for the first time (setup of a run). */
export async function openFirst(model: HardStateModel, real: ConformanceSystem): Promise<void> {
  await checkedOpen(model, real, 'first open', undefined, false);
}

/**
 * The end of every run: a crash that loses everything not durable (the harshest plan), then load
 * and reopen must still show an allowed state; then the store is closed.
 */
export async function finalCheck(model: HardStateModel, real: ConformanceSystem): Promise<void> {
  real.note('final crash (dropping everything not durable)');
  const disk = real.disk;
  const pending = disk.pending();
  real.disk = disk.crashWith({
    writes: pending.writes.map(() => 'drop'),
    dirOps: pending.dirOps.map(() => false),
  });
  await closeStore(model, real, true);
  const loaded = await checkedLoad(model, real, 'after the final crash');
  await checkedOpen(model, real, 'after the final crash', loaded, false);
  await closeStore(model, real, false);
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions extends CommandOptions {
  /** A read-only loader (like `Metadata.load`); checked never to modify the disk. */
  readonly load?: LoadState;
  /** Directory of the store on the simulated disk (default `/data/raft`). */
  readonly dir?: string;
  /** Expected error codes, or `false` to check only that rejections happen (default: raft-metadata's). */
  readonly codes?: ErrorCodes | false;
  /** Runs (default: fast-check's global `numRuns`, 100 unless configured). */
  readonly numRuns?: number;
  /** Replay a failure: the `seed` and `path` from its report. */
  readonly seed?: number;
  readonly path?: string;
  /** Most commands per run (default 25). */
  readonly maxCommands?: number;
  /** Fail a run that takes longer than this (ms, default 20000): a hang is a bug too. */
  readonly timeoutMs?: number;
  /** Options of the simulated disk each run starts with (e.g. `{ failedSync: 'dirty' }`). */
  readonly disk?: SimulatedDiskOptions;
}

/**
 * Checks a hard-state store against Raft's durability rules on the simulated disk, with fast-check:
 * random sequences of updates (sequential and concurrent), sync(), injected I/O errors (EIO,
 * ENOSPC, EDQUOT, short writes), crashes at random file-system operations (also while updates and
 * a compaction are in flight, and again during recovery), clean restarts and close().
 *
 * After every crash and restart: the state is the last acknowledged one or a later submitted one
 * (never older, never one that was not submitted); no term goes down; no term has two votes;
 * after an I/O error nothing more is acknowledged, and what was acknowledged survives; `load`
 * leaves the disk byte-for-byte unchanged. The state `open` returns must stay durable.
 *
 * Assumes updates are validated in call order against the latest accepted state, as
 * `MetadataManager` does. Rejects (throws) with fast-check's report on the first violation: the
 * message holds the seed, the path and the shrunk command list; pass them back as
 * `{ seed, path }` to replay it.
 */
/** One run of the model: a fresh disk, the first open, the commands, the final check, a close. */
export async function runCommands(options: ConformanceRunOptions, cmds: Iterable<Cmd>): Promise<void> {
  const { model, real } = newConformanceRun(options);
  await openFirst(model, real);
  // fast-check keeps the setup function in the frames of the run, and so in the stack of every
  // error made during it, which a store may keep: handed over once, it must not hold the system.
  let setup: { model: HardStateModel; real: ConformanceSystem } | undefined = { model, real };
  const handOver = (): { model: HardStateModel; real: ConformanceSystem } => {
    const system = setup;
    setup = undefined;
    if (system === undefined) throw new Error('fast-check asked for the setup of a model run twice');
    return system;
  };
  try {
    await fc.asyncModelRun(handOver, cmds);
    await finalCheck(model, real);
  } finally {
    await real.store?.close().catch(() => {});
    real.release();
  }
}

export async function runConformance(openStore: OpenStore, options: ConformanceOptions = {}): Promise<void> {
  const commands = fc.commands(conformanceCommands(options), { maxCommands: options.maxCommands ?? 25 });
  const property = fc.asyncProperty(commands, (cmds) =>
    runCommands(
      {
        openStore,
        loadState: options.load,
        dir: options.dir ?? '/data/raft',
        codes: options.codes ?? RAFT_METADATA_CODES,
        disk: options.disk,
      },
      cmds,
    ),
  );
  const parameters: fc.Parameters<[Iterable<Cmd>]> = { timeout: options.timeoutMs ?? 20_000 };
  if (options.numRuns !== undefined) parameters.numRuns = options.numRuns;
  if (options.seed !== undefined) parameters.seed = options.seed;
  if (options.path !== undefined) parameters.path = options.path;
  await fc.assert(property, parameters);
}
