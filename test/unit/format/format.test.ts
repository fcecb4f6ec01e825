import { describe, expect, it } from 'vitest';
import {
  decodeHeader,
  decodeSlot,
  encodeHeader,
  encodeRecord,
  HEADER_SIZE,
  RECORD_SIZE,
} from '../../../src/format/record.js';
import { decodeSnapshot, encodeSnapshot } from '../../../src/format/snapshot-codec.js';
import { UpdateKind } from '../../../src/state.js';

// Golden bytes from docs/format.md: a change here is a format change and needs a new version.
const GOLDEN_LOG = `
52 41 46 54 4d 57 41 4c 01 00 00 00 20 00 00 00
01 00 00 00 00 00 00 00 00 00 00 00 27 d6 15 43
c5 32 b9 7a 01 00 00 00 01 00 00 00 00 00 00 00
05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
15 32 72 b8 02 00 00 00 02 00 00 00 00 00 00 00
05 00 00 00 00 00 00 00 65 00 00 00 00 00 00 00`;
const GOLDEN_SNAPSHOT =
  '{"format":"raft-metadata","version":1,"currentTerm":5,"votedFor":101,"lastSeq":2,"crc32":"88e4e6fc"}\n';

const bytes = Uint8Array.from(GOLDEN_LOG.trim().split(/\s+/), (h) => Number.parseInt(h, 16));

describe('format', () => {
  it('decodes the golden log and encodes it back byte for byte', () => {
    expect(decodeHeader(bytes.subarray(0, HEADER_SIZE))).toEqual({ version: 1, recordSize: 32, firstSeq: 1 });
    const first = decodeSlot(bytes.subarray(HEADER_SIZE, HEADER_SIZE + RECORD_SIZE));
    const second = decodeSlot(bytes.subarray(HEADER_SIZE + RECORD_SIZE));
    expect(first).toEqual({
      type: 'record',
      record: { kind: UpdateKind.Term, batchIndex: 0, seq: 1, currentTerm: 5, votedFor: 0 },
    });
    expect(second).toEqual({
      type: 'record',
      record: { kind: UpdateKind.Vote, batchIndex: 0, seq: 2, currentTerm: 5, votedFor: 101 },
    });
    const rebuilt = new Uint8Array([
      ...encodeHeader(1),
      ...encodeRecord({ kind: UpdateKind.Term, batchIndex: 0, seq: 1, currentTerm: 5, votedFor: 0 }),
      ...encodeRecord({ kind: UpdateKind.Vote, batchIndex: 0, seq: 2, currentTerm: 5, votedFor: 101 }),
    ]);
    expect(rebuilt).toEqual(bytes);
  });

  it('decodes the golden snapshot and encodes it back', () => {
    expect(decodeSnapshot(new TextEncoder().encode(GOLDEN_SNAPSHOT))).toEqual({
      currentTerm: 5,
      votedFor: 101,
      lastSeq: 2,
    });
    expect(new TextDecoder().decode(encodeSnapshot({ currentTerm: 5, votedFor: 101, lastSeq: 2 }))).toBe(
      GOLDEN_SNAPSHOT,
    );
  });

  it('round-trips the largest safe integers and refuses larger ones', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const record = { kind: UpdateKind.Vote, batchIndex: 65535, seq: max, currentTerm: max, votedFor: max };
    expect(decodeSlot(encodeRecord(record))).toEqual({ type: 'record', record });
    const tooBig = encodeRecord(record);
    tooBig[31] = 0xff; // votedFor high byte: beyond 2^53, and the checksum no longer matches
    expect(decodeSlot(tooBig).type).toBe('bad');
  });

  it('tells zeros, damage and cut-short slots apart', () => {
    expect(decodeSlot(new Uint8Array(RECORD_SIZE))).toEqual({ type: 'zero' });
    const flipped = encodeRecord({
      kind: UpdateKind.Term,
      batchIndex: 0,
      seq: 1,
      currentTerm: 1,
      votedFor: 0,
    });
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    expect(decodeSlot(flipped)).toEqual({ type: 'bad', reason: 'record checksum mismatch' });
    expect(decodeSlot(new Uint8Array(10).fill(1))).toEqual({ type: 'bad', reason: 'record cut short' });
  });
});
