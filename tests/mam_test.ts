// End to end: XEP-0313 with real clients. Every test here needs the per-user delivery actor
// (sess-man's user actors firing message/accepted), which stamps and archives messages.
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";
import { until } from "./helpers/until.ts";

const components = ["c2s", "sess-man", "disco", "msgoffline", "message-archive", "message-carbons"];
const MAM = "urn:xmpp:mam:2";
const RSM = "http://jabber.org/protocol/rsm";
const SID = "urn:xmpp:sid:0";

function login(t: TestServer, username: string, resource?: string): Promise<TestClient> {
  return connectClient({ port: t.port, username, password: `${username}-secret`, resource });
}

function chat(to: string, id: string, body: string): Stanza {
  return xml("message", { to, type: "chat", id }, xml("body", {}, body));
}

let qseq = 0;

/** Runs a MAM query; returns the forwarded messages in arrival order and the `<fin/>`. */
async function query(
  c: TestClient,
  rsm: { max?: number; after?: string; before?: string } = {},
  to?: string,
): Promise<{ results: Stanza[]; ids: string[]; bodies: string[]; fin: Stanza }> {
  const queryid = `q${++qseq}`;
  const set = xml(
    "set",
    { xmlns: RSM },
    rsm.max !== undefined ? xml("max", {}, String(rsm.max)) : null,
    rsm.after !== undefined ? xml("after", {}, rsm.after) : null,
    rsm.before !== undefined ? xml("before", {}, rsm.before) : null,
  );
  const fin = (await c.iq(
    xml("iq", { type: "set", to }, xml("query", { xmlns: MAM, queryid }, set)),
  )) as Stanza;
  // Results come before the iq result on the same stream, so they are all in by now.
  const results = c.inbox.filter((s) => s.getChild("result", MAM)?.attrs.queryid === queryid);
  for (const r of results) c.inbox.splice(c.inbox.indexOf(r), 1);
  const forwarded = results.map((r) =>
    r.getChild("result", MAM)!.getChild("forwarded", "urn:xmpp:forward:0")!.getChild("message")!
  );
  return {
    results,
    ids: results.map((r) => r.getChild("result", MAM)!.attrs.id!),
    bodies: forwarded.map((m) => m.getChildText("body") ?? ""),
    fin: fin.is("fin") ? fin : fin.getChild("fin", MAM)!,
  };
}

// Needs the lead's user actor (message/accepted, offline storage).
Deno.test("MAM returns a conversation with online and offline messages in order, for both sides", async () => {
  await using t = await startTestServer({ components });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const alice = await login(t, "alice");
  let bob = await login(t, "bob");
  try {
    await alice.send(chat("bob@localhost", "m1", "one"));
    const m1 = await bob.waitFor((s) => s.is("message") && s.attrs.id === "m1");
    const sid = m1.getChild("stanza-id", SID);
    assert.ok(sid, "delivered with a stanza-id");
    assert.equal(sid.attrs.by, "bob@localhost");
    await bob.send(chat("alice@localhost", "m2", "two"));
    await alice.waitFor((s) => s.is("message") && s.attrs.id === "m2");
    await bob.stop();

    await alice.send(chat("bob@localhost", "m3", "three"));
    await alice.send(chat("bob@localhost", "m4", "four"));
    await until(
      "offline storage",
      async () => (await t.db.offline.usage("bob@localhost")).count === 2,
    );

    bob = await login(t, "bob");
    const m4 = await bob.waitFor((s) => s.is("message") && s.attrs.id === "m4");
    assert.equal(m4.getChild("stanza-id", SID)?.attrs.by, "bob@localhost", "offline copy stamped");

    const mine = await query(bob);
    assert.deepEqual(mine.bodies, ["one", "two", "three", "four"]);
    assert.equal(mine.ids[0], sid.attrs.id, "the archive id is the delivered stanza-id");
    assert.equal(mine.ids[3], m4.getChild("stanza-id", SID)!.attrs.id);
    assert.equal(mine.fin.attrs.complete, "true");
    assert.equal(mine.fin.getChild("set", RSM)?.getChildText("count"), "4");

    const theirs = await query(alice);
    assert.deepEqual(theirs.bodies, ["one", "two", "three", "four"]);
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

// Needs the lead's user actor (message/accepted).
Deno.test("MAM pages with max and after/before are consistent and cover everything once", async () => {
  await using t = await startTestServer({ components });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    const all = Array.from({ length: 10 }, (_, i) => `msg ${i}`);
    for (const [i, body] of all.entries()) await alice.send(chat("bob@localhost", `p${i}`, body));
    await bob.waitFor((s) => s.is("message") && s.attrs.id === "p9");

    const forward: string[] = [];
    let after: string | undefined;
    for (let page = 0;; page++) {
      assert.ok(page < 5, "paging ends");
      const r = await query(bob, { max: 4, after });
      const set = r.fin.getChild("set", RSM)!;
      assert.equal(set.getChildText("count"), "10");
      assert.equal(set.getChild("first")?.attrs.index, String(page * 4));
      assert.equal(set.getChildText("first"), r.ids[0]);
      assert.equal(set.getChildText("last"), r.ids[r.ids.length - 1]);
      forward.push(...r.bodies);
      after = set.getChildText("last");
      if (r.fin.attrs.complete === "true") break;
    }
    assert.deepEqual(forward, all);

    const pages: string[][] = [];
    let before = "";
    for (let page = 0;; page++) {
      assert.ok(page < 5, "paging ends");
      const r = await query(bob, { max: 4, before });
      pages.unshift(r.bodies);
      before = r.fin.getChild("set", RSM)!.getChildText("first")!;
      if (r.fin.attrs.complete === "true") break;
    }
    assert.deepEqual(pages.map((p) => p.length), [2, 4, 4]);
    assert.deepEqual(pages.flat(), all);

    await assert.rejects(query(bob, { after: "no-such-id" }), (e: { condition?: string }) => {
      assert.equal(e.condition, "item-not-found");
      return true;
    });
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

// Needs the lead's user actor only for bob's archive to be non-empty; the refusal itself does not.
Deno.test("MAM refuses to show a user another user's archive", async () => {
  await using t = await startTestServer({ components });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  await t.addUser("mallory", "mallory-secret");
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  const mallory = await login(t, "mallory");
  try {
    await alice.send(chat("bob@localhost", "s1", "for bob only"));
    await bob.waitFor((s) => s.is("message") && s.attrs.id === "s1");
    await assert.rejects(query(mallory, {}, "bob@localhost"), (e: { condition?: string }) => {
      assert.equal(e.condition, "forbidden");
      return true;
    });
    assert.deepEqual(
      mallory.inbox.filter((s) => s.getChild("result", MAM)),
      [],
      "no result leaked before the error",
    );
    assert.deepEqual((await query(mallory)).bodies, [], "mallory's own archive is empty");
  } finally {
    await alice.stop();
    await bob.stop();
    await mallory.stop();
  }
});
