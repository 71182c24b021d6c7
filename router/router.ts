/**
 * Stanza routing (RFC 6120 §10, RFC 6121 §8): sorts every stanza into a route — a full JID, a bare
 * JID, this host, a component's domain, or a remote domain — and fires the hook chain for it.
 * What each route means for delivery is decided by the plugins on those hooks (sess-man, the user
 * actors, msgoffline...); the router only addresses, intercepts and answers what nobody took.
 */
import { Element, x } from "../xml/element.ts";
import { type JID, tryParseJid } from "../jid/mod.ts";
import { errorReply, mayReplyWithError, StanzaError } from "../protocol/errors.ts";
import { logger } from "../log/mod.ts";
import type { Hooks, RouteKind, StanzaEvent, StanzaHook, StanzaKind } from "./hooks.ts";
import type { IqRegistry, IqScope } from "./iq.ts";
import type { Session } from "./session.ts";

const log = logger("router");

/** A component owning a whole domain (muc on conference.<domain>, pubsub...). */
export interface Component {
  domain: string;
  handle(stanza: Element, from: JID, to: JID, origin: Session | null): void | Promise<void>;
}

export interface RouterCounters {
  routed: number;
  errors: number;
  /** stanzas read from client sessions, by kind (metrics) */
  received: Record<StanzaKind, number>;
  /** stanzas written to client sessions, by kind (metrics) */
  sent: Record<StanzaKind, number>;
  /** stream errors sent to clients, by condition (metrics) */
  streamErrors: Record<string, number>;
}

/**
 * Chain names by stanza kind and route, written out once: built per stanza with a template they
 * were two new strings to hash for every routed stanza.
 */
const HOOK_NAMES = Object.fromEntries(
  (["message", "presence", "iq"] as const).map((kind) => [
    kind,
    Object.fromEntries(
      (["full", "bare", "host"] as const).map((route) => [
        route,
        { pre: `pre-${kind}/${route}`, on: `${kind}/${route}` },
      ]),
    ),
  ]),
) as Record<StanzaKind, Record<RouteKind, { pre: StanzaHook; on: StanzaHook }>>;

export class Router {
  readonly components = new Map<string, Component>();
  readonly counters: RouterCounters = {
    routed: 0,
    errors: 0,
    received: { message: 0, presence: 0, iq: 0 },
    sent: { message: 0, presence: 0, iq: 0 },
    streamErrors: {},
  };
  #domainJid: JID;

  constructor(readonly domain: string, readonly hooks: Hooks, readonly iq: IqRegistry) {
    const d = tryParseJid(domain);
    if (!d) throw new Error(`invalid domain ${domain}`);
    this.#domainJid = d;
    // iq requests nobody else took are dispatched by payload namespace, last in the chain.
    hooks.on("iq/host", (ev) => this.#dispatchIq(ev, "host"), -1000, "router");
    hooks.on(
      "iq/bare",
      (ev) => {
        const own = ev.origin?.jid && ev.origin.jid.bare === ev.to.bare;
        return this.#dispatchIq(ev, own ? "account" : "bare");
      },
      -1000,
      "router",
    );
  }

  /**
   * A stanza read from a bound client session: its `from` is stamped with the session's full JID
   * whatever the client wrote (RFC 6120 §8.1.2.1), then it is routed.
   */
  async fromSession(session: Session, stanza: Element): Promise<void> {
    const jid = session.jid;
    if (!jid) return;
    stanza.attrs.from = jid.full;
    const kind = stanza.localName;
    if (kind !== "message" && kind !== "presence" && kind !== "iq") {
      session.close("unsupported-stanza-type", `<${stanza.name}/> is not a stanza`);
      return;
    }
    this.counters.received[kind]++;
    if (kind === "iq" && !this.#validIq(stanza, session)) return;
    if (this.hooks.has("interceptor/incoming/before")) {
      try {
        await this.hooks.fireInterceptors("interceptor/incoming/before", {
          stanza,
          session,
          incoming: true,
          processed: false,
        });
      } catch (e) {
        if (e instanceof StanzaError) {
          this.#bounce(stanza, e);
          return;
        }
        throw e;
      }
    }
    await this.route(stanza, session, jid);
    if (this.hooks.has("interceptor/incoming/after")) {
      await this.hooks.fireInterceptors("interceptor/incoming/after", {
        stanza,
        session,
        incoming: true,
        processed: true,
      });
    }
  }

  /** Routes a stanza whose `from` is already right (from a session, a plugin or a component). */
  async route(stanza: Element, origin: Session | null = null, fromJid?: JID): Promise<void> {
    this.counters.routed++;
    const kind = stanza.localName as StanzaKind;
    const from = fromJid ?? this.#jid(stanza.attrs.from ?? this.domain);
    if (!from) {
      log.warning("dropping stanza with an invalid from {from}", { from: stanza.attrs.from });
      return;
    }
    let to: JID | null;
    const rawTo = stanza.attrs.to;
    if (rawTo === undefined) {
      // No `to`: the stanza is for the sender's own account (RFC 6120 §10.3).
      to = origin ? from.bareJid() : this.#domainJid;
    } else {
      to = this.#jid(rawTo);
      if (!to) {
        this.#bounce(stanza, new StanzaError("jid-malformed", `invalid to address "${rawTo}"`));
        return;
      }
      // Normalised addresses travel on: clients may write "User@Example.COM".
      stanza.attrs.to = to.full;
    }
    try {
      if (to.domain !== this.domain) {
        const component = this.components.get(to.domain);
        if (component) {
          await component.handle(stanza, from, to, origin);
          return;
        }
        // Server-to-server federation is not offered (yet): say so instead of dropping.
        this.#bounce(
          stanza,
          new StanzaError("remote-server-not-found", `no route to ${to.domain}`),
        );
        return;
      }
      const route: RouteKind = to.local === "" ? "host" : to.resource === "" ? "bare" : "full";
      const ev: StanzaEvent = { stanza, kind, route, from, to, origin };
      const names = HOOK_NAMES[kind][route];
      if (origin) {
        const took = this.hooks.fireStanza(names.pre, ev);
        if (took === true || (took !== false && await took)) return;
      }
      const took = this.hooks.fireStanza(names.on, ev);
      if (took === true || (took !== false && await took)) return;
      this.#unhandled(ev);
    } catch (e) {
      if (e instanceof StanzaError) this.#bounce(stanza, e);
      else {
        log.error("routing failed: {error}", { error: String(e) });
        this.#bounce(stanza, new StanzaError("internal-server-error"));
      }
    }
  }

  /**
   * Parsed addresses, remembered: the same few JIDs are routed to over and over, and RFC 7622
   * normalisation is the costliest part of addressing. Bounded; emptied when full.
   */
  readonly #jids = new Map<string, JID | null>();
  #jid(s: string): JID | null {
    let j = this.#jids.get(s);
    if (j === undefined) {
      j = tryParseJid(s);
      if (this.#jids.size >= 10_000) this.#jids.clear();
      this.#jids.set(s, j);
    }
    return j;
  }

  /** Sends an error reply to the sender of a stanza, unless it is an error itself. */
  bounce(stanza: Element, error: StanzaError): void {
    this.#bounce(stanza, error);
  }

  #bounce(stanza: Element, error: StanzaError): void {
    if (!mayReplyWithError(stanza) || stanza.attrs.from === undefined) return;
    this.counters.errors++;
    const reply = errorReply(stanza, error);
    if (reply.attrs.from === undefined) reply.attrs.from = this.domain;
    void this.route(reply);
  }

  #unhandled(ev: StanzaEvent): void {
    const { stanza, kind } = ev;
    const type = stanza.attrs.type;
    if (kind === "presence") return; // RFC 6121 §4.3.2 / §8.5: presence nobody wants is ignored.
    if (kind === "iq" && (type === "result" || type === "error")) return;
    if (kind === "message" && (type === "error" || type === "headline" || type === "groupchat")) {
      return;
    }
    this.#bounce(stanza, new StanzaError("service-unavailable"));
  }

  #validIq(stanza: Element, session: Session): boolean {
    const type = stanza.attrs.type;
    const payloads = stanza.elements();
    if (type === "get" || type === "set") {
      if (stanza.attrs.id === undefined || payloads.length !== 1) {
        stanza.attrs.from = session.jid?.full ?? "";
        this.#bounce(
          stanza,
          new StanzaError("bad-request", "an iq get/set has an id and exactly one payload"),
        );
        return false;
      }
      return true;
    }
    if (type === "result" || type === "error") return stanza.attrs.id !== undefined;
    this.#bounce(stanza, new StanzaError("bad-request", "unknown iq type"));
    return false;
  }

  async #dispatchIq(ev: StanzaEvent, scope: IqScope): Promise<boolean> {
    const { stanza } = ev;
    const type = stanza.attrs.type;
    if (type === "result" || type === "error") {
      if (scope === "host" || scope === "account") this.iq.answer(stanza);
      return true;
    }
    if (type !== "get" && type !== "set") return false;
    const payload = stanza.elements()[0];
    if (!payload) throw new StanzaError("bad-request");
    const handler = this.iq.find(scope, type, payload.ns ?? "");
    if (!handler) throw new StanzaError("service-unavailable");
    let result: Element | true;
    try {
      result = await handler({
        stanza,
        payload,
        from: ev.from,
        to: ev.to,
        origin: ev.origin,
        scope,
      });
    } catch (e) {
      if (e instanceof StanzaError) throw e;
      log.error("iq handler for {ns} failed: {error}", { ns: payload.ns, error: String(e) });
      throw new StanzaError("internal-server-error");
    }
    const reply = x("iq", {
      type: "result",
      id: stanza.attrs.id,
      from: stanza.attrs.to ?? (scope === "host" ? this.domain : undefined),
      to: ev.from.full,
    });
    if (result !== true) reply.append(result);
    await this.route(reply);
    return true;
  }
}
