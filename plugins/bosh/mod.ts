/**
 * bosh: XMPP over BOSH (XEP-0124, XEP-0206) at `POST /http-bind` on the http plugin's listeners,
 * with CORS for browser clients. Each BOSH session is one StreamSession on the same connection
 * machine as c2s; the protocol bookkeeping lives in net/bosh.ts.
 */
import { definePlugin } from "../registry.ts";
import { ConfigError } from "../../config/load.ts";
import type { HttpRoutes } from "../../net/http.ts";
import { type SessionBinder, StreamSession } from "../../net/stream_session.ts";
import { BoshManager } from "../../net/bosh.ts";
import { terminateBody } from "../../net/bosh_body.ts";

export const BOSH_PATH = "/http-bind";

export interface BoshOptions {
  /** treat plain http:// as secure (loopback, or TLS ended at a reverse proxy) */
  consider_secure: boolean;
  /** "*" or a list of origins allowed to call the endpoint from a browser */
  cors_origins: string | string[];
  /** seconds without a request before a session ends */
  inactivity: number;
  /** longest `wait` granted to a client, seconds */
  max_wait: number;
  /** shortest polling interval for polling sessions (hold = 0), seconds */
  polling: number;
  /** longest `pause` granted, seconds */
  max_pause: number;
}

const DEFAULTS: BoshOptions = {
  consider_secure: false,
  cors_origins: "*",
  inactivity: 60,
  max_wait: 120,
  polling: 5,
  max_pause: 120,
};

function parseOptions(raw: Record<string, unknown>, defaults: BoshOptions): BoshOptions {
  const out = { ...defaults };
  const problems: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    switch (k) {
      case "consider_secure":
        if (typeof v === "boolean") out.consider_secure = v;
        else problems.push(`bosh.${k}: expected boolean`);
        break;
      case "cors_origins":
        if (typeof v === "string" || (Array.isArray(v) && v.every((o) => typeof o === "string"))) {
          out.cors_origins = v;
        } else problems.push(`bosh.${k}: expected "*" or a list of origins`);
        break;
      case "inactivity":
      case "max_wait":
      case "polling":
      case "max_pause":
        if (typeof v === "number" && Number.isInteger(v) && v >= (k === "polling" ? 0 : 1)) {
          out[k] = v;
        } else problems.push(`bosh.${k}: expected a whole number of seconds`);
        break;
      default:
        problems.push(`bosh.${k}: unknown option (known: ${Object.keys(defaults).join(", ")})`);
    }
  }
  if (problems.length) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
  return out;
}

/** Reads a request body up to `max` bytes; null when it is longer. */
async function readLimited(req: Request, max: number): Promise<string | null> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) {
    await req.body?.cancel();
    return null;
  }
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > max) return null; // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    return "";
  }
}

export default definePlugin<BoshOptions>({
  name: "bosh",
  description: "XMPP over BOSH (XEP-0124, XEP-0206) on the HTTP listeners",
  depends: ["http", "sess-man"],
  defaults: DEFAULTS,
  parseOptions,
  setup(api) {
    const cfg = api.config;
    const o = api.options;
    // One throttle and one connection-rate window per server, whatever the transport.
    const { mechanisms, authThrottle: throttle, connectionRate: rate } = api.core;
    const binder = api.service<SessionBinder>("binder");
    // A body holds at most a few stanzas; allow some room around the stanza limit.
    const maxBodyBytes = cfg.limits.max_stanza_bytes + 4096;
    const manager = new BoshManager({
      domain: cfg.domain,
      maxWait: o.max_wait,
      maxHold: 1,
      inactivity: o.inactivity,
      polling: o.polling,
      maxPause: o.max_pause,
      maxBodyBytes,
      maxDepth: cfg.limits.max_depth,
      maxQueuedBytes: Math.max(16 << 20, 4 * cfg.limits.max_stanza_bytes),
    }, {
      admit: (addr) => rate.admit(addr),
      createStream: (transport) =>
        new StreamSession({
          core: api.core,
          transport,
          mechanisms,
          throttle,
          binder,
          throttleExempt: false,
        }),
    });

    const cors = (req: Request): Record<string, string> => {
      const origin = req.headers.get("origin");
      const allowed = o.cors_origins;
      let allow: string | null = null;
      if (allowed === "*") allow = "*";
      else if (origin !== null && (Array.isArray(allowed) ? allowed : [allowed]).includes(origin)) {
        allow = origin;
      }
      if (allow === null) return {};
      const h: Record<string, string> = {
        "access-control-allow-origin": allow,
        "access-control-allow-methods": "POST, OPTIONS",
        "access-control-allow-headers": "content-type",
        "access-control-max-age": "86400",
      };
      if (allow !== "*") h.vary = "origin";
      return h;
    };

    const routes = api.service<HttpRoutes>("http");
    routes.add(
      "OPTIONS",
      BOSH_PATH,
      (req) => new Response(null, { status: 204, headers: cors(req) }),
    );
    routes.add("POST", BOSH_PATH, async (req, info) => {
      const headers = { "content-type": "text/xml; charset=utf-8", ...cors(req) };
      const text = await readLimited(req, maxBodyBytes);
      if (text === null) {
        return new Response(terminateBody("policy-violation"), { status: 200, headers });
      }
      const r = await manager.handle(text, {
        remoteAddress: info.remoteAddr,
        secure: info.secure || o.consider_secure,
      });
      return new Response(r.body, { status: r.status, headers });
    });
    api.provide("bosh.sessions", manager);

    api.onStop(() => manager.stop());
  },
});
