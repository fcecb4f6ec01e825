/**
 * The rows of a version-2 snapshot (`[[id,term,vote],...]`, `[[id,term],...]`) written straight to
 * bytes: every value is a safe non-negative integer, whose JSON is its decimal digits, so no string
 * is built per row and no TextEncoder pass runs over the whole text. The same bytes as the UTF-8 of
 * `JSON.stringify(rows)` (test/unit/format/snapshot-steps.test.ts holds them to it).
 */

const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const COMMA = 0x2c; // ,
const ZERO = 0x30; // 0
/** Digits of the largest safe integer, 2^53 - 1 = 9007199254740991. */
const MAX_DIGITS = 16;
/** Bytes of the longest row: the comma before it, `[`, three numbers, the two commas between them, `]`. */
const MAX_ROW_BYTES = 1 + 1 + 3 * MAX_DIGITS + 2 + 1;

/** The JSON array of rows, `[` ... `]`, in a growing byte buffer. */
export class JsonRowsWriter {
  #buffer: Uint8Array;
  #length = 0;

  constructor(expectedRows: number) {
    this.#buffer = new Uint8Array(Math.max(64, expectedRows * 16));
    this.#buffer[this.#length++] = OPEN;
  }

  /** Appends `,` (unless first) then `[a,b,c]` or `[a,b]` (`c` undefined): safe non-negative integers. */
  row(first: boolean, a: number, b: number, c?: number): void {
    this.#reserve(MAX_ROW_BYTES);
    const buffer = this.#buffer;
    if (!first) buffer[this.#length++] = COMMA;
    buffer[this.#length++] = OPEN;
    this.#digits(a);
    buffer[this.#length++] = COMMA;
    this.#digits(b);
    if (c !== undefined) {
      buffer[this.#length++] = COMMA;
      this.#digits(c);
    }
    buffer[this.#length++] = CLOSE;
  }

  /** Closes the array and returns its bytes (a view of the buffer; write no more rows after). */
  finish(): Uint8Array {
    this.#reserve(1);
    this.#buffer[this.#length++] = CLOSE;
    return this.#buffer.subarray(0, this.#length);
  }

  #digits(value: number): void {
    // Decimal digits of a safe integer (< 2^53, at most 16 digits), written backwards then in place.
    let n = value;
    let count = 1;
    for (let rest = Math.floor(n / 10); rest > 0; rest = Math.floor(rest / 10)) count++;
    const buffer = this.#buffer;
    let at = this.#length + count;
    this.#length = at;
    do {
      const next = Math.floor(n / 10);
      buffer[--at] = ZERO + (n - next * 10);
      n = next;
    } while (n > 0);
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + bytes));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}
