/**
 * Named hooks with priorities (Prosody's events, ejabberd's hooks, Openfire's interceptors).
 * Handlers run highest priority first, ties in registration order; a stanza handler returning
 * `true` stops the chain. A handler that throws is logged and skipped (ejabberd's safe_apply):
 * it never takes a connection down — except a StanzaError thrown by an interceptor at a "before"
 * point, which is how an interceptor rejects a stanza.
 */
import type { Element } from "../xml/element.ts";
import type { JID } from "../jid/mod.ts";
import { StanzaError } from "../protocol/errors.ts";
import { logger } from "../log/mod.ts";
import type { Session } from "./session.ts";

const log = logger("hooks");

export type StanzaKind = "message" | "presence" | "iq";
/** Where a stanza is addressed: a full JID, a bare JID, or this server itself. */
export type RouteKind = "full" | "bare" | "host";
/**
 * `pre-<kind>/<route>` runs on the sender's side for stanzas from local sessions (e.g. an outbound
 * subscription updates the sender's roster); `<kind>/<route>` runs on the recipient's side.
 */
export type StanzaHook = `${"pre-" | ""}${StanzaKind}/${RouteKind}`;

/** Openfire's four interception points. */
export type InterceptorHook = `interceptor/${"incoming" | "outgoing"}/${"before" | "after"}`;

export interface StanzaEvent {
  stanza: Element;
  kind: StanzaKind;
  route: RouteKind;
  /** the stamped sender */
  from: JID;
  /** the addressee; for stanzas without `to`, the sender's bare JID (or the domain for host iqs) */
  to: JID;
  /** the local session the stanza came from, if any */
  origin: Session | null;
}

export interface InterceptorEvent {
  stanza: Element;
  /** the session the stanza was read from (incoming) or is written to (outgoing) */
  session: Session | null;
  incoming: boolean;
  processed: boolean;
}

/** A message the recipient's user actor accepted: it is being delivered or was stored offline. */
export interface MessageAccepted {
  /** the message as it will be delivered/stored; handlers may add payload (XEP-0359 stanza-id) */
  stanza: Element;
  from: JID;
  /** the recipient (bare or full, as addressed) */
  to: JID;
  outcome: "delivered" | "stored";
  /** the sender's local session, when the sender is a local client */
  origin: Session | null;
  /**
   * `serialize(stanza)` of the final stanza, set by a handler that serialized it anyway (the
   * message archive) so that delivery and the offline store do not serialize it again. A handler
   * that changes the stanza after it is set must delete it.
   */
  serialized?: string;
}

/** A message was written to these sessions of the recipient (for carbons, chat logs). */
export interface MessageDelivered {
  stanza: Element;
  from: JID;
  to: JID;
  sessions: Session[];
}

export interface LifecycleEvents {
  /**
   * Fired by the recipient's user actor before delivering or storing a chat/normal message with a
   * body; handlers run synchronously first-to-last and must not await (they may start writes).
   */
  "message/accepted": MessageAccepted;
  "message/delivered": MessageDelivered;
  /** a session sent available presence with this priority (initial or update) */
  "session/available": { session: Session };
  /** a session became unavailable (explicit unavailable presence; not fired on close) */
  "session/unavailable": { session: Session };
  /** a resource was bound: the session is live */
  "session/bound": { session: Session };
  /** a bound session ended, for any reason */
  "session/closed": { session: Session };
  /** the server is stopping */
  "server/stopping": Record<string, never>;
}
export type LifecycleHook = keyof LifecycleEvents;

export type StanzaHandler = (ev: StanzaEvent) => boolean | void | Promise<boolean | void>;
export type InterceptorHandler = (ev: InterceptorEvent) => void | Promise<void>;
export type LifecycleHandler<K extends LifecycleHook> = (
  ev: LifecycleEvents[K],
) => void | Promise<void>;

export type HookName = StanzaHook | InterceptorHook | LifecycleHook;
export type HandlerFor<N extends HookName> = N extends StanzaHook ? StanzaHandler
  : N extends InterceptorHook ? InterceptorHandler
  : N extends LifecycleHook ? LifecycleHandler<N>
  : never;

interface Entry {
  priority: number;
  seq: number;
  owner: string;
  fn: (ev: unknown) => unknown;
}

export class Hooks {
  #chains = new Map<string, Entry[]>();
  #seq = 0;

  /** Registers a handler; returns a function that removes it. */
  on<N extends HookName>(name: N, fn: HandlerFor<N>, priority = 0, owner = "core"): () => void {
    const entry: Entry = { priority, seq: this.#seq++, owner, fn: fn as (ev: unknown) => unknown };
    const chain = [...(this.#chains.get(name) ?? []), entry];
    chain.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    this.#chains.set(name, chain);
    return () => {
      const cur = this.#chains.get(name) ?? [];
      this.#chains.set(name, cur.filter((e) => e !== entry));
    };
  }

  has(name: HookName): boolean {
    return (this.#chains.get(name)?.length ?? 0) > 0;
  }

  /**
   * Runs a stanza chain; true when some handler took the stanza. Synchronous until a handler
   * returns a promise: most handlers answer at once, and this runs for every routed stanza.
   */
  fireStanza(name: StanzaHook, ev: StanzaEvent): boolean | Promise<boolean> {
    const chain = this.#chains.get(name);
    if (!chain) return false;
    for (let i = 0; i < chain.length; i++) {
      const entry = chain[i]!;
      try {
        const r = entry.fn(ev);
        if (r instanceof Promise) return this.#continueStanza(name, ev, chain, i, r);
        if (r === true) return true;
      } catch (e) {
        this.#stanzaHandlerFailed(name, entry, e);
      }
    }
    return false;
  }

  /** The rest of `fireStanza` once handler `i` returned `pending`. */
  async #continueStanza(
    name: StanzaHook,
    ev: StanzaEvent,
    chain: Entry[],
    i: number,
    pending: Promise<unknown>,
  ): Promise<boolean> {
    try {
      if (await pending === true) return true;
    } catch (e) {
      this.#stanzaHandlerFailed(name, chain[i]!, e);
    }
    for (let j = i + 1; j < chain.length; j++) {
      const entry = chain[j]!;
      try {
        let r = entry.fn(ev);
        if (r instanceof Promise) r = await r;
        if (r === true) return true;
      } catch (e) {
        this.#stanzaHandlerFailed(name, entry, e);
      }
    }
    return false;
  }

  #stanzaHandlerFailed(name: StanzaHook, entry: Entry, e: unknown): void {
    // A StanzaError is a handler's answer, not a crash: the router turns it into a reply.
    if (e instanceof StanzaError) throw e;
    this.#logFailure("hook", name, entry, e);
  }

  /** Runs interceptors; at "before" points a StanzaError propagates to reject the stanza. */
  async fireInterceptors(name: InterceptorHook, ev: InterceptorEvent): Promise<void> {
    const chain = this.#chains.get(name);
    if (!chain) return;
    for (const entry of chain) {
      try {
        const r = entry.fn(ev);
        if (r instanceof Promise) await r;
      } catch (e) {
        if (e instanceof StanzaError && !ev.processed) throw e;
        this.#logFailure("interceptor", name, entry, e);
      }
    }
  }

  /** Lifecycle hooks still running: the server waits for them before closing storage. */
  readonly #inFlight = new Set<Promise<void>>();

  fire<K extends LifecycleHook>(name: K, ev: LifecycleEvents[K]): Promise<void> {
    if (!this.#chains.has(name)) return Promise.resolve();
    const p = this.#fire(name, ev).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
    return p;
  }

  /** Resolves once every lifecycle hook fired so far has finished. */
  async settle(): Promise<void> {
    while (this.#inFlight.size) await Promise.all(this.#inFlight);
  }

  async #fire<K extends LifecycleHook>(name: K, ev: LifecycleEvents[K]): Promise<void> {
    const chain = this.#chains.get(name);
    if (!chain) return;
    for (const entry of chain) {
      try {
        const r = entry.fn(ev);
        if (r instanceof Promise) await r;
      } catch (e) {
        this.#logFailure("hook", name, entry, e);
      }
    }
  }

  /**
   * Runs lifecycle handlers without waiting: for hot paths (message/accepted, message/delivered)
   * where every handler's synchronous part must finish before the caller goes on. A returned
   * promise that rejects is logged.
   */
  fireSync<K extends LifecycleHook>(name: K, ev: LifecycleEvents[K]): void {
    const chain = this.#chains.get(name);
    if (!chain) return;
    for (const entry of chain) {
      try {
        const r = entry.fn(ev);
        if (r instanceof Promise) r.catch((e) => this.#logFailure("hook", name, entry, e));
      } catch (e) {
        this.#logFailure("hook", name, entry, e);
      }
    }
  }

  /** A handler that failed is logged and skipped; the chain goes on. */
  #logFailure(what: "hook" | "interceptor", name: HookName, entry: Entry, e: unknown): void {
    log.error(`${what} {hook} of {owner} failed: {error}`, {
      hook: name,
      owner: entry.owner,
      error: String(e),
    });
  }
}
