/**
 * CPU per archive entry on PostgreSQL: Parley's side (building and sending group-committed
 * batches) and PostgreSQL's (all its processes, from /proc, so Linux only). 20 owners, entries
 * queued 1,000 at a time as under message load, into a fresh schema. Wall time alone hides the
 * split, and the server's CPU figure under load mixes the archive with routing.
 *
 *   deno run -A bench/archive_write.ts [postgres://postgres@127.0.0.1:5432/test] [entries]
 */
import { dropSchema, openDatabase } from "../db/mod.ts";
import { cpuMs } from "./load/common.ts";

const url = Deno.args[0] ?? "postgres://postgres@127.0.0.1:5432/test";
const entries = Math.min(1_000_000, Number(Deno.args[1] ?? 200_000));
const schema = "parley_bench_archive";
const BATCH = 1_000, OWNERS = 20;

/** CPU of every process named postgres so far, in microseconds. */
function postgresCpuUs(): number {
  let totalMs = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/comm`).trim() !== "postgres") continue;
    } catch {
      continue; // the process ended meanwhile
    }
    totalMs += cpuMs(Number(e.name)) ?? 0;
  }
  return totalMs * 1000;
}

const xml = (i: number) =>
  `<message xmlns="jabber:client" type="chat" to="user${i % OWNERS}@localhost" ` +
  `from="user${(i + 1) % OWNERS}@localhost/r" id="m${i}"><body>message number ${i} from the ` +
  `load generator</body><stanza-id xmlns="urn:xmpp:sid:0" id="abcdefghijk${i}" ` +
  `by="user${i % OWNERS}@localhost"/></message>`;

await dropSchema(url, schema);
const db = await openDatabase({ url, schema });
let next = 0;
async function run(n: number) {
  const js0 = process.cpuUsage(), pg0 = postgresCpuUs(), t0 = performance.now();
  for (let b = 0; b < n; b += BATCH) {
    const stamp = new Date();
    for (let i = next; i < next + BATCH; i++) {
      db.archive.enqueue({
        id: `e${i}`,
        owner: `user${i % OWNERS}@localhost`,
        with: `user${(i + 1) % OWNERS}@localhost`,
        direction: i % 2 ? "in" : "out",
        stamp,
        xml: xml(i),
      });
    }
    next += BATCH;
    await db.archive.flush();
  }
  const js = process.cpuUsage(js0), pg = postgresCpuUs() - pg0, ms = performance.now() - t0;
  return {
    entries: n,
    parleyCpuUsPerEntry: Number(((js.user + js.system) / n).toFixed(2)),
    postgresCpuUsPerEntry: Number((pg / n).toFixed(2)),
    wallUsPerEntry: Number((ms * 1000 / n).toFixed(2)),
  };
}
try {
  await run(20_000); // warm-up: JIT, prepared statements, first pages
  console.log(JSON.stringify(await run(entries)));
  console.log(JSON.stringify(await run(entries)));
} finally {
  await db.close();
  await dropSchema(url, schema);
}
