/**
 * `npm run check:package` (part of `npm test`): checks the tarball `npm publish` would upload.
 *
 * Packs the already built dist/ (`npm pack --ignore-scripts`: no prepack rebuild, no network),
 * then runs on that tarball:
 *   - publint --strict (package.json fields against the files: exports, types, bin, ...);
 *   - @arethetypeswrong/cli: the types of every entry point under node10, node16 (CJS and ESM) and
 *     bundler resolution. One rule is ignored, cjs-resolves-to-esm: the package is ESM only by
 *     design (no CommonJS build); a CommonJS consumer uses `import()`, or `require()` on Node
 *     20.19+ (require(esm)). Every other problem fails the check;
 *   - the file list: LICENSE, README.md, dist/index.js, dist/cli.js, and no source maps or TypeScript
 *     sources (the maps would point at src/, which is not shipped).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
mkdirSync(join(root, '.tmp'), { recursive: true });
const out = mkdtempSync(join(root, '.tmp', 'pack-'));
let failed = false;

function run(command, args) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(join(root, 'node_modules', '.bin', command), args, {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failed = true;
    console.error(`${command} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

try {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], {
      cwd: root,
      encoding: 'utf8',
    }),
  )[0];
  const tarball = join(out, packed.filename);
  const files = packed.files.map((f) => f.path);
  console.log(`${packed.filename}: ${files.length} files, ${packed.size} bytes packed`);

  for (const needed of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/cli.js']) {
    if (!files.includes(needed)) {
      failed = true;
      console.error(`missing from the package: ${needed}`);
    }
  }
  const unwanted = files.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  if (unwanted.length > 0) {
    failed = true;
    console.error(`shipped but should not be: ${unwanted.join(', ')}`);
    console.error(
      '(left by an earlier build? `rm -rf dist && npm run build`; `npm publish` cleans dist itself)',
    );
  }

  run('publint', ['run', '--strict', tarball]);
  run('attw', [
    '--no-definitely-typed',
    '--ignore-rules',
    'cjs-resolves-to-esm',
    '--no-emoji',
    '--no-color',
    tarball,
  ]);
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
