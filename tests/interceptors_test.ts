/**
 * Openfire-style interceptors, end to end with real clients: each test adds its own small plugin
 * (StartOptions.plugins) and enables it by name in `components`.
 */
import assert from "node:assert/strict";
import { DEFAULT_COMPONENTS } from "../config/mod.ts";
import { type AnyPlugin, definePlugin, type PluginApi } from "../plugins/registry.ts";
import { StanzaError } from "../protocol/errors.ts";
import type { ChatLog } from "../plugins/examples/chat_log/mod.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";

function testPlugin(
  name: string,
  setup: (api: PluginApi<Record<string, never>>) => void,
): AnyPlugin {
  return definePlugin({ name, description: "test interceptor", defaults: {}, setup });
}

async function serverWith(plugins: AnyPlugin[], enable: string[] = []): Promise<TestServer> {
  const names = [...plugins.map((p) => p.name), ...enable];
  const t = await startTestServer({ components: [...DEFAULT_COMPONENTS, ...names] }, { plugins });
  for (const u of ["alice", "bob", "carol"]) await t.addUser(u, `${u}-secret`);
  return t;
}

const login = (t: TestServer, username: string) =>
  connectClient({ port: t.port, username, password: `${username}-secret` });

const chat = (to: string, id: string, body: string) =>
  xml("message", { to, id, type: "chat" }, xml("body", {}, body));

const withId = (id: string) => (s: Stanza) => s.is("message") && s.attrs.id === id;

async function stopAll(...clients: TestClient[]) {
  for (const c of clients) await c.stop();
}

Deno.test("an incoming/before interceptor rejects a message: the sender gets its StanzaError, the recipient nothing", async () => {
  const filter = testPlugin("word-filter", (api) => {
    api.hook("interceptor/incoming/before", ({ stanza }) => {
      if (stanza.is("message") && /\bcabbage\b/i.test(stanza.getChildText("body") ?? "")) {
        throw new StanzaError("policy-violation", "no vegetables here");
      }
    });
  });
  await using t = await serverWith([filter]);
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await alice.send(chat(bob.jid, "bad", "I like Cabbage"));
    const error = await alice.waitFor(withId("bad"));
    assert.equal(error.attrs.type, "error");
    const condition = error.getChild("error")?.getChildElements()[0];
    assert.equal(condition?.name, "policy-violation");
    assert.equal(condition?.attrs.xmlns, "urn:ietf:params:xml:ns:xmpp-stanzas");
    assert.equal(error.getChild("error")?.getChildText("text"), "no vegetables here");

    // Stanzas of one session are processed in order: once "good" arrives, "bad" never will.
    await alice.send(chat(bob.jid, "good", "I like carrots"));
    assert.equal((await bob.waitFor(withId("good"))).getChildText("body"), "I like carrots");
    assert.equal(bob.inbox.filter(withId("bad")).length, 0);
  } finally {
    await stopAll(alice, bob);
  }
});

Deno.test("an interceptor that throws a plain Error is logged and skipped: the message is delivered, the server stays up", async () => {
  let calls = 0;
  const broken = testPlugin("broken-interceptor", (api) => {
    const crash = () => {
      calls++;
      throw new Error("interceptor bug (expected in this test)");
    };
    api.hook("interceptor/incoming/before", crash);
    api.hook("interceptor/outgoing/before", crash);
  });
  await using t = await serverWith([broken]);
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await alice.send(chat(bob.jid, "m1", "still here?"));
    assert.equal((await bob.waitFor(withId("m1"))).getChildText("body"), "still here?");
    assert.ok(calls >= 2);
    assert.equal(alice.inbox.filter((s) => s.attrs.type === "error").length, 0);
    // A new login and an iq round trip still work.
    const carol = await login(t, "carol");
    await carol.iq(
      xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })),
    );
    await carol.stop();
  } finally {
    await stopAll(alice, bob);
  }
});

Deno.test("an outgoing/before interceptor keeps a message from one recipient's session only", async () => {
  const guard = testPlugin("carol-guard", (api) => {
    api.hook("interceptor/outgoing/before", ({ stanza, session }) => {
      if (
        stanza.is("message") && session?.jid?.local === "carol" &&
        stanza.attrs.id?.startsWith("secret")
      ) {
        throw new StanzaError("not-allowed");
      }
    });
  });
  await using t = await serverWith([guard]);
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  const carol = await login(t, "carol");
  try {
    await alice.send(chat(bob.jid, "secret-b", "the plan"));
    await alice.send(chat(carol.jid, "secret-c", "the plan"));
    await alice.send(chat(carol.jid, "hello-c", "hello carol"));
    assert.equal((await bob.waitFor(withId("secret-b"))).getChildText("body"), "the plan");
    // Writes to one session are ordered: once "hello-c" is in, "secret-c" was dropped.
    await carol.waitFor(withId("hello-c"));
    assert.equal(carol.inbox.filter(withId("secret-c")).length, 0);
  } finally {
    await stopAll(alice, bob, carol);
  }
});

Deno.test("all four interception points see one message: incoming/before first, each before ahead of its after", async () => {
  const calls: string[] = [];
  const recorder = testPlugin("recorder", (api) => {
    for (
      const point of [
        "incoming/before",
        "incoming/after",
        "outgoing/before",
        "outgoing/after",
      ] as const
    ) {
      api.hook(`interceptor/${point}`, ({ stanza, session, incoming, processed }) => {
        if (stanza.attrs.id !== "traced") return;
        assert.equal(incoming, point.startsWith("incoming"));
        assert.equal(processed, point.endsWith("after"));
        calls.push(`${point} ${session?.jid?.local}`);
      });
    }
  });
  await using t = await serverWith([recorder]);
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await alice.send(chat(bob.jid, "traced", "follow me"));
    await bob.waitFor(withId("traced"));
    for (let i = 0; calls.length < 4 && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
    // The message is read from alice's stream and routed, then written to bob's stream. Writing
    // runs on bob's session's own queue, so incoming/after ("routed") need not wait for it.
    assert.equal(calls[0], "incoming/before alice");
    assert.deepEqual([...calls].sort(), [
      "incoming/after alice",
      "incoming/before alice",
      "outgoing/after bob",
      "outgoing/before bob",
    ]);
    assert.ok(calls.indexOf("outgoing/before bob") < calls.indexOf("outgoing/after bob"));
  } finally {
    await stopAll(alice, bob);
  }
});

Deno.test("the chat-log example records chat messages delivered between two clients' full JIDs", async () => {
  await using t = await serverWith([], ["chat-log"]);
  const alice = await login(t, "alice");
  const bob = await login(t, "bob");
  try {
    await alice.send(chat(bob.jid, "a1", "hi bob"));
    await bob.waitFor(withId("a1"));
    await bob.send(chat(alice.jid, "b1", "hi alice"));
    await alice.waitFor(withId("b1"));
    await bob.send(
      xml(
        "message",
        { to: alice.jid, type: "chat", id: "b2" },
        xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" }),
      ),
    );
    await alice.waitFor(withId("b2"));

    const { entries } = t.server.core.service<ChatLog>("chat-log");
    assert.deepEqual(entries.map((e) => [e.from, e.to, e.body]), [
      [alice.jid, bob.jid, "hi bob"],
      [bob.jid, alice.jid, "hi alice"],
    ]);
    for (const e of entries) assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 60_000);
  } finally {
    await stopAll(alice, bob);
  }
});
