// LazyFS (github.com/dsrhaslab/lazyfs) for test/powerloss/run.js: a FUSE file system that keeps
// every write in its own cache until an fsync/fdatasync of that file, and drops every unsynced
// byte on `lazyfs::clear-cache`: a power cut, file by file. Directory operations (create, rename,
// unlink) go straight to the backing directory, so this checks the data fsyncs; the simulated disk
// of the unit tests (test/crash) is the one that also forgets unsynced renames and creations.
import { spawn, spawnSync } from 'node:child_process';
import { constants, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';

/** The lazyfs binary: `$LAZYFS`, else `lazyfs` on PATH; undefined when there is none. */
export function findLazyfs() {
  const candidate = process.env.LAZYFS ?? 'lazyfs';
  const probe = spawnSync('sh', ['-c', `command -v "${candidate}"`], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

const mounted = (mnt) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * A LazyFS mount of `root` (the "disk") at `mnt`, with its fault FIFOs in `work`. `mount()` starts
 * it, `powerCut()` drops every unsynced byte, `unmount()` ends it.
 */
export class LazyMount {
  constructor(binary, work) {
    this.binary = binary;
    this.root = join(work, 'disk');
    this.mnt = join(work, 'mnt');
    this.faults = join(work, 'faults.fifo');
    this.done = join(work, 'done.fifo');
    this.config = join(work, 'lazyfs.toml');
    for (const d of [this.root, this.mnt]) mkdirSync(d, { recursive: true });
    for (const f of [this.faults, this.done]) {
      if (!existsSync(f) && spawnSync('mkfifo', [f]).status !== 0) throw new Error(`mkfifo ${f} failed`);
    }
    writeFileSync(
      this.config,
      [
        '[faults]',
        `fifo_path="${this.faults}"`,
        `fifo_path_completed="${this.done}"`,
        '[cache]',
        'apply_eviction=false',
        '[cache.simple]',
        'custom_size="512mb"',
        'blocks_per_page=1',
        '[filesystem]',
        'log_all_operations=false',
        `logfile="${join(work, 'lazyfs.log')}"`,
        '',
      ].join('\n'),
    );
    // Read-write, so that opening never blocks and no answer is lost between two power cuts; read
    // through the event loop (a socket on the FIFO), not a thread-pool read that never returns.
    this.doneStream = new Socket({
      fd: openSync(this.done, constants.O_RDWR | constants.O_NONBLOCK),
      readable: true,
      writable: false,
    });
    this.doneStream.setEncoding('utf8');
    this.answers = [];
    this.waiters = [];
    this.doneStream.on('data', (chunk) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        this.answers.push(line);
        this.waiters.shift()?.();
      }
    });
  }

  async mount() {
    const args = [
      this.mnt,
      '--config-path',
      this.config,
      '-o',
      'allow_other',
      '-o',
      'modules=subdir',
      '-o',
      `subdir=${this.root}`,
    ];
    const child = spawn(this.binary, args, { stdio: 'ignore', detached: true });
    child.unref();
    for (let i = 0; i < 200 && !mounted(this.mnt); i++) await sleep(25);
    if (!mounted(this.mnt)) throw new Error(`lazyfs did not mount ${this.mnt}`);
  }

  /** Drops every byte written under the mount since its file's last fsync; resolves once done. */
  async powerCut() {
    const answered = new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error('lazyfs did not answer clear-cache in 20 s')), 20_000);
      this.waiters.push(() => {
        clearTimeout(timer);
        done();
      });
    });
    writeFileSync(this.faults, 'lazyfs::clear-cache\n');
    await answered;
    const line = this.answers.shift();
    if (line !== 'finished::clear-cache') throw new Error(`lazyfs answered ${JSON.stringify(line)}`);
  }

  async unmount() {
    for (let i = 0; i < 100 && mounted(this.mnt); i++) {
      spawnSync('fusermount3', ['-u', this.mnt]);
      if (mounted(this.mnt)) await sleep(50);
    }
    if (mounted(this.mnt)) throw new Error(`could not unmount ${this.mnt}`);
  }

  close() {
    this.doneStream.destroy();
  }
}
