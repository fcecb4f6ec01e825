import { randomBytes } from 'node:crypto';

/**
 * A directory's identity: 128 random bits made when the directory is created (or when a format-v1
 * directory is first opened by this version), written into every log header and the snapshot and
 * folded into every record's checksum. Held as 32 lowercase hex digits.
 */
export type DirectoryId = string & { readonly __brand: 'DirectoryId' };

export const DIRECTORY_ID_BYTES = 16;
const HEX = /^[0-9a-f]{32}$/;

export function newDirectoryId(): DirectoryId {
  return randomBytes(DIRECTORY_ID_BYTES).toString('hex') as DirectoryId;
}

/** `text` as a DirectoryId, or undefined when it is not 32 lowercase hex digits. */
export function parseDirectoryId(text: unknown): DirectoryId | undefined {
  return typeof text === 'string' && HEX.test(text) ? (text as DirectoryId) : undefined;
}

export function directoryIdBytes(id: DirectoryId): Uint8Array {
  return Uint8Array.from(Buffer.from(id, 'hex'));
}

export function directoryIdFromBytes(bytes: Uint8Array): DirectoryId {
  return Buffer.from(bytes.buffer, bytes.byteOffset, DIRECTORY_ID_BYTES).toString('hex') as DirectoryId;
}
