import { readFileSync } from 'node:fs';
import { MetadataError } from '../errors.js';
import { NodeFileSystem } from '../fs/node-fs.js';
import type { FileSystem } from '../fs/types.js';
import { type OptionSpecs, parseCommand, singleDir, UsageError } from './args.js';
import type { CommandContext } from './context.js';
import { EXIT } from './exit-codes.js';
import { type CommandName, commandHelp, isCommandName, topHelp, USAGE } from './help.js';
import type { Io } from './io.js';

interface Command {
  readonly options: OptionSpecs;
  /** Loaded on demand: a command starts faster without the others' modules. */
  load(): Promise<(ctx: CommandContext) => Promise<number>>;
}

const COMMANDS: Record<CommandName, Command> = {
  inspect: { options: {}, load: async () => (await import('./commands/inspect.js')).inspect },
  verify: {
    options: { quiet: { type: 'boolean', short: 'q' } },
    load: async () => (await import('./commands/verify.js')).verify,
  },
  dump: { options: {}, load: async () => (await import('./commands/dump.js')).dump },
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

function usageFailure(io: Io, err: UsageError): number {
  const command = err.command !== undefined && isCommandName(err.command) ? err.command : undefined;
  const usage = command
    ? `usage: ${USAGE[command]}`
    : 'usage: raft-metadata <inspect|verify|dump|compact|repair|doctor> [options] DIR';
  const more = command ? `raft-metadata ${command} --help` : 'raft-metadata --help';
  io.err(`raft-metadata${command ? ` ${command}` : ''}: ${err.message}\n${usage}\n(more: ${more})`);
  return EXIT.usage;
}

/**
 * Runs one command line (without `node` and the script) and returns the exit code. Errors become
 * messages on stderr and an exit code; nothing here calls process.exit.
 */
export async function run(argv: readonly string[], io: Io, fs?: FileSystem): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined) throw new UsageError('missing command');
    if (first === '--help' || first === '-h' || first === 'help') {
      const topic = rest[0];
      if (topic !== undefined && isCommandName(topic)) io.out(commandHelp(topic));
      else if (topic !== undefined) throw new UsageError(`unknown command ${JSON.stringify(topic)}`);
      else io.out(topHelp());
      return EXIT.ok;
    }
    if (first === '--version' || first === '-v') {
      io.out(version());
      return EXIT.ok;
    }
    if (!isCommandName(first)) {
      throw new UsageError(
        first.startsWith('-')
          ? `unknown option ${JSON.stringify(first)}`
          : `unknown command ${JSON.stringify(first)}`,
      );
    }
    const command = COMMANDS[first];
    const parsed = parseCommand(first, rest, command.options);
    if (parsed.values.help === true) {
      io.out(commandHelp(first));
      return EXIT.ok;
    }
    const dir = singleDir(first, parsed.positionals);
    const runCommand = await command.load();
    const ownFs = fs === undefined ? new NodeFileSystem() : undefined;
    try {
      return await runCommand({
        dir,
        json: parsed.values.json === true,
        values: parsed.values,
        io,
        fs: fs ?? (ownFs as FileSystem),
      });
    } finally {
      await ownFs?.dispose();
    }
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, err);
    const where = isCommandName(first ?? '') ? `raft-metadata ${first}` : 'raft-metadata';
    if (err instanceof MetadataError) {
      io.err(`${where}: ${err.message} (${err.code})`);
      if (err.code === 'ERR_METADATA_CORRUPT') return EXIT.corrupt;
      if (err.code === 'ERR_METADATA_LOCKED') return EXIT.locked;
      return EXIT.software;
    }
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
    if (code !== undefined && /^E[A-Z]+$/.test(code)) {
      io.err(`${where}: ${err instanceof Error ? err.message : String(err)}`);
      return EXIT.ioError;
    }
    io.err(`${where}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.software;
  }
}
