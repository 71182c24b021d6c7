/**
 * host-meta: XEP-0156 discovery of the HTTP transports. `/.well-known/host-meta` (XRD) and
 * `/.well-known/host-meta.json` (JRD) list the BOSH and WebSocket endpoints of whichever of the
 * bosh and ws components are enabled. URLs follow the scheme and Host of the request unless
 * configured (for deployments behind a reverse proxy).
 */
import { definePlugin } from "../registry.ts";
import type { HttpRequestInfo, HttpRoutes } from "../../net/http.ts";
import { escapeAttr } from "../../xml/serialize.ts";
import { BOSH_PATH } from "../bosh/mod.ts";
import { WS_PATH } from "../ws/mod.ts";

const REL_BOSH = "urn:xmpp:alt-connections:xbosh";
const REL_WS = "urn:xmpp:alt-connections:websocket";
const NS_XRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0";

export default definePlugin({
  name: "host-meta",
  description: "XEP-0156 discovery of the BOSH and WebSocket endpoints",
  depends: ["http"],
  defaults: {
    /** public BOSH URL; empty: from the request's scheme and Host */
    bosh_url: "",
    /** public WebSocket URL; empty: from the request's scheme and Host */
    websocket_url: "",
  },
  setup(api) {
    const enabled = new Set(api.config.components);
    const o = api.options;
    const links = (req: Request, info: HttpRequestInfo): { rel: string; href: string }[] => {
      const host = req.headers.get("host") ?? api.domain;
      const out = [];
      if (enabled.has("bosh")) {
        out.push({
          rel: REL_BOSH,
          href: o.bosh_url || `${info.secure ? "https" : "http"}://${host}${BOSH_PATH}`,
        });
      }
      if (enabled.has("ws")) {
        out.push({
          rel: REL_WS,
          href: o.websocket_url || `${info.secure ? "wss" : "ws"}://${host}${WS_PATH}`,
        });
      }
      return out;
    };
    // Browsers fetch these from other origins (XEP-0156 §3.3).
    const headers = (type: string) => ({
      "content-type": type,
      "access-control-allow-origin": "*",
    });
    const routes = api.service<HttpRoutes>("http");
    routes.add("GET", "/.well-known/host-meta", (req, info) => {
      const body = `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='${NS_XRD}'>\n` +
        links(req, info).map((l) =>
          `  <Link rel='${escapeAttr(l.rel)}' href='${escapeAttr(l.href)}'/>\n`
        ).join("") + "</XRD>\n";
      return new Response(body, { headers: headers("application/xrd+xml; charset=utf-8") });
    });
    routes.add("GET", "/.well-known/host-meta.json", (req, info) => {
      const body = JSON.stringify({ links: links(req, info) });
      return new Response(body, { headers: headers("application/json") });
    });
  },
});
