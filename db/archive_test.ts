import assert from "node:assert/strict";
import { SqlArchiveStore } from "./archive.ts";
import type { Sql } from "./sql.ts";
import { openPglite } from "./pglite.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";
import type { ArchiveEntry } from "./types.ts";

// The group commit's scheduling, seen through a fake Sql whose COPYs finish when the test says.

interface Call {
  rows: { id: string }[];
  finish: (err?: Error) => void;
}

function fakeSql(): Sql & { calls: Call[]; next(): Promise<Call> } {
  const calls: Call[] = [];
  let wake: (() => void) | undefined;
  return {
    calls,
    query: () => Promise.reject(new Error("the archive appends with COPY")),
    copyIn(table, columns, data): Promise<void> {
      assert.equal(table, "archive_segment");
      return new Promise<void>((resolve, reject) => {
        calls.push({
          // The batch's segments, flattened back to entries in write order.
          rows: copiedTextArrays(data, columns.indexOf("ids")).flat().map((id) => ({ id })),
          finish: (err) => err ? reject(err) : resolve(),
        });
        wake?.();
      });
    },
    async next(): Promise<Call> {
      while (calls.length === 0) await new Promise<void>((r) => wake = r);
      return calls.shift()!;
    },
    exec: () => Promise.resolve(),
    transaction: (fn) => fn(null as unknown as Sql),
    listen: () => ({ close: () => Promise.resolve() }),
    close: () => Promise.resolve(),
  };
}

/** The text array in field `field` of every row of binary COPY data. */
function copiedTextArrays(data: Uint8Array, field: number): string[][] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decoder = new TextDecoder();
  const arrays: string[][] = [];
  let at = 19; // signature, flags, header extension
  for (let fields = view.getInt16(at); fields !== -1; fields = view.getInt16(at)) {
    at += 2;
    for (let f = 0; f < fields; f++) {
      const length = view.getInt32(at);
      if (f === field) {
        const values: string[] = [];
        let el = at + 4 + 20; // dimensions, NULL flag, element type, size, lower bound
        for (let i = view.getInt32(at + 4 + 12); i > 0; i--) {
          const n = view.getInt32(el);
          values.push(decoder.decode(data.subarray(el + 4, el + 4 + n)));
          el += 4 + n;
        }
        arrays.push(values);
      }
      at += 4 + length;
    }
  }
  return arrays;
}

const e = (i: number): ArchiveEntry => ({
  id: `m${i}`,
  owner: "o@x",
  with: "w@x",
  direction: "in",
  stamp: new Date(0),
  xml: "<message/>",
});

Deno.test("group commit writes a full batch at once and queues the rest behind it", async () => {
  const sql = fakeSql();
  const store = new SqlArchiveStore(sql, { batchSize: 3 });
  const done = [0, 1, 2, 3].map((i) => store.append(e(i)));
  assert.equal(sql.calls.length, 1, "the full batch goes without waiting");
  const first = await sql.next();
  assert.deepEqual(first.rows.map((r) => r.id), ["m0", "m1", "m2"]);
  first.finish();
  const second = await sql.next();
  assert.deepEqual(second.rows.map((r) => r.id), ["m3"]);
  second.finish();
  await Promise.all(done);
  assert.deepEqual(store.stats(), { batches: 2, entries: 4 });
  await store.close();
});

Deno.test("group commit keeps one batch in flight while the next accumulates", async () => {
  const sql = fakeSql();
  const store = new SqlArchiveStore(sql, { batchSize: 100 });
  const a = store.append(e(1));
  const first = await sql.next();
  const later = [2, 3, 4].map((i) => store.append(e(i)));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(sql.calls.length, 0, "nothing else is written while a batch is in flight");
  first.finish();
  await a;
  const second = await sql.next();
  assert.deepEqual(second.rows.map((r) => r.id), ["m2", "m3", "m4"]);
  second.finish();
  await Promise.all(later);
  await store.close();
});

Deno.test("group commit rejects every caller of a failed batch and goes on", async () => {
  const sql = fakeSql();
  const store = new SqlArchiveStore(sql);
  const failing = [1, 2].map((i) => store.append(e(i)));
  const first = await sql.next();
  const next = store.append(e(3));
  first.finish(new Error("disk full"));
  for (const p of failing) await assert.rejects(p, /disk full/);
  (await sql.next()).finish();
  await next;
  assert.deepEqual(store.stats(), { batches: 1, entries: 1 });
  await store.close();
});

Deno.test("enqueued entries of a failed batch go to onError, appended ones reject", async () => {
  const sql = fakeSql();
  const failed: string[][] = [];
  const store = new SqlArchiveStore(sql, {
    onError: (err, entries) => {
      assert.match(String(err), /disk full|closed/);
      failed.push(entries.map((x) => x.id));
    },
  });
  store.enqueue(e(1));
  const watched = store.append(e(2));
  store.enqueue(e(3));
  (await sql.next()).finish(new Error("disk full"));
  await assert.rejects(watched, /disk full/);
  assert.deepEqual(failed, [["m1", "m3"]]);
  store.enqueue(e(4));
  const written = sql.next();
  const flushed = store.flush();
  (await written).finish();
  await flushed;
  assert.deepEqual(store.stats(), { batches: 1, entries: 1 });
  await store.close();
  store.enqueue(e(5));
  assert.deepEqual(failed, [["m1", "m3"], ["m5"]], "a closed store reports instead of queueing");
});

Deno.test("flush waits for queued and in-flight entries, close refuses new ones", async () => {
  const sql = fakeSql();
  const store = new SqlArchiveStore(sql);
  await store.flush(); // nothing queued: resolves at once
  const p = store.append(e(1));
  let flushed = false;
  const f = store.flush().then(() => flushed = true);
  const call = await sql.next();
  await Promise.resolve();
  assert.equal(flushed, false);
  call.finish();
  await Promise.all([p, f]);
  assert.equal(flushed, true);
  const closing = store.close();
  await assert.rejects(store.append(e(2)), /closed/);
  await closing;
});

Deno.test("migration to segments keeps an existing archive, its order and its ids", async () => {
  const sql = await openPglite();
  try {
    await migrate(sql, () => {}, MIGRATIONS.filter((m) => m.id <= 8));
    const old = [0, 1, 2].map((i) => ({
      ...e(i),
      with: i === 1 ? "v@x" : "w@x",
      xml: `<m>${i}</m>`,
    }));
    for (const o of [...old].reverse()) {
      // Inserted newest first, with seq saying the real order.
      await sql.query(
        `INSERT INTO archive (seq, id, owner, with_jid, direction, stamp, xml)
         VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7)`,
        [
          Number(o.id.slice(1)) + 1,
          o.id,
          o.owner,
          o.with,
          o.direction,
          o.stamp.toISOString(),
          o.xml,
        ],
      );
    }
    await migrate(sql);
    const store = new SqlArchiveStore(sql);
    const page = await store.query({ owner: "o@x", max: 10 });
    assert.deepEqual(page.items, old);
    assert.deepEqual(
      (await store.query({ owner: "o@x", with: "v@x", after: "m0", max: 10 })).items,
      [old[1]],
    );
    // New entries land after the migrated ones.
    await store.append({ ...e(3), xml: "<m>3</m>" });
    assert.deepEqual(
      (await store.query({ owner: "o@x", max: 10 })).items.map((i) => i.id),
      ["m0", "m1", "m2", "m3"],
    );
    await store.close();
  } finally {
    await sql.close();
  }
});

Deno.test("one batch of many owners: each entry keeps its own XML, in order, past a segment's size", async () => {
  const sql = await openPglite();
  try {
    await migrate(sql);
    const store = new SqlArchiveStore(sql, { batchSize: 1000 });
    // 300 entries over three owners, interleaved: owner 0 gets 100, more than one segment (128)
    // only with the others', so each segment's rows take entries from all over the batch. Stamps
    // differ per entry, on both sides of PostgreSQL's epoch (2000).
    const owners = ["a@x", "b@x", "c@x"];
    const all = Array.from({ length: 300 }, (_, i) => ({
      ...e(i),
      owner: owners[i % 3]!,
      stamp: new Date(i % 2 ? i * 7 : Date.UTC(2026, 11, 4) + i * 7),
      // Quotes, apostrophes, backslashes and non-ASCII: what a text encoding must not garble.
      xml: `<message id="m${i}" x='${i}'><body>\\ "ä" ${i} 💬</body></message>`,
    }));
    all.push(...Array.from({ length: 200 }, (_, i) => ({
      ...e(300 + i),
      owner: "a@x",
      xml: `<message id="m${300 + i}"/>`,
    })));
    // PostgreSQL's text cannot hold U+0000: refused alone, not failing the batch it would join.
    const refused = assert.rejects(
      store.append({ ...e(999), xml: "<message>\u0000</message>" }),
      /U\+0000/,
    );
    await Promise.all(all.map((entry) => store.append(entry)));
    await refused;
    assert.equal(store.stats().batches, 1, "written as one batch");
    for (const owner of owners) {
      const page = await store.query({ owner, max: 1000 });
      assert.deepEqual(page.items, all.filter((x) => x.owner === owner), owner);
    }
    await store.close();
    // A segment whose XML column came out shorter than its count would lose entries: refused.
    await assert.rejects(
      sql.query(
        `INSERT INTO archive_segment (owner, n, first_stamp, last_stamp, ids, withs, dirs, stamps,
           xmls)
         VALUES ('d@x', 2, now(), now(), '{a,b}', '{w,w}', '{in,in}', ARRAY[now(), now()],
           '{<m/>}')`,
      ),
      /archive_segment_columns_match/,
    );
  } finally {
    await sql.close();
  }
});
