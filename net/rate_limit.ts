/**
 * Connections per remote address per minute (a fixed one-minute window per address, bounded in
 * memory). Loopback is exempt so local tools, tests and benchmarks are never refused.
 */
export function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

export class ConnectionRateLimit {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly perMinute: number,
    readonly now: () => number = Date.now,
    readonly maxEntries = 100_000,
  ) {}

  admit(address: string): boolean {
    if (isLoopback(address)) return true;
    const t = this.now();
    let w = this.#windows.get(address);
    if (!w || t - w.start >= 60_000) {
      if (this.#windows.size >= this.maxEntries) this.#sweep(t);
      w = { start: t, count: 0 };
      this.#windows.set(address, w);
    }
    w.count++;
    return w.count <= this.perMinute;
  }

  #sweep(t: number): void {
    for (const [k, w] of this.#windows) if (t - w.start >= 60_000) this.#windows.delete(k);
    // Still full: forget the oldest windows rather than grow without bound.
    for (const k of this.#windows.keys()) {
      if (this.#windows.size < this.maxEntries) break;
      this.#windows.delete(k);
    }
  }
}
