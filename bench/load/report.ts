/**
 * Folds the per-target, per-scenario JSON files written by compare.sh into one table with
 * Parley/Prosody and Parley/ejabberd ratios, and writes bench/results/latest.json.
 *   deno run -A bench/load/report.ts RESULTS_DIR OUT.json [name=version ...]
 */
type Json = Record<string, unknown>;

const [dir, out, ...versions] = Deno.args;
if (!dir || !out) {
  console.error("usage: report.ts RESULTS_DIR OUT.json [name=version ...]");
  Deno.exit(2);
}

const results: Record<string, Record<string, Json>> = {};
for (const e of Deno.readDirSync(dir)) {
  const m = /^(.+)--(\w+)\.json$/.exec(e.name);
  if (!m) continue;
  const [, target, scenario] = m as unknown as [string, string, string];
  (results[target] ??= {})[scenario] = JSON.parse(Deno.readTextFileSync(`${dir}/${e.name}`));
}

const get = (r: Json | undefined, path: string): number | undefined => {
  let v: unknown = r;
  for (const k of path.split(".")) v = v && typeof v === "object" ? (v as Json)[k] : undefined;
  return typeof v === "number" ? v : undefined;
};

// [label, scenario, path, higher is better]
const metrics: [string, string, string, boolean][] = [
  ["login: logins/s", "login", "loginsPerSec", true],
  ["login: p50 ms", "login", "latencyMs.p50", false],
  ["login: p99 ms", "login", "latencyMs.p99", false],
  ["idle: KiB RSS/session", "idle", "kibPerSession", false],
  // The same from the last readings only: a gap to the row above means RSS had not settled.
  ["idle: KiB/session, last 5 s", "idle", "kibPerSessionTail", false],
  ["throughput: msgs/s", "throughput", "msgsPerSec", true],
  // compare.sh lengthens a run shorter than TP_MIN_S, the same rule for every target.
  ["throughput: messages", "throughput", "sent", true],
  ["throughput: run ms", "throughput", "elapsedMs", true],
  ["throughput: p50 ms", "throughput", "latencyMs.p50", false],
  ["throughput: p99 ms", "throughput", "latencyMs.p99", false],
  ["offline: stored/s", "offline", "storedPerSec", true],
  ["offline: flush ms", "offline", "flushMs", false],
  ["muc: deliveries/s", "muc", "deliveriesPerSec", true],
  ["muc: p99 ms", "muc", "latencyMs.p99", false],
  ["mam: latest page p50 ms", "mam", "latestPageMs.p50", false],
  ["mam: latest page p99 ms", "mam", "latestPageMs.p99", false],
  ["mam: forward page p50 ms", "mam", "forwardPageMs.p50", false],
  ["throughput: server CPU us/msg", "throughput", "serverCpuUsPerMsg", false],
  ["throughput: client CPU us/msg", "throughput", "clientCpuUsPerMsg", false],
  ["login: server CPU us/login", "login", "serverCpuUsPerLogin", false],
  ["login: client CPU us/login", "login", "clientCpuUsPerLogin", false],
  ["login: machine busy %", "login", "machineBusyPct", false],
];

const order = ["prosody", "ejabberd", "ejabberd-pg", "parley", "parley-pg", "relay"];
// What each Parley variant is compared with: ejabberd-pg keeps its data in PostgreSQL as
// parley-pg does, so that ratio compares like storage with like.
const refs: Record<string, string[]> = {
  parley: ["prosody", "ejabberd", "relay"],
  "parley-pg": ["prosody", "ejabberd", "ejabberd-pg", "relay"],
};
const targets = [
  ...order.filter((t) => results[t]),
  ...Object.keys(results).filter((t) => !order.includes(t)),
];
const fmt = (v: number | undefined) =>
  v === undefined ? "-" : v >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? undefined : Math.round((a / b) * 100) / 100;

const table: Json[] = [];
for (const [label, scenario, path, higherBetter] of metrics) {
  const row: Json = { metric: label, better: higherBetter ? "higher" : "lower" };
  for (const t of targets) {
    const r = results[t]?.[scenario];
    row[t] = r && r.ok === false ? `${fmt(get(r, path))}!` : get(r, path);
  }
  // A figure from a run that lost or misordered messages is not comparable.
  const okValue = (t: string) => {
    const r = results[t]?.[scenario];
    return r && r.ok !== false ? get(r, path) : undefined;
  };
  for (const [variant, against] of Object.entries(refs)) {
    const p = okValue(variant);
    for (const r of against) row[`${variant}/${r}`] = ratio(p, okValue(r));
  }
  table.push(row);
}

const ratioCols = Object.entries(refs).flatMap(([v, against]) => against.map((r) => `${v}/${r}`))
  .filter((c) => table.some((r) => r[c] !== undefined));
const cols = ["metric", ...targets, ...ratioCols];
const cell = (v: unknown) => typeof v === "number" ? fmt(v) : v === undefined ? "-" : String(v);
const widths = cols.map((c) => Math.max(c.length, ...table.map((r) => cell(r[c]).length)));
const line = (vals: string[]) =>
  vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
console.log(line(cols));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of table) console.log(line(cols.map((c) => cell(r[c]))));
console.log("('!' marks a run whose loss/order/error check failed; '-' means not run)");
for (const t of targets) {
  for (const [s, r] of Object.entries(results[t]!)) {
    if (r.ok === false) console.log(`  ${t}/${s}: ${r.error ?? "check failed"}`);
  }
}

const doc = {
  date: new Date().toISOString(),
  machine: {
    cpus: navigator.hardwareConcurrency,
    os: Deno.build.os,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    loadAvgAtEnd: Deno.loadavg(),
  },
  versions: Object.fromEntries(versions.map((v) => v.split("=", 2) as [string, string])),
  table,
  results,
};
Deno.writeTextFileSync(out, JSON.stringify(doc, null, 2) + "\n");
console.log(`wrote ${out}`);
