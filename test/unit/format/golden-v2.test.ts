import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DirectoryId } from '../../../src/format/directory-id.js';
import {
  decodeHeader,
  encodeHeader,
  LAYOUT_V2,
  RecordDecoder,
  RecordEncoder,
} from '../../../src/format/record.js';
import { decodeSnapshot, encodeSnapshot } from '../../../src/format/snapshot-codec.js';

/** The golden bytes of docs/format.md, read from the page itself, so the page and the code cannot drift. */
const page = readFileSync(join(import.meta.dirname, '../../../docs/format.md'), 'utf8');

function hexDump(after: string): Uint8Array {
  const block = page.slice(page.indexOf(after)).split('```')[1] ?? '';
  const bytes: number[] = [];
  for (const line of block.split('\n')) {
    const m = /^[0-9a-f]{8} {2}((?:[0-9a-f]{2} ?){16})/.exec(line); // full lines: the last one shows where the zeros begin
    if (m?.[1]) for (const b of m[1].trim().split(' ')) bytes.push(Number.parseInt(b, 16));
  }
  return Uint8Array.from(bytes);
}

const ID = '00112233445566778899aabbccddeeff' as DirectoryId;

describe('format v2 golden bytes (docs/format.md)', () => {
  const log = hexDump('### Example');

  it('the header decodes: version 2, no sequence number (the name has it), the directory id', () => {
    expect(log.byteLength).toBe(48 * 3);
    const header = decodeHeader(log);
    // Written before the header recorded its created size: bytes 16..23 are zero, no size.
    expect(header).toEqual({
      layout: LAYOUT_V2,
      firstSeq: undefined,
      directoryId: ID,
      createdSize: undefined,
    });
  });

  it('the header as this version writes it: the created size at byte 16, encoded back byte for byte', () => {
    const header = hexDump('as this version writes it');
    expect(header.byteLength).toBe(48);
    expect(decodeHeader(header)).toEqual({
      layout: LAYOUT_V2,
      firstSeq: undefined,
      directoryId: ID,
      createdSize: 262_176,
    });
    expect(encodeHeader(ID, 262_176)).toEqual(header);
  });

  it('the records decode and encode back byte for byte', () => {
    const decoder = new RecordDecoder({ layout: LAYOUT_V2, directoryId: ID });
    const encoder = new RecordEncoder(ID);
    const first = decoder.decode(log.subarray(48, 96));
    const second = decoder.decode(log.subarray(96, 144));
    expect(first).toEqual({
      type: 'record',
      record: { kind: 'term', batchIndex: 0, seq: 1, group: 0, currentTerm: 5, votedFor: 0 },
    });
    expect(second).toEqual({
      type: 'record',
      record: { kind: 'vote', batchIndex: 0, seq: 2, group: 0, currentTerm: 5, votedFor: 101 },
    });
    if (first.type !== 'record' || second.type !== 'record') throw new Error('unreachable');
    expect(encoder.encode(first.record)).toEqual(log.subarray(48, 96));
    expect(encoder.encode(second.record)).toEqual(log.subarray(96, 144));
  });

  it('the same records read under another directory id are foreign, not torn', () => {
    const other = new RecordDecoder({
      layout: LAYOUT_V2,
      directoryId: 'ffeeddccbbaa99887766554433221100' as DirectoryId,
    });
    expect(other.decode(log.subarray(48, 96))).toEqual({ type: 'foreign', seq: 1 });
  });

  it('the snapshot decodes and encodes back', () => {
    const text =
      page
        .slice(page.indexOf('## Snapshot (`metadata.json`, version 2)'))
        .split('```json\n')[1]
        ?.split('\n')[0] ?? '';
    const decoded = decodeSnapshot(new TextEncoder().encode(text));
    expect(decoded).toEqual({
      version: 2,
      directoryId: ID,
      identity: { clusterId: 'prod-eu', nodeId: 3 },
      lastSeq: 2,
      groups: new Map([[0, { currentTerm: 5, votedFor: 101 }]]),
      removed: new Map(),
      floorTerm: 0,
    });
    if ('problem' in decoded) throw new Error('unreachable');
    expect(new TextDecoder().decode(encodeSnapshot({ ...decoded, directoryId: ID }))).toBe(`${text}\n`);
  });
});
