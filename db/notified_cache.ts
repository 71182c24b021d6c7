/**
 * Rows a login reads (an account's SASL credentials, a user's roster) held in memory, so a login
 * needs no query. The database stays the authority: the cache only answers while it hears every
 * change (`live`, driven by a LISTEN on the table's channel, whose notices triggers send, so no
 * writer can forget to), forgets everything when it may have missed one, and drops each entry
 * after `ttlMs` in case a loss went unnoticed (a half-open connection).
 */
import type { Sql } from "./sql.ts";

export interface NotifiedCacheOptions {
  /** most entries kept; the least recently used goes first. Default 10,000. */
  maxEntries?: number;
  /** an entry's lifetime from when it was read from the database. Default 5 minutes. */
  ttlMs?: number;
  /** clock, for tests */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expires: number;
}

export class NotifiedCache<V> {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly #now: () => number;
  // A Map iterates in insertion order: re-inserting on a hit keeps the oldest first.
  readonly #entries = new Map<string, Entry<V>>();
  #live = false;
  // Invalidations are numbered; a ticket is the number at the start of a read. Keys invalidated
  // during reads are remembered only while some read is in flight.
  #seq = 0;
  #clearedAt = 0;
  readonly #invalidatedAt = new Map<string, number>();
  #reads = 0;

  constructor(opts: NotifiedCacheOptions = {}) {
    this.maxEntries = Math.max(0, opts.maxEntries ?? 10_000);
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * A cache kept by `channel`'s notices: the payload names the key that changed, "" means all of
   * them; while the LISTEN is not in effect the cache is not live.
   */
  static listening<V>(
    sql: Sql,
    channel: string,
    opts: NotifiedCacheOptions = {},
  ): NotifiedCache<V> {
    const cache = new NotifiedCache<V>(opts);
    sql.listen(channel, {
      onNotify: (key) => key === "" ? cache.clear() : cache.invalidate(key),
      onState: (listening) => cache.setLive(listening),
    });
    return cache;
  }

  /** Whether changes are being heard; while not, nothing is served or kept. */
  get live(): boolean {
    return this.#live;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Going live starts from nothing (changes made before LISTEN took effect were never heard);
   * going down forgets everything (changes made until it is back will not be heard).
   */
  setLive(live: boolean): void {
    this.clear();
    this.#live = live;
  }

  /** Whether `get(key)` would hit, without touching the entry's recency. */
  has(key: string): boolean {
    const entry = this.#live ? this.#entries.get(key) : undefined;
    return entry !== undefined && entry.expires > this.#now();
  }

  get(key: string): V | undefined {
    if (!this.#live) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /**
   * Taken before reading from the database and handed back to `fill()`, always (with `null` when
   * there is nothing to keep): a change heard while the read was in flight may be newer than what
   * the read returns, so such a result is not kept.
   */
  ticket(): number {
    this.#reads++;
    return this.#seq;
  }

  fill(key: string, value: V | null, ticket: number): void {
    const stale = this.#clearedAt > ticket || (this.#invalidatedAt.get(key) ?? 0) > ticket;
    if (--this.#reads <= 0) {
      this.#reads = 0;
      this.#invalidatedAt.clear();
    }
    if (value === null || stale || !this.#live || this.maxEntries === 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expires: this.#now() + this.ttlMs });
  }

  invalidate(key: string): void {
    this.#seq++;
    this.#entries.delete(key);
    // Only reads in flight need to know; with too many keys to track, treat it as a clear.
    if (this.#reads === 0) return;
    if (this.#invalidatedAt.size < this.maxEntries) this.#invalidatedAt.set(key, this.#seq);
    else this.#staleReads();
  }

  clear(): void {
    this.#seq++;
    this.#staleReads();
    this.#entries.clear();
  }

  /** Every read in flight now counts as stale. */
  #staleReads(): void {
    this.#clearedAt = this.#seq;
    this.#invalidatedAt.clear();
  }
}
