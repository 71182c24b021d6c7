/**
 * RFC 6121 §8.5.2 with real clients: one user on several resources with different presence
 * priorities. Messages to the bare JID go by priority; a negative priority opts out of them.
 *
 * "Not received" is proven without sleeping: after the message under test, the sender sends a
 * marker to each resource's full JID. One user's messages are decided in order, so a resource
 * that has its marker would already have had the earlier message.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";
import type { SessionRegistry } from "../plugins/sess_man/mod.ts";
import { until } from "./helpers/until.ts";

const BOB = "bob@localhost";

async function setup(components = ["c2s", "sess-man", "msgoffline", "ping"]) {
  const t = await startTestServer({ components });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  return t;
}

async function roundTrip(c: TestClient): Promise<void> {
  await c.iq(xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
}

/** bob on `resource`, available with `priority`, known to the server when this resolves. */
async function bobOn(t: TestServer, resource: string, priority: number): Promise<TestClient> {
  const c = await connectClient({
    port: t.port,
    username: "bob",
    password: "bob-secret",
    resource,
    presence: false,
  });
  await c.send(xml("presence", {}, xml("priority", {}, String(priority))));
  await roundTrip(c);
  return c;
}

function alice(t: TestServer): Promise<TestClient> {
  return connectClient({ port: t.port, username: "alice", password: "alice-secret" });
}

function message(to: string, id: string, type = "chat"): Stanza {
  return xml("message", { to, type, id }, xml("body", {}, id));
}

const isMessage = (id: string) => (s: Stanza) => s.is("message") && s.attrs.id === id;

/** Sends a marker to each resource's full JID and returns the ids of messages received before it. */
async function receivedBefore(
  sender: TestClient,
  clients: Record<string, TestClient>,
  marker: string,
): Promise<Record<string, string[]>> {
  for (const resource of Object.keys(clients)) {
    await sender.send(message(`${BOB}/${resource}`, `${marker}-${resource}`));
  }
  const out: Record<string, string[]> = {};
  for (const [resource, c] of Object.entries(clients)) {
    await c.waitFor(isMessage(`${marker}-${resource}`), 5000, `marker at ${resource}`);
    out[resource] = c.inbox.filter((s) => s.is("message")).map((s) => s.attrs.id);
    c.inbox.length = 0;
  }
  return out;
}

function sessionCount(t: TestServer): number {
  return t.server.core.service<SessionRegistry>("sessions").ofUser(BOB).length;
}

Deno.test("a bare-JID chat goes only to the highest priority; when it leaves, to the next", async () => {
  await using t = await setup();
  const top = await bobOn(t, "top", 5);
  const mid = await bobOn(t, "mid", 1);
  const neg = await bobOn(t, "neg", -1);
  const a = await alice(t);
  try {
    await a.send(message(BOB, "c1"));
    assert.deepEqual(await receivedBefore(a, { top, mid, neg }, "k1"), {
      top: ["c1"],
      mid: [],
      neg: [],
    });

    await top.stop();
    await until("the server has closed top", () => sessionCount(t) === 2);
    await a.send(message(BOB, "c2"));
    assert.deepEqual(await receivedBefore(a, { mid, neg }, "k2"), { mid: ["c2"], neg: [] });
  } finally {
    await Promise.all([a, top, mid, neg].map((c) => c.stop()));
  }
});

Deno.test("unavailable presence takes a resource out of bare-JID delivery at once", async () => {
  await using t = await setup();
  const top = await bobOn(t, "top", 5);
  const mid = await bobOn(t, "mid", 1);
  const a = await alice(t);
  try {
    await top.send(xml("presence", { type: "unavailable" }));
    await roundTrip(top);
    await a.send(message(BOB, "c1"));
    assert.deepEqual(await receivedBefore(a, { top, mid }, "k"), { top: [], mid: ["c1"] });
  } finally {
    await Promise.all([a, top, mid].map((c) => c.stop()));
  }
});

Deno.test("resources tied at the highest priority all receive a bare-JID chat", async () => {
  await using t = await setup();
  const one = await bobOn(t, "one", 3);
  const two = await bobOn(t, "two", 3);
  const low = await bobOn(t, "low", 0);
  const a = await alice(t);
  try {
    await a.send(message(BOB, "c1"));
    assert.deepEqual(await receivedBefore(a, { one, two, low }, "k"), {
      one: ["c1"],
      two: ["c1"],
      low: [],
    });
  } finally {
    await Promise.all([a, one, two, low].map((c) => c.stop()));
  }
});

Deno.test("headline to the bare JID goes to every non-negative resource", async () => {
  await using t = await setup();
  const top = await bobOn(t, "top", 5);
  const zero = await bobOn(t, "zero", 0);
  const neg = await bobOn(t, "neg", -1);
  const a = await alice(t);
  try {
    await a.send(message(BOB, "h1", "headline"));
    assert.deepEqual(await receivedBefore(a, { top, zero, neg }, "k"), {
      top: ["h1"],
      zero: ["h1"],
      neg: [],
    });
  } finally {
    await Promise.all([a, top, zero, neg].map((c) => c.stop()));
  }
});

Deno.test("a full-JID message reaches a negative-priority resource", async () => {
  await using t = await setup();
  const top = await bobOn(t, "top", 5);
  const neg = await bobOn(t, "neg", -1);
  const a = await alice(t);
  try {
    await a.send(message(`${BOB}/neg`, "f1"));
    const got = await neg.waitFor(isMessage("f1"), 5000, "f1 at neg");
    assert.equal(got.getChildText("body"), "f1");
    assert.deepEqual(await receivedBefore(a, { top, neg }, "k"), { top: [], neg: [] });
  } finally {
    await Promise.all([a, top, neg].map((c) => c.stop()));
  }
});

Deno.test("a negative-priority resource alone never gets bare-JID chat: it is stored offline", async () => {
  await using t = await setup();
  const neg = await bobOn(t, "neg", -1);
  const a = await alice(t);
  try {
    await a.send(message(BOB, "s1"));
    await until("s1 is stored", async () => (await t.db.offline.usage(BOB)).count === 1);
    assert.deepEqual(await receivedBefore(a, { neg }, "k"), { neg: [] });
    assert.deepEqual(a.inbox.filter((s) => s.attrs.type === "error"), [], "no error: stored");

    // A resource that opts in receives what was stored.
    const desk = await bobOn(t, "desk", 0);
    try {
      const got = await desk.waitFor(isMessage("s1"), 5000, "s1 at desk");
      assert.ok(got.getChild("delay", "urn:xmpp:delay"), "delivered from storage");
      assert.deepEqual(await receivedBefore(a, { neg }, "k2"), { neg: [] });
    } finally {
      await desk.stop();
    }
  } finally {
    await Promise.all([a, neg].map((c) => c.stop()));
  }
});

Deno.test("without msgoffline a bare-JID chat to only a negative resource bounces", async () => {
  await using t = await setup(["c2s", "sess-man", "ping"]);
  const neg = await bobOn(t, "neg", -1);
  const a = await alice(t);
  try {
    await a.send(message(BOB, "s1"));
    const error = await a.waitFor(
      (s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === "s1",
      5000,
      "bounce",
    );
    assert.ok(
      error.getChild("error")?.getChild(
        "service-unavailable",
        "urn:ietf:params:xml:ns:xmpp-stanzas",
      ),
    );
    assert.deepEqual(await receivedBefore(a, { neg }, "k"), { neg: [] });
  } finally {
    await Promise.all([a, neg].map((c) => c.stop()));
  }
});
