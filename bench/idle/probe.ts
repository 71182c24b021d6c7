/**
 * What an idle session costs inside Parley: starts the server in this process (config from the
 * PARLEY_* environment, as `deno task start`), opens sessions from a worker (a separate V8 heap,
 * so the clients' objects never count) and compares the server's heap after a full GC.
 *
 *   PARLEY_C2S_PORT=17524 PARLEY_REQUIRE_ENCRYPTION=false PARLEY_REGISTRATION=open \
 *   PARLEY_DATA_DIR=/tmp/x PARLEY_DATABASE_URL=postgres://... \
 *   deno run -A --v8-flags=--expose-gc bench/idle/probe.ts --users 2000 [--warmup 200] [--snapshots DIR]
 *
 * The accounts must exist (run the idle scenario once against the same storage to provision them).
 * With --snapshots, writes base/after heap snapshots and prints the per-session difference by
 * object kind (bench/idle/heap_diff.ts).
 */
import { loadConfig } from "../../config/mod.ts";
import { startServer } from "../../server/start.ts";
import { diffSnapshots } from "./heap_diff.ts";
import v8 from "node:v8";

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!.slice(2), Deno.args[i + 1]!);
const users = Number(args.get("users") ?? 2000);
const warmup = Number(args.get("warmup") ?? 200);
const prefix = args.get("prefix") ?? "bidle";
const snapDir = args.get("snapshots");

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const config = await loadConfig();
const server = await startServer(config);
const port = server.ports.c2s!;

const worker = new Worker(new URL("./probe_worker.ts", import.meta.url), { type: "module" });
let waiting: ((m: unknown) => void) | undefined;
worker.onmessage = (e) => waiting?.(e.data);
const ask = (m: unknown) =>
  new Promise<{ ok: boolean; error?: string }>((resolve) => {
    waiting = resolve as (m: unknown) => void;
    worker.postMessage(m);
  });

const settle = async () => {
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = 0; i < 3; i++) gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
};

const rssKiB = () => {
  const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m![1]);
};
const heapSpaces = () =>
  Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
const sample = () => ({ rssKiB: rssKiB(), ...Deno.memoryUsage(), spaces: heapSpaces() });

const open = (from: number, count: number) =>
  ask({ cmd: "open", port, domain: config.domain, prefix, from, count }).then((r) => {
    if (!r.ok) throw new Error(r.error);
  });

await open(0, warmup);
await settle();
const base = sample();
if (snapDir) v8.writeHeapSnapshot(`${snapDir}/base.heapsnapshot`);
await open(warmup, users);
await settle();
const after = sample();
if (snapDir) v8.writeHeapSnapshot(`${snapDir}/after.heapsnapshot`);

const per = (a: number, b: number) => Math.round(((a - b) / users) * 10) / 10;
console.log(`sessions ${users} beyond a warm-up of ${warmup}: bytes per session`);
console.log(`  rss      ${per(after.rssKiB * 1024, base.rssKiB * 1024)}`);
console.log(`  heapUsed ${per(after.heapUsed, base.heapUsed)}`);
console.log(`  heapTotal ${per(after.heapTotal, base.heapTotal)}`);
console.log(`  external ${per(after.external, base.external)}`);
for (const k of Object.keys(after.spaces)) {
  const d = per(after.spaces[k]!, base.spaces[k] ?? 0);
  if (d !== 0) console.log(`    ${k} ${d}`);
}
if (snapDir) {
  const rows = diffSnapshots(`${snapDir}/base.heapsnapshot`, `${snapDir}/after.heapsnapshot`);
  console.log("heap by kind, per session (bytes, count):");
  for (const r of rows.slice(0, 45)) {
    console.log(
      `  ${(r.bytes / users).toFixed(1).padStart(8)} ${
        (r.count / users).toFixed(2).padStart(6)
      }  ${r.key}`,
    );
  }
}
await ask({ cmd: "close" });
worker.terminate();
await server.stop();
