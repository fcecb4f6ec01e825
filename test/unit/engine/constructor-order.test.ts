import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { CHANNELS, Metadata, MetadataManager, NONE_SERVER_ID } from '../../../src/index.js';
import { SimulatedDisk } from '../../../src/testing/index.js';
import { snapshotState } from '../../helpers.js';

// The seed's form, `new MetadataManager(initial, ms)`, opens in the background. Whenever a call
// arrives during that open, the result must be the one of a sequential run: the open (with its
// compaction), then the proposal `initial`, then every call in the order it was made.

const DIR = '/meta';

type Call = { readonly kind: 'term' | 'vote'; readonly value: number };
type Outcome = 'ok' | 'ERR_TERM_REGRESSION' | 'ERR_VOTE_CONFLICT';
interface State {
  currentTerm: number;
  votedFor: number;
}

/** Raft's rules, written out independently of src/state.ts. */
function sequential(start: State, calls: readonly Call[]): { outcomes: Outcome[]; end: State } {
  const s = { ...start };
  const outcomes = calls.map((call): Outcome => {
    if (call.kind === 'term') {
      if (call.value < s.currentTerm) return 'ERR_TERM_REGRESSION';
      if (call.value > s.currentTerm) Object.assign(s, { currentTerm: call.value, votedFor: NONE_SERVER_ID });
      return 'ok';
    }
    if (s.votedFor !== NONE_SERVER_ID && s.votedFor !== call.value) return 'ERR_VOTE_CONFLICT';
    s.votedFor = call.value;
    return 'ok';
  });
  return { outcomes, end: s };
}

// On disk: term 7, vote for 2, in the log only (no snapshot covers it), so the open compacts
// before the proposal. The proposal: term 8. Then, in call order: the first vote wins, the second
// conflicts, a term below the proposal's is refused (and must not reach the proposal), a higher
// term and a vote in it succeed, another vote in it conflicts.
const ON_DISK: State = { currentTerm: 7, votedFor: 2 };
const PROPOSAL: State = { currentTerm: 8, votedFor: NONE_SERVER_ID };
const CALLS: readonly Call[] = [
  { kind: 'vote', value: 1 },
  { kind: 'vote', value: 2 },
  { kind: 'term', value: 5 },
  { kind: 'term', value: 9 },
  { kind: 'vote', value: 3 },
  { kind: 'vote', value: 4 },
];
const EXPECTED = sequential(PROPOSAL, CALLS);

/** A disk holding ON_DISK in its log only; `hook` runs before each of its operations once set. */
async function preparedDisk(): Promise<{ disk: SimulatedDisk; setHook(h?: () => void): void }> {
  let hook: (() => void) | undefined;
  const disk = new SimulatedDisk({ beforeOp: () => hook?.() });
  const first = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
  await first.updateCurrentTerm(ON_DISK.currentTerm);
  await first.updateVotedFor(ON_DISK.votedFor);
  await first.close();
  return {
    disk,
    setHook(h) {
      hook = h;
    },
  };
}

function construct(disk: SimulatedDisk, initial: State = PROPOSAL): MetadataManager {
  const meta = new Metadata(DIR);
  meta.currentTerm = initial.currentTerm;
  meta.votedFor = initial.votedFor;
  return new MetadataManager(meta, 0, { fs: disk });
}

function issue(manager: MetadataManager, call: Call): Promise<string> {
  const promise =
    call.kind === 'term' ? manager.updateCurrentTerm(call.value) : manager.updateVotedFor(call.value);
  return promise.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  );
}

/** Checks the outcomes, that the manager is alive, and that a reload (clean and after a crash) shows the end state. */
async function checkRun(
  disk: SimulatedDisk,
  manager: MetadataManager,
  results: Promise<string>[],
): Promise<void> {
  expect(await Promise.all(results)).toEqual(EXPECTED.outcomes);
  await manager.ready();
  expect(manager.get()).toMatchObject(EXPECTED.end);
  // Still alive: a later update is accepted on top of the sequential end state.
  await manager.updateCurrentTerm(EXPECTED.end.currentTerm + 1);
  await manager.updateVotedFor(7);
  const end = { currentTerm: EXPECTED.end.currentTerm + 1, votedFor: 7 };
  // Everything acknowledged is durable: a power cut now loses none of it.
  const crashed = disk.crash(1);
  expect(await Metadata.load(DIR, { fs: crashed })).toMatchObject(end);
  await manager.close().catch(() => {}); // the old disk is dead: the close may fail
  expect(await Metadata.load(DIR, { fs: crashed.crash(2) })).toMatchObject(end);
}

/**
 * Microtask turns the open runs for before it waits for its first macrotask (the proposal's
 * group commit waits one setImmediate): the last turn at which the simulated disk, which settles
 * every call in microtasks, saw an operation. Counted while nothing else runs, so deterministic.
 */
async function microtasksOfOpen(disk: SimulatedDisk): Promise<number> {
  let length = disk.trace.length;
  let last = 0;
  for (let n = 1; n <= 20_000; n++) {
    await Promise.resolve();
    if (disk.trace.length !== length) {
      length = disk.trace.length;
      last = n;
    }
  }
  return last;
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

describe('the constructor form keeps call order', () => {
  it('the sequential model: first vote wins, a lower term is refused alone', () => {
    expect(EXPECTED.outcomes).toEqual([
      'ok',
      'ERR_VOTE_CONFLICT',
      'ERR_TERM_REGRESSION',
      'ok',
      'ok',
      'ERR_VOTE_CONFLICT',
    ]);
    expect(EXPECTED.end).toEqual({ currentTerm: 9, votedFor: 3 });
  });

  it('calls made inside the open compaction (its diagnostics event) wait for the proposal and earlier calls', async () => {
    const { disk } = await preparedDisk();
    const manager = construct(disk);
    const results = [issue(manager, CALLS[0] as Call)];
    let during = 0;
    const onCompaction = (): void => {
      if (results.length > 1) return;
      during++;
      // Inside the open's compaction: the proposal has not been applied yet.
      expect(manager.get()).toMatchObject(PROPOSAL);
      for (const call of CALLS.slice(1)) results.push(issue(manager, call));
    };
    diagnosticsChannel.subscribe(CHANNELS.compaction, onCompaction);
    try {
      await manager.ready();
    } finally {
      diagnosticsChannel.unsubscribe(CHANNELS.compaction, onCompaction);
    }
    expect(during).toBe(1); // the window was hit
    await checkRun(disk, manager, results);
  });

  it('calls arriving after k microtasks, for every k up to the end of the open', async () => {
    const probe = await preparedDisk();
    const manager = construct(probe.disk);
    const length = await microtasksOfOpen(probe.disk);
    await manager.close();
    expect(length).toBeGreaterThan(10);
    // Past the open's last file-system operation, on to where the proposal is validated and beyond.
    for (let k = 0; k <= length + 100; k++) {
      const { disk } = await preparedDisk();
      const manager = construct(disk);
      const results = [issue(manager, CALLS[0] as Call)];
      await turns(k);
      for (const call of CALLS.slice(1)) results.push(issue(manager, call));
      await checkRun(disk, manager, results);
    }
  });

  it('calls split over three moments of the open (a grid of microtask delays)', async () => {
    const probe = await preparedDisk();
    const probeManager = construct(probe.disk);
    const length = (await microtasksOfOpen(probe.disk)) + 100;
    await probeManager.close();
    const step = Math.max(1, Math.floor(length / 12));
    for (let a = 0; a <= length; a += step) {
      for (let b = a; b <= length; b += step) {
        const { disk } = await preparedDisk();
        const manager = construct(disk);
        const results = [issue(manager, CALLS[0] as Call)];
        await turns(a);
        results.push(issue(manager, CALLS[1] as Call), issue(manager, CALLS[2] as Call));
        await turns(b - a);
        for (const call of CALLS.slice(3)) results.push(issue(manager, call));
        await checkRun(disk, manager, results);
      }
    }
  });

  it('calls arriving after k event-loop turns (setImmediate)', async () => {
    for (let k = 0; k <= 4; k++) {
      const { disk } = await preparedDisk();
      const manager = construct(disk);
      const results = [issue(manager, CALLS[0] as Call)];
      for (let i = 0; i < k; i++) await new Promise((done) => setImmediate(done));
      for (const call of CALLS.slice(1)) results.push(issue(manager, call));
      await checkRun(disk, manager, results);
    }
  });

  it('calls arriving just before each file-system operation of the open', async () => {
    const probe = await preparedDisk();
    const before = probe.disk.trace.length;
    await construct(probe.disk).ready();
    const opsOfOpen = probe.disk.trace.length - before;
    expect(opsOfOpen).toBeGreaterThan(10);
    for (let j = 1; j <= opsOfOpen + 1; j++) {
      const { disk, setHook } = await preparedDisk();
      let seen = 0;
      let manager: MetadataManager | undefined;
      const results: Promise<string>[] = [];
      setHook(() => {
        if (++seen !== j || manager === undefined) return;
        for (const call of CALLS.slice(1)) results.push(issue(manager, call));
      });
      manager = construct(disk);
      results.unshift(issue(manager, CALLS[0] as Call));
      await manager.ready();
      setHook(undefined);
      if (results.length === 1) for (const call of CALLS.slice(1)) results.push(issue(manager, call));
      await checkRun(disk, manager, results);
    }
  });

  it('a sync() queued during the open runs in its place in the order', async () => {
    const { disk } = await preparedDisk();
    const manager = construct(disk);
    const first = issue(manager, { kind: 'vote', value: 1 });
    const synced = manager.sync();
    const second = issue(manager, { kind: 'term', value: 9 });
    await synced;
    // The snapshot covers the proposal and the vote made before sync(); the term made after it
    // may share their group commit, so it may be in the snapshot too, but nothing older is.
    const snapshot = snapshotState(disk.readCurrent(`${DIR}/metadata.json`));
    expect([
      [8, 1],
      [9, NONE_SERVER_ID],
    ]).toContainEqual([snapshot.currentTerm, snapshot.votedFor]);
    expect([await first, await second]).toEqual(['ok', 'ok']);
    await manager.close();
  });

  it('close() during the open: calls made before it finish, later ones are refused', async () => {
    const { disk } = await preparedDisk();
    const manager = construct(disk);
    const before = [issue(manager, CALLS[0] as Call), issue(manager, CALLS[1] as Call)];
    const closed = manager.close();
    const after = issue(manager, { kind: 'term', value: 20 });
    expect(await Promise.all(before)).toEqual(['ok', 'ERR_VOTE_CONFLICT']);
    expect(await after).toBe('ERR_MANAGER_CLOSED');
    await closed;
    await expect(manager.sync()).rejects.toMatchObject({ code: 'ERR_MANAGER_CLOSED' });
    expect(await Metadata.load(DIR, { fs: disk })).toMatchObject({ currentTerm: 8, votedFor: 1 });
  });
});

describe('ready()', () => {
  it('resolves after open() and after the background open', async () => {
    const disk = new SimulatedDisk();
    const opened = await MetadataManager.open(DIR, { fs: disk, flushIntervalMs: 0 });
    await expect(opened.ready()).resolves.toBeUndefined();
    await opened.close();
    const manager = construct(disk);
    expect(manager.get()).toMatchObject(PROPOSAL); // before the open is done: the proposal
    await manager.ready();
    expect(await Metadata.load(DIR, { fs: disk })).toMatchObject(PROPOSAL);
    await manager.close();
  });

  it('rejects with the open error, naming initial.currentTerm and the term on disk; queued calls get it too', async () => {
    const { disk } = await preparedDisk();
    const manager = construct(disk, { currentTerm: 5, votedFor: 8 });
    const queued = issue(manager, { kind: 'vote', value: 8 });
    const error = await manager.ready().then(
      () => undefined,
      (err: unknown) => err as Error & { code: string },
    );
    expect(error?.code).toBe('ERR_TERM_REGRESSION');
    expect(error?.message).toContain('initial.currentTerm 5');
    expect(error?.message).toContain('current term 7 on disk');
    expect(await queued).toBe('ERR_TERM_REGRESSION');
    await expect(manager.updateCurrentTerm(100)).rejects.toBe(error);
    expect(manager.get()).toMatchObject({ currentTerm: 5, votedFor: 8 });
    await manager.close();
    // Nothing of the refused proposal was written.
    expect(await Metadata.load(DIR, { fs: disk })).toMatchObject(ON_DISK);
  });

  it('a conflicting initial.votedFor is ERR_VOTE_CONFLICT naming it and the vote on disk', async () => {
    const { disk } = await preparedDisk();
    const manager = construct(disk, { currentTerm: 7, votedFor: 4 });
    const error = await manager.ready().then(
      () => undefined,
      (err: unknown) => err as Error & { code: string },
    );
    expect(error?.code).toBe('ERR_VOTE_CONFLICT');
    expect(error?.message).toContain('initial.votedFor 4');
    expect(error?.message).toContain('vote for 2 in term 7 on disk');
    await manager.close();
    expect(await Metadata.load(DIR, { fs: disk })).toMatchObject(ON_DISK);
  });
});
