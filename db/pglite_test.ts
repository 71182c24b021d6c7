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

Deno.test("migrations refuse ids that are not ascending", async () => {
  const sql = null as unknown as Sql; // never reached: the list is checked first
  await assert.rejects(
    migrate(sql, () => {}, [{ id: 2, name: "b", sql: "" }, { id: 1, name: "a", sql: "" }]),
    /ascending/,
  );
});
