import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";

const COMPONENTS = ["c2s", "sess-man", "disco", "jabber:iq:roster", "presence-subscription"];
const ROSTER = "jabber:iq:roster";

async function server(): Promise<TestServer> {
  const t = await startTestServer({ components: COMPONENTS });
  for (const u of ["alice", "bob", "carol"]) await t.addUser(u, `${u}-secret`);
  return t;
}

function login(
  t: TestServer,
  username: string,
  more: { resource?: string; presence?: boolean } = {},
) {
  return connectClient({ port: t.port, username, password: `${username}-secret`, ...more });
}

async function rosterGet(c: TestClient, ver?: string): Promise<Stanza> {
  return await c.iq(xml("iq", { type: "get" }, xml("query", { xmlns: ROSTER, ver })));
}

async function itemOf(c: TestClient, contact: string): Promise<Stanza | undefined> {
  const res = await rosterGet(c);
  return res.getChild("query")?.getChildren("item").find((i: Stanza) => i.attrs.jid === contact);
}

const presence = (type: string | undefined, from: string) => (s: Stanza) =>
  s.is("presence") && s.attrs.type === type && s.attrs.from === from;

/** A subscribes to B, B approves and subscribes back, A approves. */
async function befriend(a: TestClient, b: TestClient): Promise<void> {
  const aBare = a.jid.split("/")[0]!;
  const bBare = b.jid.split("/")[0]!;
  await a.send(xml("presence", { to: bBare, type: "subscribe" }));
  await b.waitFor(presence("subscribe", aBare), 5000, "subscribe from A");
  await b.send(xml("presence", { to: aBare, type: "subscribed" }));
  await a.waitFor(presence("subscribed", bBare), 5000, "subscribed from B");
  // Approval makes B's current presence flow to A.
  await a.waitFor(presence(undefined, b.jid), 5000, "B's presence");
  await b.send(xml("presence", { to: aBare, type: "subscribe" }));
  await a.waitFor(presence("subscribe", bBare), 5000, "subscribe from B");
  await a.send(xml("presence", { to: bBare, type: "subscribed" }));
  await b.waitFor(presence("subscribed", aBare), 5000, "subscribed from A");
  await b.waitFor(presence(undefined, a.jid), 5000, "A's presence");
}

Deno.test("two users complete the subscription handshake and both end with subscription both", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await rosterGet(alice);
    await rosterGet(bob);
    await befriend(alice, bob);
    const a = await itemOf(alice, "bob@localhost");
    const b = await itemOf(bob, "alice@localhost");
    assert.equal(a?.attrs.subscription, "both");
    assert.equal(a?.attrs.ask, undefined);
    assert.equal(b?.attrs.subscription, "both");
    assert.equal(b?.attrs.ask, undefined);
    // Presence updates now flow both ways.
    await alice.send(xml("presence", {}, xml("show", {}, "away")));
    const away = await bob.waitFor(presence(undefined, alice.jid), 5000, "A's update");
    assert.equal(away.getChildText("show"), "away");
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("a contact that stops its client goes unavailable for the other", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await rosterGet(alice);
    await rosterGet(bob);
    await befriend(alice, bob);
    await bob.stop();
    await alice.waitFor(presence("unavailable", bob.jid), 5000, "B unavailable");
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("a contact whose TCP connection drops without </stream:stream> goes unavailable", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await rosterGet(alice);
    await rosterGet(bob);
    await befriend(alice, bob);
    const wrapper = (bob.xmpp as unknown as { socket: { socket: { destroy(): void } } }).socket;
    wrapper.socket.destroy();
    await alice.waitFor(presence("unavailable", bob.jid), 5000, "B unavailable after drop");
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("a new resource's initial presence probes contacts and gets their presence", async () => {
  await using t = await server();
  const alice = await login(t, "alice", { resource: "one" });
  const bob = await login(t, "bob");
  const carol = await login(t, "carol");
  let alice2: TestClient | undefined;
  try {
    await rosterGet(alice);
    await rosterGet(bob);
    await befriend(alice, bob);
    alice2 = await login(t, "alice", { resource: "two" });
    await alice2.waitFor(presence(undefined, bob.jid), 5000, "B's presence answering the probe");
    // Her first resource sees the second come online; Bob, a subscriber, does too.
    await alice.waitFor(presence(undefined, alice2.jid), 5000, "own second resource");
    await bob.waitFor(presence(undefined, alice2.jid), 5000, "A's second resource");
    // Carol has no subscription: a probe from her gets nothing, and she hears no broadcast.
    await carol.send(xml("presence", { to: "alice@localhost", type: "probe" }));
    await alice.send(xml("presence", {}, xml("status", {}, "busy")));
    await bob.waitFor((s) => s.is("presence") && s.getChildText("status") === "busy");
    assert.equal(carol.inbox.filter((s) => s.is("presence")).length, 1, "only her own presence");
  } finally {
    await alice.stop();
    await alice2?.stop();
    await bob.stop();
    await carol.stop();
  }
});

Deno.test("directed presence reaches a non-contact, and so does unavailable on disconnect", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  const carol = await login(t, "carol");
  try {
    await alice.send(xml("presence", { to: "carol@localhost" }, xml("status", {}, "hi")));
    const got = await carol.waitFor(presence(undefined, alice.jid), 5000, "directed presence");
    assert.equal(got.getChildText("status"), "hi");
    await alice.stop();
    await carol.waitFor(presence("unavailable", alice.jid), 5000, "unavailable to directed");
  } finally {
    await alice.stop();
    await carol.stop();
  }
});

Deno.test("roster get with the current ver returns an empty result, an older ver the roster", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  try {
    const first = await rosterGet(alice);
    const ver = first.getChild("query")?.attrs.ver;
    assert.equal(typeof ver, "string");
    const same = await rosterGet(alice, ver);
    assert.equal(same.attrs.type, "result");
    assert.equal(same.getChild("query"), undefined, "unchanged: empty result");
    await alice.iq(
      xml(
        "iq",
        { type: "set" },
        xml("query", { xmlns: ROSTER }, xml("item", { jid: "carol@localhost" })),
      ),
    );
    const changed = await rosterGet(alice, ver);
    const query = changed.getChild("query");
    assert.ok(query, "changed: the full roster");
    assert.notEqual(query.attrs.ver, ver);
    assert.deepEqual(query.getChildren("item").map((i: Stanza) => i.attrs.jid), [
      "carol@localhost",
    ]);
  } finally {
    await alice.stop();
  }
});

Deno.test("the post-auth stream features announce roster versioning", async () => {
  await using t = await server();
  const ctx = { secure: true, authenticated: true, session: null };
  const post = t.server.core.features.build("post-auth", ctx);
  assert.ok(post.some((f) => f.is("ver", "urn:xmpp:features:rosterver")));
  const pre = t.server.core.features.build("pre-auth", { ...ctx, authenticated: false });
  assert.ok(!pre.some((f) => f.is("ver", "urn:xmpp:features:rosterver")));
});

Deno.test("a roster set is pushed to the user's other interested resource", async () => {
  await using t = await server();
  const one = await login(t, "alice", { resource: "one" });
  const two = await login(t, "alice", { resource: "two" });
  const three = await login(t, "alice", { resource: "three" });
  try {
    await rosterGet(one);
    await rosterGet(two);
    await one.iq(
      xml(
        "iq",
        { type: "set" },
        xml(
          "query",
          { xmlns: ROSTER },
          xml("item", { jid: "carol@localhost", name: "Carol" }, xml("group", {}, "Friends")),
        ),
      ),
    );
    const isPush = (s: Stanza) =>
      s.is("iq") && s.attrs.type === "set" && s.getChild("query", ROSTER) !== undefined;
    const push = await two.waitFor(isPush, 5000, "roster push");
    const item = push.getChild("query").getChild("item");
    assert.equal(item.attrs.jid, "carol@localhost");
    assert.equal(item.attrs.name, "Carol");
    assert.equal(item.attrs.subscription, "none");
    assert.equal(item.getChildText("group"), "Friends");
    assert.ok(push.getChild("query").attrs.ver);
    await one.waitFor(isPush, 5000, "push to the resource that made the change");
    // The third resource never asked for the roster: no push for it.
    await rosterGet(two);
    assert.equal(three.inbox.filter(isPush).length, 0);
  } finally {
    await one.stop();
    await two.stop();
    await three.stop();
  }
});

Deno.test("a subscribe to an offline user is delivered at their next login", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  let bob: TestClient | undefined;
  try {
    await rosterGet(alice);
    await alice.send(xml("presence", { to: "bob@localhost", type: "subscribe" }));
    const push = await alice.waitFor((s) => s.is("iq") && s.attrs.type === "set");
    assert.equal(push.getChild("query").getChild("item").attrs.ask, "subscribe");
    bob = await login(t, "bob");
    await bob.waitFor(presence("subscribe", "alice@localhost"), 5000, "stored subscribe");
    // The request is not yet an item of Bob's roster.
    assert.equal(await itemOf(bob, "alice@localhost"), undefined);
    await bob.send(xml("presence", { to: "alice@localhost", type: "subscribed" }));
    await alice.waitFor(presence("subscribed", "bob@localhost"));
    assert.equal((await itemOf(alice, "bob@localhost"))?.attrs.subscription, "to");
    assert.equal((await itemOf(bob, "alice@localhost"))?.attrs.subscription, "from");
  } finally {
    await alice.stop();
    await bob?.stop();
  }
});

Deno.test("roster remove cancels both subscriptions and pushes the removal", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await rosterGet(alice);
    await rosterGet(bob);
    await befriend(alice, bob);
    await alice.iq(
      xml(
        "iq",
        { type: "set" },
        xml(
          "query",
          { xmlns: ROSTER },
          xml("item", { jid: "bob@localhost", subscription: "remove" }),
        ),
      ),
    );
    await alice.waitFor(
      (s) => s.is("iq") && s.getChild("query")?.getChild("item")?.attrs.subscription === "remove",
      5000,
      "removal push",
    );
    assert.equal(await itemOf(alice, "bob@localhost"), undefined);
    await bob.waitFor(presence("unavailable", alice.jid), 5000, "A unavailable to B");
    await bob.waitFor(presence("unsubscribe", "alice@localhost"));
    await bob.waitFor(presence("unsubscribed", "alice@localhost"));
    const b = await itemOf(bob, "alice@localhost");
    assert.equal(b?.attrs.subscription, "none");
    await assert.rejects(
      alice.iq(
        xml(
          "iq",
          { type: "set" },
          xml(
            "query",
            { xmlns: ROSTER },
            xml("item", { jid: "bob@localhost", subscription: "remove" }),
          ),
        ),
      ),
      (e: { condition?: string }) => e.condition === "item-not-found",
    );
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("invalid roster sets get the RFC 6121 errors", async () => {
  await using t = await server();
  const alice = await login(t, "alice");
  try {
    const set = (...items: Stanza[]) =>
      alice.iq(xml("iq", { type: "set" }, xml("query", { xmlns: ROSTER }, ...items)));
    const fails = (p: Promise<unknown>, condition: string) =>
      assert.rejects(p, (e: { condition?: string }) => {
        assert.equal(e.condition, condition);
        return true;
      });
    await fails(
      set(xml("item", { jid: "bob@localhost" }), xml("item", { jid: "carol@localhost" })),
      "bad-request",
    );
    await fails(set(xml("item", { jid: "bob@localhost", subscription: "both" })), "not-allowed");
    await fails(set(xml("item", { jid: "bob@@localhost" })), "jid-malformed");
    await fails(set(xml("item", {})), "bad-request");
    await fails(
      set(xml("item", { jid: "bob@localhost" }, xml("group", {}, "A"), xml("group", {}, "A"))),
      "bad-request",
    );
    await fails(set(xml("item", { jid: "bob@localhost" }, xml("group", {}))), "not-acceptable");
    assert.equal((await rosterGet(alice)).getChild("query").getChildren("item").length, 0);
  } finally {
    await alice.stop();
  }
});
