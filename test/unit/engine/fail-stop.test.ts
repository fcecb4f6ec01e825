import { describe, expect, it } from 'vitest';
import type { FileHandle, FileSystem, OpenMode } from '../../../src/index.js';
import { Metadata, MetadataManager, NodeFileSystem } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

/** The real disk, except that chosen calls fail with a system error. */
class FailingDisk extends NodeFileSystem {
  failDurableWritesAfter = Number.POSITIVE_INFINITY;
  failSyncDir = false;
  failedCalls = 0;
  durableWrites = 0;

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await super.open(path, mode);
    const writeDurable = handle.writeDurable.bind(handle);
    handle.writeDurable = async (data, position) => {
      if (this.durableWrites++ >= this.failDurableWritesAfter) {
        this.failedCalls++;
        throw systemError('EIO', 'fdatasync', path);
      }
      return writeDurable(data, position);
    };
    return handle;
  }

  override async syncDir(dir: string): Promise<void> {
    if (this.failSyncDir) {
      this.failedCalls++;
      throw systemError('ENOSPC', 'fsync', dir);
    }
    return super.syncDir(dir);
  }
}

function systemError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: i/o error, ${syscall} '${path}'`), {
    code,
    syscall,
    path,
    errno: -5,
  });
}

describe('fail-stop', () => {
  it('an fsync failure rejects every pending update, refuses all later ones and is never retried', async () => {
    const dir = tempDir();
    const fs: FileSystem & FailingDisk = new FailingDisk();
    const manager = await MetadataManager.open(dir, { fs, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(1);
    await manager.updateVotedFor(3);
    fs.failDurableWritesAfter = fs.durableWrites;

    const pending = [manager.updateCurrentTerm(2), manager.updateVotedFor(4), manager.updateCurrentTerm(3)];
    const results = await Promise.allSettled(pending);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason;
      expect(reason).toMatchObject({
        code: 'ERR_MANAGER_FAILED',
        cause: { code: 'EIO', syscall: 'fdatasync' },
      });
    }
    expect(fs.failedCalls).toBe(1); // one failed write+fdatasync for the whole batch, no retry

    // Later calls are refused without touching the disk; get() shows the last durable state.
    await expect(manager.updateCurrentTerm(9)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    await expect(manager.sync()).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    expect(fs.failedCalls).toBe(1);
    expect(manager.get()).toMatchObject({ currentTerm: 1, votedFor: 3 });
    await manager.close();

    // What was acknowledged survives.
    expect(await Metadata.load(dir)).toMatchObject({ currentTerm: 1, votedFor: 3 });
  });

  it('a directory fsync failure during compaction stops the manager too', async () => {
    const dir = tempDir();
    const fs = new FailingDisk();
    const manager = await MetadataManager.open(dir, { fs, flushIntervalMs: 0 });
    await manager.updateCurrentTerm(5);
    fs.failSyncDir = true;
    await expect(manager.sync()).rejects.toMatchObject({
      code: 'ERR_MANAGER_FAILED',
      cause: { code: 'ENOSPC' },
    });
    await expect(manager.updateCurrentTerm(6)).rejects.toMatchObject({ code: 'ERR_MANAGER_FAILED' });
    await manager.close();
    expect((await Metadata.load(dir)).currentTerm).toBe(5);
  });

  it('a failed open releases the lock', async () => {
    const dir = tempDir();
    const fs = new FailingDisk();
    fs.failDurableWritesAfter = 0; // creating the first log fails
    await expect(MetadataManager.open(dir, { fs })).rejects.toMatchObject({ code: 'EIO' });
    const manager = await MetadataManager.open(dir);
    await manager.updateCurrentTerm(1);
    await manager.close();
  });
});
