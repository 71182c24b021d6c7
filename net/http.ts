/**
 * The HTTP side (BOSH, WebSocket, metrics, host-meta) on one small router over Deno.serve:
 * plain HTTP on 5280 and HTTPS on 5281 with the server certificate. Routes match by method and
 * path prefix, longest prefix first.
 */
import { logger } from "../log/mod.ts";

const log = logger("http");

export interface HttpRequestInfo {
  remoteAddr: string;
  secure: boolean;
}

export type HttpHandler = (req: Request, info: HttpRequestInfo) => Response | Promise<Response>;

interface Route {
  method: string;
  prefix: string;
  handler: HttpHandler;
}

export class HttpRoutes {
  readonly #routes: Route[] = [];

  /** Adds a route; `method` "*" matches any method. */
  add(method: string, prefix: string, handler: HttpHandler): void {
    this.#routes.push({ method: method.toUpperCase(), prefix, handler });
    this.#routes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  async handle(req: Request, info: HttpRequestInfo): Promise<Response> {
    const path = new URL(req.url).pathname;
    let allowed = false;
    for (const r of this.#routes) {
      if (
        path !== r.prefix && !path.startsWith(r.prefix.endsWith("/") ? r.prefix : r.prefix + "/")
      ) {
        continue;
      }
      if (r.method !== "*" && r.method !== req.method) {
        allowed = true;
        continue;
      }
      try {
        return await r.handler(req, info);
      } catch (e) {
        log.error("HTTP handler for {path} failed: {e}", { path, e: String(e) });
        return new Response("internal server error\n", { status: 500 });
      }
    }
    return new Response(allowed ? "method not allowed\n" : "not found\n", {
      status: allowed ? 405 : 404,
    });
  }
}

export interface HttpListener {
  port: number;
  close(): Promise<void>;
}

export function listenHttp(opts: {
  host: string;
  port: number;
  routes: HttpRoutes;
  tls?: { cert: string; key: string };
}): Promise<HttpListener> {
  const { promise, resolve } = Promise.withResolvers<HttpListener>();
  const server = Deno.serve({
    hostname: opts.host,
    port: opts.port,
    cert: opts.tls?.cert,
    key: opts.tls?.key,
    onListen: () => {},
    onError: (e) => {
      log.error("HTTP error: {e}", { e: String(e) });
      return new Response("internal server error\n", { status: 500 });
    },
  } as Deno.ServeTcpOptions, (req, info) =>
    opts.routes.handle(req, {
      remoteAddr: (info.remoteAddr as Deno.NetAddr).hostname,
      secure: opts.tls !== undefined,
    }));
  resolve({
    port: server.addr.port,
    close: () => server.shutdown(),
  });
  return promise;
}
