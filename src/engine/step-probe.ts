import type { FileHandle, FileStat, FileSystem, LockProbe, OpenMode } from '../fs/types.js';
import type { FailureStage } from '../stats.js';

/** A compaction step that failed before it changed the directory (already reported), on its way out. */
export class AbandonedStep {
  constructor(readonly error: unknown) {}
}

/** A compaction step that failed after it changed the directory: fail-stop, with its stage. */
export class FatalStep {
  constructor(
    readonly error: unknown,
    readonly stage: FailureStage,
  ) {}
}

/**
 * The file system as one compaction step sees it, noting whether the step has changed the
 * directory in a way the state depends on: a rename that succeeded (a name now points at a new
 * file) or a directory fsync that was tried (whether or not it failed, the directory's blocks were
 * being written). Also the files it created (its temp files), for the cleanup of an abandoned step.
 * Every call goes to the real file system unchanged.
 */
export class StepProbe implements FileSystem {
  readonly #fs: FileSystem;
  changedDirectory = false;
  readonly created: string[] = [];

  constructor(fs: FileSystem) {
    this.#fs = fs;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.#fs.open(path, mode);
    if (mode === 'create') this.created.push(path);
    return handle;
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#fs.readFile(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#fs.rename(from, to);
    this.changedDirectory = true;
    const index = this.created.indexOf(from);
    if (index >= 0) this.created.splice(index, 1);
  }

  unlink(path: string): Promise<void> {
    return this.#fs.unlink(path);
  }

  readdir(dir: string): Promise<string[]> {
    return this.#fs.readdir(dir);
  }

  mkdir(dir: string): Promise<void> {
    return this.#fs.mkdir(dir);
  }

  syncDir(dir: string): Promise<void> {
    this.changedDirectory = true;
    return this.#fs.syncDir(dir);
  }

  stat(path: string): Promise<FileStat> {
    return this.#fs.stat(path);
  }

  openLocked(path: string): Promise<FileHandle | undefined> {
    return this.#fs.openLocked(path);
  }

  probeLock(path: string): Promise<LockProbe> {
    return this.#fs.probeLock(path);
  }
}
