import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, cli } from './helpers.js';

const COMMANDS = ['inspect', 'verify', 'dump', 'compact', 'repair', 'doctor'];

describe.concurrent('command line', () => {
  it('prints the top-level help with every command and the exit codes', async () => {
    for (const args of [['--help'], ['help']]) {
      const { code, stdout, stderr } = await cli(...args);
      expect(code).toBe(0);
      expect(stderr).toBe('');
      expect(stdout).toContain('Usage: npx raft-metadata <command> [options] DIR');
      for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      expect(stdout).toContain('64 usage error');
      // The runbook as shipped in the package (next to dist/), and online.
      const runbook = /^Runbook: (\/.*operations\.md)$/m.exec(stdout)?.[1] ?? '';
      expect(readFileSync(runbook, 'utf8')).toContain('# Operations runbook');
      expect(stdout).toContain(
        '(online: https://github.com/raft-metadata/raft-metadata/blob/main/docs/operations.md)',
      );
    }
  });

  it('prints --help for every command', async () => {
    const results = await Promise.all(COMMANDS.map((command) => cli(command, '--help')));
    for (const [i, { code, stdout }] of results.entries()) {
      const command = COMMANDS[i] ?? '';
      expect(code, command).toBe(0);
      expect(stdout).toContain(`Usage: npx raft-metadata ${command} `);
      expect(stdout).toMatch(/^Exit|\nExit/);
    }
    expect((await cli('help', 'repair')).stdout).toBe(results[COMMANDS.indexOf('repair')]?.stdout);
  });

  it('exits 64 with a short usage on stderr for bad command lines', async () => {
    const cases: [string[], RegExp][] = [
      [[], /raft-metadata: missing command/],
      [['frobnicate', 'x'], /unknown command "frobnicate"/],
      [['--frob'], /unknown option "--frob"/],
      [['verify'], /raft-metadata verify: missing DIR argument/],
      [['verify', 'a', 'b'], /unexpected argument "b"/],
      [['dump', '--bogus', 'x'], /raft-metadata dump: Unknown option '--bogus'\n/],
      [['repair', '--min-term', 'abc', 'x'], /--min-term must be an integer >= 1, got "abc"/],
      // A negative number is a value, not an option (node's parser called it "ambiguous").
      [['repair', '--min-term', '-1', 'x'], /--min-term must be an integer >= 1, got "-1"/],
      [['repair', '--min-term', '0', 'x'], /--min-term must be an integer >= 1, got "0"/],
      [['doctor', '--duration', '-5', 'x'], /--duration must be an integer >= 50, got "-5"/],
      [['doctor', '--duration', '5', 'x'], /--duration must be an integer >= 50/],
      [['help', 'nope'], /unknown command "nope"/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    for (const [i, { code, stdout, stderr }] of results.entries()) {
      const [args, message] = cases[i] ?? [[], /./];
      expect(code, args.join(' ')).toBe(64);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/\nusage: npx raft-metadata /);
      expect(stderr).not.toContain('ambiguous');
      expect(stderr.split('\n').length).toBeLessThanOrEqual(4);
    }
  });

  it('is a node script (the bin entry)', () => {
    expect(readFileSync(CLI, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('prints the version', async () => {
    const { code, stdout } = await cli('--version');
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
