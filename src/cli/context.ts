import type { FileSystem } from '../fs/types.js';
import type { Io } from './io.js';

/** What every command gets: parsed options, the directory, the output and the file system. */
export interface CommandContext {
  readonly dir: string;
  readonly json: boolean;
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly io: Io;
  /** The library's file system (the real disk); every byte goes through it. */
  readonly fs: FileSystem;
  /**
   * With --json: hands over the command's document (the fields after the envelope). It is printed
   * once the command has returned and cleaned up, so a failure on the way out still yields exactly
   * one document (the error's). Call it once, with the exit code the command returns.
   */
  emit(exitCode: number, body: Readonly<Record<string, unknown>>): void;
  /**
   * Ends the command without doing its job (a refusal, a directory that is not one, a failed
   * repair): with --json, `body` is the document (as {@link emit}); otherwise
   * `raft-metadata COMMAND: message` goes to stderr. Returns `exitCode`, for `return ctx.refuse(...)`.
   */
  refuse(exitCode: number, message: string, body: Readonly<Record<string, unknown>>): number;
}
