import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MetadataError } from '../errors.js';
import { NodeFileSystem } from '../fs/node-fs.js';
import type { FileSystem } from '../fs/types.js';
import { type OptionSpecs, parseCommand, singleDir, UsageError } from './args.js';
import type { CommandContext } from './context.js';
import { envelope, errorJson } from './document.js';
import { EXIT } from './exit-codes.js';
import { type CommandName, commandHelp, isCommandName, PROGRAM, RUN, topHelp, USAGE } from './help.js';
import { type Io, printJson } from './io.js';

interface Command {
  readonly options: OptionSpecs;
  /** Loaded on demand: a command starts faster without the others' modules. */
  load(): Promise<(ctx: CommandContext) => Promise<number>>;
}

const COMMANDS: Record<CommandName, Command> = {
  inspect: {
    options: { group: { type: 'string' } },
    load: async () => (await import('./commands/inspect.js')).inspect,
  },
  verify: {
    options: { quiet: { type: 'boolean', short: 'q' }, group: { type: 'string' } },
    load: async () => (await import('./commands/verify.js')).verify,
  },
  dump: {
    options: { group: { type: 'string' } },
    load: async () => (await import('./commands/dump.js')).dump,
  },
  compact: { options: {}, load: async () => (await import('./commands/compact.js')).compact },
  repair: {
    options: {
      yes: { type: 'boolean', short: 'y' },
      'min-term': { type: 'string' },
      'bump-term': { type: 'boolean' },
    },
    load: async () => (await import('./commands/repair.js')).repair,
  },
  doctor: {
    options: { duration: { type: 'string' } },
    load: async () => (await import('./commands/doctor.js')).doctor,
  },
};

function version(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg) return String(pkg.version);
  } catch {
    // Fall through.
  }
  return 'unknown';
}

/**
 * Whether the command line asks for JSON. Looked up before parsing, so that a command line that
 * does not parse still gets its one JSON document.
 */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

function usageLine(command: CommandName | undefined): string {
  return command
    ? `usage: ${USAGE[command]}`
    : `usage: ${RUN} <inspect|verify|dump|compact|repair|doctor> [options] DIR`;
}

/** The exit code for a thrown value, and its text (for stderr). */
function failure(err: unknown, where: string): { code: number; text: string } {
  if (err instanceof MetadataError) {
    const code =
      err.code === 'ERR_METADATA_CORRUPT'
        ? EXIT.corrupt
        : err.code === 'ERR_METADATA_LOCKED'
          ? EXIT.locked
          : err.code === 'ERR_LOCK_UNAVAILABLE'
            ? EXIT.ioError
            : EXIT.software;
    return { code, text: `${where}: ${err.message} (${err.code})` };
  }
  const errno = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
  if (errno !== undefined && /^E[A-Z]+$/.test(errno)) {
    return { code: EXIT.ioError, text: `${where}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { code: EXIT.software, text: `${where}: unexpected error: ${detail}` };
}

/**
 * Runs one command line (without `node` and the script) and returns the exit code. Errors become
 * messages on stderr (or, with --json, the document's `error`) and an exit code; nothing here
 * calls process.exit. With --json, stdout gets exactly one JSON document on every path.
 */
export async function run(argv: readonly string[], io: Io, fs?: FileSystem): Promise<number> {
  const json = wantsJson(argv);
  // --json may come anywhere before `--` (`raft-metadata --json verify DIR` too).
  const end = argv.indexOf('--');
  const args =
    end < 0
      ? argv.filter((a) => a !== '--json')
      : [...argv.slice(0, end).filter((a) => a !== '--json'), ...argv.slice(end)];
  const [first, ...rest] = args;
  const command: CommandName | null = first !== undefined && isCommandName(first) ? first : null;
  let dir: string | null = null;
  let pending: { exitCode: number; body: Readonly<Record<string, unknown>> } | undefined;
  /** Text mode: print `text`; JSON mode: print the document `body`. */
  const finish = (
    exitCode: number,
    text: string,
    body: Readonly<Record<string, unknown>>,
    stream: 'out' | 'err' = 'out',
  ): number => {
    if (json) printJson(io, envelope(command, dir, exitCode, body));
    else io[stream](text);
    return exitCode;
  };
  try {
    if (first === undefined) throw new UsageError('missing command');
    if (first === '--help' || first === '-h' || first === 'help') {
      const topic = rest[0];
      if (topic !== undefined && !isCommandName(topic))
        throw new UsageError(`unknown command ${JSON.stringify(topic)}`);
      const text = topic === undefined ? topHelp() : commandHelp(topic);
      if (json) {
        printJson(io, envelope(topic ?? null, null, EXIT.ok, { help: text }));
        return EXIT.ok;
      }
      io.out(text);
      return EXIT.ok;
    }
    if (first === '--version' || first === '-v') {
      return finish(EXIT.ok, version(), { version: version() });
    }
    if (command === null) {
      throw new UsageError(
        first.startsWith('-')
          ? `unknown option ${JSON.stringify(first)}`
          : `unknown command ${JSON.stringify(first)}`,
      );
    }
    const spec = COMMANDS[command];
    const parsed = parseCommand(command, rest, spec.options);
    if (parsed.values.help === true)
      return finish(EXIT.ok, commandHelp(command), { help: commandHelp(command) });
    const given = singleDir(command, parsed.positionals);
    dir = resolve(given);
    const runCommand = await spec.load();
    const ownFs = fs === undefined ? new NodeFileSystem() : undefined;
    const emit = (exitCode: number, body: Readonly<Record<string, unknown>>): void => {
      pending = { exitCode, body };
    };
    let code: number;
    try {
      code = await runCommand({
        dir: given,
        json,
        values: parsed.values,
        io,
        fs: fs ?? (ownFs as FileSystem),
        emit,
        refuse: (exitCode, message, body) => {
          if (json) emit(exitCode, body);
          else io.err(`${PROGRAM} ${command}: ${message}`);
          return exitCode;
        },
      });
    } finally {
      await ownFs?.dispose();
    }
    if (json) {
      if (pending === undefined) throw new Error(`${command} printed no JSON document`);
      if (pending.exitCode !== code)
        throw new Error(`${command}: document says exit ${pending.exitCode}, not ${code}`);
      printJson(io, envelope(command, dir, code, pending.body));
    }
    return code;
  } catch (err) {
    const where = command ? `${PROGRAM} ${command}` : PROGRAM;
    if (err instanceof UsageError) {
      const about = err.command !== undefined && isCommandName(err.command) ? err.command : undefined;
      const more = about ? `${RUN} ${about} --help` : `${RUN} --help`;
      return finish(
        EXIT.usage,
        `${PROGRAM}${about ? ` ${about}` : ''}: ${err.message}\n${usageLine(about)}\n(more: ${more})`,
        {
          usage: usageLine(about).replace(/^usage: /, ''),
          error: { code: 'ERR_USAGE', message: err.message },
        },
        'err',
      );
    }
    const { code, text } = failure(err, where);
    if (json && code === EXIT.software) io.err(text); // the stack, for a bug report
    return finish(code, text, { error: errorJson(err) }, 'err');
  }
}
