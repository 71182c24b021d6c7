import { openPostgres } from "./postgres.ts";
import { freshSchema } from "../tests/helpers/schema.ts";
import { until } from "../tests/helpers/until.ts";
import { newStanzaId, stanzaIdTime } from "./stanza_id.ts";
import assert from "node:assert/strict";
import {
  type AccountCredentials,
  type ArchiveEntry,
  type Database,
  dropSchema,
  ItemNotFoundError,
  openDatabase,
  type RosterItem,
} from "./mod.ts";

// The same contract runs on every backend (ejabberd's test/ejabberd_SUITE.erl idea). Each step uses
// its own users, so steps share one database without seeing each other's rows.

function creds(tag: string): AccountCredentials {
  const c = (h: string) => ({
    salt: btoa(`salt-${tag}-${h}`),
    iterations: 4096,
    storedKey: btoa(`stored-${tag}-${h}`),
    serverKey: btoa(`server-${tag}-${h}`),
  });
  return { "SHA-1": c("1"), "SHA-256": c("256") };
}

function item(jid: string, over: Partial<RosterItem> = {}): RosterItem {
  return { jid, subscription: "none", askOut: false, pendingIn: false, groups: [], ...over };
}

const T0 = Date.parse("2024-01-01T00:00:00Z");
const minute = (i: number) => new Date(T0 + i * 60_000);

function entry(owner: string, i: number, over: Partial<ArchiveEntry> = {}): ArchiveEntry {
  return {
    id: `${owner.split("@")[0]}-${String(i).padStart(4, "0")}`,
    owner,
    with: i % 2 === 0 ? "x@example.net" : "y@example.net",
    direction: i % 3 === 0 ? "out" : "in",
    stamp: minute(i),
    xml: `<message xmlns="jabber:client"><body>${i}</body></message>`,
    ...over,
  };
}

async function contract(t: Deno.TestContext, db: Database): Promise<void> {
  // accounts
  await t.step("accounts: create stores the credentials and refuses an existing jid", async () => {
    assert.equal(await db.accounts.create("ann@example.com", creds("a")), true);
    assert.equal(await db.accounts.create("ann@example.com", creds("b")), false);
    const rec = await db.accounts.get("ann@example.com");
    assert.ok(rec);
    assert.equal(rec.jid, "ann@example.com");
    assert.deepEqual(rec.credentials, creds("a"));
    assert.ok(rec.createdAt instanceof Date);
    assert.ok(Math.abs(rec.createdAt.getTime() - Date.now()) < 60_000);
    assert.equal(await db.accounts.exists("ann@example.com"), true);
    assert.equal(await db.accounts.exists("nobody@example.com"), false);
    assert.equal(await db.accounts.get("nobody@example.com"), null);
    assert.ok((await db.accounts.list()).includes("ann@example.com"));
  });

  await t.step("accounts: setCredentials replaces them and reports a missing account", async () => {
    await db.accounts.create("cred@example.com", creds("old"));
    assert.equal(await db.accounts.setCredentials("cred@example.com", creds("new")), true);
    assert.deepEqual((await db.accounts.get("cred@example.com"))?.credentials, creds("new"));
    assert.equal(await db.accounts.setCredentials("ghost@example.com", creds("x")), false);
    assert.equal(await db.accounts.exists("ghost@example.com"), false);
  });

  await t.step("accounts: list is sorted", async () => {
    await db.accounts.create("zed@example.com", creds("z"));
    await db.accounts.create("bob@example.com", creds("b"));
    const list = await db.accounts.list();
    assert.deepEqual(list, [...list].sort());
  });

  await t.step("accounts: delete removes everything of that user and nothing else", async () => {
    const gone = "del@example.com";
    const kept = "keep@example.com";
    for (const u of [gone, kept]) {
      await db.accounts.create(u, creds(u));
      await db.roster.put(u, item("friend@example.com"));
      await db.offline.store(u, "friend@example.com/r", "<message/>");
      await db.archive.append(entry(u, 1));
      await db.archive.setPrefs(u, { default: "never", always: [], never: [] });
      await db.vcard.set(u, "<vCard/>");
      await db.private.set(u, "k ns", "<k xmlns='ns'/>");
    }
    // Still queued when the account goes: it must not survive the delete.
    const late = db.archive.append(entry(gone, 2));
    assert.equal(await db.accounts.delete(gone), true);
    await late;
    assert.equal(await db.accounts.exists(gone), false);
    assert.deepEqual(await db.roster.get(gone), { version: "0", items: [] });
    assert.deepEqual(await db.offline.usage(gone), { count: 0, bytes: 0 });
    assert.equal((await db.archive.query({ owner: gone, max: 10 })).count, 0);
    assert.equal((await db.archive.getPrefs(gone)).default, "always");
    assert.equal(await db.vcard.get(gone), null);
    assert.equal(await db.private.get(gone, "k ns"), null);

    assert.equal(await db.accounts.exists(kept), true);
    assert.equal((await db.roster.get(kept)).items.length, 1);
    assert.equal((await db.offline.usage(kept)).count, 1);
    assert.equal((await db.archive.query({ owner: kept, max: 10 })).count, 1);
    assert.equal((await db.archive.getPrefs(kept)).default, "never");
    assert.equal(await db.vcard.get(kept), "<vCard/>");
    assert.equal(await db.private.get(kept, "k ns"), "<k xmlns='ns'/>");

    assert.equal(await db.accounts.delete(gone), false);
  });

  // roster
  await t.step("roster: an empty roster has version 0 and no items", async () => {
    assert.deepEqual(await db.roster.get("empty@example.com"), { version: "0", items: [] });
    assert.equal(await db.roster.getItem("empty@example.com", "a@example.com"), null);
  });

  await t.step("roster: put inserts or replaces an item and bumps the version", async () => {
    const o = "ros@example.com";
    const full = item("c@example.com", {
      name: "Cé",
      subscription: "from",
      askOut: true,
      pendingIn: true,
      pendingInStanza: "<presence type='subscribe'/>",
      groups: ["Friends", "Работа"],
    });
    assert.equal(await db.roster.put(o, full), "1");
    assert.deepEqual(await db.roster.getItem(o, "c@example.com"), full);
    assert.equal(await db.roster.put(o, item("a@example.com", { subscription: "both" })), "2");
    const replaced = item("c@example.com", { subscription: "both", groups: [] });
    assert.equal(await db.roster.put(o, replaced), "3");
    assert.deepEqual(await db.roster.getItem(o, "c@example.com"), replaced);
    const all = await db.roster.get(o);
    assert.equal(all.version, "3");
    assert.deepEqual(all.items, [item("a@example.com", { subscription: "both" }), replaced]);
  });

  await t.step("roster: remove bumps the version, a missing item returns null", async () => {
    const o = "rem@example.com";
    await db.roster.put(o, item("a@example.com"));
    await db.roster.put(o, item("b@example.com"));
    assert.equal(await db.roster.remove(o, "a@example.com"), "3");
    assert.equal(await db.roster.remove(o, "a@example.com"), null);
    assert.deepEqual(await db.roster.get(o), { version: "3", items: [item("b@example.com")] });
  });

  await t.step("roster: versions are per owner and concurrent puts get distinct ones", async () => {
    const o = "conc@example.com";
    const versions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => db.roster.put(o, item(`c${i}@example.com`))),
    );
    assert.deepEqual(
      versions.map(Number).sort((a, b) => a - b),
      [...Array(20)].map((_, i) => i + 1),
    );
    assert.equal((await db.roster.get(o)).items.length, 20);
    assert.equal(await db.roster.put("other@example.com", item("c@example.com")), "1");
  });

  // offline
  await t.step("offline: store returns the row with its UTF-8 size and stamp", async () => {
    const xml = "<message><body>héllo €</body></message>";
    const stamp = new Date("2024-05-06T07:08:09.123Z");
    const m = await db.offline.store("off@example.com", "s@example.net/phone", xml, stamp);
    assert.ok(Number.isInteger(m.id) && m.id > 0);
    assert.equal(m.owner, "off@example.com");
    assert.equal(m.from, "s@example.net/phone");
    assert.equal(m.xml, xml);
    assert.equal(m.bytes, new TextEncoder().encode(xml).length);
    assert.equal(m.stamp.getTime(), stamp.getTime());
    const now = await db.offline.store("off@example.com", "s@example.net", "<message/>");
    assert.ok(Math.abs(now.stamp.getTime() - Date.now()) < 60_000);
  });

  await t.step("offline: list returns the owner's messages oldest first, up to limit", async () => {
    const o = "ord@example.com";
    const ids = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await db.offline.store(o, "s@example.net/r", `<message id='${i}'/>`)).id);
    }
    await db.offline.store("noise@example.com", "s@example.net/r", "<message/>");
    const all = await db.offline.list(o);
    assert.deepEqual(all.map((m) => m.id), ids);
    assert.deepEqual(all.map((m) => m.xml), ids.map((_, i) => `<message id='${i}'/>`));
    assert.deepEqual((await db.offline.list(o, 2)).map((m) => m.id), ids.slice(0, 2));
    assert.deepEqual(await db.offline.list("none@example.com"), []);
  });

  await t.step("offline: usage counts per owner and per sender bare JID", async () => {
    const o = "use@example.com";
    await db.offline.store(o, "a@example.net/one", "12345");
    await db.offline.store(o, "a@example.net/two/with/slash", "123");
    await db.offline.store(o, "a@example.net", "1");
    await db.offline.store(o, "b@example.net/one", "1234567");
    await db.offline.store("use2@example.com", "a@example.net/one", "12");
    assert.deepEqual(await db.offline.usage(o), { count: 4, bytes: 16 });
    assert.deepEqual(await db.offline.usage(o, "a@example.net"), { count: 3, bytes: 9 });
    assert.deepEqual(await db.offline.usage(o, "b@example.net"), { count: 1, bytes: 7 });
    assert.deepEqual(await db.offline.usage(o, "c@example.net"), { count: 0, bytes: 0 });
    assert.deepEqual(await db.offline.usage("nobody@example.com"), { count: 0, bytes: 0 });
  });

  await t.step("offline: delete removes only the given ids of that owner", async () => {
    const o = "od@example.com";
    const mine = [];
    for (let i = 0; i < 4; i++) mine.push((await db.offline.store(o, "s@x/r", `<m${i}/>`)).id);
    const theirs = (await db.offline.store("od2@example.com", "s@x/r", "<t/>")).id;
    assert.equal(await db.offline.delete(o, [mine[0]!, mine[2]!, theirs, 999_999_999]), 2);
    assert.deepEqual((await db.offline.list(o)).map((m) => m.id), [mine[1], mine[3]]);
    assert.equal((await db.offline.list("od2@example.com")).length, 1);
    assert.equal(await db.offline.delete(o, []), 0);
    assert.equal(await db.offline.deleteAll(o), 2);
    assert.deepEqual(await db.offline.list(o), []);
    assert.equal(await db.offline.deleteAll(o), 0);
    assert.equal((await db.offline.list("od2@example.com")).length, 1);
  });

  // archive
  await t.step("archive: 1000 concurrent appends commit in a few batches, in order", async () => {
    const o = "gc@example.com";
    const before = db.archive.stats();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => db.archive.append(entry(o, i))));
    const after = db.archive.stats();
    assert.equal(after.entries - before.entries, 1000);
    assert.ok(after.batches - before.batches <= 3, `${after.batches - before.batches} batches`);
    const page = await db.archive.query({ owner: o, max: 2000 });
    assert.equal(page.count, 1000);
    assert.deepEqual(page.items.map((e) => e.id), [...Array(1000)].map((_, i) => entry(o, i).id));
  });

  await t.step("archive: flush waits for appends nobody awaited", async () => {
    const o = "fl@example.com";
    const pending = [1, 2, 3].map((i) => db.archive.append(entry(o, i)));
    await db.archive.flush();
    assert.equal((await db.archive.query({ owner: o, max: 10 })).count, 3);
    await Promise.all(pending);
    await db.archive.flush();
  });

  await t.step("archive: an entry reads back as appended", async () => {
    const e = entry("rt@example.com", 7, {
      direction: "out",
      stamp: new Date("2024-02-03T04:05:06.789Z"),
      xml: "<message><body>ünïcødé &amp; more</body></message>",
    });
    await db.archive.append(e);
    const page = await db.archive.query({ owner: "rt@example.com", max: 5 });
    assert.deepEqual(page.items, [e]);
    assert.deepEqual(page, { items: [e], complete: true, count: 1, firstIndex: 0 });
  });

  await t.step("archive: any text survives the batch, in order, with its stamp range", async () => {
    // What array literals, JSON or CSV-like encodings get wrong: quoting, escapes, separators,
    // NULL-like words, whitespace-only and empty text, multi-byte characters.
    const nasty = [
      '"',
      "\\",
      '\\"',
      '"\\',
      "\\\\",
      "{",
      "}",
      "{}",
      '{"a",NULL}',
      "[1:2]={x}",
      ",",
      "a,b",
      "NULL",
      "null",
      '""',
      "",
      " ",
      "  padded  ",
      "\n\r\t",
      "line\nbreak",
      "'",
      "$1",
      "\\N",
      "ünïcødé 日本語",
      "😀👍🏽",
      "\u2028\u00a0\ufeff",
    ];
    const owners = ["nasty@example.com", 'we"ird\\{own,er}@example.com'];
    // Stamps run backwards, so a segment's range is not its first and last entry's.
    const written = nasty.map((s, i) =>
      entry(owners[i % 2]!, i, {
        id: `nasty-${i}-${s}`,
        with: s,
        stamp: minute(100 - i),
        xml: i % 3 === 0 ? s : `<message a="${s}">${s}\n{${s}}</message>`,
      })
    );
    await Promise.all(written.map((e) => db.archive.append(e)));
    for (const owner of owners) {
      const mine = written.filter((e) => e.owner === owner);
      assert.deepEqual((await db.archive.query({ owner, max: 100 })).items, mine);
      const newest = await db.archive.query({ owner, start: mine[0]!.stamp, max: 100 });
      assert.deepEqual(newest.items, mine.slice(0, 1));
      const oldest = await db.archive.query({ owner, end: mine.at(-1)!.stamp, max: 100 });
      assert.deepEqual(oldest.items, mine.slice(-1));
    }
    for (const e of written) {
      const byPeer = await db.archive.query({ owner: e.owner, with: e.with, max: 100 });
      assert.deepEqual(byPeer.items, [e]);
      const byId = await db.archive.query({ owner: e.owner, ids: [e.id], max: 100 });
      assert.deepEqual(byId.items, [e]);
    }
  });

  await t.step("archive: one stanza-id in two owners' archives is two entries", async () => {
    const a = entry("dupa@example.com", 1, { id: "same" });
    const b = entry("dupb@example.com", 1, { id: "same" });
    await Promise.all([db.archive.append(a), db.archive.append(b)]);
    assert.deepEqual((await db.archive.query({ owner: a.owner, max: 5 })).items, [a]);
    assert.deepEqual((await db.archive.query({ owner: b.owner, max: 5 })).items, [b]);
    const after = await db.archive.query({ owner: a.owner, after: "same", max: 5 });
    assert.deepEqual(after, { items: [], complete: true, count: 1, firstIndex: 1 });
  });

  await t.step(
    "archive: a burst for many owners pages like one written entry by entry",
    async () => {
      // 300 entries for 3 owners in one batch: segments of at most 128, paged across their joins.
      const owners = ["seg0@example.com", "seg1@example.com", "seg2@example.com"];
      const burst = [...Array(300)].map((_, i) => entry(owners[i % 3]!, i, { id: `seg-${i}` }));
      await Promise.all(burst.map((e) => db.archive.append(e)));
      await db.archive.append(entry(owners[0]!, 300, { id: "seg-300" }));
      const mine = [
        ...burst.filter((e) => e.owner === owners[0]),
        entry(owners[0]!, 300, {
          id: "seg-300",
        }),
      ];
      const seen: ArchiveEntry[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 20; guard++) {
        const page = await db.archive.query({ owner: owners[0]!, after, max: 13 });
        assert.equal(page.count, 101);
        assert.equal(page.firstIndex, seen.length);
        seen.push(...page.items);
        if (page.complete) break;
        after = page.items.at(-1)!.id;
      }
      assert.deepEqual(seen, mine);
      const last = await db.archive.query({ owner: owners[0]!, before: "", max: 3 });
      assert.deepEqual(last.items, mine.slice(-3));
      assert.equal(last.firstIndex, 98);
      const back = await db.archive.query({ owner: owners[0]!, before: "seg-3", max: 5 });
      assert.deepEqual(back.items, mine.slice(0, 1));
      assert.equal(back.firstIndex, 0);
      const filtered = await db.archive.query({
        owner: owners[0]!,
        with: "x@example.net",
        after: "seg-150",
        max: 100,
      });
      assert.deepEqual(
        filtered.items,
        mine.filter((e, i) => e.with === "x@example.net" && i > 50),
      );
      assert.equal(filtered.count, mine.filter((e) => e.with === "x@example.net").length);
    },
  );

  const mam = "mam@example.com";
  const all = [...Array(25)].map((_, i) => entry(mam, i));
  const ids = (items: ArchiveEntry[]) => items.map((e) => e.id);
  await Promise.all(all.map((e) => db.archive.append(e)));
  await db.archive.append(entry("mam-other@example.com", 1));

  await t.step("archive: the default page is the first max items", async () => {
    const page = await db.archive.query({ owner: mam, max: 10 });
    assert.deepEqual(ids(page.items), ids(all.slice(0, 10)));
    assert.equal(page.count, 25);
    assert.equal(page.firstIndex, 0);
    assert.equal(page.complete, false);
    const whole = await db.archive.query({ owner: mam, max: 25 });
    assert.equal(whole.complete, true);
    assert.deepEqual(whole.items, all);
  });

  await t.step("archive: max 0 returns only the count", async () => {
    const page = await db.archive.query({ owner: mam, max: 0 });
    assert.deepEqual(page.items, []);
    assert.equal(page.count, 25);
    assert.equal(page.complete, false);
  });

  await t.step("archive: with, start, end and ids filter the result set", async () => {
    const withX = await db.archive.query({ owner: mam, with: "x@example.net", max: 100 });
    assert.deepEqual(withX.items, all.filter((e) => e.with === "x@example.net"));
    assert.equal(withX.count, 13);
    const range = await db.archive.query({
      owner: mam,
      start: minute(5),
      end: minute(9),
      max: 100,
    });
    assert.deepEqual(ids(range.items), ids(all.slice(5, 10)));
    const from = await db.archive.query({ owner: mam, start: minute(20), max: 100 });
    assert.deepEqual(ids(from.items), ids(all.slice(20)));
    const until = await db.archive.query({ owner: mam, end: minute(2), max: 100 });
    assert.deepEqual(ids(until.items), ids(all.slice(0, 3)));
    const picked = await db.archive.query({
      owner: mam,
      ids: [all[12]!.id, all[3]!.id, "nope", entry("mam-other@example.com", 1).id],
      max: 100,
    });
    assert.deepEqual(ids(picked.items), [all[3]!.id, all[12]!.id]);
    assert.equal(picked.count, 2);
    const none = await db.archive.query({ owner: mam, ids: [], max: 100 });
    assert.equal(none.count, 0);
    const combined = await db.archive.query({
      owner: mam,
      with: "y@example.net",
      start: minute(4),
      end: minute(12),
      max: 100,
    });
    assert.deepEqual(ids(combined.items), ["mam-0005", "mam-0007", "mam-0009", "mam-0011"]);
  });

  await t.step("archive: paging forwards with after covers the set without gaps", async () => {
    for (const max of [1, 7, 25]) {
      const seen: ArchiveEntry[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 100; guard++) {
        const page = await db.archive.query({ owner: mam, after, max });
        assert.equal(page.count, 25);
        assert.equal(page.firstIndex, seen.length);
        seen.push(...page.items);
        assert.equal(page.complete, seen.length === 25, `complete at ${seen.length}`);
        if (page.complete) break;
        after = page.items.at(-1)!.id;
      }
      assert.deepEqual(seen, all);
    }
  });

  await t.step("archive: paging backwards with before covers the set without gaps", async () => {
    for (const max of [1, 7, 25]) {
      const seen: ArchiveEntry[] = [];
      let before = "";
      for (let guard = 0; guard < 100; guard++) {
        const page = await db.archive.query({ owner: mam, before, max });
        assert.equal(page.count, 25);
        seen.unshift(...page.items);
        assert.equal(page.firstIndex, 25 - seen.length);
        assert.equal(page.complete, seen.length === 25, `complete at ${seen.length}`);
        if (page.complete) break;
        before = page.items[0]!.id;
      }
      assert.deepEqual(seen, all);
    }
  });

  await t.step("archive: before '' is the last page", async () => {
    const last = await db.archive.query({ owner: mam, before: "", max: 10 });
    assert.deepEqual(ids(last.items), ids(all.slice(15)));
    assert.deepEqual([last.firstIndex, last.count, last.complete], [15, 25, false]);
    const everything = await db.archive.query({ owner: mam, before: "", max: 50 });
    assert.deepEqual([everything.firstIndex, everything.complete], [0, true]);
    assert.deepEqual(everything.items, all);
  });

  await t.step("archive: paging applies within a filter", async () => {
    const xs = all.filter((e) => e.with === "x@example.net");
    const p1 = await db.archive.query({ owner: mam, with: "x@example.net", max: 5 });
    const p2 = await db.archive.query({
      owner: mam,
      with: "x@example.net",
      after: p1.items.at(-1)!.id,
      max: 5,
    });
    assert.deepEqual([...p1.items, ...p2.items], xs.slice(0, 10));
    assert.deepEqual([p2.firstIndex, p2.count, p2.complete], [5, 13, false]);
    const back = await db.archive.query({
      owner: mam,
      with: "x@example.net",
      before: xs[4]!.id,
      max: 10,
    });
    assert.deepEqual(back.items, xs.slice(0, 4));
    assert.deepEqual([back.firstIndex, back.complete], [0, true]);
  });

  await t.step("archive: after the last item is an empty, complete page", async () => {
    const page = await db.archive.query({ owner: mam, after: all[24]!.id, max: 10 });
    assert.deepEqual([page.items.length, page.complete, page.count, page.firstIndex], [
      0,
      true,
      25,
      25,
    ]);
    const first = await db.archive.query({ owner: mam, before: all[0]!.id, max: 10 });
    assert.deepEqual([first.items.length, first.complete, first.firstIndex], [0, true, 0]);
  });

  await t.step("archive: an unknown after or before id is ItemNotFoundError", async () => {
    await assert.rejects(
      db.archive.query({ owner: mam, after: "nope", max: 5 }),
      ItemNotFoundError,
    );
    await assert.rejects(
      db.archive.query({ owner: mam, before: "nope", max: 5 }),
      ItemNotFoundError,
    );
    // Another owner's id must not leak whether it exists.
    await assert.rejects(
      db.archive.query({ owner: mam, after: entry("mam-other@example.com", 1).id, max: 5 }),
      ItemNotFoundError,
    );
  });

  await t.step(
    "archive: ids that carry their stamps are found through them, others anyway",
    async () => {
      const owner = "stamped@example.com";
      // Three batches a minute apart, so three segments; ids as the archive makes them, except one
      // that has their shape but not its entry's time, and one of another shape.
      const entries: ArchiveEntry[] = [];
      for (let b = 0; b < 3; b++) {
        const batch = Array.from({ length: 5 }, (_, k) => {
          const stamp = minute(100 + b);
          return entry(owner, b * 5 + k, { id: newStanzaId(stamp.getTime()), stamp });
        });
        if (b === 1) {
          batch[2] = { ...batch[2]!, id: newStanzaId(minute(500).getTime()) };
          batch[3] = { ...batch[3]!, id: crypto.randomUUID() };
        }
        await Promise.all(batch.map((e) => db.archive.append(e)));
        entries.push(...batch);
      }
      const ids = entries.map((e) => e.id);
      assert.equal(stanzaIdTime(ids[0]!), minute(100).getTime());
      assert.equal(stanzaIdTime(ids[8]!), undefined, "a UUID does not decode");
      for (let i = 0; i < entries.length; i++) {
        const after = await db.archive.query({ owner, after: ids[i], max: 2 });
        assert.deepEqual(after.items.map((e) => e.id), ids.slice(i + 1, i + 3), `after ${i}`);
        const before = await db.archive.query({ owner, before: ids[i], max: 2 });
        assert.deepEqual(
          before.items.map((e) => e.id),
          ids.slice(Math.max(0, i - 2), i),
          `before ${i}`,
        );
      }
      const picked = [ids[1]!, ids[6]!, ids[13]!];
      assert.deepEqual(
        (await db.archive.query({ owner, ids: picked, max: 10 })).items.map((e) => e.id),
        picked,
      );
      assert.deepEqual(
        (await db.archive.query({ owner, ids: [ids[7]!, ids[8]!], max: 10 })).items.map((e) =>
          e.id
        ),
        [ids[7], ids[8]],
        "ids whose time misleads or is missing are filtered like any other",
      );
      await assert.rejects(
        db.archive.query({ owner, after: newStanzaId(minute(101).getTime()), max: 2 }),
        ItemNotFoundError,
      );
    },
  );

  await t.step("archive: prefs default to always with empty lists, set replaces", async () => {
    const o = "prefs@example.com";
    assert.deepEqual(await db.archive.getPrefs(o), { default: "always", always: [], never: [] });
    const p1 = { default: "roster" as const, always: ["a@x", "b@x"], never: ["c@x"] };
    await db.archive.setPrefs(o, p1);
    assert.deepEqual(await db.archive.getPrefs(o), p1);
    const p2 = { default: "never" as const, always: [], never: [] };
    await db.archive.setPrefs(o, p2);
    assert.deepEqual(await db.archive.getPrefs(o), p2);
  });

  // vcard, private
  await t.step("vcard: get is null until set, set overwrites", async () => {
    assert.equal(await db.vcard.get("vc@example.com"), null);
    await db.vcard.set("vc@example.com", "<vCard><FN>A</FN></vCard>");
    await db.vcard.set("vc2@example.com", "<vCard><FN>B</FN></vCard>");
    assert.equal(await db.vcard.get("vc@example.com"), "<vCard><FN>A</FN></vCard>");
    await db.vcard.set("vc@example.com", "<vCard><FN>C</FN></vCard>");
    assert.equal(await db.vcard.get("vc@example.com"), "<vCard><FN>C</FN></vCard>");
    assert.equal(await db.vcard.get("vc2@example.com"), "<vCard><FN>B</FN></vCard>");
  });

  await t.step("private: elements are kept per owner and key, set overwrites", async () => {
    const o = "pv@example.com";
    assert.equal(await db.private.get(o, "storage storage:bookmarks"), null);
    await db.private.set(o, "storage storage:bookmarks", "<storage xmlns='storage:bookmarks'/>");
    await db.private.set(o, "prefs x:y", "<prefs xmlns='x:y'/>");
    await db.private.set("pv2@example.com", "prefs x:y", "<prefs xmlns='x:y'>2</prefs>");
    await db.private.set(o, "prefs x:y", "<prefs xmlns='x:y'>new</prefs>");
    assert.equal(
      await db.private.get(o, "storage storage:bookmarks"),
      "<storage xmlns='storage:bookmarks'/>",
    );
    assert.equal(await db.private.get(o, "prefs x:y"), "<prefs xmlns='x:y'>new</prefs>");
    assert.equal(
      await db.private.get("pv2@example.com", "prefs x:y"),
      "<prefs xmlns='x:y'>2</prefs>",
    );
  });

  await t.step("close refuses further appends", async () => {
    // Runs last: the suite's database is closed here and again (idempotently) in teardown.
    await db.close();
    await assert.rejects(db.archive.append(entry("late@example.com", 1)));
  });
}

Deno.test("stores meet the storage contract on PGlite in memory", async (t) => {
  const db = await openDatabase({ memory: true });
  try {
    await contract(t, db);
  } finally {
    await db.close();
  }
});

const url = Deno.env.get("DATABASE_URL");

Deno.test({
  name: "stores meet the storage contract on PostgreSQL (DATABASE_URL)",
  ignore: !url,
  async fn(t) {
    const schema = freshSchema();
    const progress: string[] = [];
    const db = await openDatabase({ url, schema, onProgress: (m) => progress.push(m) });
    try {
      assert.equal(progress[0], "applying migration 001 accounts");
      assert.equal(db.kind, "postgres");
      await t.step("archive columns are compressed with lz4 where the server has it", async () => {
        const raw = await openPostgres({ url: url!, schema, max: 1 });
        try {
          const [offered] = await raw.query<{ lz4: boolean }>(
            `SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings
             WHERE name = 'default_toast_compression'`,
          );
          // One segment whose peers and XML are big and repetitive enough to be compressed.
          const owner = "toast@example.com";
          const peer = `${"a-long-peer-name".repeat(4)}@example.com`;
          const entries = Array.from({ length: 100 }, (_, i) =>
            entry(owner, i, {
              with: peer,
              xml: `<message from="${peer}/r"><body>${"text ".repeat(20)}${i}</body></message>`,
            }));
          await Promise.all(entries.map((e) => db.archive.append(e)));
          const [row] = await raw.query<{ peers: string | null; xml: string | null }>(
            `SELECT pg_column_compression(withs) AS peers, pg_column_compression(xmls) AS xml
             FROM archive_segment WHERE owner = $1`,
            [owner],
          );
          const method = offered?.lz4 ? "lz4" : "pglz";
          assert.deepEqual(row, { peers: method, xml: method });
          const page = await db.archive.query({ owner, max: 100 });
          assert.deepEqual(page.items, entries);
        } finally {
          await raw.close();
        }
      });
      await contract(t, db);
    } finally {
      await db.close();
      await dropSchema(url!, schema);
    }
  },
});

Deno.test({
  name: "a PostgreSQL database closed as soon as it opens leaves no connection behind",
  ignore: !url,
  async fn() {
    const schema = freshSchema();
    // Its LISTEN connections are still connecting when close() comes.
    const db = await openDatabase({ url, schema });
    await db.close();
    const probe = await openPostgres({ url: url!, max: 1 });
    try {
      await until("the database's LISTEN connections are gone", async () => {
        const [row] = await probe.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1",
          [`parley listen % ${schema}`],
        );
        return row?.n === 0;
      }, 3000);
    } finally {
      await probe.close();
      await dropSchema(url!, schema);
    }
  },
});

Deno.test("PGlite data persists across reopen and migrations run once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-db-" });
  try {
    const first: string[] = [];
    const db1 = await openDatabase({ dataDir: dir, onProgress: (m) => first.push(m) });
    assert.equal(db1.kind, "pglite");
    assert.deepEqual(first.slice(0, 2), [
      "applying migration 001 accounts",
      "applying migration 002 roster",
    ]);
    await db1.accounts.create("persist@example.com", creds("p"));
    await db1.archive.append(entry("persist@example.com", 1));
    await db1.close();
    assert.ok((await Deno.stat(`${dir}/pglite`)).isDirectory);

    const again: string[] = [];
    const db2 = await openDatabase({ dataDir: dir, onProgress: (m) => again.push(m) });
    try {
      assert.deepEqual(again, []);
      assert.deepEqual((await db2.accounts.get("persist@example.com"))?.credentials, creds("p"));
      assert.equal((await db2.archive.query({ owner: "persist@example.com", max: 5 })).count, 1);
    } finally {
      await db2.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
