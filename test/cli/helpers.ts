import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { CURRENT_LAYOUT } from '../../src/format/record.js';
import { MetadataManager, type MetadataStore } from '../../src/index.js';

/** The CLI as a user runs it: the built file, in a child process (`npm test` builds first). */
export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli.js');

function assertBuilt(): void {
  let built: number;
  try {
    built = statSync(CLI).mtimeMs;
  } catch {
    throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  }
  const sources = [join(ROOT, 'src', 'cli.ts')];
  for (const folder of ['cli', 'ops']) {
    for (const entry of readdirSync(join(ROOT, 'src', folder), { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.ts')) sources.push(join(ROOT, 'src', folder, entry));
    }
  }
  const stale = sources.find((s) => statSync(s).mtimeMs > built);
  if (stale) throw new Error(`dist/cli.js is older than ${stale}: run \`npm run build\` first`);
}
assertBuilt();

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node dist/cli.js ...args` and collects its output and exit code. */
export function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

/** Runs the CLI with --json and parses stdout. */
export async function cliJson(
  ...args: string[]
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const result = await cli(...args, '--json');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`);
  }
  return { code: result.code, json, stderr: result.stderr };
}

// Removed after all tests of a file (not after each: tests run concurrently).
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory (removed after the file's tests). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raft-metadata-cli-'));
  made.push(dir);
  return dir;
}

/** One step of a history: a term update, a vote, or a compaction (snapshot + new log). */
export type Step = { term: number } | { vote: number } | 'sync';

/**
 * Makes a metadata directory with the library: each update is awaited (its own write), so records
 * of different updates are in different batches. Returns the directory and every acknowledged state.
 */
export async function makeDirectory(steps: readonly Step[], dir = join(tempDir(), 'meta')): Promise<string> {
  const manager = await MetadataManager.open(dir, { flushIntervalMs: 0 });
  try {
    for (const step of steps) {
      if (step === 'sync') await manager.sync();
      else if ('term' in step) await manager.updateCurrentTerm(step.term);
      else await manager.updateVotedFor(step.vote);
    }
  } finally {
    await manager.close();
  }
  return dir;
}

/** Bytes of a log header and of a record in the format this version writes (v2: 48 and 48). */
export const HEADER_BYTES = CURRENT_LAYOUT.headerSize;
export const RECORD_BYTES = CURRENT_LAYOUT.recordSize;

/** Byte offset of the record slot `index` (from 0) in a log this version writes. */
export function slot(index: number): number {
  return HEADER_BYTES + index * RECORD_BYTES;
}

/** The non-zero bytes of the record slot `index` of the log at `path` (its CRCs vary with the directory id). */
export function nonZeroIn(path: string, index: number): number {
  return readFileSync(path)
    .subarray(slot(index), slot(index) + RECORD_BYTES)
    .filter((b) => b !== 0).length;
}

/** The directory id in `dir`'s snapshot (format v2). */
export function snapshotDirectoryId(dir: string): string {
  const json = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as { directoryId?: unknown };
  if (typeof json.directoryId !== 'string') throw new Error(`no directoryId in ${dir}/metadata.json`);
  return json.directoryId;
}

/**
 * The usual history: a snapshot at term 3 (vote 2), then terms 4 (vote 5) and 7 (vote 1) in the
 * log `log-0000000000000003.wal`, seq 3..6 in slots 0..3 (`slot(0)`...), then preallocated zeros.
 */
export const HISTORY: readonly Step[] = [
  { term: 3 },
  { vote: 2 },
  'sync',
  { term: 4 },
  { vote: 5 },
  { term: 7 },
  { vote: 1 },
];

export function logNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /^log-[0-9a-f]{16}\.wal$/.test(n))
    .sort();
}

/** The newest log file's path. */
export function newestLog(dir: string): string {
  const name = logNames(dir).at(-1);
  if (name === undefined) throw new Error(`no log in ${dir}`);
  return join(dir, name);
}

export function writeAt(path: string, offset: number, bytes: Uint8Array): void {
  const data = readFileSync(path);
  data.set(bytes, offset);
  writeFileSync(path, data);
}

export function flipByte(path: string, offset: number): void {
  const data = readFileSync(path);
  data[offset] = (data[offset] ?? 0) ^ 0xff;
  writeFileSync(path, data);
}

/** Every file under `dir` with its bytes (hex), to prove a command changed nothing. */
export function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      for (const [inner, hex] of Object.entries(contents(path))) out[`${name}/${inner}`] = hex;
    } else {
      out[name] = readFileSync(path).toString('hex');
    }
  }
  return out;
}

/** The pid of a process that has exited (for a stale LOCK). */
export function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => {
      if (child.pid === undefined) reject(new Error('no pid'));
      else resolve(child.pid);
    });
  });
}

/**
 * A child process holding a manager open on `dir` (the built package, as a node would). `stop`
 * closes it cleanly; `kill` SIGKILLs it (its LOCK file stays, naming it, and the kernel lock goes).
 */
export async function holdOpen(
  dir: string,
): Promise<{ pid: number; stop(): Promise<void>; kill(): Promise<void> }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'hold-child.mjs'), dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('READY')) resolve();
      if (out.includes('ERROR')) reject(new Error(out));
    });
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}: ${out}`)));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('no pid');
  return {
    pid,
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve());
        child.stdin.end();
      }),
    kill: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** A copy of the golden format-v1 directory `name` (test/fixtures/v1), safe to change. */
export function v1Copy(name: string): string {
  const dir = join(tempDir(), name);
  cpSync(join(ROOT, 'test', 'fixtures', 'v1', name), dir, { recursive: true });
  return dir;
}

/**
 * The usual directory whose log `log-0000000000000003.wal` was replaced by another directory's log
 * of the same name (same history, another directory id): what a restore from the wrong backup does.
 * Returns the directory and the other directory's id.
 */
export async function foreignLogDirectory(): Promise<{ dir: string; otherId: string; otherLog: Buffer }> {
  const dir = await makeDirectory(HISTORY);
  const other = await makeDirectory(HISTORY);
  const otherLog = readFileSync(newestLog(other));
  writeFileSync(newestLog(dir), otherLog);
  return { dir, otherId: snapshotDirectoryId(other), otherLog };
}

/** The usual directory with two whole records of another directory written after its last record. */
export async function foreignRecordsDirectory(): Promise<string> {
  const dir = await makeDirectory(HISTORY);
  const other = await makeDirectory(HISTORY);
  const records = readFileSync(newestLog(other)).subarray(slot(0), slot(2));
  writeAt(newestLog(dir), slot(4), records);
  return dir;
}

/** The usual history compacted (snapshot up to seq 6, naming log-...07), then every log deleted. */
export async function missingLogDirectory(): Promise<string> {
  const dir = await makeDirectory([...HISTORY, 'sync']);
  for (const name of logNames(dir)) rmSync(join(dir, name));
  return dir;
}

/** The store histories' common start (seq 1-5): group 0 term 2 and vote 1, group 5 term 4, group 9 term 3 then removed. */
export async function threeGroups(store: MetadataStore): Promise<void> {
  await store.group(0).updateCurrentTerm(2);
  await store.group(0).updateVotedFor(1);
  await store.group(5).updateCurrentTerm(4);
  await store.group(9).updateCurrentTerm(3);
  await store.removeGroup(9);
}

/** A multi-group store's directory: group 0 (term 2, vote 1), group 5 (term 4), group 9 removed. */
export async function multiGroupDirectory(): Promise<string> {
  const { MetadataStore } = await import('../../src/index.js');
  const dir = join(tempDir(), 'meta');
  const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  try {
    await threeGroups(store);
  } finally {
    await store.close();
  }
  return dir;
}

/**
 * Groups 0 (term 2, vote 1), 5 (term 4) and 9 (term 3, removed), a compaction (snapshot up to
 * seq 5, log-...06), then group 7 (term 6, vote 2) in slots 0 and 1 of the new log.
 */
export async function storeDirectory(): Promise<string> {
  const dir = join(tempDir(), 'meta');
  const { MetadataStore } = await import('../../src/index.js');
  const store = await MetadataStore.open(dir, { flushIntervalMs: 0 });
  try {
    await threeGroups(store);
    await store.sync();
    await store.group(7).updateCurrentTerm(6);
    await store.group(7).updateVotedFor(2);
  } finally {
    await store.close();
  }
  return dir;
}
