import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * `raft-metadata/testing` exports exactly the names docs/testing.md lists under "What it exports":
 * each export is a semver promise, so a new one must be documented (and this list changed) on
 * purpose, never slip in with a refactoring.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const entry = `${root}src/testing/index.ts`;

/** The names of the doc's table: its "values" and "types" columns. */
function documented(): { values: string[]; types: string[] } {
  const doc = readFileSync(`${root}docs/testing.md`, 'utf8');
  const section = doc.split('\n## What it exports\n')[1]?.split('\n## ')[0];
  if (section === undefined) throw new Error('docs/testing.md has no "What it exports" section');
  const values: string[] = [];
  const types: string[] = [];
  const names = (cell: string | undefined): string[] =>
    [...(cell ?? '').matchAll(/`([A-Za-z_]\w*)`/g)].map((m) => m[1] ?? '');
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | for | values | types |: skip the header and the rule.
    if (cells.length < 5 || cells[1] === 'for' || cells[1]?.startsWith('---')) continue;
    values.push(...names(cells[2]));
    types.push(...names(cells[3]));
  }
  return { values: values.sort(), types: types.sort() };
}

/** Every name src/testing/index.ts exports, values and types, as the compiler sees them. */
function exported(): string[] {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const symbol = source && checker.getSymbolAtLocation(source);
  if (!symbol) throw new Error(`cannot read the exports of ${entry}`);
  return checker
    .getExportsOfModule(symbol)
    .map((s) => s.getName())
    .sort();
}

describe('raft-metadata/testing exports', () => {
  it('exports exactly the names docs/testing.md documents', () => {
    const { values, types } = documented();
    expect(values.length + types.length).toBeGreaterThan(30);
    expect(exported()).toEqual([...values, ...types].sort());
  }, 30_000);

  it('has at run time exactly the documented values (the types are erased)', async () => {
    const module: Record<string, unknown> = await import('../../../src/testing/index.js');
    expect(Object.keys(module).sort()).toEqual(documented().values);
  });
});
