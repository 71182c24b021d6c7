/**
 * disco (XEP-0030): what this server and its accounts support, built from what the enabled
 * plugins registered — a disabled plugin's features are simply never there.
 */
import { definePlugin } from "../registry.ts";
import { Element, x } from "../../xml/element.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";

export default definePlugin({
  name: "disco",
  description: "service discovery (XEP-0030) of the server, its components and accounts",
  defaults: { name: "Parley" },
  setup(api) {
    const disco = api.core.disco;
    disco.identities.unshift({ category: "server", type: "im", name: api.options.name });
    disco.features.add(NS.discoInfo);
    disco.features.add(NS.discoItems);
    disco.accountFeatures.add(NS.discoInfo);

    const info = (node: string | undefined, account: boolean): Element => {
      if (node !== undefined) throw new StanzaError("item-not-found");
      const q = x("query", { xmlns: NS.discoInfo });
      const identities = account
        ? [{ category: "account", type: "registered", name: undefined }]
        : disco.identities;
      for (const i of identities) {
        q.append(x("identity", { category: i.category, type: i.type, name: i.name }));
      }
      for (const f of [...(account ? disco.accountFeatures : disco.features)].sort()) {
        q.append(x("feature", { var: f }));
      }
      return q;
    };

    api.iq("get", NS.discoInfo, (req) => info(req.payload.attrs.node, false), ["host"]);
    api.iq("get", NS.discoInfo, async (req) => {
      // Another user's account is only described to its own sessions or when it exists.
      if (req.scope === "bare" && !(await api.db.accounts.exists(req.to.bare))) {
        throw new StanzaError("service-unavailable");
      }
      return info(req.payload.attrs.node, true);
    }, ["account", "bare"]);

    api.iq("get", NS.discoItems, (req) => {
      if (req.payload.attrs.node !== undefined) throw new StanzaError("item-not-found");
      const q = x("query", { xmlns: NS.discoItems });
      for (const i of disco.items) q.append(x("item", { jid: i.jid, name: i.name }));
      return q;
    }, ["host"]);
    api.iq("get", NS.discoItems, () => x("query", { xmlns: NS.discoItems }), ["account"]);
  },
});
