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

/**
 * CRC-32 is affine in its starting value: for any bytes `data` of length `n` and any seeds `a`,
 * `b`, `crc32Continue(data, a) ^ crc32Continue(data, b) === advance(a ^ b)`, where `advance` is the
 * linear map that runs the CRC register over `n` zero bytes. This returns that map for `n`, as
 * four 256-entry tables (one per byte of its argument) computed with the crc-32 package itself, so
 * no polynomial is written down here. It lets a reader check a second, seeded checksum of the same
 * bytes from the first one with four table lookups instead of a second pass (format/record.ts).
 */
export function crc32ZeroAdvance(n: number): (value: number) => number {
  const zeros = new Uint8Array(n);
  const base = crc32Continue(zeros, 0);
  const tables = [0, 8, 16, 24].map((shift) => {
    const table = new Uint32Array(256);
    for (let byte = 0; byte < 256; byte++) table[byte] = (crc32Continue(zeros, byte << shift) ^ base) >>> 0;
    return table;
  });
  const [t0, t1, t2, t3] = tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  return (value) =>
    ((t0[value & 0xff] as number) ^
      (t1[(value >>> 8) & 0xff] as number) ^
      (t2[(value >>> 16) & 0xff] as number) ^
      (t3[value >>> 24] as number)) >>>
    0;
}
