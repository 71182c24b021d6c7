/**
 * monitor (Tigase's name): Prometheus metrics at `/metrics` and a health check at `/health` on
 * the http plugin's listeners. Counters are read from their owners at scrape time (see
 * metrics.ts); the only running cost is the event-loop lag sampler's timer.
 */
import { definePlugin } from "../registry.ts";
import { checkOptions } from "../registry.ts";
import { ConfigError } from "../../config/load.ts";
import type { HttpRoutes } from "../../net/http.ts";
import { PARLEY_VERSION } from "../../version.ts";
import { createMetrics } from "./metrics.ts";

export default definePlugin({
  name: "monitor",
  description: "Prometheus metrics (/metrics) and a health check (/health) over HTTP",
  depends: ["http"],
  defaults: {
    /** how often the event-loop lag sampler's timer fires, ms */
    lag_interval_ms: 100,
  },
  parseOptions(raw, d) {
    const o = checkOptions("monitor", raw, d);
    if (!Number.isInteger(o.lag_interval_ms) || o.lag_interval_ms < 10) {
      throw new ConfigError("monitor.lag_interval_ms: expected a whole number >= 10");
    }
    return o;
  },
  setup(api) {
    const startedAt = Date.now();
    const metrics = createMetrics(api.core, startedAt);
    const stopSampler = metrics.startLagSampler(api.options.lag_interval_ms);
    api.onStop(stopSampler);
    const routes = api.service<HttpRoutes>("http");
    routes.add("GET", "/metrics", async () =>
      new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType, "cache-control": "no-store" },
      }));
    routes.add("GET", "/health", () =>
      Response.json({
        status: "ok",
        uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
        db: api.db.kind,
        domain: api.domain,
        version: PARLEY_VERSION,
        components: api.config.components,
      }, { headers: { "cache-control": "no-store" } }));
  },
});
