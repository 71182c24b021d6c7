/** ping (XEP-0199): the server answers pings addressed to it. */
import { definePlugin } from "../registry.ts";
import { NS } from "../../protocol/ns.ts";

export default definePlugin({
  name: "ping",
  description: "XMPP ping (XEP-0199)",
  defaults: {},
  setup(api) {
    api.discoFeature(NS.ping);
    api.iq("get", NS.ping, () => true, ["host", "account"]);
  },
});
