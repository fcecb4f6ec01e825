/**
 * Installs a side folder's dependencies (`npm ci` from its committed package-lock.json) when its
 * node_modules is missing or stale, so that the package's own `npm install` does not have to.
 *
 *   node scripts/ensure-install.js [--optional] <folder>
 *
 * Used for bench/peers (the benchmark's peers: native modules built with node-gyp, ~70 s) and
 * scripts/runtimes (Node 20/22/24, Bun and Deno from the npm registry, for test/runtimes). "Stale" means the lockfile
 * changed, or (for native modules) the Node ABI that ran the install is not the current one: the
 * stamp file in node_modules records both. With --optional a failed install is reported and the
 * script exits 0 (the benchmark then skips the peers it could not load, and says so).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const optional = process.argv.includes('--optional');
const folder = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (folder === undefined) {
  console.error('usage: node scripts/ensure-install.js [--optional] <folder>');
  process.exit(64);
}
const dir = resolve(folder);
const lock = join(dir, 'package-lock.json');
const stamp = join(dir, 'node_modules', '.ensure-install-stamp');
const wanted = JSON.stringify({
  lock: createHash('sha256').update(readFileSync(lock)).digest('hex'),
  abi: process.versions.modules,
  platform: `${process.platform}-${process.arch}`,
});

if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) process.exit(0);

console.error(`Installing ${folder} (npm ci; once, then again only when its package-lock.json changes)...`);
// Run the npm that runs this script (npm_execpath under `npm run`), else the one on the PATH.
const npmCli = process.env.npm_execpath;
const [command, args] = npmCli?.endsWith('.js')
  ? [process.execPath, [npmCli]]
  : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];
const result = spawnSync(command, [...args, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], {
  cwd: dir,
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error(`npm ci in ${folder} failed (${result.error?.message ?? `exit ${result.status}`})`);
  process.exit(optional ? 0 : (result.status ?? 1));
}
writeFileSync(stamp, wanted);
