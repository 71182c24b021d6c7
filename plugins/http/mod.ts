/**
 * http: the HTTP listeners (5280, and 5281 with TLS) that bosh, ws, monitor and XEP-0156
 * discovery hang their routes on (`api.service<HttpRoutes>("http")`).
 */
import { definePlugin } from "../registry.ts";
import { type HttpListener, HttpRoutes, listenHttp } from "../../net/http.ts";
import { loadCertificate } from "../../net/certs.ts";

export interface HttpPorts {
  http: number;
  https: number | null;
}

export default definePlugin({
  name: "http",
  description: "HTTP and HTTPS listeners for BOSH, WebSocket, metrics and discovery",
  defaults: {},
  async setup(api) {
    const cfg = api.config;
    const routes = new HttpRoutes();
    api.provide("http", routes);
    const listeners: HttpListener[] = [];
    const plain = await listenHttp({ host: cfg.http.host, port: cfg.http.port, routes });
    listeners.push(plain);
    const ports: HttpPorts = { http: plain.port, https: null };
    if (cfg.http.tls_port >= 0) {
      const pair = await loadCertificate({
        domain: cfg.domain,
        dataDir: cfg.dataDir,
        cert: cfg.tls.cert,
        key: cfg.tls.key,
      });
      const secure = await listenHttp({
        host: cfg.http.host,
        port: cfg.http.tls_port,
        routes,
        tls: { cert: pair.cert, key: pair.key },
      });
      listeners.push(secure);
      ports.https = secure.port;
    }
    api.provide("http.ports", ports);
    api.log.info("HTTP on {host}:{port}, HTTPS on {tlsPort}", {
      host: cfg.http.host,
      port: ports.http,
      tlsPort: ports.https ?? "off",
    });
    api.onStop(async () => {
      await Promise.all(listeners.map((l) => l.close()));
    });
  },
});
