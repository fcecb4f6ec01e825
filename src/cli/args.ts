import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A bad command line: printed with a short usage on stderr, exit 64. */
export class UsageError extends Error {
  /** The command whose usage to print, or undefined for the top level. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const satisfies OptionSpecs;

export interface ParsedCommand {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/**
 * `--min-term -1` as `--min-term=-1`: node's parser takes a value that starts with `-` for an
 * option and calls the argument ambiguous. A negative number is a value; the option's own check
 * then says what is wrong with it.
 */
function joinNegativeValues(argv: readonly string[], options: OptionSpecs): string[] {
  const takesValue = new Set(
    Object.entries(options)
      .filter(([, spec]) => spec.type === 'string')
      .map(([name]) => `--${name}`),
  );
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (takesValue.has(arg) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Parses a command's arguments strictly (unknown options and missing values are usage errors). */
export function parseCommand(command: string, argv: readonly string[], options: OptionSpecs): ParsedCommand {
  try {
    const { values, positionals } = parseArgs({
      args: joinNegativeValues(argv, options),
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    const flat: Record<string, string | boolean | undefined> = {};
    for (const [key, value] of Object.entries(values)) {
      flat[key] = Array.isArray(value) ? value.at(-1) : value;
    }
    return { values: flat, positionals };
  } catch (err) {
    // Node's messages for unknown options go on about `--`; the first sentence is what matters.
    const message = err instanceof Error ? err.message : String(err);
    const first = (message.split('\n')[0] ?? message).replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(first, command);
  }
}

/** The single DIR argument of a command. */
export function singleDir(command: string, positionals: readonly string[]): string {
  const [dir, ...extra] = positionals;
  if (dir === undefined || dir.length === 0) throw new UsageError('missing DIR argument', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, command);
  return dir;
}

/** A positive safe integer option (`--min-term 12`), or undefined when absent. */
export function integerOption(
  command: string,
  name: string,
  value: string | boolean | undefined,
  min: number,
): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const n = Number(text);
  // Digits only: `-0` (and any sign) is refused like `-1`, not read as 0.
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`, command);
  }
  return n;
}

/** `--group N` (inspect, verify, dump): a group id, a safe non-negative integer; undefined when absent. */
export function groupOption(command: string, value: string | boolean | undefined): number | undefined {
  return integerOption(command, 'group', value, 0);
}
