/**
 * Which threads call fsync/fdatasync: one raft-metadata writer under `strace -f`, calls counted per
 * thread (the main thread's id is the process id).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileAsync, sh } from '../lib/shell.js';

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/**
 * Runs one raft-metadata writer under `strace -f` and counts fsync/fdatasync calls per thread: the
 * main thread's id is the process id. Skipped when strace is missing or not permitted.
 */
export async function checkMainThreadSyncs(runDir) {
  if (sh('strace', ['-V']) === undefined) return { skipped: 'strace not found' };
  const out = join(runDir, 'strace.txt');
  const script = [
    `import { MetadataManager } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};`,
    `const m = await MetadataManager.open(${JSON.stringify(join(runDir, 'strace-meta'))}, { flushIntervalMs: 50 });`,
    'const end = Date.now() + 300; let t = 0;',
    'while (Date.now() < end) await m.updateCurrentTerm(++t);',
    'await m.sync(); await m.close(); console.log(process.pid, t);',
  ].join('\n');
  // A file, not `node --input-type=module -e`: worker threads inherit that flag (see docs/performance.md).
  const scriptPath = join(runDir, 'strace-writer.mjs');
  await fsp.writeFile(scriptPath, script);
  let stdout;
  try {
    ({ stdout } = await execFileAsync('strace', [
      '-f',
      '-qq',
      '-e',
      'trace=fsync,fdatasync,sync_file_range',
      '-o',
      out,
      process.execPath,
      scriptPath,
    ]));
  } catch (err) {
    return { skipped: `strace failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  const [pid, updates] = stdout.trim().split(/\s+/).map(Number);
  const perThread = {};
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const match = /^(\d+)\s+(fsync|fdatasync|sync_file_range)\(/.exec(line);
    if (!match) continue;
    const key = Number(match[1]) === pid ? 'main' : 'other';
    perThread[key] = (perThread[key] ?? 0) + 1;
  }
  return { pid, updates, mainThreadSyncs: perThread.main ?? 0, otherThreadSyncs: perThread.other ?? 0 };
}
