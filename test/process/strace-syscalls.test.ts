import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;

interface Call {
  tid: number;
  name: string;
  text: string;
  result: string;
}

/** Parses `strace -f -y -o FILE` output into completed calls, joining "<unfinished ...>" with "resumed". */
function parseTrace(trace: string, mainPid: number): Call[] {
  const calls: Call[] = [];
  const unfinished = new Map<number, string>();
  for (const raw of trace.split('\n')) {
    // With -o, every line starts with the thread id ("1234  fsync(...)").
    const tagged = /^(?:\[pid\s+)?(\d+)\]?\s+(.*)$/.exec(raw);
    const tid = tagged ? Number(tagged[1]) : mainPid;
    const line = tagged ? (tagged[2] as string) : raw;
    if (line.endsWith('<unfinished ...>')) {
      unfinished.set(tid, line.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    let full = line;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      full = (unfinished.get(tid) ?? `${resumed[1]}(`) + (resumed[2] as string);
      unfinished.delete(tid);
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(.+)$/.exec(full);
    if (call)
      calls.push({ tid, name: call[1] as string, text: call[2] as string, result: call[3] as string });
  }
  return calls;
}

describe.skipIf(!hasStrace)('syscall audit under strace', () => {
  it('fdatasyncs before every acknowledgement, fsyncs the directory after creating and renaming', () => {
    const root = tempDir();
    const out = join(root, 'trace.txt');
    const child = spawnSync(
      'strace',
      [
        '-f',
        '-y',
        '-qq',
        '-o',
        out,
        '-e',
        'trace=write,pwrite64,fdatasync,fsync,rename,renameat,renameat2,mkdir,mkdirat,unlink,unlinkat',
        process.execPath,
        join(import.meta.dirname, 'strace-child.mjs'),
        root,
      ],
      // Through io_uring, libuv's file writes and fsyncs would be invisible to strace.
      { env: { ...process.env, UV_USE_IO_URING: '0' }, encoding: 'utf8' },
    );
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const mainPid = Number(/PID (\d+)/.exec(child.stdout)?.[1]);
    const calls = parseTrace(readFileSync(out, 'utf8'), mainPid);
    const dir = join(root, 'node-1', 'raft');
    const isLog = (c: Call) => /<[^>]*\/log-[0-9a-f]{16}\.wal>/.test(c.text);
    const isAck = (c: Call) => c.name === 'write' && c.text.includes('"ACK ');
    const onDir = (c: Call, path: string) => c.text.startsWith(`${c.text.split('<')[0]}<${path}>`);

    const acks = calls.map((c, i) => [c, i] as const).filter(([c]) => isAck(c));
    expect(acks).toHaveLength(7);

    // 1. Each acknowledgement is preceded, since the previous one, by a write of the log and then
    //    a successful fdatasync of the log.
    let from = 0;
    for (const [, at] of acks) {
      const window = calls.slice(from, at);
      const lastWrite = window.findLastIndex((c) => c.name === 'pwrite64' && isLog(c));
      const sync = window.findLastIndex((c) => c.name === 'fdatasync' && isLog(c) && c.result === '0');
      expect(lastWrite).toBeGreaterThanOrEqual(0);
      expect(sync).toBeGreaterThan(lastWrite);
      from = at + 1;
    }

    // 2. Every new log appears by rename and the directory is fsynced before the next acknowledgement.
    const logRenames = calls
      .map((c, i) => [c, i] as const)
      .filter(([c]) => c.name.startsWith('rename') && /\.wal\.tmp"/.test(c.text));
    expect(logRenames.length).toBe(2); // the first log, and the one the compaction started
    for (const [, at] of logRenames) {
      const next = calls.findIndex((c, i) => i > at && (isAck(c) || c.text.includes('"SYNCED')));
      const dirSync = calls.findIndex((c, i) => i > at && c.name === 'fsync' && onDir(c, dir));
      expect(dirSync).toBeGreaterThan(at);
      expect(dirSync).toBeLessThan(next);
    }

    // 3. The snapshot: temp file fsynced, then renamed, then the directory fsynced.
    const snapRename = calls.findIndex(
      (c) => c.name.startsWith('rename') && c.text.includes('metadata.json.tmp"'),
    );
    expect(snapRename).toBeGreaterThan(0);
    const tempSync = calls.findLastIndex(
      (c, i) => i < snapRename && c.name === 'fsync' && c.text.includes('metadata.json.tmp>'),
    );
    expect(tempSync).toBeGreaterThanOrEqual(0);
    const dirAfter = calls.findIndex((c, i) => i > snapRename && c.name === 'fsync' && onDir(c, dir));
    const synced = calls.findIndex((c) => c.name === 'write' && c.text.includes('"SYNCED'));
    expect(dirAfter).toBeGreaterThan(snapRename);
    expect(dirAfter).toBeLessThan(synced);

    // 4. New directories: each mkdir is followed by an fsync of its parent.
    for (const [level, parent] of [
      [join(root, 'node-1'), root],
      [dir, join(root, 'node-1')],
    ] as const) {
      const made = calls.findIndex((c) => c.name.startsWith('mkdir') && c.text.includes(`"${level}"`));
      expect(made).toBeGreaterThanOrEqual(0);
      expect(calls.findIndex((c, i) => i > made && c.name === 'fsync' && onDir(c, parent))).toBeGreaterThan(
        made,
      );
    }

    // 5. No fsync or fdatasync ever runs on the main thread.
    const syncs = calls.filter((c) => c.name === 'fsync' || c.name === 'fdatasync');
    expect(syncs.length).toBeGreaterThan(10);
    expect(syncs.filter((c) => c.tid === mainPid)).toEqual([]);
  });
});
