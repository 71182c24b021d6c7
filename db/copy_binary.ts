/**
 * Rows in PostgreSQL's binary COPY format ("Binary Format" under COPY in PostgreSQL's manual), for
 * the types Parley appends in bulk: text, int4, timestamptz, and one-dimensional arrays of text or
 * timestamptz. PostgreSQL takes such rows without parsing anything: every value arrives with its
 * length, numbers and times in their stored form. For the message archive that cut PostgreSQL's CPU
 * per entry by more than half against an INSERT of the same segments from JSON and split text
 * (bench/archive_write.ts).
 *
 * Hand-written, with its own buffer, because it is on the message path: the npm encoder for this
 * format (pg-copy-streams-binary) is an object stream that makes a Buffer per value, and small
 * Buffers are what Deno's node compatibility is slowest at (docs/performance.md). Strings go in
 * with `TextEncoder.encodeInto`, straight into the buffer.
 */

/** Element type ids of the arrays (pg_type.oid, fixed in every PostgreSQL). */
export const TEXT_OID = 25;
export const TIMESTAMPTZ_OID = 1184;

/** "PGCOPY\n\377\r\n\0", then flags and header extension length, both 0. */
const SIGNATURE = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00];
const HEADER_BYTES = SIGNATURE.length + 8;

/** PostgreSQL counts time in microseconds from 2000-01-01 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TWO_32 = 2 ** 32;

const encoder = new TextEncoder();
/** Strings up to this length are copied by hand when ASCII; longer ones go to `encodeInto`. */
const SHORT_TEXT = 64;

export class CopyBinaryWriter {
  #buf: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #pos = HEADER_BYTES;
  /** where the open array's length goes, or -1 */
  #arrayAt = -1;

  /** `sizeHint`: bytes expected, so that a batch is written without growing the buffer. */
  constructor(sizeHint = 64 * 1024) {
    this.#buf = new Uint8Array(Math.max(HEADER_BYTES + 2, sizeHint));
    this.#view = new DataView(this.#buf.buffer);
    this.#buf.set(SIGNATURE);
  }

  /** Starts a row of `fields` values. */
  row(fields: number): void {
    this.#need(2);
    this.#view.setInt16(this.#pos, fields);
    this.#pos += 2;
  }

  /** A text value: a field, or an element of an open text array. */
  text(s: string): void {
    const n = s.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    this.#need(4 + n * 3);
    const buf = this.#buf, at = this.#pos + 4;
    let written = -1;
    if (n <= SHORT_TEXT) {
      // Ids, JIDs and directions: a call to encodeInto costs 70-90 ns whatever the length, 3-4
      // times this loop over a short ASCII string (bench/copy_binary_bench.ts).
      written = n;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          written = -1;
          break;
        }
        buf[at + i] = c;
      }
    }
    if (written < 0) written = encoder.encodeInto(s, buf.subarray(at)).written;
    this.#view.setInt32(this.#pos, written);
    this.#pos = at + written;
  }

  int4(n: number): void {
    this.#need(8);
    this.#view.setInt32(this.#pos, 4);
    this.#view.setInt32(this.#pos + 4, n);
    this.#pos += 8;
  }

  /** A timestamptz from milliseconds since the Unix epoch: a field or an array element. */
  timestamptz(ms: number): void {
    this.#need(12);
    const us = (ms - PG_EPOCH_MS) * 1000; // exact: well inside 2^53 for any date a stamp holds
    const high = Math.floor(us / TWO_32);
    this.#view.setInt32(this.#pos, 8);
    this.#view.setInt32(this.#pos + 4, high);
    this.#view.setUint32(this.#pos + 8, us - high * TWO_32);
    this.#pos += 12;
  }

  /** Opens a one-dimensional array of `count` elements of type `oid`; its elements follow. */
  startArray(oid: number, count: number): void {
    if (this.#arrayAt !== -1) throw new Error("arrays do not nest here");
    this.#need(24);
    this.#arrayAt = this.#pos;
    const v = this.#view, at = this.#pos;
    v.setInt32(at + 4, 1); // dimensions
    v.setInt32(at + 8, 0); // no NULLs
    v.setInt32(at + 12, oid);
    v.setInt32(at + 16, count);
    v.setInt32(at + 20, 1); // lower bound
    this.#pos += 24;
  }

  endArray(): void {
    if (this.#arrayAt === -1) throw new Error("no array is open");
    this.#view.setInt32(this.#arrayAt, this.#pos - this.#arrayAt - 4);
    this.#arrayAt = -1;
  }

  /** The whole COPY data, trailer included; the writer is not to be used after. */
  finish(): Uint8Array<ArrayBuffer> {
    if (this.#arrayAt !== -1) throw new Error("an array is still open");
    this.#need(2);
    this.#view.setInt16(this.#pos, -1);
    this.#pos += 2;
    return this.#buf.subarray(0, this.#pos);
  }

  #need(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + bytes));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }
}
