/**
 * A FileSystem that forwards every call to another one and counts the durable ones. The benchmark
 * measures batch size (updates per fdatasync) with it, from outside the library: every
 * `writeDurable` is one write plus one fdatasync on the I/O thread. It also counts the bytes of
 * every handle write (`bytesWritten`: records, zero-fill, headers, snapshots; `bytesWrittenTemp`
 * the part written to files opened under a `.tmp` name: a new log's zeros and header, a snapshot
 * being written), which is all the library ever writes: it has no other write call.
 */
export class CountingFileSystem {
  #inner;
  /**
   * `writeDurable` counts every call; `writeDurableTemp` those on files opened under a `.tmp` name
   * (a new log being created and zero-filled, not records), so that records are written by
   * `writeDurable - writeDurableTemp` calls.
   */
  counts = {
    writeDurable: 0,
    writeDurableTemp: 0,
    datasync: 0,
    sync: 0,
    syncDir: 0,
    write: 0,
    bytesWritten: 0,
    bytesWrittenTemp: 0,
  };

  constructor(inner) {
    this.#inner = inner;
  }

  /** Every call that waits for stable storage (fdatasync or fsync of a file or a directory). */
  get durableCalls() {
    const c = this.counts;
    return c.writeDurable + c.datasync + c.sync + c.syncDir;
  }

  snapshot() {
    return { ...this.counts, durable: this.durableCalls };
  }

  async open(path, mode) {
    return new CountingFileHandle(await this.#inner.open(path, mode), this.counts, path.endsWith('.tmp'));
  }

  async openLocked(path) {
    const handle = await this.#inner.openLocked(path);
    return handle === undefined ? undefined : new CountingFileHandle(handle, this.counts, false);
  }

  probeLock(path) {
    return this.#inner.probeLock(path);
  }

  readFile(path) {
    return this.#inner.readFile(path);
  }

  rename(from, to) {
    return this.#inner.rename(from, to);
  }

  unlink(path) {
    return this.#inner.unlink(path);
  }

  readdir(dir) {
    return this.#inner.readdir(dir);
  }

  mkdir(dir) {
    return this.#inner.mkdir(dir);
  }

  syncDir(dir) {
    this.counts.syncDir++;
    return this.#inner.syncDir(dir);
  }

  stat(path) {
    return this.#inner.stat(path);
  }

  async dispose() {
    await this.#inner.dispose?.();
  }
}

class CountingFileHandle {
  #inner;
  #counts;
  #temp;

  constructor(inner, counts, temp) {
    this.#inner = inner;
    this.#counts = counts;
    this.#temp = temp;
  }

  read(buffer, offset, length, position) {
    return this.#inner.read(buffer, offset, length, position);
  }

  write(data, position) {
    this.#counts.write++;
    this.#countBytes(data.byteLength);
    return this.#inner.write(data, position);
  }

  writeDurable(data, position) {
    this.#counts.writeDurable++;
    if (this.#temp) this.#counts.writeDurableTemp++;
    this.#countBytes(data.byteLength);
    return this.#inner.writeDurable(data, position);
  }

  #countBytes(n) {
    this.#counts.bytesWritten += n;
    if (this.#temp) this.#counts.bytesWrittenTemp += n;
  }

  datasync() {
    this.#counts.datasync++;
    return this.#inner.datasync();
  }

  sync() {
    this.#counts.sync++;
    return this.#inner.sync();
  }

  size() {
    return this.#inner.size();
  }

  close() {
    return this.#inner.close();
  }
}
