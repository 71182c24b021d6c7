/**
 * message-carbons: Message Carbons (XEP-0280, urn:xmpp:carbons:2). A session that enabled carbons
 * gets a copy of the chat its user's other resources send (`<sent/>`) and receive (`<received/>`),
 * so every device shows the whole conversation.
 *
 * Sent copies go out from the sender's side (`pre-message/*`, before delivery); received copies
 * after delivery (`message/delivered`, fired by the recipient's user actor with the sessions that
 * got the message), to every carbon-enabled resource that was not among them.
 */
import { definePlugin } from "../registry.ts";
import type { StanzaEvent } from "../../router/hooks.ts";
import type { Session } from "../../router/session.ts";
import { type Element, x } from "../../xml/element.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { NS } from "../../protocol/ns.ts";
import { forwarded } from "../../protocol/forward.ts";
import type { SessionRegistry } from "../sess_man/mod.ts";

const KEY = "message-carbons";

/** Whether the session asked for carbons (per-session state in `session.data`). */
export function carbonsEnabled(session: Session): boolean {
  return session.data.get(KEY) === true;
}

/**
 * XEP-0280 §6 eligibility: chat messages, and normal messages with a body; never errors,
 * groupchat, headlines, messages already carrying a carbon, marked `<private/>` or hinted
 * `<no-copy/>` (XEP-0334).
 */
export function carbonEligible(stanza: Element): boolean {
  const type = stanza.attrs.type ?? "normal";
  if (type === "chat") {
    // fall through to the exclusions
  } else if (type === "normal") {
    if (stanza.getChild("body") === undefined) return false;
  } else return false;
  for (const el of stanza.elements()) {
    const ns = el.ns;
    if (ns === NS.carbons) return false; // <private/>, or a carbon itself (<sent/>, <received/>)
    if (ns === NS.hints && el.localName === "no-copy") return false;
  }
  return true;
}

/** The copy sent to one resource: `<message><sent|received><forwarded>original…`. */
export function carbon(
  kind: "sent" | "received",
  user: string,
  to: string,
  original: Element,
): Element {
  return x(
    "message",
    { from: user, to, type: original.attrs.type ?? "normal" },
    x(kind, { xmlns: NS.carbons }, forwarded(original)),
  );
}

export default definePlugin({
  name: "message-carbons",
  description: "message carbons (XEP-0280)",
  depends: ["sess-man"],
  defaults: {},
  setup(api) {
    const sessions = api.service<SessionRegistry>("sessions");
    api.discoFeature(NS.carbons);

    const toggle = (on: boolean) => (req: { origin: Session | null }) => {
      if (!req.origin?.jid) throw new StanzaError("bad-request", "carbons are per session");
      if (on) req.origin.data.set(KEY, true);
      else req.origin.data.delete(KEY);
      return true as const;
    };
    api.iq("set", NS.carbons, (req) => {
      switch (req.payload.localName) {
        case "enable":
          return toggle(true)(req);
        case "disable":
          return toggle(false)(req);
        default:
          throw new StanzaError("bad-request", "expected <enable/> or <disable/>");
      }
    }, ["host", "account"]);

    /** Copies to `user`'s carbon-enabled sessions except those in `skip`. */
    const copy = (
      kind: "sent" | "received",
      user: string,
      stanza: Element,
      skip: (s: Session) => boolean,
    ) => {
      for (const s of sessions.ofUser(user)) {
        if (!s.jid || !carbonsEnabled(s) || skip(s)) continue;
        s.send(carbon(kind, user, s.jid.full, stanza));
      }
    };

    // Sent carbons: run before delivery and never take the stanza (routing continues).
    const sent = (ev: StanzaEvent): void => {
      const { origin, stanza } = ev;
      if (!origin?.jid) return;
      const user = origin.jid.bare;
      // A user on one device has nobody to copy to (the common case, checked first).
      if (sessions.countOfUser(user) < 2 || !carbonEligible(stanza)) return;
      copy("sent", user, stanza, (s) =>
        // Not to the sender, and not to a resource of the same user the message is addressed to.
        s === origin ||
        (ev.to.bare === user && (ev.route === "bare" || s.jid?.full === ev.to.full)));
    };
    api.hook("pre-message/full", sent, 500);
    api.hook("pre-message/bare", sent, 500);

    api.hook("message/delivered", (ev) => {
      const { stanza, from, to } = ev;
      if (to.domain !== api.domain || to.local === "") return;
      // A message between one user's own resources was already copied as sent.
      if (from.bare === to.bare) return;
      // Every session of the user got it already: nobody to copy to.
      if (sessions.countOfUser(to.bare) <= ev.sessions.length) return;
      if (!carbonEligible(stanza)) return;
      const got = new Set(ev.sessions);
      copy("received", to.bare, stanza, (s) => got.has(s));
    });
  },
});
