import { describe, expect, it } from 'vitest';
import { MetadataStore } from '../../src/index.js';
import { readOnlyProbe } from '../../src/testing/conformance/open-load.js';
import {
  describeCrashPlan,
  enumerateCrashPlans,
  SimulatedDisk,
  type TraceEntry,
} from '../../src/testing/index.js';

/**
 * Exhaustive crash points around the reuse of a log (compactor.ts #removeRetired, LogWriter.recycleInSteps):
 * a store whose log passes 1 MiB of records is compacted, so that the retired log is renamed to
 * the spare's name and rewritten in the background, then compacted again, so that the rewritten
 * file becomes the next log. For every prefix of the trace and every crash state there (unsynced
 * writes kept, dropped or torn at a few sectors; unsynced directory operations kept or lost),
 * `MetadataStore.load` must not write and must give each group a term between its last
 * acknowledged and its last submitted one, never a report of corruption: a covered log under the
 * spare's name, half rewritten, is never read as a log, and the reused file holds no record of
 * its earlier life once it is a log again.
 */

const DIR = '/srv/raft/recycle';
const GROUPS = [1, 2] as const;
/** Updates per group per batch: 2 groups x 6,000 x 48 bytes = 576,000 bytes of records a batch. */
const PER_BATCH = 6_000;

interface Recorded {
  readonly disk: SimulatedDisk;
  /** Per group: the term submitted (and acknowledged) at each trace length, as steps. */
  readonly submitted: Map<number, [at: number, term: number][]>;
  readonly acked: Map<number, [at: number, term: number][]>;
}

async function recordWorkload(): Promise<Recorded> {
  const disk = new SimulatedDisk();
  const submitted = new Map<number, [number, number][]>(GROUPS.map((g) => [g, [[0, 0]]]));
  const acked = new Map<number, [number, number][]>(GROUPS.map((g) => [g, [[0, 0]]]));
  const terms = new Map<number, number>(GROUPS.map((g) => [g, 0]));
  const store = await MetadataStore.open(DIR, { fs: disk, flushIntervalMs: 0 });
  /** One batch: `count` rising terms for every group, all submitted in one turn. */
  const batch = async (count: number): Promise<void> => {
    const calls: Promise<void>[] = [];
    for (const g of GROUPS) {
      for (let i = 0; i < count; i++) {
        const term = (terms.get(g) as number) + 1;
        terms.set(g, term);
        calls.push(store.group(g).updateCurrentTerm(term));
      }
      (submitted.get(g) as [number, number][]).push([disk.trace.length, terms.get(g) as number]);
    }
    await Promise.all(calls);
    for (const g of GROUPS)
      (acked.get(g) as [number, number][]).push([disk.trace.length, terms.get(g) as number]);
  };
  await batch(PER_BATCH);
  await batch(PER_BATCH);
  await store.sync(); // retires a log of 1,152,000 bytes of records: renamed to the spare's name
  await batch(10);
  await store.sync(); // the rewritten spare becomes the log
  await batch(10);
  await store.close();
  return { disk, submitted, acked };
}

/** The term a step list gives at trace length `k`. */
function termAt(steps: [number, number][], k: number): number {
  let term = 0;
  for (const [at, t] of steps) if (at <= k) term = t;
  return term;
}

function isMutation(entry: TraceEntry): boolean {
  return (
    ['write', 'datasync', 'sync', 'rename', 'unlink', 'mkdir', 'syncDir'].includes(entry.op) ||
    (entry.op === 'open' && entry.mode === 'create')
  );
}

describe('crash points around the reuse of a log as the next spare', () => {
  it('every crash state loads each group between its acknowledged and submitted term', async () => {
    const rec = await recordWorkload();
    const trace = rec.disk.trace;
    // The workload did reuse the log: the spare was renamed from a log, opened for writing (not
    // created), and later renamed to a log name.
    const renamedToSpare = trace.findIndex(
      (e) =>
        e.op === 'rename' && /log-[0-9a-f]{16}\.wal$/.test(e.path) && e.dest?.endsWith('log-next.wal.tmp'),
    );
    expect(renamedToSpare).toBeGreaterThan(0);
    expect(
      trace.some(
        (e, i) =>
          i > renamedToSpare && e.op === 'open' && e.mode === 'write' && e.path.endsWith('log-next.wal.tmp'),
      ),
    ).toBe(true);
    expect(
      trace.some((e, i) => i > renamedToSpare && e.op === 'rename' && e.path.endsWith('log-next.wal.tmp')),
    ).toBe(true);

    let checked = 0;
    const loadedBy = new Map<string, Map<number, number>>();
    for (let k = 0; k <= trace.length; k++) {
      const last = trace[k - 1];
      if (last && !isMutation(last)) continue;
      const atK = rec.disk.stateAt(k);
      for (const plan of enumerateCrashPlans(atK.pending(), { maxTornPointsPerWrite: 2 })) {
        checked++;
        const crashed = atK.stateAt(0).crashWith(plan);
        const where = `crash after op ${k} (${last?.op} ${last?.path}), ${describeCrashPlan(plan)}`;
        const fingerprint = crashed.fingerprint();
        let loaded = loadedBy.get(fingerprint);
        if (loaded === undefined) {
          const probe = readOnlyProbe(crashed);
          let all: Map<number, { currentTerm: number }>;
          try {
            all = await MetadataStore.load(DIR, { fs: probe.fs });
          } catch (err) {
            throw new Error(`${where}: load failed: ${(err as Error).message}`);
          }
          if (probe.mutations.length > 0) throw new Error(`${where}: the load wrote ${probe.mutations}`);
          loaded = new Map(GROUPS.map((g) => [g, all.get(g)?.currentTerm ?? 0]));
          loadedBy.set(fingerprint, loaded);
        }
        for (const g of GROUPS) {
          const term = loaded.get(g) as number;
          const from = termAt(rec.acked.get(g) as [number, number][], k);
          const to = termAt(rec.submitted.get(g) as [number, number][], k);
          if (term < from || term > to) {
            throw new Error(`${where}: group ${g} loads term ${term}, allowed ${from}..${to}`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  }, 120_000);
});
