/**
 * Exit codes of the `raft-metadata` command. Stable: scripts may test them. docs/operations.md
 * lists them too; change both together.
 */
export const EXIT = {
  /** Success; for verify: the directory is clean. */
  ok: 0,
  /** verify: only a torn tail (recoverable). repair: plan printed, nothing changed. doctor: warnings. */
  torn: 1,
  /** verify, compact: the directory is corrupt (a node refuses to start). */
  corrupt: 2,
  /** DIR is missing, not a directory, or holds no metadata.json and no log file. */
  notMetadata: 3,
  /** compact, repair: another live process holds the directory's lock. */
  locked: 4,
  /** repair: refused, the disk does not prove the highest term (rerun with --min-term), or no term is left. */
  refused: 5,
  /** Bad command line (sysexits EX_USAGE). */
  usage: 64,
  /** Unexpected failure (sysexits EX_SOFTWARE). */
  software: 70,
  /** A system call failed: permission, I/O error... (sysexits EX_IOERR). */
  ioError: 74,
} as const;

export const PLAN_ONLY = EXIT.torn;
export const DOCTOR_WARNINGS = EXIT.torn;
