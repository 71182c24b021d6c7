import assert from "node:assert/strict";
import { openPglite } from "./pglite.ts";
import { migrate, type Migration } from "./migrations.ts";
import type { Sql } from "./sql.ts";

Deno.test("PGlite runs a statement issued during another caller's transaction after it", async (t) => {
  const sql = await openPglite();
  try {
    await sql.exec("CREATE TABLE t (v int)");

    await t.step("a concurrent statement does not join an open transaction", async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => release = r);
      const tx = sql.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (1)");
        await gate;
        throw new Error("roll back");
      });
      const outside = sql.query("INSERT INTO t VALUES (2)");
      await new Promise((r) => setTimeout(r, 10));
      release();
      await assert.rejects(tx, /roll back/);
      await outside;
      const rows = await sql.query<{ v: number }>("SELECT v FROM t ORDER BY v");
      assert.deepEqual(rows.map((r) => r.v), [2]);
    });

    await t.step("a failed statement does not stop the queue", async () => {
      await assert.rejects(sql.query("SELECT * FROM missing_table"));
      assert.deepEqual(await sql.query("SELECT 1 AS one"), [{ one: 1 }]);
    });

    await t.step("migrations apply once, in a transaction each, with progress", async () => {
      const ms: Migration[] = [
        { id: 1, name: "one", sql: "CREATE TABLE m1 (a int)" },
        { id: 2, name: "two", sql: "CREATE TABLE m2 (a int); CREATE TABLE m1 (b int)" },
      ];
      const seen: string[] = [];
      await assert.rejects(migrate(sql, (m) => seen.push(m), ms), /already exists/);
      assert.deepEqual(seen, ["applying migration 001 one", "applying migration 002 two"]);
      // The failed migration left nothing behind, the one before it stays applied.
      const tables = await sql.query<{ name: string }>(
        "SELECT tablename AS name FROM pg_tables WHERE tablename IN ('m1', 'm2')",
      );
      assert.deepEqual(tables.map((r) => r.name), ["m1"]);
      const fixed = [ms[0]!, { id: 2, name: "two", sql: "CREATE TABLE m2 (a int)" }];
      assert.equal(await migrate(sql, () => {}, fixed), 1);
      assert.equal(await migrate(sql, () => {}, fixed), 0);
    });
  } finally {
    await sql.close();
  }
  await assert.rejects(sql.query("SELECT 1"), /closed/);
});

Deno.test("a data dir is made by initdb in a worker, then opened here with its shared_buffers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-pglite-" });
  try {
    const first = await openPglite(dir);
    try {
      assert.ok((await Deno.stat(`${dir}/PG_VERSION`)).isFile, "the cluster's files are there");
      assert.deepEqual(await first.query("SHOW shared_buffers"), [{ shared_buffers: "32MB" }]);
      await first.exec("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
    } finally {
      await first.close();
    }
    // Opened again: no second initdb over the data, and the configured cache size applies.
    const again = await openPglite(dir, { sharedBuffers: "8MB" });
    try {
      assert.deepEqual(await again.query("SHOW shared_buffers"), [{ shared_buffers: "8MB" }]);
      assert.deepEqual(await again.query("SELECT v FROM kept"), [{ v: "still here" }]);
    } finally {
      await again.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an in-memory database gets the same default shared_buffers", async () => {
  const sql = await openPglite();
  try {
    assert.deepEqual(await sql.query("SHOW shared_buffers"), [{ shared_buffers: "32MB" }]);
  } finally {
    await sql.close();
  }
});

Deno.test("a data dir initdb cannot write to is an error naming it, not a hang", async () => {
  const parent = await Deno.makeTempDir({ prefix: "parley-pglite-" });
  const dir = `${parent}/cluster`;
  try {
    await Deno.mkdir(dir);
    await Deno.chmod(dir, 0o500);
    // PGlite's file layer checks the mode bits itself, so this holds for root too.
    await assert.rejects(
      openPglite(dir),
      (e: Error) => e.message.includes(dir) && e.message.includes("ErrnoError"),
    );
  } finally {
    await Deno.chmod(dir, 0o700);
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("migrations refuse ids that are not ascending", async () => {
  const sql = null as unknown as Sql; // never reached: the list is checked first
  await assert.rejects(
    migrate(sql, () => {}, [{ id: 2, name: "b", sql: "" }, { id: 1, name: "a", sql: "" }]),
    /ascending/,
  );
});
