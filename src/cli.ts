#!/usr/bin/env node
import { processIo } from './cli/io.js';
/**
 * The `raft-metadata` command: inspect, verify, dump, compact, repair, doctor.
 * See `raft-metadata --help` and docs/operations.md.
 */
import { run } from './cli/main.js';

// `raft-metadata dump DIR | head` closes stdout early: stop quietly instead of crashing.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), processIo());
