import { createHash } from 'node:crypto';
import type { PendingState } from './crash.js';
import type { Namespace } from './namespace.js';
import { applyWrite, hex } from './nodes.js';

/** What a test can read off a simulated disk without an operation. Internal to raft-metadata/testing. */

/** The durable bytes of the file that durably has the name `path`, if the name is durable. */
export function durableBytes(ns: Namespace, path: string): Uint8Array | undefined {
  const id = ns.resolveIn('durable', path);
  const node = id === undefined ? undefined : ns.nodes.get(id);
  if (node?.kind !== 'file') return undefined;
  let bytes: Uint8Array = node.base.slice();
  for (const w of node.writes) if (w.synced) bytes = applyWrite(bytes, w.bytes, w.position);
  return bytes;
}

/** A digest of the whole state (names, bytes, durable and pending). */
export function fingerprintOf(ns: Namespace): string {
  const hash = createHash('sha256');
  for (const node of ns.sortedNodes()) {
    if (node.kind === 'dir') {
      const entries = [...node.entries].sort(([a], [b]) => (a < b ? -1 : 1));
      const durable = [...node.durable].sort(([a], [b]) => (a < b ? -1 : 1));
      hash.update(`dir ${node.id} ${JSON.stringify(entries)} ${JSON.stringify(durable)}\n`);
    } else {
      // `base` matters only while writes are pending (otherwise it equals `data`).
      hash.update(`file ${node.id} ${hex(node.data)} ${node.writes.length > 0 ? hex(node.base) : '-'}\n`);
      for (const w of node.writes) {
        hash.update(`  w ${w.position} ${hex(w.bytes)} ${w.synced} ${w.limbo}\n`);
      }
    }
  }
  for (const op of ns.dirOps) hash.update(`op ${op.description}\n`);
  return hash.digest('hex');
}

/** A readable listing of the files, their sizes and what is pending. */
export function describeState(ns: Namespace, pending: PendingState): string {
  const lines = ns.walk('entries').map((e) => {
    const node = ns.nodes.get(e.inode);
    return node?.kind === 'file' ? `${e.path} (${node.data.byteLength} B)` : `${e.path}/`;
  });
  for (const w of pending.writes) {
    lines.push(
      `pending write ${w.path ?? `inode ${w.inode}`} @${w.position} +${w.length}${w.limbo ? ' (limbo)' : ''}`,
    );
  }
  for (const op of pending.dirOps) lines.push(`pending ${op.description}`);
  return lines.join('\n');
}
