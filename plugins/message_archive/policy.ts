/**
 * Which messages go into whose archive (XEP-0313 §7 preferences), decided without waiting when the
 * owner's preferences are in memory, and the XEP-0359 ids that name archived messages.
 */
import type { ArchivePrefs } from "../../db/types.ts";

/** The preferences of an owner who never set any (XEP-0313 default: archive everything). */
export const DEFAULT_PREFS: ArchivePrefs = { default: "always", always: [], never: [] };

/**
 * What the preferences say about a message exchanged with `peer` (a bare JID): archive it, don't,
 * or — under `roster` for a peer on neither list — ask the roster.
 */
export function decide(prefs: ArchivePrefs, peer: string): "yes" | "no" | "roster" {
  // XEP-0313 §7: an explicit "never" wins over "always", and both over the default.
  if (prefs.never.includes(peer)) return "no";
  if (prefs.always.includes(peer)) return "yes";
  switch (prefs.default) {
    case "always":
      return "yes";
    case "never":
      return "no";
    case "roster":
      return "roster";
  }
}

/**
 * Preferences per owner, kept in memory so the `message/accepted` hook can decide synchronously.
 * Bounded: the least recently loaded owners are forgotten past `max` (they are simply reloaded).
 */
export class PrefsCache {
  readonly #prefs = new Map<string, ArchivePrefs>();
  readonly #loading = new Map<string, Promise<ArchivePrefs>>();
  #generation = new Map<string, number>();

  constructor(
    private readonly load: (owner: string) => Promise<ArchivePrefs>,
    private readonly max = 10_000,
  ) {}

  /** The cached preferences, or undefined on a miss. */
  peek(owner: string): ArchivePrefs | undefined {
    return this.#prefs.get(owner);
  }

  /** The preferences, loading them once when they are not cached (concurrent callers share it). */
  get(owner: string): Promise<ArchivePrefs> {
    const hit = this.#prefs.get(owner);
    if (hit) return Promise.resolve(hit);
    let loading = this.#loading.get(owner);
    if (!loading) {
      const gen = this.#generation.get(owner) ?? 0;
      loading = this.load(owner).then((prefs) => {
        // A set() while loading wins over what the load read.
        if ((this.#generation.get(owner) ?? 0) === gen) this.#put(owner, prefs);
        return this.#prefs.get(owner) ?? prefs;
      }).finally(() => this.#loading.delete(owner));
      this.#loading.set(owner, loading);
    }
    return loading;
  }

  /** Records preferences just written to storage. */
  set(owner: string, prefs: ArchivePrefs): void {
    this.#generation.set(owner, (this.#generation.get(owner) ?? 0) + 1);
    this.#put(owner, prefs);
  }

  /** Forgets an owner's preferences (they are read again on next use). */
  invalidate(owner: string): void {
    this.#generation.set(owner, (this.#generation.get(owner) ?? 0) + 1);
    this.#prefs.delete(owner);
  }

  get size(): number {
    return this.#prefs.size;
  }

  #put(owner: string, prefs: ArchivePrefs): void {
    this.#prefs.delete(owner);
    this.#prefs.set(owner, prefs);
    while (this.#prefs.size > this.max) {
      const oldest = this.#prefs.keys().next().value as string;
      this.#prefs.delete(oldest);
      this.#generation.delete(oldest);
    }
  }
}
