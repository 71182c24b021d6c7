/**
 * The bound sessions of this node, by bare JID and resource. Conflict policy (RFC 6120 §7.7.2.2):
 * a new session binding a full JID that is in use replaces the old one, which is closed with a
 * `conflict` stream error — the user's newest device wins, as in Prosody and ejabberd defaults.
 */
import { type JID, jid as makeJid, JidError } from "../../jid/mod.ts";
import type { BindOutput } from "../../actors/connection_machine.ts";
import type { Session } from "../../router/session.ts";

export interface BindableSession extends Session {
  jid: JID | null;
  replaced(): void;
}

/**
 * A user's bound sessions: the session itself while there is one (nearly always), a Map by
 * resource beyond that. An empty Map per user was ~200 bytes of every idle session.
 */
type Bound = BindableSession | Map<string, BindableSession>;

function resourceOf(s: BindableSession): string {
  return s.jid!.resource;
}

export class SessionRegistry {
  readonly #byBare = new Map<string, Bound>();
  #count = 0;

  constructor(readonly domain: string, readonly maxResources: number) {}

  get size(): number {
    return this.#count;
  }

  get(full: JID): Session | undefined {
    return this.byResource(full.bare, full.resource);
  }

  byResource(bare: string, resource: string): Session | undefined {
    const b = this.#byBare.get(bare);
    if (b === undefined) return undefined;
    if (b instanceof Map) return b.get(resource);
    return resourceOf(b) === resource ? b : undefined;
  }

  /** The user's bound sessions (empty when none). */
  /** How many sessions the user has bound, without building the list. */
  countOfUser(bare: string): number {
    const b = this.#byBare.get(bare);
    if (b === undefined) return 0;
    return b instanceof Map ? b.size : 1;
  }

  ofUser(bare: string): Session[] {
    const b = this.#byBare.get(bare);
    if (b === undefined) return [];
    return b instanceof Map ? [...b.values()] : [b];
  }

  users(): string[] {
    return [...this.#byBare.keys()];
  }

  bind(session: BindableSession, username: string, resource: string | null): BindOutput {
    let full: JID;
    try {
      full = makeJid(username, this.domain, resource ?? this.#newResource());
    } catch (e) {
      if (e instanceof JidError) return { ok: false, condition: "bad-request" };
      throw e;
    }
    const b = this.#byBare.get(full.bare);
    const old = this.byResource(full.bare, full.resource) as BindableSession | undefined;
    if (old && old !== session) {
      this.#remove(full.bare, full.resource);
      old.replaced();
    } else if (!old && b !== undefined && (b instanceof Map ? b.size : 1) >= this.maxResources) {
      return { ok: false, condition: "resource-constraint" };
    }
    if (old !== session) this.#count++;
    session.jid = full;
    const now = this.#byBare.get(full.bare);
    if (now === undefined || now === session) this.#byBare.set(full.bare, session);
    else if (now instanceof Map) now.set(full.resource, session);
    else {
      this.#byBare.set(
        full.bare,
        new Map([[resourceOf(now), now], [full.resource, session]]),
      );
    }
    return { ok: true, jid: full.full };
  }

  unbind(session: Session): void {
    const full = session.jid;
    if (!full) return;
    if (this.byResource(full.bare, full.resource) !== session) return;
    this.#remove(full.bare, full.resource);
  }

  all(): Session[] {
    const out: Session[] = [];
    for (const b of this.#byBare.values()) {
      if (b instanceof Map) out.push(...b.values());
      else out.push(b);
    }
    return out;
  }

  /** Forgets the session bound to bare/resource (which must exist). */
  #remove(bare: string, resource: string): void {
    const b = this.#byBare.get(bare)!;
    this.#count--;
    if (!(b instanceof Map)) {
      this.#byBare.delete(bare);
      return;
    }
    b.delete(resource);
    // Back to the single-session form, so a user who had two devices once does not keep a Map.
    if (b.size === 1) this.#byBare.set(bare, b.values().next().value!);
  }

  #newResource(): string {
    return `parley-${crypto.randomUUID().slice(0, 8)}`;
  }
}
