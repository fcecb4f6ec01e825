import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Metadata, MetadataManager } from '../../../src/index.js';

/**
 * Directories written by 0.1.0 (format v1), committed in test/fixtures/v1 (made by make.mjs at
 * commit 6edde84, the last v1 code). They must load and open unchanged forever.
 */
const FIXTURES = join(import.meta.dirname, '../../fixtures/v1');
interface Expected {
  readonly currentTerm?: number;
  readonly votedFor?: number;
  readonly error?: string;
  readonly file?: string;
  readonly offset?: number;
}
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Record<
  string,
  Expected
>;

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function copyOf(name: string): string {
  const root = mkdtempSync(join(tmpdir(), 'v1-fixture-'));
  made.push(root);
  const dir = join(root, name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = readFileSync(join(dir, name)).toString('base64');
  return out;
}

describe('format v1 golden directories (written by 0.1.0)', () => {
  for (const [name, expected] of Object.entries(manifest)) {
    it(`${name}: load reads it without changing a byte`, async () => {
      const dir = copyOf(name);
      const before = contents(dir);
      if (expected.error !== undefined) {
        await expect(Metadata.load(dir)).rejects.toMatchObject({
          code: expected.error,
          file: join(dir, expected.file ?? ''),
          offset: expected.offset,
        });
      } else {
        const m = await Metadata.load(dir);
        expect({ currentTerm: m.currentTerm, votedFor: m.votedFor }).toEqual({
          currentTerm: expected.currentTerm,
          votedFor: expected.votedFor,
        });
      }
      expect(contents(dir)).toEqual(before);
    });

    it(`${name}: a manager opens it with the same state and keeps going`, async () => {
      const dir = copyOf(name);
      if (expected.error !== undefined) {
        const before = contents(dir);
        await expect(MetadataManager.open(dir, { flushIntervalMs: 0 })).rejects.toMatchObject({
          code: expected.error,
        });
        const after = contents(dir);
        delete after.LOCK; // a refused open may create an empty LOCK (documented)
        expect(after).toEqual(before);
        return;
      }
      const m = await MetadataManager.open(dir, { flushIntervalMs: 0 });
      expect(m.get()).toMatchObject({ currentTerm: expected.currentTerm, votedFor: expected.votedFor });
      const term = (expected.currentTerm ?? 0) + 1;
      await m.updateCurrentTerm(term);
      await m.updateVotedFor(42);
      await m.sync();
      await m.close();
      expect(await Metadata.load(dir)).toMatchObject({ currentTerm: term, votedFor: 42 });
    });
  }
});
