import { join } from 'node:path';
import { hasErrno } from '../errors.js';
import type { DirectoryId } from '../format/directory-id.js';
import { logName } from '../format/names.js';
import {
  CURRENT_LAYOUT,
  encodeHeader,
  type LogRecord,
  MAX_BATCH_RECORDS,
  RecordEncoder,
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

  private constructor(
    path: string,
    firstSeq: number,
    directoryId: DirectoryId,
    handle: FileHandle,
    offset: number,
    allocated: number,
  ) {
    this.path = path;
    this.firstSeq = firstSeq;
    this.#encoder = new RecordEncoder(directoryId);
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
   * Creates `log-<firstSeq>.wal` in `dir`, durable and empty, ready for appends. The file appears
   * under its final name only once its header is on disk, so a log never lacks its header.
   */
  static async create(
    fs: FileSystem,
    dir: string,
    firstSeq: number,
    directoryId: DirectoryId,
  ): Promise<LogWriter> {
    const path = join(dir, logName(firstSeq));
    const temp = `${path}.tmp`;
    await fs.unlink(temp).catch((err: unknown) => {
      if (!hasErrno(err, 'ENOENT')) throw err;
    });
    const handle = await fs.open(temp, 'create');
    try {
      const initial = new Uint8Array(HEADER_SIZE + PREALLOCATE_BYTES);
      initial.set(encodeHeader(firstSeq, directoryId), 0);
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
    return LogWriter.reopen(fs, dir, firstSeq, directoryId, HEADER_SIZE);
  }

  /**
   * Reopens an existing clean version-2 log of `directoryId` to append after its last record at
   * `offset`.
   */
  static async reopen(
    fs: FileSystem,
    dir: string,
    firstSeq: number,
    directoryId: DirectoryId,
    offset: number,
  ): Promise<LogWriter> {
    const path = join(dir, logName(firstSeq));
    const handle = await fs.open(path, 'write');
    try {
      const size = await handle.size();
      return new LogWriter(path, firstSeq, directoryId, handle, offset, size);
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
      const grow = end > this.#allocated ? end - this.#allocated + PREALLOCATE_BYTES : 0;
      const buffer = new Uint8Array(bytes + grow);
      for (let i = 0; i < part.length; i++) {
        const record = part[i];
        if (record === undefined) continue;
        this.#encoder.encodeInto(buffer, i * RECORD_SIZE, { ...record, batchIndex: i });
      }
      // Crash before this write+fdatasync completes: some prefix of the batch (cut at a sector) may be
      // on disk, the rest is zeros. The reader treats that as a torn tail (every record in it has a
      // batch index pointing into this same write) and drops it; none of these records was
      // acknowledged, because the promises resolve only after this call returns.
      await this.#handle.writeDurable(buffer, this.#offset);
      this.#offset = end;
      if (grow > 0) this.#allocated = end + PREALLOCATE_BYTES;
    }
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
