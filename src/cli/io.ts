/** Where a command writes. The real one is the process's stdout/stderr; tests may collect text. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** Writes lines to the process's stdout and stderr. */
export function processIo(): Io {
  return {
    out: (text) => {
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    err: (text) => {
      process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}

/** Prints `value` as indented JSON (the one document of a --json run). */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
