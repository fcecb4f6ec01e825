import { describe, expect, it } from 'vitest';
import {
  countCrashPlans,
  dropAllPlan,
  enumerateCrashPlans,
  keepAllPlan,
  SimulatedDisk,
} from '../../../src/testing/index.js';
import { tornPointsOf } from '../../../src/testing/sim/crash.js';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const show = (b: Uint8Array | undefined): string | undefined => (b ? new TextDecoder().decode(b) : undefined);

/** A disk with a durable directory /d. */
function diskWithDir(options: ConstructorParameters<typeof SimulatedDisk>[0] = {}): SimulatedDisk {
  const disk = new SimulatedDisk(options);
  disk.mkdirp('/d');
  return disk;
}

/** Creates /d/<name> with `data`, all durable (file synced, directory synced). */
async function durableFile(disk: SimulatedDisk, name: string, data: Uint8Array): Promise<void> {
  const h = await disk.open(`/d/${name}`, 'create');
  await h.writeDurable(data, 0);
  await h.close();
  await disk.syncDir('/d');
}

describe('SimulatedDisk: what a crash keeps', () => {
  it('loses an unsynced write when the crash drops it, keeps it when the crash keeps it', async () => {
    const disk = diskWithDir();
    await durableFile(disk, 'f', text('old!'));
    const h = await disk.open('/d/f', 'write');
    await h.write(text('new'), 0);
    expect(show(disk.readCurrent('/d/f'))).toBe('new!');
    expect(show(disk.readDurable('/d/f'))).toBe('old!');
    expect(disk.pending().writes).toHaveLength(1);

    const dropped = disk.stateAt(disk.trace.length).crashWith(dropAllPlan(disk.pending()));
    expect(show(dropped.readCurrent('/d/f'))).toBe('old!');
    const kept = disk.crashWith(keepAllPlan(disk.pending()));
    expect(show(kept.readCurrent('/d/f'))).toBe('new!');
  });

  it('keeps what datasync, sync and writeDurable made durable, whatever the crash does', async () => {
    const disk = diskWithDir();
    await durableFile(disk, 'a', text('A'));
    const h = await disk.open('/d/a', 'write');
    await h.write(text('B'), 1);
    await h.datasync();
    await h.write(text('C'), 2);
    await h.sync();
    expect(disk.pending().writes).toHaveLength(0);
    for (const plan of enumerateCrashPlans(disk.pending())) {
      expect(show(disk.stateAt(disk.trace.length).crashWith(plan).readCurrent('/d/a'))).toBe('ABC');
    }
  });

  it('tears a write at sector boundaries counted from the start of the file', async () => {
    expect(tornPointsOf(100, 1200)).toEqual([512, 1024]);
    expect(tornPointsOf(0, 512)).toEqual([]);
    expect(tornPointsOf(480, 32)).toEqual([]);
    const disk = diskWithDir();
    await durableFile(disk, 'f', new Uint8Array(0));
    const h = await disk.open('/d/f', 'write');
    await h.write(bytes(1200, 7), 100);
    const [write] = disk.pending().writes;
    expect(write).toMatchObject({ position: 100, length: 1200, tornPoints: [512, 1024] });
    const torn = disk.crashWith({ writes: [{ tornAt: 1024 }], dirOps: [] });
    const after = torn.readCurrent('/d/f');
    // The kept prefix reaches offset 1024; the gap before the write reads as zeros.
    expect(after.byteLength).toBe(1024);
    expect(after.subarray(0, 100).every((b) => b === 0)).toBe(true);
    expect(after.subarray(100).every((b) => b === 7)).toBe(true);
  });

  it('forgets a created file whose directory was not synced, and keeps it once it was', async () => {
    const disk = diskWithDir();
    const h = await disk.open('/d/new', 'create');
    await h.writeDurable(text('data'), 0);
    expect(disk.durableFiles()).toEqual([]);
    const lost = disk.stateAt(disk.trace.length).crashWith(dropAllPlan(disk.pending()));
    expect(lost.files()).toEqual([]);
    await disk.syncDir('/d');
    expect(disk.durableFiles()).toEqual(['/d/new']);
    const kept = disk.crashWith(dropAllPlan(disk.pending()));
    expect(show(kept.readCurrent('/d/new'))).toBe('data');
  });

  it('an unsynced rename that is lost leaves the old name, and the replaced file, in place', async () => {
    const disk = diskWithDir();
    await durableFile(disk, 'metadata.json', text('old snapshot'));
    await durableFile(disk, 'metadata.json.tmp', text('new snapshot'));
    await disk.rename('/d/metadata.json.tmp', '/d/metadata.json');
    expect(disk.pending().dirOps.map((op) => op.description)).toEqual([
      'rename /d/metadata.json.tmp -> /d/metadata.json',
    ]);
    const lost = disk.stateAt(disk.trace.length).crashWith({ writes: [], dirOps: [false] });
    expect(lost.files()).toEqual(['/d/metadata.json', '/d/metadata.json.tmp']);
    expect(show(lost.readCurrent('/d/metadata.json'))).toBe('old snapshot');
    const kept = disk.crashWith({ writes: [], dirOps: [true] });
    expect(kept.files()).toEqual(['/d/metadata.json']);
    expect(show(kept.readCurrent('/d/metadata.json'))).toBe('new snapshot');
  });

  it('a lost unlink brings the file back; a lost mkdir takes the directory and its files with it', async () => {
    const disk = new SimulatedDisk();
    disk.mkdirp('/root');
    await disk.mkdir('/root/sub');
    const h = await disk.open('/root/sub/f', 'create');
    await h.writeDurable(text('x'), 0);
    await disk.syncDir('/root/sub'); // the file's name is durable, the directory's is not
    const noDir = disk.stateAt(disk.trace.length).crashWith(dropAllPlan(disk.pending()));
    expect(noDir.directories()).toEqual(['/root']);
    expect(noDir.files()).toEqual([]);

    await disk.syncDir('/root');
    await disk.unlink('/root/sub/f');
    const back = disk.crashWith(dropAllPlan(disk.pending()));
    expect(back.files()).toEqual(['/root/sub/f']);
  });

  it('enumerates every combination of write fates and directory operations, each once', async () => {
    const disk = diskWithDir();
    const h = await disk.open('/d/f', 'create'); // one directory operation
    await h.write(bytes(600, 1), 0); // one sector boundary: keep, drop, torn@512
    await h.write(bytes(10, 2), 0); // no boundary: keep, drop
    const pending = disk.pending();
    expect(countCrashPlans(pending)).toBe(3 * 2 * 2);
    const plans = [...enumerateCrashPlans(pending)];
    expect(plans).toHaveLength(12);
    expect(new Set(plans.map((p) => JSON.stringify(p))).size).toBe(12);
    const outcomes = new Set(plans.map((p) => disk.stateAt(disk.trace.length).crashWith(p).fingerprint()));
    // Without the name, the data does not matter: 1 state; with it, 3 x 2 byte contents.
    expect(outcomes.size).toBe(1 + 6);
  });
});

describe('SimulatedDisk: seeds and crash scheduling', () => {
  async function busyDisk(): Promise<SimulatedDisk> {
    const disk = diskWithDir();
    for (let i = 0; i < 6; i++) {
      const h = await disk.open(`/d/f${i}`, 'create');
      await h.write(bytes(1500, i + 1), 0);
    }
    return disk;
  }

  it('the same seed on the same state gives the same disk; different seeds give different ones', async () => {
    const disk = await busyDisk();
    const a = disk.stateAt(disk.trace.length).crash(42);
    const b = disk.stateAt(disk.trace.length).crash(42);
    expect(a.fingerprint()).toBe(b.fingerprint());
    expect(a.crashSeed).toBe(42);
    expect(a.crashPlan).toEqual(b.crashPlan);
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 20; seed++)
      outcomes.add(disk.stateAt(disk.trace.length).crash(seed).fingerprint());
    expect(outcomes.size).toBeGreaterThan(10);
  });

  it('a crashed disk refuses every call with EIO, on itself and on its open handles', async () => {
    const disk = diskWithDir();
    const h = await disk.open('/d/f', 'create');
    const next = disk.crash(1);
    expect(disk.crashed).toBe(true);
    expect(disk.successor).toBe(next);
    await expect(h.write(text('late'), 0)).rejects.toMatchObject({ code: 'EIO', errno: expect.any(Number) });
    await expect(h.datasync()).rejects.toMatchObject({ code: 'EIO' });
    await expect(disk.readdir('/d')).rejects.toMatchObject({ code: 'EIO' });
    await expect(disk.open('/d/g', 'create')).rejects.toMatchObject({ code: 'EIO' });
    expect(() => disk.crash(2)).toThrow();
    await expect(next.readdir('/d')).resolves.toBeDefined();
  });

  it('scheduleCrash(afterOps) crashes just before the next operation, which fails', async () => {
    const disk = diskWithDir();
    const rebooted = disk.scheduleCrash({ afterOps: 3, seed: 7 });
    const h = await disk.open('/d/f', 'create'); // 1
    await h.write(text('one'), 0); // 2
    await h.datasync(); // 3
    await expect(h.write(text('two'), 3)).rejects.toMatchObject({ code: 'EIO' });
    const next = await rebooted;
    expect(disk.crashed).toBe(true);
    expect(disk.trace).toHaveLength(3);
    // The data was synced, the name was not: the seed decides whether the name survived.
    expect(next.files().every((f) => show(next.readCurrent(f)) === 'one')).toBe(true);
  });

  it('stateAt(k) rebuilds the disk as it was after k operations', async () => {
    const disk = diskWithDir();
    const h = await disk.open('/d/f', 'create');
    await h.write(text('abc'), 0);
    await h.datasync();
    await disk.rename('/d/f', '/d/g');
    const before = disk.stateAt(2);
    expect(before.files()).toEqual(['/d/f']);
    expect(before.pending().writes).toHaveLength(1);
    expect(disk.stateAt(disk.trace.length).fingerprint()).toBe(disk.fingerprint());
  });
});

describe('SimulatedDisk: fingerprint', () => {
  it('tells apart files that differ in one byte or in their length, trailing zeros included', () => {
    // Longer than the 64 KiB, 4 KiB and 256-byte steps fingerprint() skips trailing zeros in.
    const big = 300_000;
    const variants = [
      new Uint8Array(0),
      Uint8Array.of(0),
      Uint8Array.of(1),
      Uint8Array.of(1, 0),
      Uint8Array.of(0, 1),
      new Uint8Array(big - 1),
      new Uint8Array(big),
      new Uint8Array(big + 1),
    ];
    for (const at of [0, 1, 255, 256, 4095, 4096, 65_535, 65_536, big - 257, big - 256, big - 1]) {
      const data = new Uint8Array(big);
      data[at] = 1;
      variants.push(data);
    }
    const printOf = (data: Uint8Array): string => {
      const disk = new SimulatedDisk();
      disk.putFile('/d/f', data);
      return disk.fingerprint();
    };
    const prints = variants.map(printOf);
    expect(new Set(prints).size).toBe(variants.length);
    // Equal bytes, equal fingerprints.
    expect(variants.map((v) => printOf(v.slice()))).toEqual(prints);
  });
});

describe('SimulatedDisk: fault injection', () => {
  it('fails the n-th matching call with a Node-style error, and only that one', async () => {
    const disk = diskWithDir();
    disk.failNext({ op: 'rename', errno: 'ENOSPC', nth: 2, path: /\.tmp$/ });
    await durableFile(disk, 'a.tmp', text('a'));
    await durableFile(disk, 'b.tmp', text('b'));
    await durableFile(disk, 'c', text('c'));
    await disk.rename('/d/c', '/d/c2'); // does not match the path: not counted
    await disk.rename('/d/a.tmp', '/d/a'); // first match
    const err = await disk.rename('/d/b.tmp', '/d/b').catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ENOSPC',
      syscall: 'rename',
      path: '/d/b.tmp',
      dest: '/d/b',
      errno: expect.any(Number),
    });
    expect((err as Error).message).toMatch(/^ENOSPC: no space left on device, rename/);
    expect(disk.files()).toContain('/d/b.tmp');
    await disk.rename('/d/b.tmp', '/d/b'); // the rule fired once
    expect(disk.trace.filter((e) => e.injected).map((e) => e.op)).toEqual(['rename']);
  });

  it('a persistent fault keeps failing', async () => {
    const disk = diskWithDir();
    disk.failNext({ op: ['datasync', 'writeDurable'], errno: 'EIO', persistent: true });
    const h = await disk.open('/d/f', 'create');
    await expect(h.datasync()).rejects.toMatchObject({ code: 'EIO', syscall: 'fdatasync' });
    await expect(h.writeDurable(text('x'), 0)).rejects.toMatchObject({ code: 'EIO' });
    await expect(h.datasync()).rejects.toMatchObject({ code: 'EIO' });
  });

  it('a short write lands part of its bytes in the page cache, then fails', async () => {
    const disk = diskWithDir();
    await durableFile(disk, 'f', new Uint8Array(0));
    disk.failNext({ op: 'write', errno: 'ENOSPC', bytesWritten: 3 });
    const h = await disk.open('/d/f', 'write');
    await expect(h.write(text('abcdef'), 0)).rejects.toMatchObject({ code: 'ENOSPC', syscall: 'write' });
    expect(show(disk.readCurrent('/d/f'))).toBe('abc');
    expect(show(disk.readDurable('/d/f'))).toBe('');
    await h.datasync();
    expect(show(disk.readDurable('/d/f'))).toBe('abc');
  });

  it("after a failed fdatasync ('limbo'), reads see the data but no later fsync makes it durable", async () => {
    const disk = diskWithDir();
    await durableFile(disk, 'f', text('....'));
    disk.failNext({ op: 'writeDurable', errno: 'EIO' });
    const h = await disk.open('/d/f', 'write');
    await expect(h.writeDurable(text('AB'), 0)).rejects.toMatchObject({ code: 'EIO', syscall: 'fdatasync' });
    expect(show(disk.readCurrent('/d/f'))).toBe('AB..');
    await h.write(text('C'), 2);
    await h.datasync(); // succeeds, but the pages of the failed write were marked clean
    expect(disk.pending().writes).toMatchObject([{ position: 0, length: 2, limbo: true }]);
    expect(show(disk.crashWith(dropAllPlan(disk.pending())).readCurrent('/d/f'))).toBe('..C.');
  });

  it("with failedSync 'dirty', the next successful fsync makes the failed write durable", async () => {
    const disk = diskWithDir({ failedSync: 'dirty' });
    await durableFile(disk, 'f', text('....'));
    disk.failNext({ op: 'datasync', errno: 'EIO' });
    const h = await disk.open('/d/f', 'write');
    await h.write(text('AB'), 0);
    await expect(h.datasync()).rejects.toMatchObject({ code: 'EIO' });
    await h.datasync();
    expect(show(disk.crashWith(dropAllPlan(disk.pending())).readCurrent('/d/f'))).toBe('AB..');
  });

  it('traces every operation, writeDurable as a write then a datasync', async () => {
    const disk = diskWithDir();
    const h = await disk.open('/d/f', 'create');
    await h.writeDurable(text('xy'), 4);
    await h.close();
    await expect(disk.stat('/d/missing')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(disk.trace.map((e) => [e.op, e.via ?? '', e.error ?? ''])).toEqual([
      ['open', '', ''],
      ['write', 'writeDurable', ''],
      ['datasync', 'writeDurable', ''],
      ['close', '', ''],
      ['stat', '', 'ENOENT'],
    ]);
    expect(disk.trace[1]).toMatchObject({ position: 4, length: 2, data: text('xy') });
  });
});

describe('SimulatedDisk.stateAt after clearTrace()', () => {
  // A handle opened before clearTrace() keeps writing afterwards (a log opened at setup, written
  // during the recorded run). Its writes must be part of every replayed state, or a crash-point
  // enumeration over them silently tests nothing.
  it('replays writes through handles opened before the trace started', async () => {
    const disk = diskWithDir();
    await durableFile(disk, 'f', text('old!'));
    const h = await disk.open('/d/f', 'write');
    disk.clearTrace();
    await h.write(text('new'), 0);
    await h.datasync();
    const replayed = disk.stateAt(disk.trace.length);
    expect(show(replayed.readCurrent('/d/f'))).toBe('new!');
    expect(show(replayed.readDurable('/d/f'))).toBe('new!');
    // Before the datasync: the write is pending, and a crash may keep or drop it.
    const beforeSync = disk.stateAt(1);
    expect(show(beforeSync.readCurrent('/d/f'))).toBe('new!');
    expect(show(beforeSync.crashWith(dropAllPlan(beforeSync.pending())).readCurrent('/d/f'))).toBe('old!');
    await h.close();
  });
});
