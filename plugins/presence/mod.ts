/**
 * presence-subscription (Tigase's name): presence subscriptions (RFC 6121 §3) and presence
 * broadcast (§4). Sender side (`pre-presence/*`, stanzas from local sessions): outbound
 * subscription stanzas update the sender's roster; presence without `to` is broadcast to the
 * subscribers and the user's own resources, with probes on initial presence; directed presence is
 * remembered so unavailable reaches it too. Recipient side (`presence/*`): inbound subscription
 * stanzas update the recipient's roster, probes are answered, presence is delivered. The state
 * machine itself is the table in subscription.ts.
 */
import { definePlugin } from "../registry.ts";
import type { SessionRegistry } from "../sess_man/sessions.ts";
import type { RosterService } from "../roster/service.ts";
import type { StanzaEvent } from "../../router/hooks.ts";
import type { Session } from "../../router/session.ts";
import type { RosterItem } from "../../db/types.ts";
import { type Element, x } from "../../xml/element.ts";
import { Framer } from "../../xml/framer.ts";
import { serialize } from "../../xml/serialize.ts";
import { NS } from "../../protocol/ns.ts";
import {
  hasFrom,
  hasTo,
  isSubscriptionType,
  type Outcome,
  type SubscriptionType,
  transition,
} from "./subscription.ts";

export * from "./subscription.ts";

const KEY = "presence-subscription";

/** What this plugin remembers of a session. */
interface PresenceState {
  /** available presence was broadcast and not yet followed by unavailable */
  broadcast: boolean;
  /**
   * JIDs sent directed available presence (RFC 6121 §4.6), as addressed; null until there is
   * one, since most sessions never send any and an empty Set costs ~200 bytes per session.
   */
  directed: Set<string> | null;
}

function stateOf(s: Session): PresenceState {
  let st = s.data.get(KEY) as PresenceState | undefined;
  if (!st) {
    st = { broadcast: false, directed: null };
    s.data.set(KEY, st);
  }
  return st;
}

/** A copy of a presence stanza with new addresses, fit to send on another stream. */
function readdress(stanza: Element, from: string, to: string): Element {
  const copy = stanza.cloneDetached();
  copy.attrs.from = from;
  copy.attrs.to = to;
  return copy;
}

/** Reads back a stanza stored with {@link serialize}. */
export function parseStored(xml: string): Element | null {
  const framer = new Framer();
  const events = framer.push(
    `<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>${xml}`,
  );
  const ev = events.find((e) => e.kind === "element");
  return ev?.kind === "element" ? ev.element : null;
}

function newItem(jid: string): RosterItem {
  return { jid, subscription: "none", askOut: false, pendingIn: false, groups: [] };
}

export default definePlugin({
  name: "presence-subscription",
  description: "presence subscriptions and broadcast (RFC 6121 §3, §4)",
  depends: ["jabber:iq:roster", "sess-man"],
  defaults: {},
  setup(api) {
    const sessions = api.service<SessionRegistry>("sessions");
    const roster = api.service<RosterService>("roster");

    const available = (bare: string) => sessions.ofUser(bare).filter((s) => s.available);

    /** The user's current presence from each available resource, to the contact. */
    const sendCurrent = (owner: string, to: string) =>
      Promise.all(
        available(owner).map((s) =>
          s.jid && s.presence ? api.route(readdress(s.presence, s.jid.full, to)) : undefined
        ),
      );
    const sendUnavailable = (owner: string, to: string) =>
      Promise.all(
        available(owner).map((s) =>
          s.jid ? api.route(x("presence", { type: "unavailable", from: s.jid.full, to })) : null
        ),
      );

    /** Applies a subscription stanza to the owner's item for the contact. */
    const apply = async (
      owner: string,
      contact: string,
      dir: "inbound" | "outbound",
      type: SubscriptionType,
      stored?: string,
    ): Promise<Outcome> => {
      let outcome: Outcome | undefined;
      await roster.update(owner, contact, (item) => {
        const cur = item ?? newItem(contact);
        outcome = transition(cur, dir, type);
        if (!outcome.changed) return item;
        const next: RosterItem = { ...cur, ...outcome.state };
        if (!next.pendingIn) delete next.pendingInStanza;
        else if (stored !== undefined) next.pendingInStanza = stored;
        return next;
      });
      return outcome!;
    };

    /** RFC 6121 §3 on the user's server: a subscription stanza from one of the user's sessions. */
    const outbound = async (ev: StanzaEvent): Promise<true> => {
      const type = ev.stanza.attrs.type as SubscriptionType;
      const owner = ev.from.bare;
      const contact = ev.to.bare;
      if (owner === contact) return true;
      const outcome = await apply(owner, contact, "outbound", type);
      // Subscription stanzas travel from and to bare JIDs (RFC 6121 §3.1.2).
      if (outcome.pass) await api.route(readdress(ev.stanza, owner, contact));
      if (outcome.presence === "available") await sendCurrent(owner, contact);
      if (outcome.presence === "unavailable") await sendUnavailable(owner, contact);
      return true;
    };

    /** RFC 6121 §3 on the contact's server: a subscription stanza for a local user. */
    const inbound = async (ev: StanzaEvent): Promise<true> => {
      const type = ev.stanza.attrs.type as SubscriptionType;
      const owner = ev.to.bare;
      const contact = ev.from.bare;
      if (owner === contact) return true;
      const stanza = readdress(ev.stanza, contact, owner);
      if (type === "subscribe" && !(await api.db.accounts.exists(owner))) {
        // §3.1.3: no such user; the server says no on its behalf.
        await api.route(x("presence", { type: "unsubscribed", from: owner, to: contact }));
        return true;
      }
      const stored = type === "subscribe" ? serialize(stanza) : undefined;
      const outcome = await apply(owner, contact, "inbound", type, stored);
      if (outcome.autoReply) {
        await api.route(x("presence", { type: outcome.autoReply, from: owner, to: contact }));
        await sendCurrent(owner, contact);
      }
      if (outcome.pass) {
        // A request goes to resources that asked for the roster (§3.1.3); it stays pending
        // (stored with the item) and is sent again when the user next comes online.
        for (const s of available(owner)) {
          if (type !== "subscribe" || s.interested) s.send(stanza.clone());
        }
      }
      if (outcome.presence === "unavailable") await sendUnavailable(owner, contact);
      return true;
    };

    /** RFC 6121 §4.3.2: a probe is answered with the last presence, if subscribed. */
    const probe = async (ev: StanzaEvent): Promise<true> => {
      const owner = ev.to.bare;
      const item = await roster.getItem(owner, ev.from.bare);
      if (!item || !hasFrom(item.subscription)) return true;
      const targets = ev.to.resource === ""
        ? available(owner)
        : [sessions.get(ev.to)].filter((s): s is Session => !!s?.available);
      await Promise.all(
        targets.map((s) =>
          s.jid && s.presence ? api.route(readdress(s.presence, s.jid.full, ev.from.full)) : null
        ),
      );
      return true;
    };

    /**
     * Who hears this session's broadcast presence: contacts subscribed to the user, plus, for
     * unavailable, whoever got directed presence and is not among them (§4.6.3).
     */
    const audience = async (owner: string, st: PresenceState, unavailable: boolean) => {
      const { items } = await roster.get(owner);
      const targets = new Set(items.filter((i) => hasFrom(i.subscription)).map((i) => i.jid));
      if (unavailable && st.directed) {
        for (const d of st.directed) {
          const bare = d.split("/")[0]!;
          if (!targets.has(bare)) targets.add(d);
        }
        st.directed = null;
      }
      return { items, targets };
    };

    /** Presence without `to`: initial presence, updates and unavailable (RFC 6121 §4.2-§4.5). */
    const broadcast = async (ev: StanzaEvent, session: Session): Promise<true> => {
      const type = ev.stanza.attrs.type;
      if (type !== undefined && type !== "unavailable") return true;
      const st = stateOf(session);
      const owner = ev.from.bare;
      const unavailable = type === "unavailable";
      if (unavailable && !st.broadcast && !st.directed?.size) return true;
      const initial = !unavailable && !st.broadcast;
      st.broadcast = !unavailable;
      const { items, targets } = await audience(owner, st, unavailable);
      const from = ev.from.full;
      await Promise.all([...targets].map((t) => api.route(readdress(ev.stanza, from, t))));
      // The user's own resources, the sender included when it is available (§4.2.2, §4.4.2).
      for (const s of sessions.ofUser(owner)) {
        if (s.available && s.jid) s.send(readdress(ev.stanza, from, s.jid.full));
      }
      if (initial) {
        await Promise.all(
          items.filter((i) => hasTo(i.subscription)).map((i) =>
            api.route(x("presence", { type: "probe", from, to: i.jid }))
          ),
        );
        // Requests that arrived while the user was away (§3.1.3).
        for (const i of items) {
          if (!i.pendingIn) continue;
          const stored = i.pendingInStanza ? parseStored(i.pendingInStanza) : null;
          const req = stored ?? x("presence", { type: "subscribe", from: i.jid, to: owner });
          session.send(req);
        }
      }
      return true;
    };

    /** Directed presence (§4.6): remembered, then delivered by the recipient-side hooks. */
    const directed = (ev: StanzaEvent, session: Session): boolean => {
      const type = ev.stanza.attrs.type;
      if (type === "probe") return true; // clients do not probe (§4.3); the server does.
      if (ev.to.bare === ev.from.bare) return false;
      const st = stateOf(session);
      if (type === undefined) (st.directed ??= new Set()).add(ev.to.full);
      else if (type === "unavailable") st.directed?.delete(ev.to.full);
      return false;
    };

    const senderSide = (ev: StanzaEvent) => {
      const session = ev.origin;
      if (!session) return false;
      const type = ev.stanza.attrs.type;
      const addressed = ev.stanza.attrs.to !== undefined;
      if (isSubscriptionType(type)) return addressed ? outbound(ev) : true;
      return addressed ? directed(ev, session) : broadcast(ev, session);
    };
    api.hook("pre-presence/bare", senderSide, 0);
    api.hook("pre-presence/full", senderSide, 0);

    const recipientSide = (ev: StanzaEvent) => {
      const type = ev.stanza.attrs.type;
      // Subscription stanzas to a full JID are handled as if sent to the bare JID (§3.1.3).
      if (isSubscriptionType(type)) return inbound(ev);
      if (type === "probe") return probe(ev);
      if (ev.to.resource !== "") {
        sessions.get(ev.to)?.send(ev.stanza);
        return true;
      }
      for (const s of available(ev.to.bare)) s.send(ev.stanza);
      return true;
    };
    api.hook("presence/bare", recipientSide, 0);
    api.hook("presence/full", recipientSide, 0);

    // A session that ends without saying goodbye still goes unavailable (§4.5.2). It is already
    // unbound, so its own resources list no longer holds it.
    api.hook("session/closed", async ({ session }) => {
      const st = session.data.get(KEY) as PresenceState | undefined;
      const jid = session.jid;
      if (!st || !jid || (!st.broadcast && !st.directed?.size)) return;
      st.broadcast = false;
      const { targets } = await audience(jid.bare, st, true);
      const gone = x("presence", { type: "unavailable", from: jid.full });
      await Promise.all([...targets].map((t) => api.route(readdress(gone, jid.full, t))));
      for (const s of available(jid.bare)) {
        if (s.jid) s.send(readdress(gone, jid.full, s.jid.full));
      }
    });
  },
});
