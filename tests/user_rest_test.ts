import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, type TestClient, xml } from "./helpers/xmpp_client.ts";
import type { UserManager } from "../plugins/sess_man/mod.ts";
import { until } from "./helpers/until.ts";

// Idle online users keep no running actor (UserManager #resting); every event must find them in
// the state they were left in. Proven through the wire: delivery while at rest, a presence change,
// a second resource, and going offline (stored, then flushed with a delay stamp).

const components = [
  "c2s",
  "ping",
  "sess-man",
  "disco",
  "jabber:iq:roster",
  "presence-subscription",
  "msgoffline",
];

const chat = (to: string, id: string) =>
  xml("message", { to, type: "chat", id }, xml("body", {}, id));

// A session's stanzas are handled in order: once a ping is answered, what it sent before is done.
const settled = (c: TestClient) =>
  c.iq(xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })));

const received = (c: TestClient, id: string) =>
  c.waitFor((s) => s.is("message") && s.attrs.id === id, 5000, id);

Deno.test("an idle online user rests without an actor and wakes in the state it left", async () => {
  await using t = await startTestServer({ components });
  const users = t.server.core.service<UserManager>("users");
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  let bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  try {
    await until("both users at rest", () => users.resting === 2);
    assert.equal(users.size, 2);
    assert.equal(users.systems, 0, "resting actors gave their XState system back");

    await alice.send(chat("bob@localhost", "r1"));
    await received(bob, "r1");
    assert.equal(users.resting, 2, "a live message needs no actor");

    // A presence change wakes the actor, which takes it and rests again.
    await bob.send(xml("presence", {}, xml("priority", {}, "5")));
    await settled(bob);
    await until("bob at rest after presence", () => users.resting === 2);
    await alice.send(chat("bob@localhost", "r2"));
    await received(bob, "r2");

    // A second resource with a higher priority gets bare-JID chat (RFC 6121 §8.5.2.1.1).
    const bob2 = await connectClient({
      port: t.port,
      username: "bob",
      password: "bob-secret",
      resource: "second",
    });
    await bob2.send(xml("presence", {}, xml("priority", {}, "9")));
    await settled(bob2);
    await until("bob at rest with two resources", () => users.resting === 2);
    await alice.send(chat("bob@localhost", "r3"));
    await received(bob2, "r3");
    await bob2.stop();

    // Going offline wakes the actor: messages are then stored, and flushed at the next login.
    await bob.stop();
    await until("bob offline", () => users.resting === 1);
    await alice.send(chat("bob@localhost", "r4"));
    for (let i = 0; i < 200 && (await t.db.offline.usage("bob@localhost")).count < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await t.db.offline.usage("bob@localhost")).count, 1);
    bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
    const stored = await received(bob, "r4");
    assert.ok(stored.getChild("delay", "urn:xmpp:delay"), "stored message carries its delay");
    await until("bob at rest again after the flush", () => users.resting === 2);
  } finally {
    await alice.stop();
    await bob.stop();
  }
});
