import assert from "node:assert/strict";
import { type Element, x } from "../../../xml/element.ts";
import { type FakeSession, pluginHarness } from "../../../tests/helpers/plugin_harness.ts";
import type { Core } from "../../../server/core.ts";
import chatLog, { type ChatLog, type ChatLogEntry } from "./mod.ts";

/** What the c2s stream does after writing a stanza to a session. */
const written = (core: Core, session: FakeSession, stanza: Element) =>
  core.hooks.fireInterceptors("interceptor/outgoing/after", {
    stanza,
    session,
    incoming: false,
    processed: true,
  });

const chat = (from: string, to: string, body: string) =>
  x("message", { from, to, type: "chat" }, x("body", {}, body));

Deno.test("chat-log keeps delivered chat messages in memory when no path is set", async () => {
  const h = await pluginHarness([chatLog]);
  const bob = h.session("bob@localhost/desk");
  await written(h.core, bob, chat("alice@localhost/phone", "bob@localhost", "hi bob"));
  const { entries } = h.core.service<ChatLog>("chat-log");
  assert.equal(entries.length, 1);
  const [e] = entries;
  assert.equal(e?.from, "alice@localhost/phone");
  assert.equal(e?.to, "bob@localhost/desk", "to is the session it was written to");
  assert.equal(e?.body, "hi bob");
  assert.ok(Math.abs(Date.parse(e?.time ?? "") - Date.now()) < 5000);
  await h.stop();
});

Deno.test("chat-log ignores what is not a chat message with a body", async () => {
  const h = await pluginHarness([chatLog]);
  const bob = h.session("bob@localhost/desk");
  const from = "alice@localhost/phone";
  await written(h.core, bob, x("message", { from, type: "chat" }, x("composing")));
  await written(h.core, bob, x("message", { from, type: "groupchat" }, x("body", {}, "room")));
  await written(h.core, bob, x("message", { from, type: "error" }, x("body", {}, "bounced")));
  await written(h.core, bob, x("presence", { from }));
  await written(h.core, bob, x("iq", { from, type: "result", id: "1" }));
  assert.equal(h.core.service<ChatLog>("chat-log").entries.length, 0);
  await h.stop();
});

Deno.test("chat-log appends JSON lines to the file at path, in order", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/chat.jsonl`;
  try {
    const h = await pluginHarness([chatLog], { sections: { "chat-log": { path } } });
    const bob = h.session("bob@localhost/desk");
    const alice = h.session("alice@localhost/phone");
    await written(h.core, bob, chat("alice@localhost/phone", "bob@localhost/desk", "one"));
    await written(h.core, alice, chat("bob@localhost/desk", "alice@localhost/phone", "two"));
    assert.throws(() => h.core.service("chat-log"), /not available/);
    await h.stop(); // waits for pending writes
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    const entries = lines.map((l) => JSON.parse(l) as ChatLogEntry);
    assert.deepEqual(entries.map((e) => [e.from, e.to, e.body]), [
      ["alice@localhost/phone", "bob@localhost/desk", "one"],
      ["bob@localhost/desk", "alice@localhost/phone", "two"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
