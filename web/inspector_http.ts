/**
 * The inspector's HTTP side: the page and its assets (web/inspector/), a JSON API over the
 * Inspector, statechart SVGs drawn from the machines, and a Server-Sent Events stream of live
 * changes. Mounted on its own HttpRoutes by the inspector plugin.
 */
import type { HttpRoutes } from "../net/http.ts";
import type { Inspector, InspectorBatch } from "./inspector.ts";
import { machineFor, MACHINES } from "./machines.ts";
import { machineSvg } from "./statechart.ts";
import type { Guard } from "./auth.ts";

const ASSETS: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

const json = (v: unknown, status = 200) =>
  new Response(JSON.stringify(v), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });

export interface InspectorHttp {
  /** Ends every open event stream (before the listener shuts down). */
  closeStreams(): void;
}

export function mountInspector(
  routes: HttpRoutes,
  inspector: Inspector,
  guard: Guard | null,
): InspectorHttp {
  const svgs = new Map<string, Promise<string>>();
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const closers = new Set<() => void>();

  const guarded =
    (h: (req: Request, path: string) => Response | Promise<Response>) => async (req: Request) => {
      if (guard) {
        const denied = await guard(req);
        if (denied) return denied;
      }
      return h(req, decodeURIComponent(new URL(req.url).pathname));
    };

  routes.add(
    "GET",
    "/",
    guarded((_req, path) => {
      if (path === "/") return Response.redirect(new URL("/inspector", _req.url), 302);
      return new Response("not found\n", { status: 404 });
    }),
  );

  routes.add(
    "GET",
    "/inspector",
    guarded(async (_req, path) => {
      const name = path === "/inspector" || path === "/inspector/"
        ? "index.html"
        : path.slice("/inspector/".length);
      const type = ASSETS[name];
      if (!type) return new Response("not found\n", { status: 404 });
      const body = await Deno.readFile(new URL(`./inspector/${name}`, import.meta.url));
      return new Response(body, { headers: { "content-type": type, "cache-control": "no-cache" } });
    }),
  );

  routes.add(
    "GET",
    "/inspector/api/machines",
    guarded((_req, path) => {
      const rest = path.slice("/inspector/api/machines".length);
      if (rest === "" || rest === "/") {
        return json(MACHINES.map((m) => ({ kind: m.kind, title: m.title, source: m.source })));
      }
      const kind = rest.replace(/^\//, "").replace(/\.svg$/, "");
      const info = machineFor(kind);
      if (!info) return new Response("no such machine\n", { status: 404 });
      let svg = svgs.get(kind);
      if (!svg) {
        svg = machineSvg(info.machine);
        svgs.set(kind, svg);
      }
      return svg.then((s) =>
        new Response(s, { headers: { "content-type": "image/svg+xml; charset=utf-8" } })
      );
    }),
  );

  routes.add(
    "GET",
    "/inspector/api/actors",
    guarded((_req, path) => {
      const rest = path.slice("/inspector/api/actors".length).replace(/^\//, "");
      if (rest === "") return json(inspector.actors());
      const m = /^(.+)\/(events|context)$/.exec(rest);
      const id = m ? m[1]! : rest;
      const view = inspector.actor(id);
      if (!view) return json({ error: "no such actor" }, 404);
      if (m?.[2] === "events") return json(inspector.events(id));
      if (m?.[2] === "context") return json(inspector.context(id));
      return json(view);
    }),
  );

  routes.add(
    "GET",
    "/inspector/api/traces",
    guarded((_req, path) => {
      const rest = path.slice("/inspector/api/traces".length).replace(/^\//, "");
      if (rest === "") return json(inspector.traceIds());
      return json(inspector.trace(rest));
    }),
  );

  routes.add(
    "GET",
    "/inspector/events",
    guarded(() => {
      const enc = new TextEncoder();
      let unsubscribe = () => {};
      let keepalive: ReturnType<typeof setInterval> | undefined;
      let ctrl: ReadableStreamDefaultController<Uint8Array>;
      const close = () => {
        unsubscribe();
        if (keepalive !== undefined) clearInterval(keepalive);
        keepalive = undefined;
        streams.delete(ctrl);
        closers.delete(close);
      };
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          ctrl = c;
          streams.add(c);
          closers.add(close);
          const send = (event: string, data: unknown) => {
            try {
              c.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
            } catch {
              close();
            }
          };
          send("hello", { actors: inspector.actors(), traces: inspector.traceIds() });
          unsubscribe = inspector.subscribe((b: InspectorBatch) => send("batch", b));
          keepalive = setInterval(() => {
            try {
              c.enqueue(enc.encode(": keepalive\n\n"));
            } catch {
              close();
            }
          }, 15_000);
        },
        cancel() {
          close();
        },
      });
      return new Response(body, {
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
        },
      });
    }),
  );

  return {
    closeStreams() {
      const open = [...streams];
      for (const c of [...closers]) c();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      streams.clear();
    },
  };
}
