/**
 * Load generator for any standard XMPP server (RFC 6120/6121) over raw TCP.
 *   deno task bench:load --scenario login|idle|throughput|offline|muc|mam --host 127.0.0.1 \
 *     --port N --domain D [--users N] [--concurrency C] [--pairs P] [--window W] [--messages M]
 *     [--duration S] [--pid PID] [--json out.json] [--tls starttls|none]
 * See docs/performance.md for the method and reference figures.
 */
import { cpuSince, type Options, type Result } from "./load/common.ts";
import { scenarios } from "./load/scenarios.ts";

const HELP = `usage: deno task bench:load --scenario NAME --port N --domain D [options]
  --scenario     ${Object.keys(scenarios).join("|")}
  --host         server address (default 127.0.0.1; loopback only)
  --port         c2s port (default 5222)
  --domain       XMPP domain (default localhost)
  --users        accounts/sessions for login, idle, muc (default 100)
  --concurrency  parallel logins (default 20)
  --pairs        sender/receiver pairs for throughput (default 10)
  --window       messages in flight per pair (throughput) or in total (muc) (default 10)
  --messages     per pair (throughput), total (offline, muc), archive size (mam) (default 1000)
  --duration     hard time limit in seconds (default 60, max 600)
  --pid          server process id, for RSS in the idle scenario
  --json         write the result as JSON to this file
  --tls          none|starttls (default none)
  --mech         auto|PLAIN|SCRAM-SHA-1 (default auto: SCRAM-SHA-1 when offered)
  --provision    ibr (XEP-0077, default) | skip | shell template with {user} {password} {domain}
  --prefix       account name prefix (default "b<scenario>")
  --password     password prefix (default "pw-")
  --muc          MUC service (default conference.DOMAIN)
  --page-size    MAM page size (default 50)
  --pages        MAM queries per series (default 50)
  --warmup       idle: sessions opened and kept before the base RSS is taken (default 200)
  --settle       idle: ms of RSS readings on each side, the minimum used (default 40000)
  --sample-interval  idle: ms between RSS readings (default 1000)
  --warm-logins  login: untimed login passes over the same accounts before the timed one
                 (default 1; 0 = every timed login is the account's first)
  --timeout      per-step timeout in ms (default 30000)
`;

function parse(args: string[]): Options {
  const m = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-h" || a === "--help") {
      console.log(HELP);
      Deno.exit(0);
    }
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) m.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = args[i + 1];
      if (v === undefined) throw new Error(`${a} needs a value`);
      m.set(a.slice(2), v);
      i++;
    }
  }
  const known = new Set([
    "scenario",
    "host",
    "port",
    "domain",
    "users",
    "concurrency",
    "pairs",
    "window",
    "messages",
    "duration",
    "pid",
    "json",
    "tls",
    "mech",
    "provision",
    "prefix",
    "password",
    "muc",
    "page-size",
    "pages",
    "settle",
    "warmup",
    "sample-interval",
    "timeout",
    "warm-logins",
  ]);
  for (const k of m.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}`);
  const int = (k: string, d: number, min = 1, max = 10_000_000) => {
    const v = m.has(k) ? Number(m.get(k)) : d;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new Error(`--${k} must be ${min}..${max}`);
    }
    return v;
  };
  const scenario = m.get("scenario") ?? "";
  if (!(scenario in scenarios)) {
    throw new Error(`--scenario must be one of ${Object.keys(scenarios)}`);
  }
  const host = m.get("host") ?? "127.0.0.1";
  if (!["127.0.0.1", "localhost", "::1"].includes(host)) {
    throw new Error("--host must be a loopback address; this tool only loads local servers");
  }
  const tlsMode = m.get("tls") ?? "none";
  if (tlsMode !== "none" && tlsMode !== "starttls") throw new Error("--tls must be none|starttls");
  const mech = m.get("mech") ?? "auto";
  if (!["auto", "PLAIN", "SCRAM-SHA-1"].includes(mech)) throw new Error("bad --mech");
  const domain = m.get("domain") ?? "localhost";
  return {
    scenario,
    host,
    port: int("port", 5222, 1, 65535),
    domain,
    tls: tlsMode,
    mechanism: mech as Options["mechanism"],
    timeoutMs: int("timeout", 30_000, 100, 600_000),
    users: int("users", 100, 1, 200_000),
    concurrency: int("concurrency", 20, 1, 5000),
    pairs: int("pairs", 10, 1, 50_000),
    window: int("window", 10, 1, 100_000),
    messages: int("messages", 1000, 1, 10_000_000),
    durationS: int("duration", 60, 1, 600),
    pid: m.has("pid") ? int("pid", 0, 1, 1 << 30) : undefined,
    json: m.get("json"),
    provision: m.get("provision") ?? "ibr",
    prefix: m.get("prefix") ?? `b${scenario}`,
    password: m.get("password") ?? "pw-",
    muc: m.get("muc") ?? `conference.${domain}`,
    pageSize: int("page-size", 50, 1, 10_000),
    pages: int("pages", 50, 1, 100_000),
    settleMs: int("settle", 40_000, 0, 120_000),
    warmup: int("warmup", 200, 0, 100_000),
    sampleIntervalMs: int("sample-interval", 1000, 10, 10_000),
    warmLogins: int("warm-logins", 1, 0, 5),
  };
}

function print(r: Result): void {
  const lines: string[] = [];
  const walk = (obj: Record<string, unknown>, indent: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      if (v && typeof v === "object" && !Array.isArray(v)) {
        const flat = Object.entries(v as Record<string, unknown>).every(([, x]) =>
          typeof x !== "object"
        );
        if (flat) {
          lines.push(
            `${indent}${k}: ${
              Object.entries(v as Record<string, unknown>).map(([a, b]) => `${a}=${b}`).join(" ")
            }`,
          );
        } else {
          lines.push(`${indent}${k}:`);
          walk(v as Record<string, unknown>, indent + "  ");
        }
      } else lines.push(`${indent}${k}: ${Array.isArray(v) ? v.join(" | ") : v}`);
    }
  };
  walk(r, "  ");
  console.log(`== ${r.scenario} ${r.ok ? "OK" : "CHECK FAILED"}\n${lines.join("\n")}`);
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parse(Deno.args);
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  // idle's settle windows come on top of the logins that --duration bounds.
  const hardS = o.durationS * 2 + 120 + (o.scenario === "idle" ? (2 * o.settleMs) / 1000 : 0);
  const hard = setTimeout(() => {
    console.error(`hard time limit reached (${hardS}s)`);
    Deno.exit(3);
  }, hardS * 1000);
  let result: Result;
  const started = new Date().toISOString();
  const cpu = cpuSince(o.pid);
  try {
    result = await scenarios[o.scenario]!(o);
  } catch (e) {
    result = { scenario: o.scenario, ok: false, error: (e as Error).message };
  }
  const used = cpu();
  result.clientCpuMs = Math.round(used.clientUs / 1000);
  if (used.serverMs !== undefined) result.serverCpuMs = used.serverMs;
  const perMsg = result.scenario === "throughput" && typeof result.sent === "number" && result.sent;
  if (perMsg) {
    result.clientCpuUsPerMsg = Math.round(((result.clientCpuMs as number) * 1000) / perMsg);
    if (typeof result.serverCpuMs === "number") {
      result.serverCpuUsPerMsg = Math.round((result.serverCpuMs * 1000) / perMsg);
    }
  }
  clearTimeout(hard);
  const out = {
    ...result,
    target: { host: o.host, port: o.port, domain: o.domain, tls: o.tls },
    started,
    // Other work on the machine skews everything; keep the evidence next to the figures.
    loadAvgAtEnd: Deno.loadavg(),
    params: {
      users: o.users,
      concurrency: o.concurrency,
      pairs: o.pairs,
      window: o.window,
      messages: o.messages,
      duration: o.durationS,
    },
  };
  print(out);
  if (o.json) await Deno.writeTextFile(o.json, JSON.stringify(out, null, 2) + "\n");
  return result.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
