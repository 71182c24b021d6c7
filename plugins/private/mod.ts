/**
 * private (XEP-0049): a user keeps XML fragments on the server, each filed under its element
 * name and namespace (bookmarks, client preferences, roster notes...).
 *
 * - set: every child of `<query/>` replaces what was stored under its (name, namespace).
 * - get: every child names a fragment to return; one never stored comes back as the (empty)
 *   element that was asked for, never as an error.
 * - `not-acceptable`: a query without a child, a child in a `jabber:*` namespace (reserved, §2.3;
 *   this also covers a child that inherits `jabber:iq:private`), or a fragment over `max_bytes`.
 * - `forbidden`: a get or set addressed to another user's bare JID (§2.3 prefers it to
 *   service-unavailable). Other reserved namespaces the XEP lists (`http://jabber.org/*`,
 *   `vcard-temp`) are accepted: refusing them is optional and would only break clients.
 */
import { checkOptions, definePlugin } from "../registry.ts";
import { type Element, x } from "../../xml/element.ts";
import { parseElement } from "../../xml/parse.ts";
import { serialize } from "../../xml/serialize.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { ConfigError } from "../../config/load.ts";

/** The children of a query, each checked to be storable. */
function fragments(query: Element): Element[] {
  const items = query.elements();
  if (items.length === 0) throw new StanzaError("not-acceptable", "name at least one element");
  for (const item of items) {
    if ((item.ns ?? "jabber:").startsWith("jabber:")) {
      throw new StanzaError("not-acceptable", `<${item.localName}/> is in a reserved namespace`);
    }
  }
  return items;
}

/** The storage key of a fragment, as db/types.ts PrivateStore defines it. */
const keyOf = (el: Element) => `${el.localName} ${el.ns}`;

export default definePlugin({
  name: "private",
  description: "private XML storage (XEP-0049)",
  defaults: { max_bytes: 65536 },
  parseOptions(raw, defaults) {
    const o = checkOptions("private", raw, defaults);
    if (!Number.isInteger(o.max_bytes) || o.max_bytes < 1) {
      throw new ConfigError(`private.max_bytes: expected a positive integer, got ${o.max_bytes}`);
    }
    return o;
  },
  setup(api) {
    const store = api.db.private;
    const bytes = new TextEncoder();
    api.discoFeature(NS.private);

    api.iq("get", NS.private, async ({ from, payload }) => {
      const query = x("query", { xmlns: NS.private });
      for (const item of fragments(payload)) {
        const xml = await store.get(from.bare, keyOf(item));
        query.append(xml ? parseElement(xml) : item.cloneDetached());
      }
      return query;
    }, ["account"]);

    api.iq("set", NS.private, async ({ from, payload }): Promise<true> => {
      // Check everything before storing anything: a refused set changes nothing.
      const writes = fragments(payload).map((item) => {
        const xml = serialize(item.cloneDetached());
        if (bytes.encode(xml).length > api.options.max_bytes) {
          throw new StanzaError(
            "not-acceptable",
            `a fragment is at most ${api.options.max_bytes} bytes`,
          );
        }
        return [keyOf(item), xml] as const;
      });
      for (const [key, xml] of writes) await store.set(from.bare, key, xml);
      return true;
    }, ["account"]);

    const forbidden = (): never => {
      throw new StanzaError("forbidden", "private data is for its owner only");
    };
    api.iq("get", NS.private, forbidden, ["bare"]);
    api.iq("set", NS.private, forbidden, ["bare"]);
  },
});
