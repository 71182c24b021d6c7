import assert from "node:assert/strict";
import { freshSchema } from "../tests/helpers/schema.ts";
import { NotifiedCache } from "./notified_cache.ts";
import { SqlAccountStore } from "./accounts.ts";
import { migrate } from "./migrations.ts";
import { openPglite } from "./pglite.ts";
import { dropSchema, openPostgres } from "./postgres.ts";
import type { Sql } from "./sql.ts";
import type { AccountCredentials } from "./types.ts";

function cache(opts: { maxEntries?: number; ttlMs?: number } = {}) {
  const clock = { t: 1000 };
  const c = new NotifiedCache<string>({ ...opts, now: () => clock.t });
  c.setLive(true);
  return { c, clock };
}

Deno.test("credential cache serves an entry until its TTL, then reads again", () => {
  const { c, clock } = cache({ ttlMs: 100 });
  c.fill("a@x", "A", c.ticket());
  assert.equal(c.get("a@x"), "A");
  clock.t += 99;
  assert.equal(c.get("a@x"), "A");
  clock.t += 1;
  assert.equal(c.has("a@x"), false);
  assert.equal(c.get("a@x"), undefined);
  assert.equal(c.size, 0, "an expired entry is dropped when met");
});

Deno.test("credential cache keeps at most maxEntries, dropping the least recently used", () => {
  const { c } = cache({ maxEntries: 2 });
  c.fill("a@x", "A", c.ticket());
  c.fill("b@x", "B", c.ticket());
  assert.equal(c.get("a@x"), "A"); // b is now the least recently used
  c.fill("c@x", "C", c.ticket());
  assert.equal(c.size, 2);
  assert.equal(c.get("b@x"), undefined);
  assert.equal(c.get("a@x"), "A");
  assert.equal(c.get("c@x"), "C");
  const none = cache({ maxEntries: 0 }).c;
  none.fill("a@x", "A", none.ticket());
  assert.equal(none.size, 0);
});

Deno.test("credential cache serves and keeps nothing while it is not hearing changes", () => {
  const { c } = cache();
  c.fill("a@x", "A", c.ticket());
  c.setLive(false);
  assert.equal(c.get("a@x"), undefined, "going down forgets");
  c.fill("a@x", "A", c.ticket());
  assert.equal(c.size, 0, "nothing is kept while down");
  c.setLive(true);
  assert.equal(c.get("a@x"), undefined, "coming back starts empty");
  const fresh = new NotifiedCache<string>();
  fresh.fill("a@x", "A", fresh.ticket());
  assert.equal(fresh.get("a@x"), undefined, "a new cache is down until told otherwise");
});

Deno.test("credential cache drops a read that raced with a change to its key, or a clear", () => {
  const { c } = cache();
  const ticket = c.ticket(); // a read of a@x starts
  c.invalidate("b@x"); // another account's change does not concern it
  c.invalidate("a@x"); // its own does: what the read returns may be older
  c.fill("a@x", "old", ticket);
  assert.equal(c.get("a@x"), undefined);
  const again = c.ticket(); // changes before the read started do not count
  c.fill("a@x", "new", again);
  assert.equal(c.get("a@x"), "new");

  const t1 = c.ticket();
  const t2 = c.ticket();
  c.invalidate("b@x");
  c.fill("a@x", "kept", t1);
  assert.equal(c.get("a@x"), "kept");
  c.fill("b@x", "stale", t2);
  assert.equal(c.get("b@x"), undefined);

  const t3 = c.ticket();
  c.clear(); // TRUNCATE, or the listener dropped
  c.fill("a@x", "stale", t3);
  assert.equal(c.size, 0);
});

Deno.test("credential cache remembers changes only while reads are in flight", () => {
  const { c } = cache({ maxEntries: 2 });
  c.invalidate("a@x"); // no read in flight: nothing to remember
  const t = c.ticket();
  c.invalidate("a@x");
  c.invalidate("b@x");
  c.invalidate("c@x"); // more keys than it tracks: as good as a clear for reads in flight
  c.fill("d@x", "D", t);
  assert.equal(c.get("d@x"), undefined);
  c.fill("d@x", "D", c.ticket());
  assert.equal(c.get("d@x"), "D", "once no read is in flight, new reads start clean");
  c.fill("e@x", null, c.ticket()); // a miss returns its ticket and keeps nothing
  assert.equal(c.size, 1);
});

// --- the store, its trigger and LISTEN, on both backends ---

const creds = (tag: string): AccountCredentials => {
  const one = { salt: tag, iterations: 4096, storedKey: tag, serverKey: tag };
  return { "SHA-1": one, "SHA-256": one };
};

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * `reader` caches; `writer` stands for another process (its own cache, and on PostgreSQL its own
 * connections), so only the database's notice can tell the reader about its writes.
 */
async function contract(reader: SqlAccountStore, writer: SqlAccountStore, raw: Sql) {
  await waitFor("the listener", () => reader.cache.live);
  assert.equal(await writer.create("a@x", creds("1")), true);
  assert.deepEqual(await reader.credentials("a@x"), creds("1"));
  assert.equal(reader.cache.has("a@x"), true);
  assert.equal(await reader.exists("a@x"), true);

  assert.equal(await writer.setCredentials("a@x", creds("2")), true);
  await waitFor("the update's notice", () => !reader.cache.has("a@x"));
  assert.deepEqual(await reader.credentials("a@x"), creds("2"));

  // A writer that is not Parley at all.
  await raw.query(`UPDATE accounts SET credentials = $1::text::jsonb WHERE jid = 'a@x'`, [
    JSON.stringify(creds("3")),
  ]);
  await waitFor("the raw update's notice", () => !reader.cache.has("a@x"));
  assert.deepEqual(await reader.credentials("a@x"), creds("3"));

  assert.equal(await writer.delete("a@x"), true);
  await waitFor("the delete's notice", () => !reader.cache.has("a@x"));
  assert.equal(await reader.credentials("a@x"), null);
  assert.equal(reader.cache.size, 0, "a missing account is not cached");

  // Registration right after a miss must work, and the new account starts out cached.
  assert.equal(await reader.create("a@x", creds("4")), true);
  assert.equal(reader.cache.has("a@x"), true);
  assert.deepEqual(await reader.credentials("a@x"), creds("4"));
  // Its own change drops the entry at once, before any notice.
  assert.equal(await reader.setCredentials("a@x", creds("5")), true);
  assert.equal(reader.cache.has("a@x"), false);
  await reader.credentials("a@x");

  await writer.create("b@x", creds("b"));
  // The notice of the reader's own update may still arrive and drop what is read meanwhile.
  for (let i = 0; !(reader.cache.has("a@x") && reader.cache.has("b@x")); i++) {
    assert.ok(i < 100, "a@x and b@x never both cached");
    await reader.credentials("a@x");
    await reader.credentials("b@x");
    await new Promise((r) => setTimeout(r, 5));
  }
  await raw.exec("TRUNCATE accounts");
  await waitFor("the truncate's notice", () => reader.cache.size === 0);
  assert.equal(await reader.credentials("b@x"), null);
}

Deno.test("account store's credential cache hears every writer on PGlite", async () => {
  const sql = await openPglite();
  try {
    await migrate(sql);
    // Two stores over the one embedded database: the writer's own invalidation stays in its
    // cache, so the reader learns only through the trigger and LISTEN.
    await contract(new SqlAccountStore(sql), new SqlAccountStore(sql), sql);
  } finally {
    await sql.close();
  }
});

const url = Deno.env.get("DATABASE_URL");

/** Two connections (two "processes") to a fresh schema, dropped afterwards. */
async function withTwoConnections(
  fn: (a: Sql, b: Sql, schema: string) => Promise<void>,
): Promise<void> {
  const schema = freshSchema();
  const a = await openPostgres({ url: url!, schema, max: 2 });
  const b = await openPostgres({ url: url!, schema, max: 2 });
  try {
    await fn(a, b, schema);
  } finally {
    await a.close();
    await b.close();
    await dropSchema(url!, schema);
  }
}

Deno.test({
  name: "account store's credential cache hears every writer on PostgreSQL (DATABASE_URL)",
  ignore: !url,
  fn: () =>
    withTwoConnections(async (a, b) => {
      await migrate(a);
      await contract(new SqlAccountStore(a), new SqlAccountStore(b), b);
    }),
});

Deno.test({
  name: "credential cache serves no hits while its LISTEN connection is lost (PostgreSQL)",
  ignore: !url,
  fn: () =>
    withTwoConnections(async (a, b, schema) => {
      await migrate(a);
      const reader = new SqlAccountStore(a);
      const writer = new SqlAccountStore(b);
      await waitFor("the listener", () => reader.cache.live);
      await writer.create("a@x", creds("1"));
      await reader.credentials("a@x");
      assert.equal(reader.cache.has("a@x"), true);

      const killed = await b.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`,
        [`parley listen parley_accounts ${schema}`],
      );
      assert.equal(killed.length, 2, "the reader's listener and the writer's");
      await waitFor("the loss to be noticed", () => !reader.cache.live);
      assert.equal(reader.cache.size, 0);

      // Nobody hears this one: the reader must go to the database, not to memory.
      await writer.setCredentials("a@x", creds("2"));
      assert.deepEqual(await reader.credentials("a@x"), creds("2"));
      assert.equal(reader.cache.size, 0, "nothing is kept while the listener is down");

      await waitFor("the listener to come back", () => reader.cache.live, 10_000);
      assert.deepEqual(await reader.credentials("a@x"), creds("2"));
      assert.equal(reader.cache.has("a@x"), true);
      await writer.setCredentials("a@x", creds("3"));
      await waitFor("notices after the reconnect", () => !reader.cache.has("a@x"));
      assert.deepEqual(await reader.credentials("a@x"), creds("3"));
    }),
});
