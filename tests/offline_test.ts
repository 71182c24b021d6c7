import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";
import { until } from "./helpers/until.ts";

const components = ["c2s", "sess-man", "disco", "msgoffline"];

Deno.test("offline messages arrive at the next login in order with delay stamps, exactly once", async () => {
  await using t = await startTestServer({ components });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const stored = async () => (await t.db.offline.usage("bob@localhost")).count;
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    for (let i = 1; i <= 3; i++) {
      await alice.send(
        xml(
          "message",
          { to: "bob@localhost", type: "chat", id: `o${i}` },
          xml("body", {}, `msg ${i}`),
        ),
      );
    }
    // Stored rows appear once the user actor has written them.
    await until("3 stored", async () => (await stored()) === 3);

    const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
    try {
      const got = [];
      for (let i = 1; i <= 3; i++) {
        got.push(await bob.waitFor((s) => s.is("message") && s.attrs.id === `o${i}`));
      }
      assert.deepEqual(got.map((m) => m.getChildText("body")), ["msg 1", "msg 2", "msg 3"]);
      for (const m of got) {
        const delay = m.getChild("delay", "urn:xmpp:delay");
        assert.ok(delay, "delay stamp present");
        assert.equal(delay.attrs.from, "localhost");
        assert.ok(!Number.isNaN(Date.parse(delay.attrs.stamp)));
        assert.match(m.attrs.from, /^alice@localhost\//);
      }
      assert.deepEqual(
        bob.inbox.filter((s) => s.is("message")).map((s) => s.attrs.id),
        [],
        "in order, no extras",
      );
    } finally {
      await bob.stop();
    }
    // The rows go once delivery is written back, which may land after the client has read it.
    await until("rows deleted after delivery", async () => (await stored()) === 0);
    const bob2 = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
    try {
      // A ping round-trip proves the server has processed the login fully.
      await bob2.iq(
        xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })),
      )
        .catch(() => {});
      assert.equal(
        bob2.inbox.filter((s) => s.is("message")).length,
        0,
        "second login gets none again",
      );
    } finally {
      await bob2.stop();
    }
  } finally {
    await alice.stop();
  }
});

// sess-man remembers users whose store it emptied and skips their flush at the next login; a
// message stored since must end that, or it would wait in the store.
Deno.test("a message stored after a login that found nothing is flushed at the next login", async () => {
  await using t = await startTestServer({ components });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const stored = async () => (await t.db.offline.usage("bob@localhost")).count;
  const login = () => connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  // An answered query proves the server has processed the login's presence.
  const query = xml(
    "iq",
    { type: "get", to: "localhost" },
    xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
  );
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    for (let round = 1; round <= 2; round++) {
      // A login with an empty store. From round 2 on, sess-man knows bob has nothing stored (round
      // 1's flush emptied it while bob was online) and skips the flush.
      const quiet = await login();
      await quiet.iq(query);
      await quiet.stop();
      const id = `late${round}`;
      await alice.send(
        xml("message", { to: "bob@localhost", type: "chat", id }, xml("body", {}, id)),
      );
      await until(`${id} stored`, async () => (await stored()) === 1);
      const bob = await login();
      try {
        const got = await bob.waitFor((s) => s.is("message") && s.attrs.id === id);
        assert.ok(got.getChild("delay", "urn:xmpp:delay"), "delivered from the store");
      } finally {
        await bob.stop();
      }
      await until(`${id} deleted`, async () => (await stored()) === 0);
    }
  } finally {
    await alice.stop();
  }
});
