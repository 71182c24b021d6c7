import assert from "node:assert/strict";
import { freshSchema } from "../tests/helpers/schema.ts";
import { CopyBinaryWriter, TEXT_OID, TIMESTAMPTZ_OID } from "./copy_binary.ts";
import { openPglite } from "./pglite.ts";
import { dropSchema, openPostgres } from "./postgres.ts";
import type { Sql } from "./sql.ts";

interface Row {
  a: number;
  b: string;
  c: Date;
  d: string[];
  e: Date[];
}

const COLUMNS = ["a", "b", "c", "d", "e"];

function encode(rows: readonly Row[], sizeHint?: number): Uint8Array<ArrayBuffer> {
  const w = new CopyBinaryWriter(sizeHint);
  for (const r of rows) {
    w.row(COLUMNS.length);
    w.int4(r.a);
    w.text(r.b);
    w.timestamptz(r.c.getTime());
    w.startArray(TEXT_OID, r.d.length);
    for (const s of r.d) w.text(s);
    w.endArray();
    w.startArray(TIMESTAMPTZ_OID, r.e.length);
    for (const t of r.e) w.timestamptz(t.getTime());
    w.endArray();
  }
  return w.finish();
}

// Times on both sides of PostgreSQL's epoch (2000-01-01), where the 64-bit microsecond count
// changes sign, and milliseconds that must come back exactly.
const times = [
  new Date(0),
  new Date("1999-12-31T23:59:59.999Z"),
  new Date("2000-01-01T00:00:00.000Z"),
  new Date("2000-01-01T00:00:00.001Z"),
  new Date("2026-12-04T21:45:12.345Z"),
  new Date("2200-06-30T12:00:00.007Z"),
];

const rows: Row[] = [
  { a: 1, b: "", c: times[0]!, d: ["x"], e: [times[1]!] },
  {
    a: 2147483646,
    b: "ünïcødé 日本語 😀👍🏽",
    c: times[2]!,
    d: ['"', "\\", "{a,b}", "NULL", ""],
    e: times,
  },
  // Bigger than the writer's first buffer: it grows mid-value.
  {
    a: 2147483647,
    b: "<m>\u0001</m>" + "x".repeat(300_000),
    c: times[5]!,
    d: ["é".repeat(70_000)],
    e: [times[4]!],
  },
];

async function checkBackend(sql: Sql): Promise<void> {
  await sql.exec(`CREATE TABLE copied (a int4 CHECK (a > 0), b text, c timestamptz, d text[],
    e timestamptz[])`);
  await sql.copyIn("copied", COLUMNS, encode(rows, 64));
  const back = await sql.query<Row>("SELECT a, b, c, d, e FROM copied ORDER BY a");
  assert.deepEqual(back, rows);

  // A refused COPY writes none of its rows, rejects with the server's reason, and leaves the
  // connection usable (the PostgreSQL test runs on a pool of one).
  const refused = [{ ...rows[0]!, a: 4 }, { ...rows[0]!, a: -1 }];
  await assert.rejects(sql.copyIn("copied", COLUMNS, encode(refused)), /copied_a_check/);
  await sql.copyIn("copied", COLUMNS, encode([{ ...rows[0]!, a: 5 }]));
  const [counted] = await sql.query<{ count: number }>(
    "SELECT count(*)::int AS count FROM copied",
  );
  assert.equal(counted?.count, 4);
  await assert.rejects(sql.copyIn("missing_table", COLUMNS, encode(rows)), /missing_table/);
}

Deno.test("binary COPY rows read back exactly on PGlite", async () => {
  const sql = await openPglite();
  try {
    await checkBackend(sql);
  } finally {
    await sql.close();
  }
});

const url = Deno.env.get("DATABASE_URL");

Deno.test({
  name: "binary COPY rows read back exactly on PostgreSQL (DATABASE_URL)",
  ignore: !url,
  async fn() {
    const schema = freshSchema();
    const sql = await openPostgres({ url: url!, schema, max: 1 });
    try {
      await checkBackend(sql);
    } finally {
      await sql.close();
      await dropSchema(url!, schema);
    }
  },
});

Deno.test("the writer refuses nested, unclosed and unopened arrays", () => {
  const w = new CopyBinaryWriter();
  w.row(1);
  assert.throws(() => w.endArray(), /no array is open/);
  w.startArray(TEXT_OID, 1);
  assert.throws(() => w.startArray(TEXT_OID, 1), /do not nest/);
  assert.throws(() => w.finish(), /still open/);
});
