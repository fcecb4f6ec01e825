import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../src/format/crc.js';
import type { DirectoryId } from '../../../src/format/directory-id.js';
import {
  decodeHeader,
  encodeHeader,
  LAYOUT_V1,
  LAYOUT_V2,
  type LogRecord,
  RecordDecoder,
  RecordEncoder,
  viewOf,
} from '../../../src/format/record.js';
import { decodeSnapshot, encodeSnapshot, snapshotJsonV1 } from '../../../src/format/snapshot-codec.js';
import { RecordKind } from '../../../src/state.js';
import {
  DIR_ID,
  encodeHeaderV1,
  encodeRecordV1,
  GOLDEN_V2_LOG_HEX,
  hexBytes,
  OTHER_DIR_ID,
  termRecord,
  voteRecord,
} from '../../fixtures/log-bytes.js';

// Golden bytes from docs/format.md: a change here is a format change and needs a new version.
const GOLDEN_V1_LOG = `
52 41 46 54 4d 57 41 4c 01 00 00 00 20 00 00 00
01 00 00 00 00 00 00 00 00 00 00 00 27 d6 15 43
c5 32 b9 7a 01 00 00 00 01 00 00 00 00 00 00 00
05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
15 32 72 b8 02 00 00 00 02 00 00 00 00 00 00 00
05 00 00 00 00 00 00 00 65 00 00 00 00 00 00 00`;
const GOLDEN_V1_SNAPSHOT =
  '{"format":"raft-metadata","version":1,"currentTerm":5,"votedFor":101,"lastSeq":2,"crc32":"88e4e6fc"}\n';
const GOLDEN_V2_SNAPSHOT =
  '{"format":"raft-metadata","version":2,"directoryId":"00112233445566778899aabbccddeeff",' +
  '"identity":{"clusterId":"prod","nodeId":3},"lastSeq":2,"nextLog":"log-0000000000000003.wal",' +
  '"groups":[[0,5,101]],"removed":[],"crc32":"bc6068a1"}\n';
const GOLDEN_V2_SNAPSHOT_BARE =
  '{"format":"raft-metadata","version":2,"directoryId":"00112233445566778899aabbccddeeff",' +
  '"identity":null,"lastSeq":0,"nextLog":"log-0000000000000001.wal","groups":[],"removed":[],"crc32":"871d9b08"}\n';

const v1Bytes = hexBytes(GOLDEN_V1_LOG);
const v2Bytes = hexBytes(GOLDEN_V2_LOG_HEX);
const H1 = LAYOUT_V1.headerSize;
const R1 = LAYOUT_V1.recordSize;
const H2 = LAYOUT_V2.headerSize;
const R2 = LAYOUT_V2.recordSize;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

const ours = new RecordDecoder({ layout: LAYOUT_V2, directoryId: DIR_ID });
const encoder = new RecordEncoder(DIR_ID);

/** Sets the u32 at `offset` of a v2 record and fixes both checksums, as a writer of that record would. */
function rewritten(record: LogRecord, edit: (bytes: Uint8Array, view: DataView) => void): Uint8Array {
  const bytes = encoder.encode(record);
  const view = viewOf(bytes);
  edit(bytes, view);
  const owner = new Uint8Array(16 + 40);
  owner.set(Uint8Array.from(Buffer.from(DIR_ID, 'hex')), 0);
  owner.set(bytes.subarray(8), 16);
  view.setUint32(4, crc32(owner), true);
  view.setUint32(0, crc32(bytes.subarray(4)), true);
  return bytes;
}

describe('format v2: the log', () => {
  it('decodes the golden log and encodes it back byte for byte', () => {
    expect(v2Bytes.byteLength).toBe(H2 + 3 * R2);
    const header = decodeHeader(v2Bytes);
    expect(header).toEqual({ layout: LAYOUT_V2, firstSeq: undefined, directoryId: DIR_ID });
    const decoder = new RecordDecoder(header as { layout: typeof LAYOUT_V2; directoryId: DirectoryId });
    const records = [0, 1, 2].map((i) => decoder.decode(v2Bytes.subarray(H2 + i * R2, H2 + (i + 1) * R2)));
    const expected = [termRecord(1, 0, 5), voteRecord(2, 5, 101, 0), termRecord(3, 1, 6)];
    expect(records).toEqual(expected.map((record) => ({ type: 'record', record })));
    const rebuilt = new Uint8Array([
      ...encodeHeader(DIR_ID),
      ...expected.flatMap((r) => [...encoder.encode(r)]),
    ]);
    expect(Buffer.from(rebuilt).toString('hex')).toBe(Buffer.from(v2Bytes).toString('hex'));
  });

  it('lays the header out as documented: magic, version, record size, 8 reserved zeros, directory id, CRC of 0..43', () => {
    const header = encodeHeader(DIR_ID);
    const view = viewOf(header);
    expect(header.byteLength).toBe(48);
    expect(text(header.subarray(0, 8))).toBe('RAFTMWAL');
    expect([view.getUint32(8, true), view.getUint32(12, true)]).toEqual([2, 48]);
    expect([view.getUint32(16, true), view.getUint32(20, true)]).toEqual([0, 0]);
    expect(Buffer.from(header.subarray(24, 40)).toString('hex')).toBe(DIR_ID);
    expect(view.getUint32(40, true)).toBe(0);
    expect(view.getUint32(44, true)).toBe(crc32(header.subarray(0, 44)));
  });

  it('a record checks its integrity (bytes 4..47) and its owner (directory id, then bytes 8..47)', () => {
    const record = voteRecord(9, 4, 77, 3);
    const bytes = encoder.encode(record);
    const view = viewOf(bytes);
    expect(view.getUint32(0, true)).toBe(crc32(bytes.subarray(4)));
    const owner = new Uint8Array([...Buffer.from(DIR_ID, 'hex'), ...bytes.subarray(8)]);
    expect(view.getUint32(4, true)).toBe(crc32(owner));
    expect([view.getUint8(8), view.getUint8(9), view.getUint16(10, true), view.getUint32(12, true)]).toEqual([
      2, 0, 0, 3,
    ]);
  });

  it('round-trips the largest safe integers, group ids included, and refuses larger ones', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const record: LogRecord = {
      kind: RecordKind.Vote,
      batchIndex: 0xffff_ffff,
      seq: max,
      group: max,
      currentTerm: max,
      votedFor: max,
    };
    expect(ours.decode(encoder.encode(record))).toEqual({ type: 'record', record });
    for (const at of [16, 24, 32, 40]) {
      // High byte of a u64 beyond 2^53, with both checksums fixed: a well-formed record of a bad number.
      const tooBig = rewritten(record, (b) => {
        b[at + 7] = 0xff;
      });
      expect(ours.decode(tooBig), `u64 at ${at}`).toMatchObject({ type: 'bad' });
    }
  });

  it('decodes the group-removed kind (3)', () => {
    const removal: LogRecord = { ...termRecord(4, 0, 7, 12), kind: RecordKind.Remove };
    const bytes = encoder.encode(removal);
    expect(bytes[8]).toBe(3);
    expect(ours.decode(bytes)).toEqual({ type: 'record', record: removal });
  });

  it('tells zeros, damage, cut-short slots, unknown kinds, reserved bytes and foreign records apart', () => {
    expect(ours.decode(new Uint8Array(R2))).toEqual({ type: 'zero' });
    const flipped = encoder.encode(termRecord(1));
    flipped[33] = (flipped[33] ?? 0) ^ 1;
    expect(ours.decode(flipped)).toEqual({ type: 'bad', reason: 'record checksum mismatch' });
    expect(ours.decode(new Uint8Array(10).fill(1))).toEqual({ type: 'bad', reason: 'record cut short' });
    expect(ours.decode(rewritten(termRecord(1), (b) => (b[8] = 9)))).toEqual({
      type: 'bad',
      reason: 'unknown record kind 9',
    });
    for (const at of [9, 10, 11]) {
      expect(ours.decode(rewritten(termRecord(1), (b) => (b[at] = 1)))).toEqual({
        type: 'bad',
        reason: 'reserved byte is not zero',
      });
    }
    const foreign = new RecordEncoder(OTHER_DIR_ID).encode(termRecord(42));
    expect(ours.decode(foreign)).toEqual({ type: 'foreign', seq: 42 });
    // The same bytes are a record to their own directory.
    const theirs = new RecordDecoder({ layout: LAYOUT_V2, directoryId: OTHER_DIR_ID });
    expect(theirs.decode(foreign)).toEqual({ type: 'record', record: termRecord(42) });
  });

  it('a damaged foreign record is damage, not foreign (integrity is checked first)', () => {
    const foreign = new RecordEncoder(OTHER_DIR_ID).encode(termRecord(42));
    foreign[20] = (foreign[20] ?? 0) ^ 4;
    expect(ours.decode(foreign)).toEqual({ type: 'bad', reason: 'record checksum mismatch' });
  });
});

describe('format v1: read, never written', () => {
  it('decodes the golden v1 log (0.1.0), and this test suite encodes it back byte for byte', () => {
    const header = decodeHeader(v1Bytes);
    expect(header).toEqual({ layout: LAYOUT_V1, firstSeq: 1, directoryId: undefined });
    const decoder = new RecordDecoder({ layout: LAYOUT_V1, directoryId: undefined });
    const first = decoder.decode(v1Bytes.subarray(H1, H1 + R1));
    const second = decoder.decode(v1Bytes.subarray(H1 + R1));
    const term = termRecord(1, 0, 5);
    const vote = voteRecord(2, 5, 101);
    expect(first).toEqual({ type: 'record', record: term });
    expect(second).toEqual({ type: 'record', record: vote });
    // The v1 encoder the storage tests use (test/fixtures/log-bytes.ts) writes exactly 0.1.0's bytes.
    expect(new Uint8Array([...encodeHeaderV1(1), ...encodeRecordV1(term), ...encodeRecordV1(vote)])).toEqual(
      v1Bytes,
    );
  });

  it('a reader tells the versions apart by the u32 at offset 8, whatever the length read', () => {
    // A v1 header followed by record bytes: the reader takes 32 bytes, not 48.
    expect(decodeHeader(v1Bytes)).toMatchObject({ layout: { version: 1, headerSize: 32 } });
    expect(decodeHeader(v2Bytes)).toMatchObject({ layout: { version: 2, headerSize: 48 } });
    expect(decodeHeader(v2Bytes.subarray(0, 40))).toEqual({
      problem: { kind: 'short', reason: 'short header' },
    });
    expect(decodeHeader(v1Bytes.subarray(0, 32))).toMatchObject({ firstSeq: 1 });
  });

  it('refuses v1 records of a kind v1 did not have', () => {
    const decoder = new RecordDecoder({ layout: LAYOUT_V1, directoryId: undefined });
    const bytes = encodeRecordV1(termRecord(1));
    bytes[4] = 3;
    viewOf(bytes).setUint32(0, crc32(bytes.subarray(4)), true);
    expect(decoder.decode(bytes)).toEqual({ type: 'bad', reason: 'unknown record kind 3' });
  });
});

describe('format: headers that do not decode', () => {
  it('an unknown version with a valid checksum', () => {
    const header = encodeHeader(DIR_ID);
    viewOf(header).setUint32(8, 3, true);
    viewOf(header).setUint32(44, crc32(header.subarray(0, 44)), true);
    expect(decodeHeader(header)).toMatchObject({ problem: { kind: 'unknown-version' } });
  });

  it('a v2 header claiming v1 record sizes, or a v1 header claiming 48', () => {
    const v2 = encodeHeader(DIR_ID);
    viewOf(v2).setUint32(12, 32, true);
    viewOf(v2).setUint32(44, crc32(v2.subarray(0, 44)), true);
    expect(decodeHeader(v2)).toMatchObject({ problem: { kind: 'record-size' } });
    const v1 = encodeHeaderV1(1);
    viewOf(v1).setUint32(12, 48, true);
    viewOf(v1).setUint32(28, crc32(v1.subarray(0, 28)), true);
    expect(decodeHeader(v1)).toMatchObject({ problem: { kind: 'record-size' } });
  });

  it('a flipped directory id byte fails the header checksum', () => {
    const header = encodeHeader(DIR_ID);
    header[30] = (header[30] ?? 0) ^ 1;
    expect(decodeHeader(header)).toMatchObject({ problem: { kind: 'checksum' } });
  });
});

describe('format: the snapshot', () => {
  it('decodes the golden v2 snapshot and encodes it back', () => {
    const content = {
      directoryId: DIR_ID,
      identity: { clusterId: 'prod', nodeId: 3 },
      lastSeq: 2,
      groups: new Map([[0, { currentTerm: 5, votedFor: 101 }]]),
      removed: new Map<number, number>(),
      floorTerm: 0,
    };
    expect(decodeSnapshot(utf8(GOLDEN_V2_SNAPSHOT))).toEqual({ version: 2, ...content });
    expect(text(encodeSnapshot(content))).toBe(GOLDEN_V2_SNAPSHOT);
    const bare = {
      directoryId: DIR_ID,
      identity: undefined,
      lastSeq: 0,
      groups: new Map(),
      removed: new Map(),
      floorTerm: 0,
    };
    expect(text(encodeSnapshot(bare))).toBe(GOLDEN_V2_SNAPSHOT_BARE);
    expect(decodeSnapshot(utf8(GOLDEN_V2_SNAPSHOT_BARE))).toEqual({ version: 2, ...bare });
  });

  it('decodes the golden v1 snapshot, which is what Metadata.toJSON still gives', () => {
    expect(decodeSnapshot(utf8(GOLDEN_V1_SNAPSHOT))).toEqual({
      version: 1,
      directoryId: undefined,
      identity: undefined,
      lastSeq: 2,
      groups: new Map([[0, { currentTerm: 5, votedFor: 101 }]]),
      removed: new Map(),
      floorTerm: 0,
    });
    expect(`${JSON.stringify(snapshotJsonV1({ currentTerm: 5, votedFor: 101, lastSeq: 2 }))}\n`).toBe(
      GOLDEN_V1_SNAPSHOT,
    );
  });

  it('a v1 snapshot at term 0 with no vote holds no group', () => {
    const json = JSON.stringify(snapshotJsonV1({ currentTerm: 0, votedFor: 0, lastSeq: 0 }));
    expect(decodeSnapshot(utf8(json))).toMatchObject({ version: 1, groups: new Map(), lastSeq: 0 });
  });

  it('keys in any order and free whitespace decode the same', () => {
    const object = JSON.parse(GOLDEN_V2_SNAPSHOT) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(object).reverse());
    expect(decodeSnapshot(utf8(JSON.stringify(reordered, null, 2)))).toEqual(
      decodeSnapshot(utf8(GOLDEN_V2_SNAPSHOT)),
    );
  });

  /** The golden v2 snapshot with `edit` applied and, when `fix`, its checksum recomputed. */
  function editedV2(edit: (o: Record<string, unknown>) => void, fix = true): Uint8Array {
    const o = JSON.parse(GOLDEN_V2_SNAPSHOT) as Record<string, unknown>;
    edit(o);
    if (fix) {
      const sum = crc32(
        utf8(
          JSON.stringify([
            'raft-metadata',
            2,
            o.directoryId,
            o.identity,
            o.lastSeq,
            o.nextLog,
            o.groups,
            o.removed,
          ]),
        ),
      );
      o.crc32 = sum.toString(16).padStart(8, '0');
    }
    return utf8(JSON.stringify(o));
  }

  it('the checksum covers the directory id, the identity, nextLog, groups and removed', () => {
    const edits: [string, (o: Record<string, unknown>) => void][] = [
      ['directoryId', (o) => (o.directoryId = OTHER_DIR_ID)],
      ['identity', (o) => (o.identity = { clusterId: 'prod', nodeId: 4 })],
      ['no identity', (o) => (o.identity = null)],
      ['lastSeq', (o) => (o.lastSeq = 3)],
      ['nextLog', (o) => (o.nextLog = 'log-0000000000000004.wal')],
      ['groups', (o) => (o.groups = [[0, 5, 102]])],
      ['removed', (o) => (o.removed = [[7, 2]])],
    ];
    for (const [what, edit] of edits) {
      expect(decodeSnapshot(editedV2(edit, false)), what).toEqual({
        offset: 0,
        problem: 'snapshot checksum mismatch',
      });
    }
  });

  it('refuses a whole snapshot whose fields do not hold together', () => {
    const cases: [string, (o: Record<string, unknown>) => void, string][] = [
      ['nextLog not after lastSeq', (o) => (o.nextLog = 'log-0000000000000004.wal'), 'nextLog'],
      ['a group both live and removed', (o) => (o.removed = [[0, 5]]), 'both live and removed'],
      ['a directory id that is not 32 hex digits', (o) => (o.directoryId = 'ABC'), 'directoryId'],
      [
        'an identity with an extra key',
        (o) => (o.identity = { clusterId: 'a', nodeId: 1, x: 1 }),
        'identity',
      ],
      [
        'groups out of order',
        (o) =>
          (o.groups = [
            [2, 1, 0],
            [1, 1, 0],
          ]),
        'ascending',
      ],
      ['a negative term', (o) => (o.groups = [[0, -1, 0]]), 'groups'],
      ['lastSeq not a count', (o) => (o.lastSeq = 1.5), 'lastSeq'],
    ];
    for (const [what, edit, says] of cases) {
      const decoded = decodeSnapshot(editedV2(edit));
      expect(decoded, what).toMatchObject({ offset: 0 });
      expect((decoded as { problem: string }).problem, what).toContain(says);
    }
  });

  it('refuses an unknown snapshot version', () => {
    expect(decodeSnapshot(editedV2((o) => (o.version = 3)))).toEqual({
      offset: 0,
      problem: 'unknown snapshot format version 3',
    });
  });
});
