import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Continue, crc32ZeroAdvance } from '../../../src/format/crc.js';
import { type DirectoryId, directoryIdBytes } from '../../../src/format/directory-id.js';
import { LAYOUT_V2, RecordDecoder, viewOf } from '../../../src/format/record.js';

/**
 * The version-2 decoder checks a record's ownership checksum (bytes 4..7: CRC-32 of bytes 8..47
 * continued from the directory's salt) without a second CRC pass, from the whole-record checksum
 * and CRC-32's linearity (src/format/record.ts, ownershipKey). These properties hold it to the
 * definition: on any bytes, under any directory, it says "foreign" exactly when the definition's
 * checksum differs. PROPERTY_RUNS sets the runs (test/setup-fast-check.ts).
 */

const directoryId = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((bytes) => Buffer.from(bytes).toString('hex') as DirectoryId);
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

describe('CRC-32 zero advance', () => {
  it('crc32Continue(data, a) ^ crc32Continue(data, b) is advance(a ^ b), for any data of that length', () => {
    const lengths = [0, 1, 4, 40, 44, 100];
    const advances = new Map(lengths.map((n) => [n, crc32ZeroAdvance(n)]));
    fc.assert(
      fc.property(
        fc.constantFrom(...lengths),
        fc.uint8Array({ maxLength: 100 }),
        u32,
        u32,
        (n, raw, a, b) => {
          const data = new Uint8Array(n);
          data.set(raw.subarray(0, n));
          const advance = advances.get(n) as (v: number) => number;
          expect((crc32Continue(data, a) ^ crc32Continue(data, b)) >>> 0).toBe(advance((a ^ b) >>> 0));
        },
      ),
    );
  });

  it('advance over 0 bytes is the identity, and over n + m bytes is advance(n) after advance(m)', () => {
    const a0 = crc32ZeroAdvance(0);
    const a4 = crc32ZeroAdvance(4);
    const a40 = crc32ZeroAdvance(40);
    const a44 = crc32ZeroAdvance(44);
    fc.assert(
      fc.property(u32, (v) => {
        expect(a0(v)).toBe(v);
        expect(a44(v)).toBe(a40(a4(v)));
      }),
    );
  });
});

describe('format v2 ownership check', () => {
  /** Any 48 bytes whose whole-record checksum holds; the ownership field right or arbitrary. */
  const slot = fc.record({
    body: fc.uint8Array({ minLength: 40, maxLength: 40 }),
    own: fc.option(u32, { nil: undefined }),
  });

  const build = (id: DirectoryId, body: Uint8Array, own: number | undefined) => {
    const bytes = new Uint8Array(LAYOUT_V2.recordSize);
    bytes.set(body, 8);
    const salt = crc32(directoryIdBytes(id));
    const defined = crc32Continue(bytes.subarray(8), salt);
    viewOf(bytes).setUint32(4, own ?? defined, true);
    viewOf(bytes).setUint32(0, crc32(bytes.subarray(4)), true);
    return { bytes, ownsIt: (own ?? defined) === defined };
  };

  it('is foreign exactly when the ownership field differs from its definition', () => {
    fc.assert(
      fc.property(directoryId, slot, (id, { body, own }) => {
        const { bytes, ownsIt } = build(id, body, own);
        const decoded = new RecordDecoder({ layout: LAYOUT_V2, directoryId: id }).decode(bytes);
        if (ownsIt) expect(decoded.type).not.toBe('foreign');
        else expect(decoded.type).toBe('foreign');
      }),
    );
  });

  it('a slot made for one directory is foreign under any other', () => {
    fc.assert(
      fc.property(
        fc.tuple(directoryId, directoryId).filter(([a, b]) => a !== b),
        fc.uint8Array({ minLength: 40, maxLength: 40 }),
        ([mine, theirs], body) => {
          const { bytes } = build(theirs, body, undefined);
          const decoded = new RecordDecoder({ layout: LAYOUT_V2, directoryId: mine }).decode(bytes);
          // A CRC-32 collision of the two salts' checksums (2^-32) would also pass the definition.
          const salt = crc32(directoryIdBytes(mine));
          const definitionSaysMine =
            crc32Continue(bytes.subarray(8), salt) === viewOf(bytes).getUint32(4, true);
          expect(decoded.type === 'foreign').toBe(!definitionSaysMine);
        },
      ),
    );
  });
});
