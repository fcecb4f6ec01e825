/**
 * The benchmark's peers live in their own install (bench/peers/node_modules, made by
 * `node scripts/ensure-install.js bench/peers` on the first `npm run bench`), so that the package's
 * `npm install` does not build better-sqlite3 and classic-level. A bare `import()` from this file
 * resolves from this folder, which is how the rest of bench/ reaches them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Imports a peer from bench/peers/node_modules. */
export const importPeer = (name) => import(name);

/** The installed version of a peer, or undefined when it is not installed. */
export function peerVersion(name) {
  try {
    return JSON.parse(readFileSync(join(import.meta.dirname, 'node_modules', name, 'package.json'), 'utf8'))
      .version;
  } catch {
    return undefined;
  }
}
