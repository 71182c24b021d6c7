/**
 * jabber:iq:roster (RFC 6121 §2) with roster versioning (XEP-0237): get, set, remove, and pushes
 * to the user's interested resources. Subscription states change only through presence
 * (plugins/presence); a roster set touches names and groups, or removes the item.
 */
import { definePlugin } from "../registry.ts";
import type { SessionRegistry } from "../sess_man/sessions.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { tryParseJid } from "../../jid/mod.ts";
import type { RosterItem } from "../../db/types.ts";
import { type Element, x } from "../../xml/element.ts";
import { itemElement, RosterService, visible } from "./service.ts";

export { itemElement, RosterService, visible };

/** What a valid roster set asks for. */
export type RosterSet =
  | { op: "remove"; jid: string }
  | { op: "update"; jid: string; name?: string; groups: string[] };

export interface RosterLimits {
  max_name_length: number;
}

/**
 * Checks a roster set's query (RFC 6121 §2.3.3, §2.5) and says what it asks for; throws the
 * StanzaError the RFC names for each mistake.
 */
export function parseRosterSet(query: Element, limits: RosterLimits): RosterSet {
  const items = query.elements();
  if (items.length !== 1 || !items[0]!.is("item")) {
    throw new StanzaError("bad-request", "a roster set carries exactly one item");
  }
  const item = items[0]!;
  const raw = item.attrs.jid;
  if (raw === undefined) throw new StanzaError("bad-request", "the item has no jid");
  const jid = tryParseJid(raw);
  if (!jid || jid.resource !== "") {
    throw new StanzaError("jid-malformed", `"${raw}" is not a bare JID`);
  }
  const subscription = item.attrs.subscription;
  if (subscription === "remove") return { op: "remove", jid: jid.bare };
  if (subscription !== undefined) {
    throw new StanzaError("not-allowed", "only subscription='remove' may be set");
  }
  const name = item.attrs.name;
  if (name !== undefined && name.length > limits.max_name_length) {
    throw new StanzaError("not-acceptable", "the name is too long");
  }
  const groups: string[] = [];
  for (const g of item.getChildren("group")) {
    const text = g.text();
    if (text === "") throw new StanzaError("not-acceptable", "a group name is empty");
    if (text.length > limits.max_name_length) {
      throw new StanzaError("not-acceptable", "a group name is too long");
    }
    if (groups.includes(text)) throw new StanzaError("bad-request", `group "${text}" twice`);
    groups.push(text);
  }
  return { op: "update", jid: jid.bare, name: name === "" ? undefined : name, groups };
}

export default definePlugin({
  name: "jabber:iq:roster",
  description: "rosters with versioning (RFC 6121 §2, XEP-0237)",
  depends: ["sess-man"],
  defaults: { max_items: 1000, max_name_length: 1023 },
  setup(api) {
    const sessions = api.service<SessionRegistry>("sessions");
    const roster = new RosterService(api.db.roster, sessions);
    api.provide("roster", roster);
    api.streamFeature("post-auth", () => x("ver", { xmlns: NS.rosterVer }));

    api.iq("get", NS.roster, async ({ payload, from, origin }) => {
      // Interested from now on: pushes may reach it before the result, which RFC 6121 allows.
      if (origin) origin.interested = true;
      const { version, items } = await roster.get(from.bare);
      if (payload.attrs.ver !== undefined && payload.attrs.ver === version) return true;
      return x(
        "query",
        { xmlns: NS.roster, ver: version },
        ...items.filter(visible).map(itemElement),
      );
    }, ["account"]);

    api.iq("set", NS.roster, async ({ payload, from }): Promise<true> => {
      const req = parseRosterSet(payload, api.options);
      const owner = from.bare;
      if (req.op === "remove") {
        const { before } = await roster.update(owner, req.jid, () => null);
        if (!before) throw new StanzaError("item-not-found");
        cancelSubscriptions(owner, before);
        return true;
      }
      await roster.update(owner, req.jid, async (item) => {
        if (!item) {
          const { items } = await roster.get(owner);
          if (items.length >= api.options.max_items) {
            throw new StanzaError("not-allowed", "the roster is full");
          }
        }
        const next: RosterItem = item ??
          { jid: req.jid, subscription: "none", askOut: false, pendingIn: false, groups: [] };
        if (req.name === undefined) delete next.name;
        else next.name = req.name;
        next.groups = req.groups;
        return next;
      });
      return true;
    }, ["account"]);

    /**
     * RFC 6121 §2.5.2: removing an item ends every subscription with the contact. The contact
     * stops seeing the user (unsubscribed, after unavailable presence), stops being seen
     * (unsubscribe), and a pending request is denied (unsubscribed).
     */
    const cancelSubscriptions = (owner: string, item: RosterItem) => {
      const send = (type: string, from = owner) =>
        api.route(x("presence", { type, from, to: item.jid }));
      const seenByContact = item.subscription === "from" || item.subscription === "both";
      if (seenByContact) {
        for (const s of sessions.ofUser(owner)) {
          if (s.available && s.jid) void send("unavailable", s.jid.full);
        }
      }
      if (item.subscription === "to" || item.subscription === "both" || item.askOut) {
        void send("unsubscribe");
      }
      if (seenByContact || item.pendingIn) void send("unsubscribed");
    };
  },
});
