import process from "node:process";
import { type ClientOptions, XmppClient } from "./client.ts";

export interface Options extends ClientOptions {
  scenario: string;
  users: number;
  concurrency: number;
  pairs: number;
  window: number;
  messages: number;
  durationS: number;
  pid?: number;
  json?: string;
  provision: string;
  prefix: string;
  password: string;
  muc: string;
  pageSize: number;
  pages: number;
  settleMs: number;
  /** idle: sessions opened (and kept) before the base is sampled */
  warmup: number;
  /** idle: ms between RSS readings (for `settleMs` on each side) */
  sampleIntervalMs: number;
  /** login: untimed passes over the same accounts before the timed one */
  warmLogins: number;
}

export type Result = Record<string, unknown> & { scenario: string; ok: boolean };

export function now(): number {
  return performance.now();
}

/** Percentile summary in milliseconds, rounded for readability. */
export function summarize(samples: number[]): Record<string, number> {
  if (samples.length === 0) return { count: 0 };
  const s = Float64Array.from(samples).sort();
  const pick = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  let sum = 0;
  for (const x of s) sum += x;
  return {
    count: s.length,
    min: r2(s[0]!),
    p50: r2(pick(0.5)),
    p90: r2(pick(0.9)),
    p99: r2(pick(0.99)),
    max: r2(s[s.length - 1]!),
    mean: r2(sum / s.length),
  };
}

export function rssKiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime+stime of a process in ms (Linux reports clock ticks, 100 per second in practice). */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * Starts counting CPU: the returned function gives what the generator (this process, us) and,
 * with a pid, the server (ms, from /proc) have used since. On a 2-core box they share the CPU, so
 * rates are read together with both.
 */
export function cpuSince(pid?: number): () => { clientUs: number; serverMs?: number } {
  const client0 = process.cpuUsage();
  const server0 = pid ? cpuMs(pid) : undefined;
  return () => {
    const c = process.cpuUsage(client0);
    const server1 = pid ? cpuMs(pid) : undefined;
    return {
      clientUs: c.user + c.system,
      serverMs: server0 !== undefined && server1 !== undefined ? server1 - server0 : undefined,
    };
  };
}

/** The machine's CPU ticks so far, busy and in all (the first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0]!;
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    // idle and iowait are the fourth and fifth fields
    return { busy: total - (t[3] ?? 0) - (t[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function userName(o: Options, i: number): string {
  return `${o.prefix}${i}`;
}

export function passwordFor(o: Options, i: number): string {
  return `${o.password}${i}`;
}

/** Run `task(i)` for i in [0, count) with at most `limit` at a time, stopping at the deadline. */
export async function pool(
  count: number,
  limit: number,
  deadline: number,
  task: (i: number) => Promise<void>,
): Promise<{ done: number; errors: string[] }> {
  let next = 0;
  let done = 0;
  const errors: string[] = [];
  const worker = async () => {
    while (next < count && now() < deadline) {
      const i = next++;
      try {
        await task(i);
        done++;
      } catch (e) {
        if (errors.length < 20) errors.push(`#${i}: ${(e as Error).message}`);
        else errors.length++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  return { done, errors };
}

export async function login(o: Options, i: number, resource = "bench"): Promise<XmppClient> {
  const c = await XmppClient.connect(o);
  try {
    await c.login(userName(o, i), passwordFor(o, i), resource);
    return c;
  } catch (e) {
    c.destroy();
    throw e;
  }
}

/**
 * Make sure accounts [0, count) exist. "ibr" uses XEP-0077, "skip" assumes they exist, anything
 * else is a shell command template run per account with {user} {password} {domain} substituted.
 */
export async function provision(o: Options, count: number): Promise<Record<string, unknown>> {
  const t0 = now();
  if (o.provision === "skip") return { mode: "skip" };
  let created = 0, existed = 0;
  const deadline = t0 + Math.max(60_000, o.durationS * 1000);
  const limit = o.provision === "ibr" ? Math.min(o.concurrency, 32) : 4;
  const r = await pool(count, limit, deadline, async (i) => {
    if (o.provision === "ibr") {
      const c = await XmppClient.connect(o);
      try {
        (await c.register(userName(o, i), passwordFor(o, i))) === "created" ? created++ : existed++;
      } finally {
        c.destroy();
      }
      return;
    }
    const cmd = o.provision.replaceAll("{user}", userName(o, i))
      .replaceAll("{password}", passwordFor(o, i)).replaceAll("{domain}", o.domain);
    const out = await new Deno.Command("sh", { args: ["-c", cmd], stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr);
      // "already exists" wording differs per server; treat those as provisioned.
      if (!/exist|conflict/i.test(err)) throw new Error(`provision: ${err.trim().slice(0, 200)}`);
      existed++;
    } else created++;
  });
  if (r.done < count) {
    throw new Error(`provisioning failed (${r.done}/${count}): ${r.errors.slice(0, 3).join("; ")}`);
  }
  return {
    mode: o.provision === "ibr" ? "ibr" : "cmd",
    created,
    existed,
    ms: Math.round(now() - t0),
  };
}

export async function closeAll(clients: XmppClient[]): Promise<void> {
  const bounded = clients.slice();
  for (let i = 0; i < bounded.length; i += 200) {
    await Promise.all(bounded.slice(i, i + 200).map((c) => c.close(100)));
  }
}
