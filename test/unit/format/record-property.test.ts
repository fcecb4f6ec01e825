import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DirectoryId } from '../../../src/format/directory-id.js';
import {
  decodeHeader,
  encodeHeader,
  LAYOUT_V2,
  type LogRecord,
  RecordDecoder,
  RecordEncoder,
} from '../../../src/format/record.js';
import { RecordKind } from '../../../src/state.js';

/**
 * Properties of the version-2 record and header codecs (issue 11). The run count is
 * PROPERTY_RUNS (default 100), set globally by test/setup-fast-check.ts.
 */

const directoryId = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((bytes) => Buffer.from(bytes).toString('hex') as DirectoryId);
const twoDirectories = fc.tuple(directoryId, directoryId).filter(([a, b]) => a !== b);
const count = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat());

const record: fc.Arbitrary<LogRecord> = fc.record({
  kind: fc.constantFrom(RecordKind.Term, RecordKind.Vote, RecordKind.Remove),
  batchIndex: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff_ffff })),
  seq: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  group: count,
  currentTerm: count,
  votedFor: count,
});

const decoderFor = (id: DirectoryId): RecordDecoder =>
  new RecordDecoder({ layout: LAYOUT_V2, directoryId: id });

describe('format v2 records (property)', () => {
  it('a valid record decodes to itself under its own directory', () => {
    fc.assert(
      fc.property(directoryId, record, (id, r) => {
        const bytes = new RecordEncoder(id).encode(r);
        expect(bytes.byteLength).toBe(LAYOUT_V2.recordSize);
        expect(decoderFor(id).decode(bytes)).toEqual({ type: 'record', record: r });
      }),
    );
  });

  it('a record encoded for one directory is always foreign under another, with its seq', () => {
    fc.assert(
      fc.property(twoDirectories, record, ([mine, theirs], r) => {
        const bytes = new RecordEncoder(theirs).encode(r);
        expect(decoderFor(mine).decode(bytes)).toEqual({ type: 'foreign', seq: r.seq });
      }),
    );
  });

  it('any single byte changed never decodes as a record, under its own directory or another', () => {
    fc.assert(
      fc.property(
        twoDirectories,
        record,
        fc.integer({ min: 0, max: LAYOUT_V2.recordSize - 1 }),
        fc.integer({ min: 1, max: 255 }),
        ([mine, other], r, at, mask) => {
          const bytes = new RecordEncoder(mine).encode(r);
          bytes[at] = (bytes[at] ?? 0) ^ mask;
          // CRC-32 catches every error within 32 bits: the integrity check fails, so the slot is
          // damage (a torn write or worse), never a record and never "foreign".
          expect(decoderFor(mine).decode(bytes)).toEqual({ type: 'bad', reason: 'record checksum mismatch' });
          expect(decoderFor(other).decode(bytes).type).toBe('bad');
        },
      ),
    );
  });
});

describe('format v2 headers (property)', () => {
  const firstSeq = fc.oneof(
    fc.integer({ min: 1, max: 1000 }),
    fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  );

  it('a header decodes to itself', () => {
    fc.assert(
      fc.property(directoryId, (id) => {
        expect(decodeHeader(encodeHeader(id))).toEqual({
          layout: LAYOUT_V2,
          firstSeq: undefined,
          directoryId: id,
        });
      }),
    );
  });

  it('any single byte changed never decodes as a header', () => {
    fc.assert(
      fc.property(
        directoryId,
        firstSeq,
        fc.integer({ min: 0, max: LAYOUT_V2.headerSize - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (id, seq, at, mask) => {
          const bytes = encodeHeader(id);
          bytes[at] = (bytes[at] ?? 0) ^ mask;
          expect('problem' in decodeHeader(bytes)).toBe(true);
        },
      ),
    );
  });
});
