/**
 * Resident memory of a process holding the embedded database, the part of a fresh `deno task
 * start` that PGlite decides. Each case runs in a child process of its own (RSS only grows within
 * a process): a first start on an empty data dir, then a restart on the same files, each read
 * once open and again after ~20 MB of rows were written and counted.
 *
 * - `parley`: `openPglite` as the server opens it (initdb in a worker, shared_buffers 32MB)
 * - `pglite-defaults`: PGlite as it comes (initdb in the process, its shared_buffers of 160MB),
 *   which is how Parley opened it before
 *
 *   deno run -A bench/pglite_rss.ts
 */
import { PGlite } from "@electric-sql/pglite";
import { openPglite } from "../db/pglite.ts";
import type { Sql } from "../db/sql.ts";

type Case = "parley" | "pglite-defaults";
const CASES: Case[] = ["parley", "pglite-defaults"];

const rssMb = () => Math.round(Deno.memoryUsage().rss / (1024 * 1024));

async function open(kind: Case, dir: string): Promise<Pick<Sql, "exec" | "query" | "close">> {
  if (kind === "parley") return await openPglite(dir);
  const pg = new PGlite({ dataDir: dir });
  await pg.waitReady;
  return {
    exec: async (text: string) => void await pg.exec(text),
    query: async <T>(text: string) => (await pg.query<T>(text)).rows,
    close: () => pg.close(),
  };
}

/** Child: opens, writes, prints one JSON line. */
async function child(kind: Case, dir: string): Promise<void> {
  const started = performance.now();
  const db = await open(kind, dir);
  const openMs = Math.round(performance.now() - started);
  const afterOpen = rssMb();
  await db.exec("CREATE TABLE IF NOT EXISTS filler (id serial PRIMARY KEY, v text)");
  for (let i = 0; i < 40; i++) {
    await db.exec(
      "INSERT INTO filler (v) SELECT repeat(md5(g::text), 16) FROM generate_series(1, 1000) g",
    );
  }
  await db.query("SELECT count(*) FROM filler");
  console.log(JSON.stringify({ openMs, afterOpen, afterWrites: rssMb() }));
  await db.close();
}

async function runChild(kind: Case, dir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--child", kind, dir],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${kind} child failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

if (Deno.args[0] === "--child") {
  await child(Deno.args[1] as Case, Deno.args[2]!);
} else {
  console.log(`RSS in MiB of a process holding the embedded database (Deno ${Deno.version.deno})`);
  console.log("case               start    open ms  RSS open  RSS after 20 MB written");
  for (const kind of CASES) {
    const dir = await Deno.makeTempDir({ prefix: "parley-rss-" });
    try {
      for (const start of ["first", "restart"]) {
        const r = await runChild(kind, dir);
        console.log(
          `${kind.padEnd(18)} ${start.padEnd(8)} ${String(r.openMs).padStart(7)}  ` +
            `${String(r.afterOpen).padStart(8)}  ${String(r.afterWrites).padStart(8)}`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
}
