import fc from 'fast-check';
import {
  type CrashSchedule,
  crashScheduleArbitrary,
  faultArbitrary,
  updateSequenceArbitrary,
  updateStepArbitrary,
} from '../arbitraries.js';
import type { FaultRule } from '../sim/types.js';
import { checkConcurrent, submitConcurrently } from './concurrent.js';
import { concretize, expectedOutcome, type HardStateModel, showUpdate, type UpdateStep } from './model.js';
import { checkedLoad, checkedOpen, closeStore } from './open-load.js';
import {
  type ConformanceSystem,
  callSync,
  callUpdate,
  describeError,
  expectCode,
  expectFailure,
  expectState,
  isAbandonedCompaction,
  isStoppedByFault,
  requireStore,
} from './system.js';

/** The commands of the conformance model: each a step fast-check may generate, run and shrink. */

/** A command of the conformance model. */
export type Cmd = fc.AsyncCommand<HardStateModel, ConformanceSystem>;

/** One update, awaited. */
export class UpdateCommand implements Cmd {
  #label: string;
  constructor(readonly step: UpdateStep) {
    this.#label = `Update(${JSON.stringify(step)})`;
  }
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    const update = concretize(m.current, this.step);
    const outcome = expectedOutcome(m.current, update);
    const label = showUpdate(update);
    this.#label = `Update(${label})`;
    const result = await callUpdate(store, update);
    real.note(`${label} -> ${result.ok ? 'resolved' : describeError(result.error)}`);
    if (m.failed) {
      expectCode(real, `${label} after a failure`, result, 'failed');
      return;
    }
    if (outcome.type === 'refused') {
      if (isStoppedByFault(real, result)) {
        // A background step (an interval compaction) hit an injected fault: the store stopped.
        m.failed = true;
        return;
      }
      expectCode(
        real,
        label,
        result,
        outcome.code === 'ERR_TERM_REGRESSION' ? 'termRegression' : 'voteConflict',
      );
      expectState(real, `get() after a refused ${label}`, store.get(), m.current);
      return;
    }
    const index = outcome.type === 'change' ? m.submit(outcome.next) : m.chain.length - 1;
    if (result.ok) {
      m.acknowledge(index);
      expectState(real, `get() after ${label}`, store.get(), m.current);
      return;
    }
    expectFailure(real, label, result);
    m.failed = true;
  }
  toString(): string {
    return this.#label;
  }
}

/** Updates from concurrent callers (one group commit, or several), with an optional sync() among them. */
export class BatchCommand implements Cmd {
  constructor(
    readonly steps: readonly UpdateStep[],
    readonly syncAt: number | undefined,
  ) {}
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    real.note(
      `Batch of ${this.steps.length}${this.syncAt === undefined ? '' : ` with sync() at ${this.syncAt}`}`,
    );
    const planned = submitConcurrently(m, store, this.steps, this.syncAt);
    await checkConcurrent(m, real, planned, () => false);
    if (!m.failed) expectState(real, 'get() after the batch', store.get(), m.current);
  }
  toString(): string {
    return `Batch(${JSON.stringify(this.steps)}, syncAt=${this.syncAt})`;
  }
}

/** sync(): compaction; resolves once everything accepted is durable. */
export class SyncCommand implements Cmd {
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    const result = await callSync(store);
    real.note(`sync() -> ${result.ok ? 'resolved' : describeError(result.error)}`);
    if (m.failed) {
      expectCode(real, 'sync() after a failure', result, 'failed');
      return;
    }
    if (result.ok) {
      m.acknowledge(m.chain.length - 1);
      return;
    }
    if (isAbandonedCompaction(real, result)) return; // the store goes on serving
    expectFailure(real, 'sync()', result);
    m.failed = true;
  }
  toString(): string {
    return 'Sync';
  }
}

/** Arms an I/O error for a later call (it may never fire). */
export class FaultCommand implements Cmd {
  constructor(readonly rule: FaultRule) {}
  check(): boolean {
    return true;
  }
  async run(_m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note(`failNext(${this.toString()})`);
    real.disk.failNext(this.rule);
  }
  toString(): string {
    const r = this.rule;
    const ops = typeof r.op === 'string' ? r.op : r.op.join('|');
    const short = r.bytesWritten === undefined ? '' : `, short ${r.bytesWritten} B`;
    return `Fault(${ops} ${r.errno} #${r.nth ?? 1}${short})`;
  }
}

/** close(), then a check that updates are refused with the closed code. */
export class CloseCommand implements Cmd {
  check(m: Readonly<HardStateModel>): boolean {
    return m.open;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const store = requireStore(real);
    real.note('close()');
    const wasFailed = m.failed;
    await closeStore(m, real, wasFailed);
    const after = await callUpdate(store, { kind: 'term', value: m.current.currentTerm + 1 });
    expectCode(real, 'an update after close()', after, 'closed');
  }
  toString(): string {
    return 'Close';
  }
}

/** A clean restart on the same disk (no crash): close if open, load (read-only), open again. */
export class ReopenCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note('restart (no crash)');
    await closeStore(m, real, true);
    const loaded = await checkedLoad(m, real, 'restart');
    await checkedOpen(m, real, 'restart', loaded, true);
  }
  toString(): string {
    return 'Reopen';
  }
}

/**
 * A crash of the machine: armed to happen after `schedule.afterOps` more file-system operations
 * while `during` updates (and maybe a sync()) are in flight, then (optionally) a second crash in
 * the middle of the recovery, then load and reopen on the rebooted disk.
 */
export class CrashCommand implements Cmd {
  constructor(
    readonly schedule: CrashSchedule,
    readonly during: readonly UpdateStep[],
    readonly syncAt: number | undefined,
    readonly recoveryCrash: CrashSchedule | undefined,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    const disk = real.disk;
    real.note(
      `crash after ${this.schedule.afterOps} ops (seed ${this.schedule.seed}), ${this.during.length} updates in flight`,
    );
    const rebooted = disk.scheduleCrash(this.schedule);
    if (m.open && real.store) {
      const planned = submitConcurrently(m, real.store, this.during, this.syncAt);
      await checkConcurrent(m, real, planned, () => disk.crashed);
    }
    if (!disk.crashed) disk.crash(this.schedule.seed);
    real.disk = await rebooted;
    await closeStore(m, real, true);
    real.note(`  rebooted: ${real.disk.toString()}`);

    if (this.recoveryCrash) {
      // A second power cut while the restarted node recovers.
      const again = real.disk.scheduleCrash(this.recoveryCrash);
      await checkedOpen(m, real, 'open interrupted by a crash', undefined, true);
      if (!real.disk.crashed) real.disk.crash(this.recoveryCrash.seed);
      real.disk = await again;
      await closeStore(m, real, true);
      real.note(`  rebooted again: ${real.disk.toString()}`);
    }

    const loaded = await checkedLoad(m, real, 'after crash');
    await checkedOpen(m, real, 'after crash', loaded, false);
  }
  toString(): string {
    const again = this.recoveryCrash ? `, then crash in recovery ${JSON.stringify(this.recoveryCrash)}` : '';
    return `Crash(${JSON.stringify(this.schedule)}, during=${JSON.stringify(this.during)}, syncAt=${this.syncAt}${again})`;
  }
}

/**
 * The process dies (SIGKILL) after `afterOps` more file-system operations while `during` updates
 * (and maybe a sync()) are in flight; the machine does not crash, so its unsynced writes stay in the
 * page cache. A new process loads and opens the store. Whatever that open reports must stay durable
 * through a later power cut.
 */
export class KillCommand implements Cmd {
  constructor(
    readonly afterOps: number,
    readonly during: readonly UpdateStep[],
    readonly syncAt: number | undefined,
    /** Kill the restarted process too, this many operations into its open (its recovery). */
    readonly recoveryKill?: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: HardStateModel, real: ConformanceSystem): Promise<void> {
    real.note(`SIGKILL after ${this.afterOps} ops, ${this.during.length} updates in flight`);
    const process = real.process;
    if (m.open && real.store && process) {
      const killed = real.disk.scheduleKill(process, this.afterOps);
      const planned = submitConcurrently(m, real.store, this.during, this.syncAt);
      await checkConcurrent(m, real, planned, () => process.killed);
      process.kill();
      await killed;
    }
    // A killed process closes nothing: its store is simply gone.
    const abandon = (): void => {
      real.store = undefined;
      real.process = undefined;
      m.open = false;
      m.failed = false;
    };
    abandon();
    if (this.recoveryKill !== undefined) {
      // The restarted process dies too, in the middle of its recovery (or just after it).
      const next = real.disk.process();
      const killed = real.disk.scheduleKill(next, this.recoveryKill);
      await checkedOpen(m, real, 'open interrupted by SIGKILL', undefined, true, next);
      next.kill();
      await killed;
      abandon();
    }
    const loaded = await checkedLoad(m, real, 'after SIGKILL');
    await checkedOpen(m, real, 'after SIGKILL', loaded, true);
  }
  toString(): string {
    const again =
      this.recoveryKill === undefined ? '' : `, then kill after ${this.recoveryKill} ops of recovery`;
    return `Kill(after ${this.afterOps} ops, during=${JSON.stringify(this.during)}, syncAt=${this.syncAt}${again})`;
  }
}

/** Options of {@link conformanceCommands}. */
export interface CommandOptions {
  /** Inject I/O errors (default true). */
  readonly faults?: boolean;
  /** Most updates submitted at once in a batch or during a crash (default 8). */
  readonly maxBatch?: number;
  /** Latest crash point, in file-system operations from the command's start (default 40). */
  readonly maxCrashOps?: number;
}

/** The command arbitraries {@link runConformance} draws from; add your own to extend the model. */
export function conformanceCommands(options: CommandOptions = {}): fc.Arbitrary<Cmd>[] {
  const maxBatch = options.maxBatch ?? 8;
  const crash = crashScheduleArbitrary({ maxOps: options.maxCrashOps ?? 40 });
  const batch = fc
    .tuple(
      updateSequenceArbitrary({ minLength: 2, maxLength: maxBatch }),
      fc.option(fc.nat({ max: maxBatch }), { nil: undefined }),
    )
    .map(([steps, syncAt]) => new BatchCommand(steps, syncAt));
  const crashCommand = fc
    .tuple(
      crash,
      updateSequenceArbitrary({ maxLength: maxBatch }),
      fc.option(fc.nat({ max: maxBatch }), { nil: undefined, freq: 3 }),
      fc.option(crashScheduleArbitrary({ maxOps: 12 }), { nil: undefined, freq: 4 }),
    )
    .map(([schedule, during, syncAt, again]) => new CrashCommand(schedule, during, syncAt, again));
  const commands: fc.Arbitrary<Cmd>[] = [
    updateStepArbitrary().map((step) => new UpdateCommand(step)),
    updateStepArbitrary().map((step) => new UpdateCommand(step)),
    updateStepArbitrary().map((step) => new UpdateCommand(step)),
    batch,
    fc.constant(new SyncCommand()),
    crashCommand,
    fc.constant(new ReopenCommand()),
    fc.constant(new CloseCommand()),
    fc
      .tuple(
        fc.nat({ max: options.maxCrashOps ?? 40 }),
        updateSequenceArbitrary({ maxLength: maxBatch }),
        fc.option(fc.nat({ max: maxBatch }), { nil: undefined, freq: 3 }),
        fc.option(fc.nat({ max: 30 }), { nil: undefined, freq: 3 }),
      )
      .map(([afterOps, during, syncAt, again]) => new KillCommand(afterOps, during, syncAt, again)),
  ];
  if (options.faults ?? true) {
    // Twice, and a second restart with them: a fault followed by a restart is where stores break.
    const fault = faultArbitrary().map((rule) => new FaultCommand(rule));
    commands.push(fault, fault, fc.constant(new ReopenCommand()));
  }
  return commands;
}
