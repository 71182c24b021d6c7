/**
 * Failed-login throttling: after `maxFailures` failures within `windowMs` a key (an IP address, a
 * username, or both joined) is locked out for `lockoutMs`. Memory is bounded: stale entries are
 * swept as the table grows, and at `maxEntries` the oldest entry is dropped.
 */

export interface AuthThrottleOptions {
  /** Failures allowed within one window before the lockout, e.g. 5. */
  maxFailures: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
  /** How long a key stays locked out. */
  lockoutMs: number;
  /** Most keys remembered at once (default 100 000). */
  maxEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Entry {
  /** failures in the current window */
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

const ALLOWED: ThrottleVerdict = Object.freeze({ allowed: true });

export class AuthThrottle {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #lockoutMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  // Map order is insertion order; fail() re-inserts, so the first entries are the least recent.
  readonly #entries = new Map<string, Entry>();
  #sweepAt: number;

  constructor(opts: AuthThrottleOptions) {
    if (!(opts.maxFailures >= 1)) throw new RangeError("maxFailures must be at least 1");
    if (!(opts.windowMs > 0) || !(opts.lockoutMs > 0)) {
      throw new RangeError("windowMs and lockoutMs must be positive");
    }
    this.#maxFailures = opts.maxFailures;
    this.#windowMs = opts.windowMs;
    this.#lockoutMs = opts.lockoutMs;
    this.#maxEntries = Math.max(1, opts.maxEntries ?? 100_000);
    this.#now = opts.now ?? Date.now;
    this.#sweepAt = 1024;
  }

  /** Whether an attempt from this key may proceed now. */
  check(key: string): ThrottleVerdict {
    const e = this.#entries.get(key);
    if (e === undefined) return ALLOWED;
    const now = this.#now();
    if (e.lockedUntil > now) return { allowed: false, retryAfterMs: e.lockedUntil - now };
    if (this.#stale(e, now)) this.#entries.delete(key);
    return ALLOWED;
  }

  /** Records a failed attempt. */
  fail(key: string): void {
    const now = this.#now();
    let e = this.#entries.get(key);
    if (e !== undefined) {
      this.#entries.delete(key);
      if (now - e.windowStart >= this.#windowMs && e.lockedUntil <= now) {
        e = { failures: 0, windowStart: now, lockedUntil: 0 };
      }
    } else {
      e = { failures: 0, windowStart: now, lockedUntil: 0 };
      this.#makeRoom();
    }
    e.failures++;
    if (e.failures >= this.#maxFailures) {
      e.lockedUntil = now + this.#lockoutMs;
      e.failures = 0;
      e.windowStart = now;
    }
    this.#entries.set(key, e);
  }

  /** Records a successful login: the key's failures are forgotten. */
  succeed(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry that no longer affects a verdict. */
  prune(): void {
    const now = this.#now();
    for (const [key, e] of this.#entries) {
      if (this.#stale(e, now)) this.#entries.delete(key);
    }
  }

  /** Number of keys remembered. */
  get size(): number {
    return this.#entries.size;
  }

  #stale(e: Entry, now: number): boolean {
    return e.lockedUntil <= now && now - e.windowStart >= this.#windowMs;
  }

  #makeRoom(): void {
    if (this.#entries.size >= this.#sweepAt) {
      this.prune();
      // Sweep again only once the table has grown by half, so pruning stays amortised O(1).
      this.#sweepAt = Math.max(1024, Math.ceil(this.#entries.size * 1.5));
    }
    // Still full of live entries (one attacker spraying many addresses): forget the least recently
    // failed keys rather than grow without bound.
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}
