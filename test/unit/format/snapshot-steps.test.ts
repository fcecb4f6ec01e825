import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DirectoryId } from '../../../src/format/directory-id.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  encodeSnapshotInSteps,
  mapRows,
  type SnapshotToWrite,
} from '../../../src/format/snapshot-codec.js';

/** encodeSnapshotInSteps of the same content, its Maps read as rows. */
function inSteps(content: SnapshotToWrite): Promise<Uint8Array> {
  return encodeSnapshotInSteps({
    ...content,
    groups: mapRows(content.groups),
    removed: mapRows(content.removed),
  });
}

const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const id = fc.stringMatching(/^[0-9a-f]{32}$/).map((s) => s as DirectoryId);
const identity = fc.option(
  fc.record({
    clusterId: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.nat()),
    nodeId: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.nat()),
  }),
  { nil: undefined },
);

describe('encodeSnapshotInSteps (the compactor encodes big snapshots a few thousand groups at a time)', () => {
  it('gives exactly the bytes of encodeSnapshot, and they decode back', async () => {
    await fc.assert(
      fc.asyncProperty(
        id,
        identity,
        count,
        fc.uniqueArray(fc.tuple(count, count, count), { selector: (r) => r[0], maxLength: 50 }),
        fc.uniqueArray(fc.tuple(count, count), { selector: (r) => r[0], maxLength: 20 }),
        fc.oneof(fc.constant(0), count),
        async (directoryId, who, lastSeq, groupRows, removedRows, floorTerm) => {
          const removed = new Map(
            removedRows.filter(([g]) => !groupRows.some((r) => r[0] === g)).map(([g, t]) => [g, t]),
          );
          const content = {
            directoryId,
            identity: who,
            lastSeq: Math.min(lastSeq, Number.MAX_SAFE_INTEGER - 1),
            groups: new Map(groupRows.map(([g, t, v]) => [g, { currentTerm: t, votedFor: v }])),
            removed,
            floorTerm,
          };
          const steps = await inSteps(content);
          expect(new TextDecoder().decode(steps)).toBe(new TextDecoder().decode(encodeSnapshot(content)));
          const decoded = decodeSnapshot(steps);
          expect(decoded).toMatchObject({ version: 2, directoryId, lastSeq: content.lastSeq, floorTerm });
        },
      ),
    );
  });

  it('the same for rows of the largest numbers, whatever the buffer has left when a row starts', async () => {
    const max = Number.MAX_SAFE_INTEGER;
    for (const rows of [1, 2, 3, 5, 17, 100, 2049, 4100]) {
      // Ids near the top too, so that every row is as long as a row can be (53 bytes with its comma).
      const groups = new Map(
        Array.from({ length: rows }, (_, i) => [max - i, { currentTerm: max, votedFor: max }]),
      );
      const removed = new Map(Array.from({ length: rows }, (_, i) => [max - rows - i, max]));
      const content = {
        directoryId: '0123456789abcdef0123456789abcdef' as DirectoryId,
        identity: undefined,
        lastSeq: max - 1,
        groups,
        removed,
        floorTerm: 0,
      };
      expect(new TextDecoder().decode(await inSteps(content))).toBe(
        new TextDecoder().decode(encodeSnapshot(content)),
      );
    }
  });

  it('the same for 20,000 groups (several steps)', async () => {
    const groups = new Map(
      Array.from({ length: 20_000 }, (_, i) => [i * 7, { currentTerm: i, votedFor: i % 5 }]),
    );
    const content = {
      directoryId: '0123456789abcdef0123456789abcdef' as DirectoryId,
      identity: { clusterId: 'c', nodeId: 4 },
      lastSeq: 123_456,
      groups,
      removed: new Map([[3, 9]]),
      floorTerm: 17,
    };
    expect(await inSteps(content)).toEqual(encodeSnapshot(content));
  });
});
