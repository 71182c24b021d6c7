/**
 * XEP-0359 stanza-ids as the archive assigns them: 20 base-36 characters, the entry's stamp in
 * milliseconds (9), a counter within that millisecond (3) and a random tail (8).
 */
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
// Two base-36 digits per table entry: the random tail is four lookups, not eight concatenations
// (two ids per archived message made the id a visible part of the message path's profile).
const PAIRS = Array.from(
  { length: 36 * 36 },
  (_, i) => ALPHABET[(i / 36) | 0]! + ALPHABET[i % 36]!,
);
let lastMs = -1;
let msPart = "";
let counter = 0;

// Random 16-bit values drawn in blocks: one getRandomValues call per 512 ids instead of one per id.
const pool = new Uint16Array(2048);
let poolAt = pool.length;
function randomPair(): string {
  if (poolAt === pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  return PAIRS[pool[poolAt++]! % PAIRS.length]!;
}

/**
 * A new XEP-0359 stanza-id: unique and opaque to clients, time-ordered so ids sort roughly like
 * the archive (milliseconds, a per-millisecond counter, then ~41 random bits). Archives give an
 * entry the id of its own stamp (`now` = the entry's stamp), which is how the store finds an id's
 * segment without an index over every id (`stanzaIdTime`).
 */
export function newStanzaId(now = Date.now()): string {
  if (now === lastMs) counter++;
  else {
    lastMs = now;
    msPart = now.toString(36).padStart(9, "0");
    counter = 0;
  }
  return msPart + counter.toString(36).padStart(3, "0") + randomPair() + randomPair() +
    randomPair() + randomPair();
}

const ID_FORMAT = /^[0-9a-z]{20}$/;

/**
 * The stamp (ms) of the archive entry an id was made for by `newStanzaId`, or undefined for ids
 * of other shapes (older archives, other servers). A result is a hint: an id of the same shape
 * made elsewhere decodes too, so a lookup that misses must look further.
 */
export function stanzaIdTime(id: string): number | undefined {
  if (!ID_FORMAT.test(id)) return undefined;
  const ms = parseInt(id.slice(0, 9), 36);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
