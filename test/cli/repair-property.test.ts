import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { logName } from '../../src/format/names.js';
import { MetadataManager, NodeFileSystem } from '../../src/index.js';
import { examineDirectory } from '../../src/ops/examine.js';
import { applyRepair } from '../../src/ops/repair-apply.js';
import { planRepair } from '../../src/ops/repair-plan.js';
import { recoverDirectory } from '../../src/storage/recovery.js';
import { cliJson, HEADER_BYTES, RECORD_BYTES, tempDir } from './helpers.js';

/**
 * The repair's promise: afterwards the node cannot vote in any term it may already have voted in.
 * Histories are made by the library on the real disk, then damaged once (a flipped byte anywhere in
 * the records area of any file, junk after the last record, a cut snapshot). The model knows every
 * acknowledged update, so "every term the node voted in" is the ground truth, not what survived.
 */

type Op = { kind: 'term'; step: number } | { kind: 'vote'; candidate: number } | { kind: 'sync' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('term' as const), step: fc.integer({ min: 1, max: 3 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('vote' as const), candidate: fc.integer({ min: 1, max: 5 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'sync' as const }) },
);

type Damage =
  | { kind: 'flip'; file: number; at: number }
  | { kind: 'junk'; length: number }
  | { kind: 'cut-snapshot'; keep: number };

const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('flip' as const), file: fc.nat(), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('junk' as const), length: fc.integer({ min: 1, max: 40 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut-snapshot' as const), keep: fc.nat() }) },
);

interface Truth {
  readonly maxTerm: number;
  /** The last acknowledged vote (0: none in maxTerm). */
  readonly votedFor: number;
  /** Every term in which a vote was acknowledged. */
  readonly votedTerms: readonly number[];
}

async function build(dir: string, ops: readonly Op[]): Promise<Truth> {
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  let term = 0;
  let voted = false;
  let votedFor = 0;
  const votedTerms: number[] = [];
  try {
    for (const op of ops) {
      if (op.kind === 'sync') await manager.sync();
      else if (op.kind === 'term') {
        term += op.step;
        voted = false;
        votedFor = 0;
        await manager.updateCurrentTerm(term);
      } else if (!voted) {
        voted = true;
        votedFor = op.candidate;
        await manager.updateVotedFor(op.candidate);
        votedTerms.push(term);
      }
    }
  } finally {
    await manager.close();
  }
  return { maxTerm: term, votedFor, votedTerms };
}

/** End of the records area of a log (first all-zero slot after the header), plus one slot. */
function recordsEnd(bytes: Buffer): number {
  let at = HEADER_BYTES;
  while (at + RECORD_BYTES <= bytes.length && bytes.subarray(at, at + RECORD_BYTES).some((b) => b !== 0))
    at += RECORD_BYTES;
  return Math.min(bytes.length, at + RECORD_BYTES);
}

function damage(dir: string, d: Damage): void {
  const files = readdirSync(dir)
    .filter((n) => n === 'metadata.json' || /^log-[0-9a-f]{16}\.wal$/.test(n))
    .sort();
  const logs = files.filter((n) => n.startsWith('log-'));
  if (d.kind === 'flip') {
    const name = files[d.file % files.length] as string;
    const path = join(dir, name);
    const bytes = readFileSync(path);
    const limit = name === 'metadata.json' ? bytes.length : recordsEnd(bytes);
    const at = d.at % limit;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
  } else if (d.kind === 'junk') {
    const name = logs.at(-1);
    if (name === undefined) return;
    const path = join(dir, name);
    const bytes = readFileSync(path);
    const end = recordsEnd(bytes) - RECORD_BYTES;
    bytes.fill(0x5a, end, Math.min(bytes.length, end + d.length));
    writeFileSync(path, bytes);
  } else {
    const path = join(dir, 'metadata.json');
    try {
      statSync(path);
    } catch {
      return;
    }
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, d.keep % bytes.length));
  }
}

const fs = new NodeFileSystem();
afterAll(() => fs.dispose());

let applied = 0;
let needMinTerm = 0;
// Bounded so that the CLI suite stays fast; CLI_PROPERTY_RUNS=5000 for a long run.
const RUNS = Number(process.env.CLI_PROPERTY_RUNS) || Math.min(30, Number(process.env.PROPERTY_RUNS) || 30);

describe('repair never allows a second vote in a term', () => {
  it(
    'library: after a new-term repair, the term is above every term voted in and every term seen',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 24 }), damageArb, async (ops, hit) => {
          const dir = join(tempDir(), 'meta');
          const truth = await build(dir, ops);
          damage(dir, hit);
          const exam = await examineDirectory(fs, dir);
          if (hit.kind === 'junk') {
            // A crash artifact: the plain repair keeps exactly the acknowledged state, vote included.
            expect(exam.verdict).toBe('torn');
            const keep = planRepair(exam);
            expect(keep.strategy).toBe('compact');
            expect(keep.after).toMatchObject({ currentTerm: truth.maxTerm, votedFor: truth.votedFor });
          }
          // Force the new-term strategy whatever the verdict (torn and clean included).
          const plan = planRepair(exam, { bumpTerm: true });
          const seen = Math.max(
            0,
            ...exam.logs.flatMap((l) => l.salvage.records.map((r) => r.currentTerm)),
            exam.snapshot?.content?.groups.get(0)?.currentTerm ?? 0,
            exam.snapshot?.unverified?.currentTerm ?? 0,
          );
          expect(plan.strategy).toBe('new-term');
          let after = plan.after;
          if (plan.needsMinTerm) {
            needMinTerm++;
            // What the operator is told to do: a term above any the cluster reached.
            after = planRepair(exam, { bumpTerm: true, minTerm: truth.maxTerm + 1 }).after;
            expect(after?.currentTerm).toBeGreaterThan(truth.maxTerm);
            return;
          }
          expect(after).toBeDefined();
          if (after === undefined) return;
          expect(after.votedFor).toBe(0);
          expect(after.currentTerm).toBeGreaterThan(seen);
          for (const t of truth.votedTerms) expect(after.currentTerm).toBeGreaterThan(t);
          const result = await applyRepair(fs, plan);
          applied++;
          expect(result.recovered.state).toEqual({ currentTerm: after.currentTerm, votedFor: 0 });
          const reloaded = await recoverDirectory(fs, dir);
          expect(reloaded.state).toEqual({ currentTerm: after.currentTerm, votedFor: 0 });
          // Only the empty log the new snapshot names as the one after it; the same directory id.
          expect(reloaded.logs.map((log) => log.name)).toEqual([logName(after.lastSeq + 1)]);
          expect(reloaded.logs[0]?.scan.recordCount).toBe(0);
          expect(reloaded.directoryId).toBe(result.directoryId);
          if (exam.format.directoryId !== undefined) expect(result.directoryId).toBe(exam.format.directoryId);
        }),
        { numRuns: RUNS },
      );
      expect(applied).toBeGreaterThan(0);
      // Refusals must stay the exception (a compacted directory whose snapshot was hit).
      expect(needMinTerm).toBeLessThan(RUNS);
    },
    60_000 + RUNS * 200,
  );

  it('command line: repair --yes on corrupt directories ends above every term voted in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 4, maxLength: 16 }),
        fc.nat(),
        fc.nat(),
        async (ops, fileSeed, atSeed) => {
          const dir = join(tempDir(), 'meta');
          const truth = await build(dir, ops);
          damage(dir, { kind: 'flip', file: fileSeed, at: atSeed });
          const { code, json } = await cliJson('repair', '--yes', '--bump-term', dir);
          if (code === 5) return; // needs --min-term: nothing changed, operator decides
          expect(code).toBe(0);
          const after = json.after as { currentTerm: number; votedFor: number };
          expect(after.votedFor).toBe(0);
          for (const t of truth.votedTerms) expect(after.currentTerm).toBeGreaterThan(t);
          const loaded = await recoverDirectory(fs, dir);
          expect(loaded.state).toEqual({ currentTerm: after.currentTerm, votedFor: 0 });
        },
      ),
      { numRuns: 3 },
    );
  });
});
