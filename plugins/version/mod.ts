/** version (XEP-0092): the server's software name and version, the OS only when configured. */
import { definePlugin } from "../registry.ts";
import { x } from "../../xml/element.ts";
import { NS } from "../../protocol/ns.ts";
import { PARLEY_VERSION } from "../../version.ts";

export default definePlugin({
  name: "version",
  description: "software version (XEP-0092)",
  defaults: { show_os: false },
  setup(api) {
    api.discoFeature(NS.version);
    api.iq("get", NS.version, () =>
      x(
        "query",
        { xmlns: NS.version },
        x("name", {}, "Parley"),
        x("version", {}, PARLEY_VERSION),
        api.options.show_os ? x("os", {}, `${Deno.build.os} ${Deno.build.arch}`) : null,
      ));
  },
});
