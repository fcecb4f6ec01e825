/**
 * What every variant writes: one 48-byte record per durable update, appended or overwritten in place
 * in a zero-filled (preallocated) file.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';

/** One durable update is one 48-byte record, the size of a raft-metadata log record (format v2). */
export const RECORD = 48;
/** Zero-filled ahead for the in-place variants; writes wrap around at the end (never reached at defaults). */
export const PREALLOCATE = 8 << 20;

export function recordBytes(seq) {
  const bytes = new Uint8Array(RECORD).fill(0xab);
  new DataView(bytes.buffer).setFloat64(0, seq, true);
  return bytes;
}

export function nextPosition(position, inPlace) {
  const next = position + RECORD;
  return inPlace && next + RECORD > PREALLOCATE ? 0 : next;
}

/** Zero-fills `PREALLOCATE` bytes of `fd` and makes them durable (untimed setup). */
export function preallocateSync(fd) {
  const zeros = new Uint8Array(1 << 20);
  for (let at = 0; at < PREALLOCATE; at += zeros.byteLength) fs.writeSync(fd, zeros, 0, zeros.byteLength, at);
  fs.fsyncSync(fd);
}

/** The same through a raft-metadata `FileHandle` (untimed setup). */
export async function preallocateHandle(handle) {
  const zeros = new Uint8Array(1 << 20);
  for (let at = 0; at < PREALLOCATE; at += zeros.byteLength) await handle.write(zeros, at);
  await handle.sync();
}

/** A fresh `data` file in `dir` for the sync and callback floors, zero-filled first when `inPlace`. */
export function openDataSync(dir, inPlace) {
  const fd = fs.openSync(join(dir, 'data'), 'w+');
  if (inPlace) preallocateSync(fd);
  return fd;
}
