/**
 * c2s: client connections on TCP (5222, STARTTLS) and direct TLS (5223, XEP-0368). Each accepted
 * socket becomes a StreamSession driving its own connection actor.
 */
import tls from "node:tls";
import { definePlugin } from "../registry.ts";
import { loadCertificate } from "../../net/certs.ts";
import { listenTcp, type TcpListener, type TcpTransport } from "../../net/tcp.ts";
import { isLoopback } from "../../net/rate_limit.ts";
import { type SessionBinder, StreamSession } from "../../net/stream_session.ts";

export default definePlugin({
  name: "c2s",
  description: "client-to-server streams on TCP with STARTTLS and on direct TLS",
  depends: ["sess-man"],
  defaults: { throttle_loopback: true },
  async setup(api) {
    const cfg = api.config;
    const pair = await loadCertificate({
      domain: cfg.domain,
      dataDir: cfg.dataDir,
      cert: cfg.tls.cert,
      key: cfg.tls.key,
    });
    const secureContext = tls.createSecureContext({ cert: pair.cert, key: pair.key });
    // One throttle and one connection-rate window per server, whatever the transport.
    const { mechanisms, authThrottle: throttle, connectionRate: rate } = api.core;
    const binder = api.service<SessionBinder>("binder");
    const common = {
      host: cfg.c2s.host,
      secureContext,
      cert: pair.cert,
      key: pair.key,
      maxStanzaBytes: cfg.limits.max_stanza_bytes,
      maxDepth: cfg.limits.max_depth,
      admit: (addr: string) => rate.admit(addr),
      accept: (transport: TcpTransport) => {
        const session = new StreamSession({
          core: api.core,
          transport,
          mechanisms,
          throttle,
          binder,
          throttleExempt: !api.options.throttle_loopback && isLoopback(transport.remoteAddress),
        });
        transport.setSink(session);
      },
    };
    const listeners: TcpListener[] = [];
    const plain = await listenTcp({ ...common, port: cfg.c2s.port, directTls: false });
    listeners.push(plain);
    const ports: { c2s: number; c2sTls: number | null } = { c2s: plain.port, c2sTls: null };
    if (cfg.c2s.tls_port >= 0) {
      const direct = await listenTcp({ ...common, port: cfg.c2s.tls_port, directTls: true });
      listeners.push(direct);
      ports.c2sTls = direct.port;
    }
    api.provide("c2s.ports", ports);
    api.log.info("listening for clients on {host}:{port} (STARTTLS) and {tlsPort} (TLS)", {
      host: cfg.c2s.host,
      port: ports.c2s,
      tlsPort: ports.c2sTls ?? "off",
    });
    api.onStop(async () => {
      await Promise.all(listeners.map((l) => l.close()));
    });
  },
});
