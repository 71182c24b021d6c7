/**
 * vcard-temp (XEP-0054): each user stores one vCard and anyone may read it.
 *
 * - get, no `to` or to one's own bare JID: the stored vCard, or an empty `<vCard/>` (§3.1 allows
 *   either that or item-not-found; the empty element spares clients an error path).
 * - set, same addressing: replaces the whole vCard; over `max_bytes` is `not-acceptable`.
 * - get to another local user's bare JID: answered by the server on their behalf (§3.3); when no
 *   vCard is stored — or no such user exists — the answer is `service-unavailable` in both cases,
 *   which §3.3 recommends and which is what an iq to a missing account gets anyway (RFC 6121
 *   §8.5.1), so a vCard query cannot tell who has an account.
 * - set to another user's bare JID: `forbidden` (§3.2).
 */
import { checkOptions, definePlugin } from "../registry.ts";
import { x } from "../../xml/element.ts";
import { parseElement } from "../../xml/parse.ts";
import { serialize } from "../../xml/serialize.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { ConfigError } from "../../config/load.ts";

export default definePlugin({
  name: "vcard-temp",
  description: "vCards (XEP-0054)",
  defaults: { max_bytes: 65536 },
  parseOptions(raw, defaults) {
    const o = checkOptions("vcard-temp", raw, defaults);
    if (!Number.isInteger(o.max_bytes) || o.max_bytes < 1) {
      throw new ConfigError(
        `vcard-temp.max_bytes: expected a positive integer, got ${o.max_bytes}`,
      );
    }
    return o;
  },
  setup(api) {
    const store = api.db.vcard;
    const bytes = new TextEncoder();
    api.discoFeature(NS.vcard);
    api.accountFeature(NS.vcard);

    api.iq("get", NS.vcard, async ({ to }) => {
      const xml = await store.get(to.bare);
      return xml ? parseElement(xml) : x("vCard", { xmlns: NS.vcard });
    }, ["account"]);

    api.iq("get", NS.vcard, async ({ to }) => {
      const xml = await store.get(to.bare);
      if (!xml) throw new StanzaError("service-unavailable");
      return parseElement(xml);
    }, ["bare"]);

    api.iq("set", NS.vcard, async ({ from, payload }): Promise<true> => {
      if (payload.localName !== "vCard") throw new StanzaError("bad-request", "expected <vCard/>");
      const xml = serialize(payload.cloneDetached());
      if (bytes.encode(xml).length > api.options.max_bytes) {
        throw new StanzaError(
          "not-acceptable",
          `a vCard is at most ${api.options.max_bytes} bytes`,
        );
      }
      await store.set(from.bare, xml);
      return true;
    }, ["account"]);

    api.iq("set", NS.vcard, () => {
      throw new StanzaError("forbidden", "only the owner may change a vCard");
    }, ["bare"]);
  },
});
