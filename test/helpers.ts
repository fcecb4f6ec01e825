import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { CHANNELS, type FailureEvent, subscribeChannel } from '../src/index.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test. */
export function tempDir(prefix = 'raft-metadata-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Every file in `dir` (recursively) with its bytes: compare before/after to prove nothing changed. */
export function directoryContents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      for (const [inner, bytes] of Object.entries(directoryContents(path))) out[`${name}/${inner}`] = bytes;
    } else {
      out[name] = readFileSync(path).toString('hex');
    }
  }
  return out;
}

/** The single log file in `dir`. */
export function logFile(dir: string): string {
  const logs = readdirSync(dir).filter((n) => /^log-[0-9a-f]{16}\.wal$/.test(n));
  if (logs.length !== 1) throw new Error(`expected one log in ${dir}, found ${logs.join(', ')}`);
  return join(dir, logs[0] as string);
}

/** Overwrites bytes at `offset` of `path`. */
export function writeAt(path: string, offset: number, bytes: Uint8Array): void {
  const data = readFileSync(path);
  data.set(bytes, offset);
  writeFileSync(path, data);
}

/** XORs one byte of `path` with 0xff. */
export function flipByte(path: string, offset: number): void {
  const data = readFileSync(path);
  data[offset] = (data[offset] ?? 0) ^ 0xff;
  writeFileSync(path, data);
}

/** Cuts `path` to `length` bytes. */
export function truncateFile(path: string, length: number): void {
  writeFileSync(path, readFileSync(path).subarray(0, length));
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node script args` and collects its output. */
export function runNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Group 0's state and the covered sequence number as a snapshot file's JSON says (format v2:
 * `groups` rows; format v1: top-level fields), for tests that look at the file itself.
 */
export function snapshotState(text: string | Uint8Array): {
  currentTerm: number;
  votedFor: number;
  lastSeq: number;
  version: number;
} {
  const json = JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
  if (json.version === 1) {
    return { currentTerm: json.currentTerm, votedFor: json.votedFor, lastSeq: json.lastSeq, version: 1 };
  }
  const row = (json.groups as number[][]).find((r) => r[0] === 0) ?? [0, 0, 0];
  return {
    currentTerm: row[1] as number,
    votedFor: row[2] as number,
    lastSeq: json.lastSeq,
    version: json.version,
  };
}

/**
 * The failure-channel events of `dir`, collected afresh for each test of the file that calls this
 * (at its top level): the array is emptied before each test and the subscription dropped after.
 */
export function failureEventsOf(dir: string): FailureEvent[] {
  const events: FailureEvent[] = [];
  let stop: () => void = () => {};
  beforeEach(() => {
    events.length = 0;
    stop = subscribeChannel(CHANNELS.failure, (event) => {
      if (event.dir === dir) events.push(event);
    });
  });
  afterEach(() => stop());
  return events;
}
