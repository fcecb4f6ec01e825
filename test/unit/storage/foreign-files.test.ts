import { copyFileSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError, Metadata, MetadataManager } from '../../../src/index.js';
import { HEADER_SIZE, RECORD_SIZE } from '../../fixtures/log-bytes.js';
import { directoryContents, logFile, tempDir, writeAt } from '../../helpers.js';

/**
 * Issue 11, through the public API on real directories: files and records of another directory
 * put into ours (an operator restoring the wrong backup, copying the wrong node's file) are
 * refused with ERR_METADATA_CORRUPT and a message naming the file and what to do, never loaded as
 * ours; so is a directory whose logs were deleted after a compaction. A refusal changes nothing in
 * the directory: `Metadata.load` never writes, and a refused `MetadataManager.open` leaves every
 * file as it was (LOCK included: the directories here already have one, and the open names itself
 * in it only after recovery accepted the directory).
 */

/**
 * A node's directory as it is after a restart: a snapshot covering terms 1..`terms` (vote for
 * `vote` in the last), and the log after it holding `after` more terms.
 */
async function nodeDirectory(terms: number, vote: number, after: number): Promise<string> {
  const dir = tempDir('raft-node-');
  const first = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  for (let term = 1; term <= terms; term++) await first.updateCurrentTerm(term);
  await first.updateVotedFor(vote);
  await first.close();
  // The restart folds the log into the snapshot and starts the log after it.
  const second = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  for (let term = terms + 1; term <= terms + after; term++) await second.updateCurrentTerm(term);
  await second.close();
  return dir;
}

const wals = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.wal'));

interface Refusal {
  readonly code: string;
  readonly file: string;
  readonly offset: number;
  readonly message: string;
}

/**
 * Both entry points refuse `dir` with ERR_METADATA_CORRUPT and the same file/offset, and neither
 * changes a byte of it. Returns what `load` threw.
 */
async function expectRefused(dir: string): Promise<Refusal> {
  const before = directoryContents(dir);
  expect(before.LOCK).toBeDefined(); // so that "unchanged" includes LOCK, exactly
  const loaded = await Metadata.load(dir).then(
    (m) => m,
    (e: unknown) => e,
  );
  expect(loaded).toBeInstanceOf(CorruptionError);
  const err = loaded as CorruptionError;
  expect(err.code).toBe('ERR_METADATA_CORRUPT');
  expect(err.message).toContain(err.file);
  expect(directoryContents(dir)).toEqual(before);
  await expect(MetadataManager.open(dir, { flushIntervalMs: 0 })).rejects.toMatchObject({
    code: 'ERR_METADATA_CORRUPT',
    file: err.file,
    offset: err.offset,
  });
  expect(directoryContents(dir)).toEqual(before);
  // And again: a refusal is stable, nothing was set aside or "repaired" by the first one.
  await expect(Metadata.load(dir)).rejects.toMatchObject({ file: err.file, offset: err.offset });
  return { code: err.code, file: err.file, offset: err.offset, message: err.message };
}

describe('another node’s files in place of ours', () => {
  it('another node’s newest log under our log’s name: refused as belonging to another directory', async () => {
    const ours = await nodeDirectory(3, 1, 2);
    const theirs = await nodeDirectory(3, 2, 4);
    // Same history length: the same file name in both directories.
    expect(wals(ours)).toEqual(wals(theirs));
    const name = wals(ours)[0] as string;
    copyFileSync(join(theirs, name), join(ours, name));
    const refusal = await expectRefused(ours);
    expect(refusal.file).toBe(join(ours, name));
    expect(refusal.offset).toBe(24); // the directory id in the header
    expect(refusal.message).toContain('belongs to another directory');
    expect(refusal.message).toContain('metadata.json'); // what it was compared with
  });

  it('another node’s snapshot in place of ours: our log no longer matches it, and that is refused', async () => {
    const ours = await nodeDirectory(3, 1, 2);
    const theirs = await nodeDirectory(3, 2, 2);
    const snapshot = Metadata.genMetadataFilepath(ours);
    copyFileSync(Metadata.genMetadataFilepath(theirs), snapshot);
    // Loading it would return their vote (2 in term 3), a vote this node never cast.
    const refusal = await expectRefused(ours);
    // Recovery cannot tell which of the two files is the stranger: it trusts the snapshot and names
    // the log that disagrees with it, saying which file it compared it with and how to find out.
    expect(refusal.file).toBe(logFile(ours));
    expect(refusal.message).toContain('belongs to another directory');
    expect(refusal.message).toContain('metadata.json');
    expect(refusal.message).toContain('inspect');
  });

  it('another node’s snapshot and logs together (a whole directory swapped) still load: nothing to compare', async () => {
    // What identity protects against instead (test/unit/engine/open-options.test.ts): the directory
    // id only ties the files of one directory together.
    const ours = await nodeDirectory(3, 1, 2);
    const theirs = await nodeDirectory(3, 2, 2);
    for (const name of [...wals(theirs), 'metadata.json']) copyFileSync(join(theirs, name), join(ours, name));
    expect(await Metadata.load(ours)).toMatchObject({ currentTerm: 5, votedFor: 0 });
  });
});

describe('another directory’s records copied into our log', () => {
  /**
   * Our log (log-5: the snapshot covers terms 1..3 and the vote, seq 1..4) holds seq 5..6 (terms
   * 4..5); theirs, of the same name, holds seq 5..9 (terms 4..8) at the same offsets.
   */
  async function pair(): Promise<{ ours: string; theirs: string; ourLog: string; theirBytes: Buffer }> {
    const ours = await nodeDirectory(3, 1, 2);
    const theirs = await nodeDirectory(3, 1, 5);
    return { ours, theirs, ourLog: logFile(ours), theirBytes: readFileSync(logFile(theirs)) };
  }
  const slot = (i: number): number => HEADER_SIZE + i * RECORD_SIZE;

  it('over the zero tail right after our last record: refused at the first copied record, not a torn tail', async () => {
    const { ours, ourLog, theirBytes } = await pair();
    // Their records 7..9 (slots 2..4) continue our sequence exactly: only their owner differs.
    writeAt(ourLog, slot(2), theirBytes.subarray(slot(2), slot(5)));
    const refusal = await expectRefused(ours);
    expect(refusal).toMatchObject({ file: ourLog, offset: slot(2) });
    expect(refusal.message).toContain('record (seq 7) belongs to another directory');
  });

  it('over the end of our log (our last record replaced): refused at the replaced record', async () => {
    const { ours, ourLog, theirBytes } = await pair();
    writeAt(ourLog, slot(1), theirBytes.subarray(slot(1), slot(5)));
    const refusal = await expectRefused(ours);
    expect(refusal).toMatchObject({ file: ourLog, offset: slot(1) });
    expect(refusal.message).toContain('record (seq 6) belongs to another directory');
  });

  it('one record of theirs far past our last one, in the zeros: refused there', async () => {
    const { ours, ourLog, theirBytes } = await pair();
    writeAt(ourLog, slot(40), theirBytes.subarray(slot(4), slot(5)));
    const refusal = await expectRefused(ours);
    expect(refusal).toMatchObject({ file: ourLog, offset: slot(40) });
  });

  it('the same bytes rewritten for our directory would be replayed (the refusal is the owner, not the bytes)', async () => {
    // Control: a record of our own at the same place is the next update, not damage.
    const ours = await nodeDirectory(3, 1, 2);
    const manager = await MetadataManager.open(ours, { flushIntervalMs: 0 });
    await manager.updateCurrentTerm(6);
    await manager.close();
    expect((await Metadata.load(ours)).currentTerm).toBe(6);
  });
});

describe('every log deleted after a compaction', () => {
  it('the snapshot alone: refused, naming the missing log, never its older state', async () => {
    const dir = await nodeDirectory(3, 1, 2); // snapshot at term 3 (vote 1), then terms 4..5 in the log
    const [name] = wals(dir) as [string];
    unlinkSync(join(dir, name));
    const refusal = await expectRefused(dir);
    expect(refusal.file).toBe(Metadata.genMetadataFilepath(dir));
    expect(refusal.message).toContain(`log ${name} is missing`);
    // What an operator can do about it.
    expect(refusal.message).toMatch(/restore/);
  });

  it('the log missing right after a compaction that left it empty: refused the same way', async () => {
    // Nothing after the snapshot yet: the log it names is still required (it would hold what came next).
    const dir = await nodeDirectory(3, 1, 0);
    const [name] = wals(dir) as [string];
    unlinkSync(join(dir, name));
    const refusal = await expectRefused(dir);
    expect(refusal.message).toContain(`log ${name} is missing`);
  });
});
