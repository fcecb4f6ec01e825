/**
 * `npm run test:runtimes`: runs test/runtimes/smoke.js on every runtime the README's support table
 * lists, and fails if any of them fails.
 *
 * The runtimes come from the npm registry, pinned by scripts/runtimes/package-lock.json (`node20`
 * is the engines floor, 20.19.0; `node22`, `node24`; `bun`; `deno`), installed into
 * scripts/runtimes/node_modules by scripts/ensure-install.js on first use (outside test/: the
 * runtimes' own sources and changelogs are not this project's tests); plus the Node running this
 * script. Each runs the same file, with the built package (dist/) and the repository's
 * node_modules (fast-check for the testing kit).
 *
 * Environment: RUNTIMES=node22,bun (a comma-separated subset of the names below);
 * RUNTIME_TIMEOUT_MS (default 180000) per runtime.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const root = join(here, '..', '..');
const modules = join(root, 'scripts', 'runtimes', 'node_modules');
const smoke = join(here, 'smoke.js');

const RUNTIMES = [
  { name: 'node (current)', bin: process.execPath, args: [smoke] },
  { name: 'node20', bin: join(modules, 'node20', 'bin', 'node'), args: [smoke] },
  { name: 'node22', bin: join(modules, 'node22', 'bin', 'node'), args: [smoke] },
  { name: 'node24', bin: join(modules, 'node24', 'bin', 'node'), args: [smoke] },
  { name: 'bun', bin: join(modules, 'bun', 'bin', 'bun.exe'), args: [smoke] },
  // -A: files, FFI (the kernel lock), workers, environment. Deno reads the repository's
  // package.json and node_modules (crc-32, koffi, fast-check) as Node would.
  { name: 'deno', bin: join(modules, 'deno', 'deno'), args: ['run', '-A', smoke] },
];

const only = process.env.RUNTIMES?.split(',').map((s) => s.trim());
const timeoutMs = Number(process.env.RUNTIME_TIMEOUT_MS ?? 180_000);
if (!existsSync(join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build` first (`npm run test:runtimes` does).');
  process.exit(70);
}

/** Runs one runtime; resolves with its result, output streamed with a prefix. */
function runOne({ name, bin, args }) {
  return new Promise((resolve) => {
    if (!existsSync(bin)) {
      resolve({ name, ok: false, detail: `not installed (${bin})` });
      return;
    }
    const started = performance.now();
    // NO_COLOR: Deno colours its error output even into a pipe.
    const child = spawn(bin, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let version = '';
    let summary = '';
    const prefix = (stream, out) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          out.write(`[${name}] ${line}\n`);
          const v = /^# raft-metadata smoke suite on (.+)$/.exec(line);
          if (v?.[1] !== undefined) version = v[1];
          const s = /^# (\d+\/\d+ passed)$/.exec(line);
          if (s?.[1] !== undefined) summary = s[1];
        }
      });
      stream.on('end', () => {
        if (partial !== '') out.write(`[${name}] ${partial}\n`);
      });
    };
    prefix(child.stdout, process.stdout);
    prefix(child.stderr, process.stderr);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ name, ok: false, detail: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const how =
        signal === null ? `exit ${code}` : `killed by ${signal}${signal === 'SIGKILL' ? ' (timeout?)' : ''}`;
      resolve({
        name,
        version,
        ok: code === 0,
        detail: `${summary || 'no summary'}, ${how}, ${seconds} s`,
      });
    });
  });
}

const selected = RUNTIMES.filter((r) => only === undefined || only.includes(r.name.split(' ')[0]));
if (selected.length === 0) {
  console.error(
    `RUNTIMES=${process.env.RUNTIMES} matches none of: ${RUNTIMES.map((r) => r.name).join(', ')}`,
  );
  process.exit(64);
}
const results = [];
// One runtime at a time: each spawns children and an I/O thread; the machine may have two cores.
for (const runtime of selected) results.push(await runOne(runtime));

console.log('\nruntime          version                 result');
for (const r of results) {
  console.log(`${r.name.padEnd(16)} ${(r.version ?? '').padEnd(23)} ${r.ok ? 'PASS' : 'FAIL'}  ${r.detail}`);
}
const failed = results.filter((r) => !r.ok);
console.log(
  failed.length === 0
    ? `\nall ${results.length} runtimes passed`
    : `\n${failed.length} of ${results.length} runtimes failed: ${failed.map((r) => r.name).join(', ')}`,
);
process.exit(failed.length === 0 ? 0 : 1);
