import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { NodeFileSystem } from '../../src/fs/node-fs.js';
import type { FileSystem } from '../../src/fs/types.js';
import {
  cli,
  flipByte,
  foreignLogDirectory,
  foreignRecordsDirectory,
  HISTORY,
  holdOpen,
  makeDirectory,
  missingLogDirectory,
  multiGroupDirectory,
  newestLog,
  ROOT,
  slot,
  storeDirectory,
  tempDir,
  v1Copy,
  writeAt,
} from './helpers.js';

/**
 * `--json` is one document on stdout on every exit path, and every document matches the JSON
 * Schema shipped in docs/schema/ for its command. Each case below is a real run of the built CLI
 * (or, for exit 70, of `run()` with a file system that fails in a way no real disk does).
 */

const SCHEMA_DIR = join(ROOT, 'docs', 'schema');
const COMMANDS = ['inspect', 'verify', 'dump', 'compact', 'repair', 'doctor'] as const;

type Json = Record<string, unknown>;

/**
 * The schemas as 0.1.0 shipped them (schema version 1, before format v2): a document of this
 * version about a directory 0.1.0 could describe must still match them, since the new fields are
 * only added (at the top level of a result, which these schemas leave open).
 */
const RELEASED_DIR = join(ROOT, 'test', 'cli', 'schema-0.1.0');

function loadSchemas(closed: boolean, dir = SCHEMA_DIR): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.schema.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Json;
    // The shipped result shapes allow fields added later in schema version 1. Here they are
    // closed, so that a field the code prints and the schema does not know fails the test.
    if (closed && Array.isArray(schema.oneOf)) {
      for (const branch of schema.oneOf as Json[]) {
        if (branch.title === 'result') branch.additionalProperties = false;
      }
    }
    ajv.addSchema(schema);
  }
  return ajv;
}

const shipped = loadSchemas(false);
const closed = loadSchemas(true);
const released = loadSchemas(false, RELEASED_DIR);
const BASE = 'https://github.com/raft-metadata/raft-metadata/raw/main/docs/schema/';

function validator(ajv: Ajv2020, name: string): ValidateFunction {
  const v = ajv.getSchema(`${BASE}${name}.schema.json`);
  if (v === undefined) throw new Error(`no schema ${name}`);
  return v;
}

/** Checks one document against its command's schema (closed and as shipped) and the catch-all. */
function expectValid(doc: Json): void {
  const name = typeof doc.command === 'string' ? doc.command : 'raft-metadata';
  for (const [ajv, which] of [
    [closed, 'closed'],
    [shipped, 'shipped'],
  ] as const) {
    for (const schema of [name, 'raft-metadata']) {
      const validate = validator(ajv, schema);
      const valid = validate(doc);
      expect(
        valid,
        `${which} ${schema}.schema.json: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}\n${JSON.stringify(doc)}`,
      ).toBe(true);
    }
  }
}

/** Runs the built CLI with --json: exactly one JSON document on stdout, nothing on stderr. */
async function jsonRun(...args: string[]): Promise<{ code: number; doc: Json }> {
  const { code, stdout, stderr } = await cli(...args);
  let doc: Json;
  try {
    doc = JSON.parse(stdout) as Json;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${code}): ${stdout}\n${stderr}`);
  }
  expect(stderr, args.join(' ')).toBe('');
  expect(doc.exitCode, args.join(' ')).toBe(code);
  expect(doc.schemaVersion).toBe(1);
  expect(doc.ok).toBe(code === 0);
  expectValid(doc);
  return { code, doc };
}

/** A directory whose only log is a directory: reading it fails with EISDIR (exit 74), even as root. */
function unreadableDirectory(): string {
  const dir = join(tempDir(), 'meta');
  mkdirSync(join(dir, 'log-0000000000000001.wal'), { recursive: true });
  return dir;
}

async function tornDirectory(): Promise<string> {
  const dir = await makeDirectory(HISTORY);
  writeAt(newestLog(dir), slot(4), new Uint8Array(10).fill(7));
  return dir;
}

async function corruptDirectory(): Promise<string> {
  const dir = await makeDirectory(HISTORY);
  flipByte(newestLog(dir), slot(1) + 20);
  return dir;
}

/** Compacted, then the snapshot's term edited: the disk cannot prove the highest term (repair exit 5). */
async function unprovenDirectory(): Promise<string> {
  const dir = await makeDirectory([...HISTORY, 'sync']);
  const path = join(dir, 'metadata.json');
  writeFileSync(path, readFileSync(path, 'utf8').replace('"groups":[[0,7,1]]', '"groups":[[0,6,1]]'));
  return dir;
}

describe.concurrent('--json: one document on every exit path, matching docs/schema', () => {
  it('top level: help, version, usage errors', async () => {
    expect((await jsonRun('--help', '--json')).doc).toMatchObject({
      command: null,
      help: expect.any(String),
    });
    expect((await jsonRun('--version', '--json')).doc).toMatchObject({
      command: null,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    // --json anywhere before the command works too.
    expect((await jsonRun('--json', '--help')).doc).toMatchObject({ command: null, exitCode: 0 });
    expect((await jsonRun('--json', 'verify', join(tempDir(), 'nope'))).doc).toMatchObject({
      command: 'verify',
      exitCode: 3,
    });
    for (const args of [
      ['--json'],
      ['frobnicate', 'x', '--json'],
      ['help', 'nope', '--json'],
      ['--frob', '--json'],
    ]) {
      const { code, doc } = await jsonRun(...args);
      expect(code).toBe(64);
      expect(doc).toMatchObject({ command: null, dir: null, error: { code: 'ERR_USAGE' } });
    }
  });

  it('every command: --help, and usage errors (exit 64)', async () => {
    await Promise.all(
      COMMANDS.map(async (command) => {
        const help = await jsonRun(command, '--help', '--json');
        expect(help.doc).toMatchObject({
          command,
          exitCode: 0,
          help: expect.stringContaining(`npx raft-metadata ${command}`),
        });
        expect((await jsonRun('help', command, '--json')).doc).toEqual(help.doc);
        const missing = await jsonRun(command, '--json');
        expect(missing.doc).toMatchObject({
          command,
          exitCode: 64,
          dir: null,
          error: { code: 'ERR_USAGE', message: 'missing DIR argument' },
          usage: expect.stringContaining(`npx raft-metadata ${command}`),
        });
        const unknown = await jsonRun(command, '--bogus', 'x', '--json');
        expect(unknown.doc).toMatchObject({ exitCode: 64, error: { message: "Unknown option '--bogus'" } });
      }),
    );
    const quiet = await jsonRun('verify', '--quiet', 'x', '--json');
    expect(quiet.doc).toMatchObject({
      exitCode: 64,
      error: { message: '--quiet and --json exclude each other' },
    });
  });

  it('inspect: 0, 3 (lock missing), 74', async () => {
    const clean = await jsonRun('inspect', await makeDirectory(HISTORY), '--json');
    expect(clean.code).toBe(0);
    expect(clean.doc).toMatchObject({ verdict: 'clean', lock: { state: 'free' }, corruption: null });
    const missing = await jsonRun('inspect', join(tempDir(), 'nope'), '--json');
    expect(missing.code).toBe(3);
    expect(missing.doc).toMatchObject({ kind: 'missing', lock: { state: 'missing' } });
    const failed = await jsonRun('inspect', unreadableDirectory(), '--json');
    expect(failed.code).toBe(74);
    expect(failed.doc.error).toMatchObject({ code: 'EISDIR', syscall: 'read' });
  });

  it('verify: 0, 1, 2, 3, 74', async () => {
    const dirs = [
      await makeDirectory(HISTORY),
      await tornDirectory(),
      await corruptDirectory(),
      join(tempDir(), 'nope'),
      unreadableDirectory(),
    ];
    const results = await Promise.all(dirs.map((dir) => jsonRun('verify', '--json', dir)));
    expect(results.map((r) => r.code)).toEqual([0, 1, 2, 3, 74]);
    expect(results.map((r) => r.doc.verdict)).toEqual([
      'clean',
      'torn',
      'corrupt',
      'not-metadata',
      undefined,
    ]);
    expect(results[1]?.doc.logs).toMatchObject([{ tail: { kind: 'torn', offset: slot(4), bytesAfter: 10 } }]);
    expect(results[2]?.doc.corruption).toMatchObject({ code: 'ERR_METADATA_CORRUPT', offset: slot(1) });
    // A missing directory has no lock at all (it used to say "free").
    expect(results[3]?.doc.lock).toEqual({ state: 'missing' });
  });

  it('dump: 0, 3, 74', async () => {
    const ok = await jsonRun('dump', await corruptDirectory(), '--json');
    expect(ok.code).toBe(0);
    const empty = join(tempDir(), 'empty');
    mkdirSync(empty);
    const none = await jsonRun('dump', empty, '--json');
    expect(none.code).toBe(3);
    expect(none.doc).toMatchObject({ kind: 'no-metadata', logs: [] });
    expect((await jsonRun('dump', unreadableDirectory(), '--json')).code).toBe(74);
  });

  it('compact: 0, 2, 3, 74', async () => {
    const ok = await jsonRun('compact', await makeDirectory(HISTORY), '--json');
    expect(ok.code).toBe(0);
    expect(ok.doc).toMatchObject({
      refusal: null,
      after: { state: { currentTerm: 7, votedFor: 1, lastSeq: 6 } },
    });
    const corrupt = await jsonRun('compact', await corruptDirectory(), '--json');
    expect(corrupt.code).toBe(2);
    expect(corrupt.doc).toMatchObject({ after: null, refusal: { reason: 'corrupt' } });
    const missing = await jsonRun('compact', join(tempDir(), 'nope'), '--json');
    expect(missing.code).toBe(3);
    expect(missing.doc).toMatchObject({ refusal: { reason: 'not-metadata' } });
    expect((await jsonRun('compact', unreadableDirectory(), '--json')).code).toBe(74);
  });

  it('repair: 0, 1, 3, 5, 64, 74', async () => {
    const clean = await jsonRun('repair', '--yes', await makeDirectory(HISTORY), '--json');
    expect(clean.code).toBe(0);
    expect(clean.doc).toMatchObject({ applied: false, strategy: 'none', message: 'Nothing to repair.' });
    const plan = await jsonRun('repair', await corruptDirectory(), '--json');
    expect(plan.code).toBe(1);
    expect(plan.doc).toMatchObject({ applied: false, strategy: 'new-term', refusal: null, result: null });
    const applied = await jsonRun('repair', '--yes', await corruptDirectory(), '--json');
    expect(applied.code).toBe(0);
    expect(applied.doc).toMatchObject({ applied: true, result: { state: { currentTerm: 8, votedFor: 0 } } });
    const missing = await jsonRun('repair', '--yes', join(tempDir(), 'nope'), '--json');
    expect(missing.code).toBe(3);
    // The same fields as any other repair document (they used to be missing on refusals).
    expect(missing.doc).toMatchObject({
      strategy: 'none',
      refusal: { reason: 'not-metadata' },
      lock: { state: 'missing' },
    });
    const unproven = await jsonRun('repair', '--yes', await unprovenDirectory(), '--json');
    expect(unproven.code).toBe(5);
    expect(unproven.doc).toMatchObject({ needsMinTerm: true, refusal: { reason: 'needs-min-term' } });
    const negative = await jsonRun('repair', '--min-term', '-1', 'x', '--json');
    expect(negative.doc).toMatchObject({
      exitCode: 64,
      error: { message: '--min-term must be an integer >= 1, got "-1"' },
    });
    expect((await jsonRun('repair', unreadableDirectory(), '--json')).code).toBe(74);
  });

  it('doctor: 0 or 1, 3, 64', async () => {
    const measured = await jsonRun('doctor', '--duration', '50', tempDir(), '--json');
    expect([0, 1]).toContain(measured.code);
    expect(measured.doc).toMatchObject({ refusal: null, summary: expect.any(String) });
    const missing = await jsonRun('doctor', join(tempDir(), 'nope'), '--json');
    expect(missing.code).toBe(3);
    expect(missing.doc).toMatchObject({ fileSystem: null, refusal: { reason: 'not-a-directory' } });
    expect((await jsonRun('doctor', '--duration', '5', 'x', '--json')).code).toBe(64);
  });

  it('the lock: held, in the same shape in inspect, verify, compact and repair (exit 4)', async () => {
    const dir = await makeDirectory(HISTORY);
    const holder = await holdOpen(dir);
    try {
      const owner = { pid: holder.pid, hostname: hostname(), startedAt: expect.any(String) };
      const held = { state: 'held', owner };
      expect((await jsonRun('inspect', dir, '--json')).doc.lock).toEqual(held);
      expect((await jsonRun('verify', dir, '--json')).doc.lock).toEqual(held);
      const compact = await jsonRun('compact', dir, '--json');
      expect(compact.code).toBe(4);
      expect(compact.doc).toMatchObject({ lock: held, refusal: { reason: 'locked', lock: held } });
      const repair = await jsonRun('repair', '--yes', '--bump-term', dir, '--json');
      expect(repair.code).toBe(4);
      expect(repair.doc).toMatchObject({
        applied: false,
        lock: held,
        refusal: { reason: 'locked', lock: held },
      });
      const plan = await jsonRun('repair', '--bump-term', dir, '--json');
      expect(plan.code).toBe(4);
      expect(plan.doc).toMatchObject({ refusal: { reason: 'locked', lock: held } });
      const { startedAt } = (compact.doc.lock as { owner: { startedAt: string } }).owner;
      expect(new Date(startedAt).toISOString()).toBe(startedAt);
    } finally {
      await holder.stop();
    }
    // Released: free, with the last owner for information.
    const after = await jsonRun('inspect', dir, '--json');
    expect(after.doc.lock).toMatchObject({ state: 'free', lastOwner: { pid: holder.pid } });
  });
});

describe.concurrent('--json on format v1 and v2, and on files of another directory', () => {
  const commands = [['inspect'], ['verify'], ['dump'], ['repair'], ['repair', '--min-term', '50']] as const;

  it('every read command and repair plan matches the schemas, with the format and identity fields', async () => {
    const dirs = [
      v1Copy('snapshot-and-log'),
      v1Copy('damaged'),
      v1Copy('torn-tail'),
      (await foreignLogDirectory()).dir,
      await foreignRecordsDirectory(),
      await missingLogDirectory(),
      await corruptDirectory(),
      await multiGroupDirectory(),
    ];
    // Directories in parallel; on each, the commands in order (the applied repair last).
    await Promise.all(
      dirs.map(async (dir) => {
        for (const args of [...commands, ['repair', '--yes', '--bump-term']] as const) {
          const { doc } = await jsonRun(...args, dir, '--json');
          expect(doc.format, `${args.join(' ')} ${dir}`).toMatchObject({ summary: expect.any(String) });
        }
      }),
    );
  }, 180_000);

  it('inspect, verify and dump of a multi-group directory, with and without --group, match the schemas', async () => {
    const dir = await storeDirectory();
    const corrupt = await storeDirectory();
    flipByte(newestLog(corrupt), slot(0) + 20);
    await Promise.all(
      [dir, corrupt].flatMap((d) =>
        ['inspect', 'verify', 'dump'].flatMap((command) =>
          [[], ['--group', '7'], ['--group', '9'], ['--group', '123']].map(async (extra) => {
            const { doc } = await jsonRun(command, ...extra, d, '--json');
            expect(doc.groups).toMatchObject({ multiGroup: true, loaded: d === dir });
            if (extra.length > 0) expect(doc).toHaveProperty('group');
          }),
        ),
      ),
    );
  }, 120_000);

  it('compact of a multi-group directory matches the schema (exit 0, and 2 when corrupt)', async () => {
    const { code, doc } = await jsonRun('compact', await multiGroupDirectory(), '--json');
    expect(code).toBe(0);
    expect(doc).toMatchObject({ refusal: null, stats: { groups: 2, removedGroups: 1 } });
    const corrupt = await storeDirectory();
    flipByte(newestLog(corrupt), slot(0) + 20);
    const refused = await jsonRun('compact', corrupt, '--json');
    expect(refused.code).toBe(2);
    expect(refused.doc).toMatchObject({ refusal: { reason: 'corrupt' }, groups: { loaded: false } });
  });

  it('a per-group repair of a multi-group directory matches the schema (plan, exit 5, applied)', async () => {
    const dir = await storeDirectory();
    flipByte(newestLog(dir), slot(0) + 20);
    const refused = await jsonRun('repair', dir, '--json');
    expect(refused.code).toBe(5);
    expect(refused.doc).toMatchObject({
      groupRepairs: { kept: 1, raised: 3 },
      refusal: { reason: 'needs-min-term' },
    });
    const plan = await jsonRun('repair', '--min-term', '10', dir, '--json');
    expect(plan.code).toBe(1);
    const applied = await jsonRun('repair', '--yes', '--min-term', '10', dir, '--json');
    expect(applied.code).toBe(0);
    expect(applied.doc).toMatchObject({ repaired: { groups: { live: 3, removed: 1 } } });
  }, 60_000);

  it('a repair that sets a foreign log aside matches the schema (applied)', async () => {
    const { dir } = await foreignLogDirectory();
    const { code, doc } = await jsonRun('repair', '--yes', '--min-term', '9', dir, '--json');
    expect(code).toBe(0);
    expect(doc).toMatchObject({ repaired: { setAside: [{ name: 'log-0000000000000003.wal' }] } });
  });

  it("documents about directories 0.1.0 could describe still match 0.1.0's schemas (fields only added)", async () => {
    const dirs = [
      v1Copy('snapshot-and-log'),
      v1Copy('damaged'),
      await makeDirectory(HISTORY),
      await tornDirectory(),
      await corruptDirectory(),
    ];
    await Promise.all(
      dirs.map(async (dir) => {
        for (const args of [...commands, ['repair', '--yes', '--bump-term'], ['compact']] as const) {
          const { doc } = await jsonRun(...args, dir, '--json');
          const command = String(doc.command);
          for (const schema of [command, 'raft-metadata']) {
            const validate = validator(released, schema);
            expect(
              validate(doc),
              `0.1.0 ${schema}.schema.json: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`,
            ).toBe(true);
          }
        }
      }),
    );
  }, 180_000);
});

/** A file system that fails the way no real one does (a plain Error, no errno): exit 70. */
function brokenFs(method: 'readdir' | 'rename'): { fs: FileSystem; dispose(): Promise<void> } {
  const real = new NodeFileSystem();
  const fs = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === method) return async () => Promise.reject(new Error(`${method} is broken`));
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { fs, dispose: () => real.dispose() };
}

async function runInProcess(
  fs: FileSystem,
  ...args: string[]
): Promise<{ code: number; doc: Json; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, { out: (t) => out.push(t), err: (t) => err.push(t) }, fs);
  expect(out).toHaveLength(1);
  const doc = JSON.parse(out[0] ?? '') as Json;
  expect(doc.exitCode).toBe(code);
  expectValid(doc);
  return { code, doc, err: err.join('\n') };
}

describe('--json on an internal error (exit 70)', () => {
  it('a failure inside a command', async () => {
    const broken = brokenFs('readdir');
    try {
      const { code, doc, err } = await runInProcess(
        broken.fs,
        'verify',
        await makeDirectory(HISTORY),
        '--json',
      );
      expect(code).toBe(70);
      expect(doc).toMatchObject({
        command: 'verify',
        ok: false,
        error: { code: 'ERR_INTERNAL', message: 'readdir is broken' },
      });
      expect(err).toContain('unexpected error'); // the stack goes to stderr, for a bug report
    } finally {
      await broken.dispose();
    }
  });

  it('a repair that fails half-way', async () => {
    const broken = brokenFs('rename');
    try {
      const { code, doc } = await runInProcess(
        broken.fs,
        'repair',
        '--yes',
        await corruptDirectory(),
        '--json',
      );
      expect(code).toBe(70);
      expect(doc).toMatchObject({
        applied: false,
        strategy: 'new-term',
        error: {
          code: 'ERR_REPAIR_FAILED',
          message: expect.stringContaining('repair FAILED: rename is broken'),
        },
      });
    } finally {
      await broken.dispose();
    }
  });
});
