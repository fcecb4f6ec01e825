import CRC32 from 'crc-32';

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, as zlib) of `data`, as an unsigned 32-bit integer. */
export function crc32(data: Uint8Array): number {
  return CRC32.buf(data) >>> 0;
}

/** CRC-32 of the UTF-8 bytes of `text`, unsigned. */
export function crc32OfString(text: string): number {
  return CRC32.str(text) >>> 0;
}

/** CRC-32 of `data` continuing from `seed` (the CRC-32 of the bytes before it): crc32(a ‖ b) = crc32Continue(b, crc32(a)). */
export function crc32Continue(data: Uint8Array, seed: number): number {
  return CRC32.buf(data, seed | 0) >>> 0;
}

/** CRC-32 of the UTF-8 bytes of `text` continuing from `seed` (the CRC-32 of the text before it). */
export function crc32OfStringContinue(text: string, seed: number): number {
  return CRC32.str(text, seed | 0) >>> 0;
}
