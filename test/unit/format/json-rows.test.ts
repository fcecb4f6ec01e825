import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonRowsWriter } from '../../../src/format/json-rows.js';

/**
 * The snapshot's rows written as bytes must be the UTF-8 of JSON.stringify of the same rows, at
 * every number length and wherever the growing buffer's end falls. PROPERTY_RUNS sets the runs.
 */
const big = fc.oneof(
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: Number.MAX_SAFE_INTEGER - 1000, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: 0, max: 20 }),
);

function written(expectedRows: number, rows: readonly (readonly number[])[]): string {
  const out = new JsonRowsWriter(expectedRows);
  for (const [i, r] of rows.entries()) out.row(i === 0, r[0] as number, r[1] as number, r[2]);
  return new TextDecoder().decode(out.finish());
}

describe('JsonRowsWriter', () => {
  it('writes what JSON.stringify writes, rows of two or three numbers, any buffer size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.boolean(),
        fc.array(fc.tuple(big, big, big), { maxLength: 40 }),
        (expectedRows, three, rows) => {
          const shaped = rows.map((r) => (three ? r : r.slice(0, 2)));
          expect(written(expectedRows, shaped)).toBe(JSON.stringify(shaped));
        },
      ),
    );
  });

  it('a row of the longest numbers at every offset of the buffer', () => {
    const max = Number.MAX_SAFE_INTEGER;
    for (let digits = 1; digits <= 8; digits++) {
      for (let before = 0; before < 40; before++) {
        // A first row of `digits` digits, then `before` rows of 8 bytes: the long rows start at
        // every offset from the buffer's end.
        const rows = [
          [10 ** (digits - 1), 1, 1],
          ...Array.from({ length: before }, () => [1, 2, 3]),
          [max, max, max],
          [max, max, max],
        ];
        expect(written(0, rows)).toBe(JSON.stringify(rows));
      }
    }
  });
});
