// docs/testing.md's example, as a user runs it: the packed package installed in a new project,
// the example copied from the markdown as it stands, `npx vitest run` with vitest's defaults (no
// config file, so the 5 s test timeout, no setup file, fast-check's default 100 runs).
//
// How the project is made, offline and in seconds: `npm pack --ignore-scripts` of this repository
// (dist/ as built by `npm run build`: the pack's own prepack would delete and rebuild dist/ under
// the other tests' feet), the tarball extracted as node_modules/raft-metadata, exactly the files a
// user installs. Its dependencies, vitest, fast-check, typescript and @types/node are symlinks to
// this repository's node_modules (Node resolves a symlink to its real path, so each package finds
// its own dependencies there), which keeps the test off the registry and the npm cache.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
let project = '';

/** The first ```ts block after the heading `## <title>` in a markdown file, as written. */
function codeBlockAfter(markdown: string, title: string): string {
  const text = readFileSync(join(root, markdown), 'utf8');
  const section = text.indexOf(`\n## ${title}\n`);
  if (section < 0) throw new Error(`${markdown}: no section "${title}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(text.slice(section));
  if (block?.[1] === undefined) throw new Error(`${markdown}: no ts block in "${title}"`);
  return block[1];
}

/** Runs a command in the project; on failure the error carries its stdout and stderr. */
async function inProject(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(command, args, {
    cwd: project,
    // No PROPERTY_RUNS or other settings of this repository's test run leak into the project.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? project, CI: '1', NO_COLOR: '1' },
    maxBuffer: 16 * 1024 * 1024,
  });
}

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'raft-metadata-fresh-'));
  const packDir = join(project, '.pack');
  mkdirSync(packDir);
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
    cwd: root,
  });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  const installed = join(project, 'node_modules', 'raft-metadata');
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', join(packDir, filename), '-C', installed, '--strip-components=1']);

  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const linked = [
    ...Object.keys(manifest.dependencies ?? {}),
    'vitest',
    'fast-check',
    'typescript',
    '@types/node',
  ];
  for (const name of linked) {
    const target = join(project, 'node_modules', name);
    mkdirSync(join(target, '..'), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), target, 'dir');
  }
  mkdirSync(join(project, 'node_modules', '.bin'));
  symlinkSync(
    join(root, 'node_modules', 'vitest', 'vitest.mjs'),
    join(project, 'node_modules', '.bin', 'vitest'),
  );

  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify(
      {
        name: 'my-raft-node',
        private: true,
        type: 'module',
        devDependencies: {
          'fast-check': '^4.0.0',
          'raft-metadata': `file:.pack/${filename}`,
          vitest: '^4.0.0',
        },
      },
      null,
      2,
    )}\n`,
  );
  mkdirSync(join(project, 'test'));
  writeFileSync(
    join(project, 'test', 'request-vote.test.ts'),
    codeBlockAfter('docs/testing.md', 'Example: your own recovery property test'),
  );
}, 120_000);

afterAll(() => {
  if (project !== '') rmSync(project, { recursive: true, force: true });
});

describe('a fresh project', () => {
  it("runs docs/testing.md's example with vitest's defaults and passes", async () => {
    const { stdout } = await inProject('npx', ['vitest', 'run', '--reporter=verbose']);
    expect(stdout).toContain('never grants two candidates a vote in the same term, even across a power cut');
    expect(stdout).toMatch(/Tests\s+1 passed \(1\)/);
  }, 120_000);

  it("type-checks docs/operations.md's channel example and every .d.ts the package ships as a strict consumer (no esModuleInterop, no skipLibCheck)", async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      `${JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          esModuleInterop: false,
          allowSyntheticDefaultImports: false,
          skipLibCheck: false,
          noEmit: true,
        },
        include: ['src'],
      })}\n`,
    );
    mkdirSync(join(project, 'src'));
    writeFileSync(
      join(project, 'src', 'channels.ts'),
      codeBlockAfter('docs/operations.md', 'Live stats and tracing'),
    );
    // Both entry points, so that every declaration file they reach is checked (skipLibCheck: false).
    writeFileSync(
      join(project, 'src', 'entry-points.ts'),
      [
        "import * as main from 'raft-metadata';",
        "import * as testing from 'raft-metadata/testing';",
        'export type Entry = [typeof main, typeof testing];',
        '',
      ].join('\n'),
    );
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    await expect(inProject(process.execPath, [tsc, '-p', '.'])).resolves.toMatchObject({ stdout: '' });
  }, 120_000);
});
