/**
 * inspector: a live view of the actors (connections, users, rooms) with their statecharts drawn
 * from the machine definitions, the current state highlighted, recent events per actor, and
 * message traces by `id` (routed, stored offline, flushed, delivered, archived). See web/.
 *
 * Off unless enabled: it attaches the one inspection adapter (actors/directory.ts), which costs
 * ~20% per actor event, and tracing hooks that route every sent stanza through the outgoing
 * interceptor chain. It listens on its own address, loopback by default; on any other address it
 * asks for an HTTP Basic login of an account listed in `admins`.
 */
import { definePlugin } from "../registry.ts";
import { checkOptions } from "../registry.ts";
import { ConfigError } from "../../config/load.ts";
import { HttpRoutes, listenHttp } from "../../net/http.ts";
import { loadCertificate } from "../../net/certs.ts";
import { NS } from "../../protocol/ns.ts";
import type { Element } from "../../xml/element.ts";
import type { StanzaEvent } from "../../router/hooks.ts";
import { Inspector } from "../../web/inspector.ts";
import { mountInspector } from "../../web/inspector_http.ts";
import { basicAuth, isLoopback } from "../../web/auth.ts";
import { xmlOf } from "../../web/plain.ts";

const defaults = {
  host: "127.0.0.1",
  port: 5290,
  /** accounts (localparts or bare JIDs) that may log in when `host` is not loopback */
  admins: [] as string[],
  /** serve HTTPS with the server certificate */
  tls: false,
  /** recent events kept per actor */
  ring_size: 200,
  /** message ids traced at once */
  trace_limit: 1000,
};

export interface InspectorService {
  inspector: Inspector;
  /** the port actually bound */
  port: number;
}

function traced(stanza: Element): string | undefined {
  return stanza.localName === "message" ? stanza.attrs.id : undefined;
}

export default definePlugin({
  name: "inspector",
  description: "live actors, statecharts and message traces in a browser (admin only)",
  defaults,
  parseOptions(raw, d) {
    const o = checkOptions("inspector", raw, d);
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
      throw new ConfigError("inspector.port: expected a port number (0 picks a free one)");
    }
    if (!o.admins.every((a) => typeof a === "string" && a !== "")) {
      throw new ConfigError("inspector.admins: expected a list of account names");
    }
    if (!isLoopback(o.host) && o.admins.length === 0) {
      throw new ConfigError(
        `inspector.host is ${o.host}, not loopback: list the accounts that may log in in inspector.admins`,
      );
    }
    for (const k of ["ring_size", "trace_limit"] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) {
        throw new ConfigError(`inspector.${k}: expected a whole number >= 1`);
      }
    }
    return o;
  },
  async setup(api) {
    const o = api.options;
    const inspector = new Inspector(api.core.actors, {
      ringSize: o.ring_size,
      traceLimit: o.trace_limit,
    });
    inspector.attach();

    // ---- message traces, by the stanza's id attribute ----
    api.hook("interceptor/incoming/before", ({ stanza, session }) => {
      const id = traced(stanza);
      if (id === undefined) return;
      const who = session ? `c2s:${session.id}` : null;
      inspector.note(id, "received", `from ${session?.jid?.full ?? "?"}`, who, xmlOf(stanza));
    }, 1_000_000);
    const routed = (ev: StanzaEvent) => {
      const id = traced(ev.stanza);
      if (id === undefined) return;
      const type = ev.stanza.attrs.type ?? "normal";
      inspector.note(id, "routed", `${type} to ${ev.route} JID ${ev.to.full} from ${ev.from.full}`);
    };
    api.hook("message/full", routed, 1_000_000);
    api.hook("message/bare", routed, 1_000_000);
    api.hook("message/host", routed, 1_000_000);
    // Last in the chain, so what the archive added (its stanza-id) is there to see.
    api.hook("message/accepted", ({ stanza, to, outcome }) => {
      const id = traced(stanza);
      if (id === undefined) return;
      inspector.note(id, `accepted: ${outcome}`, `for ${to.full}`, `user:${to.bare}`);
      for (const sid of stanza.getChildren("stanza-id", NS.sid)) {
        if (sid.attrs.by === to.bare) {
          inspector.note(id, "archived", `stanza-id ${sid.attrs.id} in ${to.bare}'s archive`);
        }
      }
    }, -1_000_000);
    api.hook("message/delivered", ({ stanza, sessions }) => {
      const id = traced(stanza);
      if (id === undefined) return;
      inspector.note(
        id,
        "delivered",
        `to ${sessions.map((s) => s.jid?.full ?? s.id).join(", ")}`,
        sessions[0] ? `c2s:${sessions[0].id}` : null,
      );
    }, -1_000_000);
    api.hook("interceptor/outgoing/after", ({ stanza, session }) => {
      const id = traced(stanza);
      if (id === undefined) return;
      const delay = stanza.getChild("delay", NS.delay);
      const flushed = delay !== undefined && delay.attrs.from === api.domain;
      inspector.note(
        id,
        flushed ? "flushed" : "written",
        `${flushed ? `from offline storage (stored ${delay!.attrs.stamp}) ` : ""}to ${
          session?.jid?.full ?? "?"
        }`,
        session ? `c2s:${session.id}` : null,
        xmlOf(stanza),
      );
    }, -1_000_000);

    // ---- HTTP ----
    const routes = new HttpRoutes();
    const guard = isLoopback(o.host) ? null : basicAuth({
      db: api.db,
      domain: api.domain,
      admins: o.admins,
      realm: `Parley inspector (${api.domain})`,
    });
    const http = mountInspector(routes, inspector, guard);
    let tls: { cert: string; key: string } | undefined;
    if (o.tls) {
      const cfg = api.config;
      tls = await loadCertificate({
        domain: cfg.domain,
        dataDir: cfg.dataDir,
        cert: cfg.tls.cert,
        key: cfg.tls.key,
      });
    }
    const listener = await listenHttp({ host: o.host, port: o.port, routes, tls });
    api.provide<InspectorService>("inspector", { inspector, port: listener.port });
    api.log.info("inspector on {scheme}://{host}:{port}/inspector{auth}", {
      scheme: tls ? "https" : "http",
      host: o.host,
      port: listener.port,
      auth: guard ? " (admin login)" : "",
    });
    api.onStop(async () => {
      http.closeStreams();
      inspector.detach();
      await listener.close();
    });
  },
});
