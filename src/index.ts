/**
 * raft-metadata: a Raft node's `currentTerm` and `votedFor`, durable before every acknowledgement.
 * This module is the public API; `raft-metadata/testing` holds the simulated disk for tests.
 */

export { DEFAULT_FLUSH_INTERVAL_MS, type ManagerOptions, MetadataManager } from './engine/manager.js';
export {
  MetadataStore,
  RaftGroup,
  type StoreLoadOptions,
  type StoreOptions,
  type StoreStats,
} from './engine/store.js';
export {
  CorruptionError,
  IdentityMismatchError,
  InvalidArgumentError,
  LockedError,
  LockUnavailableError,
  ManagerStateError,
  MetadataError,
  type MetadataErrorCode,
  MetadataNotFoundError,
  MultiGroupDirectoryError,
  RaftRuleError,
} from './errors.js';
export { NodeFileSystem } from './fs/node-fs.js';
export type { FileHandle, FileStat, FileSystem, OpenMode } from './fs/types.js';
export type { NodeIdentity } from './identity.js';
export { type LoadOptions, Metadata } from './metadata.js';
export { type HardState, NONE_SERVER_ID } from './state.js';
export {
  CHANNELS,
  type ChannelEvents,
  type ChannelName,
  type CompactionEvent,
  type FailureEvent,
  type FsyncEvent,
  type ManagerStats,
  subscribeChannel,
} from './stats.js';
