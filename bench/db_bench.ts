/**
 * Storage micro-benchmarks: offline store one message at a time (one round trip each) and archive
 * appends through the group commit, on PGlite in memory and, with DATABASE_URL, on PostgreSQL.
 *
 *   deno bench -A bench/db_bench.ts
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno bench -A bench/db_bench.ts
 *
 * PostgreSQL runs in the schema "parley_bench", recreated at every start (deno bench has no
 * teardown hook, so the last run's schema stays until the next one).
 */
import { type Database, dropSchema, openDatabase } from "../db/mod.ts";

const OFFLINE_MESSAGES = 1_000;
const ARCHIVE_ENTRIES = 10_000;
const XML =
  `<message xmlns="jabber:client" type="chat" to="b@example.com" from="a@example.com/r" id="x">` +
  `<body>${"benchmark body ".repeat(8)}</body></message>`;

const backends: { name: string; db: Database }[] = [
  { name: "pglite", db: await openDatabase({ memory: true }) },
];
const url = Deno.env.get("DATABASE_URL");
if (url) {
  await dropSchema(url, "parley_bench");
  backends.push({ name: "postgres", db: await openDatabase({ url, schema: "parley_bench" }) });
}

let run = 0;
for (const { name, db } of backends) {
  Deno.bench({
    name: `${name}: offline store ${OFFLINE_MESSAGES} messages one by one`,
    group: "offline",
    n: 5,
    warmup: 1,
    async fn(b) {
      const owner = `offline-${run++}@example.com`;
      b.start();
      for (let i = 0; i < OFFLINE_MESSAGES; i++) {
        await db.offline.store(owner, "a@example.com/r", XML);
      }
      b.end();
    },
  });

  Deno.bench({
    name: `${name}: archive append ${ARCHIVE_ENTRIES} entries (group commit)`,
    group: "archive",
    n: 5,
    warmup: 1,
    async fn(b) {
      const owner = `archive-${run++}@example.com`;
      const stamp = new Date();
      const before = db.archive.stats().batches;
      b.start();
      const all: Promise<void>[] = [];
      for (let i = 0; i < ARCHIVE_ENTRIES; i++) {
        all.push(db.archive.append({
          id: `${owner}-${i}`,
          owner,
          with: "a@example.com",
          direction: i % 2 ? "in" : "out",
          stamp,
          xml: XML,
        }));
      }
      await Promise.all(all);
      b.end();
      const batches = db.archive.stats().batches - before;
      if (batches > ARCHIVE_ENTRIES / 100) throw new Error(`group commit used ${batches} batches`);
    },
  });
}
