import { resolve } from 'node:path';
import { InvalidArgumentError } from './errors.js';
import { snapshotPath } from './format/names.js';
import { type SnapshotJsonV1, snapshotJsonV1 } from './format/snapshot-codec.js';
import { defaultFileSystem } from './fs/default.js';
import type { FileSystem } from './fs/types.js';
import { type NodeIdentity, validateIdentity } from './identity.js';
import { groupStateIn, NONE_SERVER_ID, validateCount } from './state.js';
import { assertIdentity, assertSingleGroup, recoverDirectory } from './storage/recovery.js';

/** Options of {@link Metadata.load}. */
export interface LoadOptions {
  /** File system to read through; the real disk by default. */
  readonly fs?: FileSystem;
  /**
   * When given, the directory's stamped identity must be this one (`ERR_IDENTITY_MISMATCH`
   * otherwise). A directory without a stamp loads (a read never stamps).
   */
  readonly identity?: NodeIdentity;
  /**
   * A MetadataStore's group to read (a safe non-negative integer): its state, or for a removed
   * group its last term with no vote, or term 0 with no vote for a group never used. Without it the
   * directory must hold group 0 only (a MetadataManager's), else `ERR_MULTI_GROUP_DIRECTORY`.
   */
  readonly group?: number;
}

/** The sequence number a Metadata instance covers (what its snapshot's `lastSeq` says). */
const coveredSeq = new WeakMap<Metadata, number>();

/** @internal */
export function metadataLastSeq(metadata: Metadata): number {
  return coveredSeq.get(metadata) ?? 0;
}

/** @internal */
export function makeMetadata(dir: string, currentTerm: number, votedFor: number, lastSeq: number): Metadata {
  const metadata = new Metadata(dir);
  metadata.currentTerm = currentTerm;
  metadata.votedFor = votedFor;
  coveredSeq.set(metadata, lastSeq);
  return metadata;
}

/**
 * A Raft node's durable state, `currentTerm` and `votedFor`, and the directory it lives in.
 * A plain value: changing its fields changes nothing on disk (use {@link MetadataManager}).
 */
export class Metadata {
  /** The latest term this node has seen. Starts at 0. */
  currentTerm: number;
  /** The candidate this node voted for in `currentTerm`, or {@link NONE_SERVER_ID}. */
  votedFor: number;
  /** The directory holding the snapshot, the log and the lock. */
  metadataDir: string;

  /** Fresh state: term 0, no vote. Touches no file. */
  constructor(metadataDir: string) {
    if (typeof metadataDir !== 'string' || metadataDir.length === 0) {
      throw new InvalidArgumentError(
        'ERR_INVALID_ARG_TYPE',
        `The "metadataDir" argument must be a non-empty string. Received ${typeof metadataDir}`,
      );
    }
    this.currentTerm = 0;
    this.votedFor = NONE_SERVER_ID;
    this.metadataDir = metadataDir;
  }

  /**
   * Reads the state saved in `metadataDir`: the snapshot, then the log records after it.
   * `metadataDir` is resolved with `path.resolve` first, as the manager does (`a/x/../d` is `a/d`,
   * a relative path is taken against the current directory), so both read the same directory; the
   * result's `metadataDir` is the path as given. A missing or empty directory gives fresh state. A torn last record (a crash in the middle of
   * an append, never acknowledged) is ignored. Never writes to or creates anything in the directory.
   *
   * @throws `ERR_METADATA_CORRUPT` ({@link CorruptionError}) naming the file, byte offset and problem
   *   when the files hold damage a crash cannot explain; the state is never silently rolled back.
   */
  static async load(metadataDir: string, options: LoadOptions = {}): Promise<Metadata> {
    const probe = new Metadata(metadataDir);
    const identity = validateIdentity(options.identity);
    const group = options.group === undefined ? undefined : validateCount('group', options.group);
    const fs = options.fs ?? defaultFileSystem();
    const recovered = await recoverDirectory(fs, resolve(probe.metadataDir));
    assertIdentity(metadataDir, recovered, identity);
    if (group !== undefined) {
      const state = groupStateIn(recovered, group);
      const covered = group === 0 ? recovered.lastSeq : 0;
      return makeMetadata(metadataDir, state.currentTerm, state.votedFor, covered);
    }
    assertSingleGroup(metadataDir, recovered);
    return makeMetadata(
      metadataDir,
      recovered.state.currentTerm,
      recovered.state.votedFor,
      recovered.lastSeq,
    );
  }

  /** Path of the snapshot file in `metadataDir`: `<metadataDir>/metadata.json`. */
  static genMetadataFilepath(metadataDir: string): string {
    return snapshotPath(new Metadata(metadataDir).metadataDir);
  }

  /**
   * The snapshot JSON for this state, checksummed, in format version 1 (docs/format.md): it names no
   * directory, so it fits any. Writing `JSON.stringify(metadata)` to
   * {@link Metadata.genMetadataFilepath} in a directory without logs makes `load` return it (the
   * seed tutorial); a directory with logs replays them after it (docs/api.md says exactly when).
   */
  toJSON(): SnapshotJsonV1 {
    return snapshotJsonV1({
      currentTerm: this.currentTerm,
      votedFor: this.votedFor,
      lastSeq: metadataLastSeq(this),
    });
  }
}
