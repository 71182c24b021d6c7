// End to end: XEP-0280 with real clients. Received carbons need the per-user delivery actor
// (sess-man's user actors firing message/delivered); sent carbons only need the router.
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";

const components = ["c2s", "sess-man", "disco", "msgoffline", "message-archive", "message-carbons"];
const CARBONS = "urn:xmpp:carbons:2";
const FORWARD = "urn:xmpp:forward:0";

function login(t: TestServer, username: string, resource: string): Promise<TestClient> {
  return connectClient({ port: t.port, username, password: `${username}-secret`, resource });
}

async function enableCarbons(c: TestClient): Promise<void> {
  await c.iq(xml("iq", { type: "set" }, xml("enable", { xmlns: CARBONS })));
}

function chat(to: string, id: string, body: string, ...extra: Stanza[]): Stanza {
  return xml("message", { to, type: "chat", id }, xml("body", {}, body), ...extra);
}

/** The message inside a carbon of this kind with this id, if the stanza is one. */
function carried(s: Stanza, kind: "sent" | "received", id: string): Stanza | undefined {
  const inner = s.getChild(kind, CARBONS)?.getChild("forwarded", FORWARD)?.getChild("message");
  return inner?.attrs.id === id ? inner : undefined;
}

async function twoDevicesAndAPeer(t: TestServer) {
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const phone = await login(t, "alice", "phone");
  const laptop = await login(t, "alice", "laptop");
  const bob = await login(t, "bob", "pc");
  await enableCarbons(phone);
  await enableCarbons(laptop);
  return { phone, laptop, bob, stop: () => Promise.all([phone, laptop, bob].map((c) => c.stop())) };
}

// Needs the lead's user actor (message/delivered).
Deno.test("carbons: a message received on one resource is copied to the other enabled resource", async () => {
  await using t = await startTestServer({ components });
  const { phone, laptop, bob, stop } = await twoDevicesAndAPeer(t);
  try {
    await bob.send(chat("alice@localhost/phone", "r1", "to your phone"));
    await phone.waitFor((s) => s.is("message") && s.attrs.id === "r1");
    const copy = await laptop.waitFor((s) => carried(s, "received", "r1") !== undefined);
    assert.equal(copy.attrs.from, "alice@localhost");
    assert.equal(copy.attrs.to, "alice@localhost/laptop");
    const inner = carried(copy, "received", "r1")!;
    assert.equal(inner.attrs.from, "bob@localhost/pc");
    assert.equal(inner.getChildText("body"), "to your phone");
    assert.equal(
      phone.inbox.filter((s) => s.getChild("received", CARBONS)).length,
      0,
      "the resource that got the message gets no carbon of it",
    );
  } finally {
    await stop();
  }
});

// Needs the lead's user actor only for the delivery to bob; the sent carbon itself does not.
Deno.test("carbons: a message sent from one resource is copied to the other enabled resource", async () => {
  await using t = await startTestServer({ components });
  const { phone, laptop, bob, stop } = await twoDevicesAndAPeer(t);
  try {
    await phone.send(chat("bob@localhost", "s1", "from my phone"));
    const copy = await laptop.waitFor((s) => carried(s, "sent", "s1") !== undefined);
    assert.equal(copy.attrs.from, "alice@localhost");
    const inner = carried(copy, "sent", "s1")!;
    assert.equal(inner.attrs.from, "alice@localhost/phone");
    assert.equal(inner.attrs.to, "bob@localhost");
    assert.equal(inner.getChildText("body"), "from my phone");
    await bob.waitFor((s) => s.is("message") && s.attrs.id === "s1");
    assert.equal(phone.inbox.filter((s) => s.getChild("sent", CARBONS)).length, 0);
  } finally {
    await stop();
  }
});

// Needs the lead's user actor (message/delivered) for the received half.
Deno.test("carbons: <private/> messages are not copied, either way", async () => {
  await using t = await startTestServer({ components });
  const { phone, laptop, bob, stop } = await twoDevicesAndAPeer(t);
  const priv =
    () => [xml("private", { xmlns: CARBONS }), xml("no-copy", { xmlns: "urn:xmpp:hints" })];
  try {
    await phone.send(chat("bob@localhost", "p1", "secret out", ...priv()));
    await bob.send(chat("alice@localhost/phone", "p2", "secret in", ...priv()));
    await phone.waitFor((s) => s.is("message") && s.attrs.id === "p2");
    // Ordinary messages after them: once their carbons are in, the private ones would be too.
    await phone.send(chat("bob@localhost", "n1", "plain out"));
    await bob.send(chat("alice@localhost/phone", "n2", "plain in"));
    await laptop.waitFor((s) => carried(s, "sent", "n1") !== undefined);
    await laptop.waitFor((s) => carried(s, "received", "n2") !== undefined);
    assert.deepEqual(
      laptop.inbox.filter((s) => carried(s, "sent", "p1") || carried(s, "received", "p2")),
      [],
    );
  } finally {
    await stop();
  }
});
