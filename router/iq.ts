/**
 * iq handlers by (type, payload namespace, scope), and requests the server itself sends.
 * A handler returns the result payload or `true` for an empty result; a thrown StanzaError becomes
 * that error, anything else thrown becomes internal-server-error; no handler means
 * service-unavailable (RFC 6120 §8.4, as xmpp.js's iq callee does).
 */
import { Element, x } from "../xml/element.ts";
import type { JID } from "../jid/mod.ts";
import type { Session } from "./session.ts";

/**
 * host: addressed to the server (or, for a handler that allows it, sent without `to`);
 * account: sent without `to` or to the sender's own bare JID (roster, vcard set, MAM...);
 * bare: to another local user's bare JID, answered on that user's behalf.
 */
export type IqScope = "host" | "account" | "bare";

export interface IqRequest {
  stanza: Element;
  payload: Element;
  from: JID;
  to: JID;
  origin: Session | null;
  scope: IqScope;
}

export type IqHandler = (req: IqRequest) => Element | true | Promise<Element | true>;

interface Registered {
  handler: IqHandler;
  owner: string;
}

export class IqRegistry {
  #handlers = new Map<string, Registered>();
  #pending = new Map<
    string,
    { resolve: (el: Element) => void; timer: ReturnType<typeof setTimeout> }
  >();
  #counter = 0;

  static key(scope: IqScope, type: "get" | "set", ns: string): string {
    return `${scope} ${type} ${ns}`;
  }

  register(
    scopes: IqScope[],
    type: "get" | "set",
    ns: string,
    handler: IqHandler,
    owner: string,
  ): () => void {
    const keys = scopes.map((s) => IqRegistry.key(s, type, ns));
    for (const k of keys) {
      const existing = this.#handlers.get(k);
      if (existing) {
        throw new Error(`iq handler ${k} registered twice (${existing.owner} and ${owner})`);
      }
      this.#handlers.set(k, { handler, owner });
    }
    return () => {
      for (const k of keys) this.#handlers.delete(k);
    };
  }

  /** The handler for a request: account-scoped requests fall back to host handlers. */
  find(scope: IqScope, type: "get" | "set", ns: string): IqHandler | undefined {
    const h = this.#handlers.get(IqRegistry.key(scope, type, ns));
    if (h) return h.handler;
    if (scope === "account") return this.#handlers.get(IqRegistry.key("host", type, ns))?.handler;
    return undefined;
  }

  /** An id for a server-originated request, and a promise of its answer (result or error). */
  track(timeoutMs: number): { id: string; answer: Promise<Element> } {
    const id = `parley-${++this.#counter}`;
    const answer = new Promise<Element>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(x("iq", { type: "error", id }, x("error", { type: "wait" })));
      }, timeoutMs);
      this.#pending.set(id, { resolve, timer });
    });
    return { id, answer };
  }

  /** Delivers an answer addressed to the server; false when nobody waits for it. */
  answer(stanza: Element): boolean {
    const id = stanza.attrs.id;
    if (id === undefined) return false;
    const p = this.#pending.get(id);
    if (!p) return false;
    clearTimeout(p.timer);
    this.#pending.delete(id);
    p.resolve(stanza);
    return true;
  }

  /** Stops waiting for every pending answer (server stop). */
  clear(): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.resolve(new Element("iq", { type: "error", id }));
    }
    this.#pending.clear();
  }
}
