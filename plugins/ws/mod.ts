/**
 * ws: XMPP over WebSocket (RFC 7395) at `GET /xmpp-websocket` on the http plugin's listeners.
 * Each upgraded socket becomes a StreamSession driving the same connection machine as c2s.
 */
import { definePlugin } from "../registry.ts";
import type { HttpRoutes } from "../../net/http.ts";
import { type SessionBinder, StreamSession } from "../../net/stream_session.ts";
import { WebSocketTransport } from "../../net/websocket.ts";

export const WS_PATH = "/xmpp-websocket";

export default definePlugin({
  name: "ws",
  description: "XMPP over WebSocket (RFC 7395) on the HTTP listeners",
  depends: ["http", "sess-man"],
  defaults: {
    /** treat plain ws:// as secure (loopback, or TLS ended at a reverse proxy) */
    consider_secure: false,
  },
  setup(api) {
    const cfg = api.config;
    // One throttle and one connection-rate window per server, whatever the transport.
    const { mechanisms, authThrottle: throttle, connectionRate: rate } = api.core;
    const binder = api.service<SessionBinder>("binder");
    const live = new Map<WebSocketTransport, StreamSession>();

    api.service<HttpRoutes>("http").add("GET", WS_PATH, (req, info) => {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("WebSocket upgrade required\n", {
          status: 426,
          headers: { upgrade: "websocket" },
        });
      }
      const protocols = (req.headers.get("sec-websocket-protocol") ?? "").split(",")
        .map((p) => p.trim());
      // RFC 7395 §3.1: the client must offer the "xmpp" subprotocol.
      if (!protocols.includes("xmpp")) {
        return new Response("the 'xmpp' WebSocket subprotocol is required\n", { status: 400 });
      }
      if (!rate.admit(info.remoteAddr)) {
        api.log.warning("connection rate exceeded for {remote}", { remote: info.remoteAddr });
        return new Response("too many connections\n", { status: 429 });
      }
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "xmpp" });
      const transport = new WebSocketTransport(socket, {
        remoteAddress: info.remoteAddr,
        secure: info.secure || api.options.consider_secure,
        maxStanzaBytes: cfg.limits.max_stanza_bytes,
        maxDepth: cfg.limits.max_depth,
      });
      const session = new StreamSession({
        core: api.core,
        transport,
        mechanisms,
        throttle,
        binder,
        throttleExempt: false,
      });
      live.set(transport, session);
      void transport.closed.then(() => live.delete(transport));
      transport.attach(session);
      return response;
    });

    api.onStop(async () => {
      // Bound sessions got system-shutdown from sess-man already; this reaches the rest.
      for (const session of live.values()) session.shutdown();
      const all = [...live.keys()];
      const closed = Promise.all(all.map((t) => t.closed));
      // Give the goodbyes a moment to reach the clients, then cut what is left; a peer that
      // never finishes the closing handshake does not hold up the stop for long.
      for (const ms of [300, 1000]) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise<void>((r) => timer = setTimeout(r, ms));
        await Promise.race([closed, grace]);
        clearTimeout(timer);
        for (const t of all) t.close();
      }
    });
  },
});
