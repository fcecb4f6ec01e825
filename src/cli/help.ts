import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Help texts. Each command's usage line is also printed (on stderr) after a usage error. */

/** The program's name, in messages. */
export const PROGRAM = 'raft-metadata';
/**
 * How a user runs it, in suggested commands: the package is a project's dependency, so its bin is
 * in node_modules/.bin, not on PATH (a global install runs either way).
 */
export const RUN = `npx ${PROGRAM}`;

export const RUNBOOK_URL = 'https://github.com/raft-metadata/raft-metadata/blob/main/docs/operations.md';

/** Where the runbook is on this machine: shipped in the package, next to dist/. */
export function runbookPath(): string | undefined {
  const path = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));
  return existsSync(path) ? path : undefined;
}

function runbookText(): string {
  const path = runbookPath();
  return path === undefined
    ? `Runbook: ${RUNBOOK_URL}`
    : `Runbook: ${path}
  (online: ${RUNBOOK_URL})`;
}

export const COMMAND_NAMES = ['inspect', 'verify', 'dump', 'compact', 'repair', 'doctor'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const USAGE: Record<CommandName, string> = {
  inspect: `${RUN} inspect [--group N] [--json] DIR`,
  verify: `${RUN} verify [--group N] [--json | --quiet] DIR`,
  dump: `${RUN} dump [--group N] [--json] DIR`,
  compact: `${RUN} compact [--json] DIR`,
  repair: `${RUN} repair [--yes] [--min-term N] [--bump-term] [--json] DIR`,
  doctor: `${RUN} doctor [--json] [--duration MS] DIR`,
};

const TOP = `raft-metadata: inspect, check and repair a raft-metadata directory (a Raft node's currentTerm
and votedFor).

Usage: ${RUN} <command> [options] DIR

Commands (read-only unless marked):
  inspect   the state a node would load, the snapshot, each log file, the lock
  verify    exit 0 clean, 1 torn tail (recoverable), 2 corrupt, 3 not a metadata directory
  dump      every record with offset, sequence number, kind, value and status
  compact   (writes) open, compact into the snapshot, close; refuses while the directory is locked
  repair    (writes, only with --yes) back up, then fix a torn tail or corruption safely
  doctor    measure fdatasync latency on DIR's file system and warn about weak durability

Options:
  -h, --help     help (also: ${RUN} <command> --help)
  --version      print the version
  --json         one JSON document on stdout, whatever happens (every command; usage errors and
                 failures included): schemaVersion, command, dir, exitCode, ok, error, ...

Exit codes: 0 ok, 1 torn tail / plan only / warnings, 2 corrupt, 3 not a metadata directory,
4 locked, 5 repair refused, 64 usage error, 70 internal error, 74 I/O error.`;

const HELP: Record<CommandName, string> = {
  inspect: `Usage: ${USAGE.inspect}

Shows, without changing anything:
  - the state a node would load from DIR (term, vote, last sequence number), or why it would refuse
  - the format: v1 (0.1.0), v2, or v1 and v2 (an upgrade in progress), the directory id and the
    node identity stamped in the snapshot (or none), and every file of another directory
  - the snapshot (metadata.json): format version, sequence number it covers, checksum ok, size
  - each log file: format version, record count, first and last sequence number, and its tail:
    clean, or torn at byte N with K non-zero bytes after it, or corrupt at byte N
  - the lock: free, or held by pid P on host H since T (as LOCK records its owner)
  - a MetadataStore's directory (groups other than 0): how many live groups (how many with a
    vote), how many removed (tombstones), the range of their terms and the highest ones
Safe to run while a node is using DIR.

Options:
  --group N   the state of group N (live, removed, or never updated) in place of group 0's
  --json      print one JSON document
Exit: 0 (whatever the directory holds), 3 not a metadata directory, 64 usage, 74 I/O error.`,

  verify: `Usage: ${USAGE.verify}

Checks DIR with the library's own reader, read-only.
Exit:
  0  clean: a node loads it and nothing is discarded
  1  only a torn tail: the last write was cut short by a crash and never acknowledged; the next
     open keeps every valid record, starts a new log after them and removes the torn log
     (or run: ${RUN} compact DIR)
  2  corrupt: damage a crash cannot explain; a node refuses to start (ERR_METADATA_CORRUPT).
     The message says which file, which byte and what, including a file or record that
     "belongs to another directory" and a "log ... is missing". Next: ${RUN} repair DIR
The message also says each file's format version, the directory id and the node identity.
  3  not a metadata directory: DIR is missing, not a directory, or has no metadata.json and no
     log-*.wal file (an empty directory included: a node started there begins at term 0)
On a MetadataStore's directory (groups other than 0) it says how many groups a node loads.

Options:
  --group N print group N's state in place of the summary (the exit code is the directory's)
  --json    print one JSON document
  --quiet   print nothing, only the exit code (not with --json)
Also: 64 usage, 74 I/O error.`,

  dump: `Usage: ${USAGE.dump}

Lists the snapshot and every readable record of every log file: byte offset, sequence number, batch
index, kind (term or vote), the term and vote after the record, and its status (whole records of
another directory are FOREIGN rows, never damage):
  applied      replayed on top of the snapshot (part of the state a node loads)
  covered      at or below the snapshot's sequence number (the snapshot already has it)
  torn         in a torn tail (never acknowledged; discarded on open)
  rejected     the record at which replay stopped (sequence gap or broken Raft rule)
  not-reached  after the damage: readable, but a node never loads it
  foreign      in a log of another directory: never this node's state
Damaged byte ranges are listed where they are, and for each log where its valid records stop.
A record of a group other than 0 shows its group (term@g5); a removal is remove@gN.
Read-only; safe while a node runs.

Options:
  --group N   only group N's records (damaged ranges are listed whatever their group)
  --json      print one JSON document
Exit: 0, 3 not a metadata directory, 64 usage, 74 I/O error.`,

  compact: `Usage: ${USAGE.compact}

Opens DIR with the library (taking its lock), writes a snapshot covering every record, starts a
fresh log, removes the old logs and closes. A torn tail is dropped on the way (it was never
acknowledged). A directory with groups other than 0 is opened as a MetadataStore (every group
and tombstone kept). Refuses while another live process holds the lock.

Options:
  --json   print one JSON document
Exit: 0 done, 2 corrupt (use repair), 3 not a metadata directory (compact never creates one),
4 locked by another process, 64 usage, 74 I/O error.`,

  repair: `Usage: ${USAGE.repair}

Without --yes: prints the diagnosis and the plan, changes nothing (exit 1 if there is something
to do, 0 if the directory is clean).
With --yes: takes the directory's lock through the library (refuses, exit 4, while another
process holds it), copies every metadata file into DIR/backup-<time>/ (files of another
directory into its foreign/: they are removed from DIR, never replayed), creates the empty log the
new snapshot names, writes the snapshot with the directory's id and node identity, then:
  torn tail   writes the state a node loads as the snapshot and removes the old logs (what an
              open plus compaction does); nothing acknowledged is lost, the vote is kept.
  corrupt     writes a snapshot with term = 1 + the highest term in any readable record or
              snapshot (records after the damage included) and no vote, covering the highest
              sequence number seen, and removes the old logs. The node can then vote at most once,
              in a term above any term it may already have voted in.
  --min-term  (or --bump-term) on a clean or torn directory: the same new-term repair.
  groups      a MetadataStore's directory (groups other than 0): per group. A group whose state
              the disk proves keeps it (term and vote); every other group, and every group with
              --min-term/--bump-term on a clean or torn directory, moves to
              max(its highest term seen + 1, --min-term) with no vote. Tombstones stay tombstones
              (raised the same way). The new snapshot holds every group.
It then loads the directory again with the library and prints the state before and after.

Options:
  --yes          make the changes (without it: plan only)
  --min-term N   move to a new term of at least N with no vote: the new term is
                 max(N, highest term seen + 1); an N not above the highest term seen is
                 overridden, with a warning. Required when the disk does not prove the highest
                 term the node reached (a damaged snapshot with no readable record after it,
                 damage at the end of the newest log, a missing log, files of another
                 directory): use a term above any term the cluster
                 reached, e.g. the leader's current term + 1. Given on a clean directory, raising
                 the term is the repair.
  --bump-term    also move to a new term with no vote when the directory is clean or only torn
                 (if you suspect the disk rather than a crash damaged the last write)
  --json         print one JSON document
Exit: 0 repaired or nothing to do, 1 plan only (rerun with --yes), 3 not a metadata directory,
4 locked, 5 refused (needs --min-term), 64 usage, 70 repair failed its check, 74 I/O error.`,

  doctor: `Usage: ${USAGE.doctor}

Measures write+fdatasync latency on DIR's file system through the library's own I/O path (a
temporary file inside DIR, removed afterwards) and warns about what makes durability weak or
slow there: tmpfs/ramfs (lost on reboot), network file systems (NFS, SMB/CIFS), FUSE, fsync that
returns in microseconds (probably not reaching stable storage), macOS (fsync does not flush the
drive's cache). Safe while a node runs (it only adds load for the duration).

Options:
  --duration MS   how long to measure (default 1000, 50..60000)
  --json          print one JSON document
Exit: 0 no warnings, 1 warnings, 3 DIR missing or not a directory, 64 usage, 74 I/O error.`,
};

export function topHelp(): string {
  return `${TOP}\n${runbookText()}`;
}

export function commandHelp(name: CommandName): string {
  return HELP[name];
}

export function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}
