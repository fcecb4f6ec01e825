/** Running other programs: `sh` for a quick probe that may fail, `execFileAsync` for the measured ones. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

/** The trimmed stdout of `command args`, or undefined when it is missing or fails. */
export function sh(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
