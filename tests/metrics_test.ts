import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";
import { freePort } from "./helpers/ports.ts";

// ---------- a strict parser for the Prometheus text exposition format (0.0.4) ----------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(s: string, line: number): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) {
    throw new Error(`line ${line}: bad value ${JSON.stringify(s)}`);
  }
  return Number(s);
}

function parseLabels(s: string, line: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without =`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${name}`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let j = eq + 2;
    let value = "";
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === "\\") {
        const c = s[++j];
        if (c === "n") value += "\n";
        else if (c === "\\" || c === '"') value += c;
        else throw new Error(`line ${line}: bad escape \\${c}`);
      } else value += s[j];
    }
    if (s[j] !== '"') throw new Error(`line ${line}: unterminated label value`);
    if (name in out) throw new Error(`line ${line}: duplicate label ${name}`);
    out[name] = value;
    i = j + 1;
    if (s[i] === ",") i++;
    else if (i < s.length) throw new Error(`line ${line}: expected , between labels`);
  }
  return out;
}

/** The family a sample belongs to (histogram/summary samples carry suffixes). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === "histogram" || t === "summary") return base;
    }
  }
  return undefined;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  assert.ok(text.endsWith("\n"), "exposition ends with a newline");
  text.split("\n").forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // a plain comment
      if (!NAME.test(m[2]!)) throw new Error(`line ${line}: bad metric name ${m[2]}`);
      if (m[1] === "TYPE") {
        if (!TYPES.has(m[3]!)) throw new Error(`line ${line}: unknown type ${m[3]}`);
        if (types.has(m[2]!)) throw new Error(`line ${line}: second TYPE for ${m[2]}`);
        types.set(m[2]!, m[3]!);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const name = m[1]!;
    if (!familyOf(name, types)) throw new Error(`line ${line}: ${name} has no TYPE before it`);
    const labels = parseLabels(m[2] ?? "", line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    seen.add(key);
    samples.push({ name, labels, value: parseValue(m[3]!, line) });
  });
  return { types, samples };
}

function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const hit = e.samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  return hit?.value ?? 0;
}

Deno.test("the test's Prometheus parser rejects malformed exposition text", () => {
  assert.throws(() => parseExposition("x_total 1\n"), /no TYPE/);
  assert.throws(() => parseExposition('# TYPE x counter\nx{a="1} 1\n'), /unterminated/);
  assert.throws(() => parseExposition("# TYPE x counter\nx one\n"), /bad value/);
  assert.throws(() => parseExposition("# TYPE x counter\nx 1\nx 2\n"), /duplicate series/);
  const ok = parseExposition('# HELP x h\n# TYPE x counter\nx{a="q\\""} 1.5e3\n');
  assert.equal(value(ok, "x", { a: 'q"' }), 1500);
});

// ---------- the server ----------

async function scrape(port: number): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

Deno.test("/metrics is valid Prometheus text and its counters move when two clients chat", async () => {
  const httpPort = freePort();
  await using t = await startTestServer({
    components: ["c2s", "sess-man", "ping", "msgoffline", "message-archive", "http", "monitor"],
    http: { host: "127.0.0.1", port: httpPort, tls_port: -1 },
  });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");

  const before = await scrape(httpPort);
  for (
    const family of [
      "parley_connections",
      "parley_users_online",
      "parley_actors",
      "parley_stanzas_received_total",
      "parley_stanzas_sent_total",
      "parley_offline_messages_total",
      "parley_messages_total",
      "parley_archive_entries_total",
      "parley_archive_batches_total",
      "parley_stanza_errors_total",
      "parley_stream_errors_total",
      "parley_event_loop_lag_seconds",
    ]
  ) {
    assert.ok(before.types.has(family), `${family} is exposed`);
  }
  assert.equal(before.types.get("parley_event_loop_lag_seconds"), "histogram");
  assert.equal(value(before, "parley_actors", { kind: "c2s" }), 0);

  // alice writes to bob while he is away: stored offline, then flushed when he logs in.
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    await alice.send(
      xml("message", { to: "bob@localhost", type: "chat", id: "off1" }, xml("body", {}, "later")),
    );
    for (let i = 0; i < 100 && (await t.db.offline.usage("bob@localhost")).count < 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
    try {
      await bob.waitFor((s) => s.is("message") && s.attrs.id === "off1");
      const mid = await scrape(httpPort);
      assert.equal(value(mid, "parley_actors", { kind: "c2s" }), 2);
      assert.equal(value(mid, "parley_connections", { transport: "tcp", state: "established" }), 2);
      assert.equal(value(mid, "parley_users_online"), 2);

      for (let i = 0; i < 5; i++) {
        await alice.send(
          xml("message", { to: bob.jid, type: "chat", id: `m${i}` }, xml("body", {}, `hi ${i}`)),
        );
        await bob.waitFor((s) => s.is("message") && s.attrs.id === `m${i}`);
      }
      await alice.iq(
        xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })),
      );
      // Archive writes are group-committed: give the last batch a moment.
      let after = await scrape(httpPort);
      for (let i = 0; i < 50 && value(after, "parley_archive_entries_total") < 6; i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await scrape(httpPort);
      }

      const moved = (name: string, labels: Record<string, string> = {}) =>
        value(after, name, labels) - value(before, name, labels);
      assert.ok(moved("parley_stanzas_received_total", { kind: "message" }) >= 6, "messages in");
      assert.ok(moved("parley_stanzas_received_total", { kind: "presence" }) >= 2, "presence in");
      assert.ok(moved("parley_stanzas_received_total", { kind: "iq" }) >= 1, "iq in");
      assert.ok(moved("parley_stanzas_sent_total", { kind: "message" }) >= 6, "messages out");
      assert.ok(moved("parley_stanzas_routed_total") >= 6);
      assert.equal(moved("parley_offline_messages_total", { event: "stored" }), 1);
      assert.equal(moved("parley_offline_messages_total", { event: "flushed" }), 1);
      assert.equal(moved("parley_messages_total", { outcome: "delivered" }), 5);
      assert.equal(moved("parley_messages_total", { outcome: "stored" }), 1);
      // Each chat message is archived for the recipient and the sender.
      assert.ok(moved("parley_archive_entries_total") >= 6, "archive entries written");
      assert.ok(moved("parley_archive_batches_total") >= 1, "archive batches written");
      assert.ok(
        value(after, "parley_event_loop_lag_seconds_count") > 0,
        "the lag sampler has observed",
      );
      const inf = value(after, "parley_event_loop_lag_seconds_bucket", { le: "+Inf" });
      assert.equal(inf, value(after, "parley_event_loop_lag_seconds_count"));
    } finally {
      await bob.stop();
    }
  } finally {
    await alice.stop();
  }
});

Deno.test("/health answers 200 with status, uptime and the storage kind", async () => {
  const httpPort = freePort();
  await using t = await startTestServer({
    components: ["c2s", "sess-man", "http", "monitor"],
    http: { host: "127.0.0.1", port: httpPort, tls_port: -1 },
  });
  const res = await fetch(`http://127.0.0.1:${httpPort}/health`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.equal(body.status, "ok");
  assert.equal(typeof body.uptime_seconds, "number");
  assert.equal(body.db, t.db.kind);
});
