/**
 * The only file-system operations raft-metadata performs.
 *
 * Every byte the library reads or writes goes through a {@link FileSystem}: the default is the real
 * disk ({@link NodeFileSystem}); tests pass a simulated disk that loses unsynced data, tears writes
 * and fails syscalls (`raft-metadata/testing`). The interface is deliberately narrow and says, per
 * call, what it makes durable and what it does not. An implementation must keep these contracts:
 * the library's crash safety is argued from them and from nothing else.
 *
 * Durability model (what the library assumes of a real disk, ext4/xfs-like):
 * - `write` puts bytes in the page cache only. A crash may keep all, none, or a prefix (cut at a
 *   sector boundary) of every write that was not followed by a `datasync`/`sync` of that file.
 * - `datasync`/`sync` of a file make all its written bytes (and its size) durable.
 * - Creating, renaming and unlinking a name is durable only after `syncDir` of the directory that
 *   holds the name.
 * - Every method rejects with a Node-style system error (`code`, `syscall`, `path`) on failure.
 */
export interface FileSystem {
  /**
   * Opens a file. `read`: existing file, read-only. `create`: creates the file, failing with
   * `EEXIST` if it exists (O_CREAT|O_EXCL), read-write. `write`: existing file, read-write.
   * Creating a file does not make its name durable: call {@link FileSystem.syncDir}.
   */
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  /** Reads a whole file. Rejects with `ENOENT` if it does not exist. */
  readFile(path: string): Promise<Uint8Array>;
  /** Atomically replaces `to` with `from` (rename(2)). Durable only after `syncDir`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a name. Durable only after `syncDir`. */
  unlink(path: string): Promise<void>;
  /** Lists the names in a directory (not `.` and `..`). Rejects with `ENOENT` if it is missing. */
  readdir(dir: string): Promise<string[]>;
  /** Creates one directory level; rejects with `EEXIST` if it exists. Durable after `syncDir` of its parent. */
  mkdir(dir: string): Promise<void>;
  /** fsync(2) of a directory: makes the creations, renames and unlinks of its names durable. */
  syncDir(dir: string): Promise<void>;
  /** Size and kind of a path, or `ENOENT`. */
  stat(path: string): Promise<FileStat>;
  /**
   * Opens `path` read-write, creating it if it is missing (O_CREAT without O_EXCL: the new name is
   * durable only after `syncDir`), and takes an exclusive kernel lock on this open file description
   * without waiting (flock(2) `LOCK_EX|LOCK_NB`). Resolves with the handle, or `undefined` when
   * another open file description holds a lock on the file: another process, another thread, or
   * this thread through another open, whatever path led to the file. Closing the handle releases
   * the lock; the kernel releases it when the process dies. The lock is advisory: it binds only
   * code that asks for it, and says nothing about the file's content.
   * Rejects with a system error whose `syscall` is `'flock'` when the lock cannot be had at all
   * (`ENOLCK`, `EOPNOTSUPP`, `EINVAL` from a file system without locks; `ENOSYS` where the native
   * module is missing), after closing what it opened.
   */
  openLocked(path: string): Promise<FileHandle | undefined>;
  /**
   * Whether some open file description holds an exclusive lock on `path` ({@link openLocked}),
   * `'missing'` if there is no such file. Never creates or changes the file. On the real disk this
   * takes and drops a shared lock (flock `LOCK_SH|LOCK_NB`): an `openLocked` racing with the probe
   * may see the file locked for that instant, and retries.
   */
  probeLock(path: string): Promise<LockProbe>;
  /**
   * Releases resources held by the implementation (for {@link NodeFileSystem}, stops its I/O thread
   * now; it also stops by itself once the instance's last open handle is closed). For the owner of
   * the instance to call; the library never disposes a file system it was given, and the shared
   * default one needs no dispose (its thread stops when its last manager closes).
   */
  dispose?(): Promise<void>;
}

/** What {@link FileSystem.probeLock} saw. */
export type LockProbe = 'free' | 'held' | 'missing';

/** How {@link FileSystem.open} opens a file. */
export type OpenMode = 'read' | 'create' | 'write';

/** What {@link FileSystem.stat} reports. */
export interface FileStat {
  readonly size: number;
  readonly isFile: boolean;
  readonly isDirectory: boolean;
}

/** An open file. Positions are absolute byte offsets; no call moves a file pointer. */
export interface FileHandle {
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; returns how many were read (0 at EOF). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `data` at `position` (the file grows if needed). Not durable until `datasync`/`sync`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /**
   * Writes all of `data` at `position`, then fdatasync(2)s the file: resolves only when the bytes
   * are on stable storage. On rejection, any part of `data` may or may not have reached the disk.
   * Same effect as `write` then `datasync`, offered as one call so that the hot path costs one
   * round trip to the I/O thread instead of two.
   */
  writeDurable(data: Uint8Array, position: number): Promise<void>;
  /** fdatasync(2): written bytes and the file size become durable. */
  datasync(): Promise<void>;
  /** fsync(2): like `datasync`, plus all other metadata. */
  sync(): Promise<void>;
  /** Current size of the file in bytes. */
  size(): Promise<number>;
  /** Closes the handle. Unsynced data stays unsynced: closing is not a sync. */
  close(): Promise<void>;
}
