import { join } from 'node:path';
import { hasErrno } from '../errors.js';
import type { DirectoryId } from '../format/directory-id.js';
import { logName, SPARE_LOG_NAME } from '../format/names.js';
import {
  CURRENT_LAYOUT,
  encodeHeader,
  type LogRecord,
  MAX_BATCH_RECORDS,
  RecordEncoder,
  viewOf,
} from '../format/record.js';
import type { FileHandle, FileSystem } from '../fs/types.js';

const HEADER_SIZE = CURRENT_LAYOUT.headerSize;
const RECORD_SIZE = CURRENT_LAYOUT.recordSize;

/** Zeros written ahead of the records, so that appends overwrite in place (see docs/performance.md). */
export const PREALLOCATE_BYTES = Math.floor((256 * 1024) / RECORD_SIZE) * RECORD_SIZE; // 5461 records, 262,128 bytes

/**
 * Appends records to one log file (format version 2, see format/record.ts) and makes them durable. Not reentrant: the manager calls
 * {@link LogWriter.append} with one batch at a time.
 *
 * The file is zero-filled ahead of the write position. A record overwriting zeros changes no
 * metadata, so its fdatasync flushes one data block and no inode; the reader takes the first
 * all-zero slot as the end. When a batch would pass the zeros, the same write extends the file by
 * another stretch of zeros, and that one fdatasync also persists the new size.
 */
export class LogWriter {
  readonly path: string;
  readonly firstSeq: number;
  readonly #encoder: RecordEncoder;
  #handle: FileHandle;
  #offset: number;
  #allocated: number;
  /** Zeros added past the end of the records when a write would pass the preallocated ones. */
  readonly #growBytes: number;
  /**
   * The directory fsync that makes this log's name durable, while it is still running (see
   * {@link PreparedLog.commit}): no append to this log is acknowledged before it is done.
   */
  #nameDurable: Promise<void> | undefined;

  private constructor(
    path: string,
    firstSeq: number,
    directoryId: DirectoryId,
    handle: FileHandle,
    offset: number,
    allocated: number,
    growBytes: number,
  ) {
    this.path = path;
    this.firstSeq = firstSeq;
    this.#encoder = new RecordEncoder(directoryId);
    this.#growBytes = Math.max(RECORD_SIZE, growBytes - (growBytes % RECORD_SIZE));
    this.#handle = handle;
    this.#offset = offset;
    this.#allocated = allocated;
  }

  /** Byte offset where the next record goes (the end of the valid records). */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes of records in this log, header excluded. */
  get recordBytes(): number {
    return this.#offset - HEADER_SIZE;
  }

  /**
   * Creates `log-<firstSeq>.wal` in `dir`, durable and empty, ready for appends, with
   * `preallocate` bytes of zeros after the header. The file appears under its final name only once
   * its header is on disk, so a log never lacks its header. (The same steps as {@link LogWriter.prepare}
   * then {@link PreparedLog.commit}, without a spare file in between.)
   */
  static async create(
    fs: FileSystem,
    dir: string,
    firstSeq: number,
    directoryId: DirectoryId,
    preallocate: number = PREALLOCATE_BYTES,
  ): Promise<LogWriter> {
    const path = join(dir, logName(firstSeq));
    const temp = `${path}.tmp`;
    await removeStale(fs, temp);
    const handle = await fs.open(temp, 'create');
    try {
      const initial = new Uint8Array(HEADER_SIZE + preallocate);
      // The header records the file's size at creation: the reader refuses a log cut shorter.
      initial.set(encodeHeader(directoryId, initial.byteLength), 0);
      // Crash before this fdatasync: the temp file is partial or missing; the reader ignores
      // `.tmp` files and the next creation replaces it. No record was written yet.
      await handle.writeDurable(initial, 0);
      // Crash before syncDir: the directory holds the temp name or the new name (rename is atomic),
      // either way a complete empty log or nothing. Nothing is acknowledged until the manager
      // has this writer, i.e. after syncDir.
      await fs.rename(temp, path);
      await fs.syncDir(dir);
    } finally {
      await handle.close();
    }
    // Reopened under its final name, so that errors name the file an operator will find.
    return LogWriter.reopen(fs, dir, firstSeq, directoryId, HEADER_SIZE, preallocate);
  }

  /**
   * The slow half of a new log, done ahead of time while appends go on to the current log: a spare
   * file (`log-next.wal.tmp`) holding the header (the directory's; a version-2 header names no
   * sequence number) and `preallocate` bytes of zeros, fsynced. {@link PreparedLog.commit} then only
   * renames it and fsyncs the directory: that is all the compactor does while appends wait.
   */
  static async prepare(
    fs: FileSystem,
    dir: string,
    directoryId: DirectoryId,
    preallocate: number,
  ): Promise<PreparedLog> {
    const temp = join(dir, SPARE_LOG_NAME);
    await removeStale(fs, temp);
    const handle = await fs.open(temp, 'create');
    try {
      // Crash before or after this fsync: a spare of zeros under a `.tmp` name, which the reader
      // ignores and the next prepare replaces. A plain write and fsync (libuv's thread pool), not
      // writeDurable: the I/O thread stays free for the appends that go on meanwhile.
      const initial = new Uint8Array(HEADER_SIZE + preallocate);
      initial.set(encodeHeader(directoryId, initial.byteLength), 0);
      await handle.write(initial, 0);
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    return new PreparedLog(fs, dir, temp, handle, directoryId, preallocate);
  }

  /**
   * {@link prepare} in steps, for a spare made in the background between compactions: the header
   * and zeros go in chunks, each written then fdatasynced on libuv's pool, with a pause between
   * chunks as `pacer` says, so that the disk sees a stream of small flushes beside the appends'
   * fdatasyncs instead of one burst of the whole file. Undefined when `pacer` was cancelled (the
   * manager closes): the partial spare is closed, for the closer to remove.
   *
   * Crash anywhere in here: a `.tmp` file holding a prefix of the header and zeros, which the
   * reader ignores and the next prepare replaces.
   */
  static async prepareInSteps(
    fs: FileSystem,
    dir: string,
    directoryId: DirectoryId,
    preallocate: number,
    pacer: ZeroPacer,
  ): Promise<PreparedLog | undefined> {
    const temp = join(dir, SPARE_LOG_NAME);
    await removeStale(fs, temp);
    const handle = await fs.open(temp, 'create');
    try {
      const size = HEADER_SIZE + preallocate;
      for (let at = 0; at < size; at += ZERO_CHUNK_BYTES) {
        if (at > 0) await pacer.pause();
        if (pacer.cancelled) {
          await handle.close();
          return undefined;
        }
        const length = Math.min(ZERO_CHUNK_BYTES, size - at);
        if (at === 0) {
          const first = new Uint8Array(length);
          first.set(encodeHeader(directoryId, size), 0);
          await handle.write(first, 0);
        } else {
          await handle.write(ZERO_CHUNK.subarray(0, length), at);
        }
        // fdatasync: each chunk's blocks and the file's new size are on disk before the next.
        await handle.datasync();
      }
      return new PreparedLog(fs, dir, temp, handle, directoryId, preallocate);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Reopens an existing clean version-2 log of `directoryId` to append after its last record at
   * `offset`. `known.size`: the file's size when the caller made it (a spare), so no fstat.
   */
  static async reopen(
    fs: FileSystem,
    dir: string,
    firstSeq: number,
    directoryId: DirectoryId,
    offset: number,
    growBytes: number = PREALLOCATE_BYTES,
    known?: { readonly size: number },
  ): Promise<LogWriter> {
    const path = join(dir, logName(firstSeq));
    const handle = await fs.open(path, 'write');
    try {
      const size = known?.size ?? (await handle.size());
      return new LogWriter(path, firstSeq, directoryId, handle, offset, size, growBytes);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Writes `records` at the end of the log in one write (two or more only past 65535 records) and
   * fdatasyncs. Resolves when they are durable; on rejection the manager must stop (fail-stop).
   */
  async append(records: readonly LogRecord[]): Promise<void> {
    for (let start = 0; start < records.length; start += MAX_BATCH_RECORDS) {
      const part = records.slice(start, start + MAX_BATCH_RECORDS);
      const bytes = part.length * RECORD_SIZE;
      const end = this.#offset + bytes;
      const grow = end > this.#allocated ? end - this.#allocated + this.#growBytes : 0;
      const buffer = new Uint8Array(bytes + grow);
      const view = viewOf(buffer);
      for (let i = 0; i < part.length; i++) {
        const record = part[i];
        if (record === undefined) continue;
        this.#encoder.encodeAt(buffer, view, i * RECORD_SIZE, record, i);
      }
      // Crash before this write+fdatasync completes: some prefix of the batch (cut at a sector) may be
      // on disk, the rest is zeros. The reader treats that as a torn tail (every record in it has a
      // batch index pointing into this same write) and drops it; none of these records was
      // acknowledged, because the promises resolve only after this call returns.
      if (this.#nameDurable === undefined) {
        await this.#handle.writeDurable(buffer, this.#offset);
      } else {
        // The log's name may not be durable yet: its records are acknowledged only once it is (a
        // crash before that may lose the name, and with it records nobody was told about).
        await Promise.all([this.#handle.writeDurable(buffer, this.#offset), this.#nameDurable]);
        this.#nameDurable = undefined;
      }
      this.#offset = end;
      if (grow > 0) this.#allocated = end + this.#growBytes;
    }
  }

  /** Resolves once this log's name is durable (at once unless {@link PreparedLog.commit} made it). */
  nameDurable(): Promise<void> {
    return this.#nameDurable ?? Promise.resolve();
  }

  /** @internal PreparedLog.commit: the directory fsync still running for this log's name. */
  awaitName(synced: Promise<void>): void {
    this.#nameDurable = synced;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/**
 * Bytes of a spare written (and fdatasynced) at a time by {@link LogWriter.prepareInSteps}. Each
 * chunk grows a new file, so its fdatasync also commits the file system's journal: with 128 KiB
 * chunks (64 commits for an 8 MiB spare) bursts of 10,000 updates ran at a fifth of their rate in
 * the bench; at 1 MiB they ran as fast as with the spare made inside the compaction.
 */
const ZERO_CHUNK_BYTES = 1024 * 1024;
const ZERO_CHUNK = new Uint8Array(ZERO_CHUNK_BYTES);

/**
 * The pace of a spare's preparation in steps: a pause between chunks, so that its fdatasyncs are
 * spread between the appends' ones instead of arriving as one burst, until {@link hurry} (a
 * compaction needs the spare now), after which there is no pause; or {@link cancel} (the manager
 * closes: the spare is not needed). A pause of 0 is one turn of the event loop (setImmediate).
 */
export class ZeroPacer {
  readonly #pauseMs: number;
  #hurried = false;
  #cancelled = false;
  #wake: (() => void) | undefined;

  constructor(pauseMs: number) {
    this.#pauseMs = pauseMs;
  }

  pause(): Promise<void> {
    if (this.#hurried) return Promise.resolve();
    if (this.#pauseMs <= 0) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, this.#pauseMs);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  hurry(): void {
    this.#hurried = true;
    this.#wake?.();
  }

  /** Stops the preparation at the next chunk (the manager is closing; the spare is not needed). */
  cancel(): void {
    this.#cancelled = true;
    this.hurry();
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }
}

/** The spare a compaction prepares ahead of time: see {@link LogWriter.prepare}. */
export class PreparedLog {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #temp: string;
  readonly #handle: FileHandle;
  readonly #directoryId: DirectoryId;
  readonly #preallocate: number;

  constructor(
    fs: FileSystem,
    dir: string,
    temp: string,
    handle: FileHandle,
    directoryId: DirectoryId,
    preallocate: number,
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.#temp = temp;
    this.#handle = handle;
    this.#directoryId = directoryId;
    this.#preallocate = preallocate;
  }

  /**
   * Makes the spare the log `log-<firstSeq>.wal`: rename, directory fsync (its header is on disk
   * already). `fs` is the file system the steps go through (the compactor's step probe).
   */
  async commit(fs: FileSystem, firstSeq: number): Promise<LogWriter> {
    const path = join(this.#dir, logName(firstSeq));
    try {
      // The header and the zeros were fsynced by prepare(): the file has its header before its name.
      await fs.rename(this.#temp, path);
    } catch (err) {
      await this.#handle.close().catch(() => {});
      throw err;
    }
    // Appends are held meanwhile: the spare's descriptor closes while the log is reopened under its
    // name, and the size is known (the spare's), so no fstat.
    const [closed, reopened] = await Promise.allSettled([
      this.#handle.close(),
      LogWriter.reopen(this.#fs, this.#dir, firstSeq, this.#directoryId, HEADER_SIZE, this.#preallocate, {
        size: HEADER_SIZE + this.#preallocate,
      }),
    ]);
    if (closed.status === 'rejected') {
      if (reopened.status === 'fulfilled') await reopened.value.close().catch(() => {});
      throw closed.reason;
    }
    if (reopened.status === 'rejected') throw reopened.reason;
    const writer = reopened.value;
    // The directory fsync runs while appends to the new log begin. Crash before it is done: the
    // directory lists the spare's temp name or the new log (rename is atomic), a complete log either
    // way; records appended to it meanwhile are not acknowledged until it is done (append waits for
    // it), and the compactor writes no snapshot naming the log before it is done.
    const synced = fs.syncDir(this.#dir);
    synced.catch(() => {}); // observed by append() and by the compactor; never unhandled
    writer.awaitName(synced);
    return writer;
  }

  /** Drops the spare (best effort: the reader ignores it anyway). */
  async discard(): Promise<void> {
    await this.#handle.close().catch(() => {});
    await this.#fs.unlink(this.#temp).catch(() => {});
  }
}

async function removeStale(fs: FileSystem, path: string): Promise<void> {
  // A temp file left by an earlier crash is garbage (the reader never looks at it): replace it.
  await fs.unlink(path).catch((err: unknown) => {
    if (!hasErrno(err, 'ENOENT')) throw err;
  });
}
