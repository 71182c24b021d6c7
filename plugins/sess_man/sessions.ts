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

export class SessionRegistry {
  readonly #byBare = new Map<string, Map<string, BindableSession>>();
  #count = 0;

  constructor(readonly domain: string, readonly maxResources: number) {}

  get size(): number {
    return this.#count;
  }

  get(full: JID): Session | undefined {
    return this.#byBare.get(full.bare)?.get(full.resource);
  }

  byResource(bare: string, resource: string): Session | undefined {
    return this.#byBare.get(bare)?.get(resource);
  }

  /** The user's bound sessions (empty when none). */
  ofUser(bare: string): Session[] {
    const m = this.#byBare.get(bare);
    return m ? [...m.values()] : [];
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
    let resources = this.#byBare.get(full.bare);
    if (!resources) {
      resources = new Map();
      this.#byBare.set(full.bare, resources);
    }
    const old = resources.get(full.resource);
    if (old && old !== session) {
      resources.delete(full.resource);
      this.#count--;
      old.replaced();
    } else if (resources.size >= this.maxResources) {
      return { ok: false, condition: "resource-constraint" };
    }
    resources.set(full.resource, session);
    this.#count++;
    session.jid = full;
    return { ok: true, jid: full.full };
  }

  unbind(session: Session): void {
    const full = session.jid;
    if (!full) return;
    const resources = this.#byBare.get(full.bare);
    if (resources?.get(full.resource) !== session) return;
    resources.delete(full.resource);
    this.#count--;
    if (resources.size === 0) this.#byBare.delete(full.bare);
  }

  all(): Session[] {
    const out: Session[] = [];
    for (const m of this.#byBare.values()) out.push(...m.values());
    return out;
  }

  #newResource(): string {
    return `parley-${crypto.randomUUID().slice(0, 8)}`;
  }
}
