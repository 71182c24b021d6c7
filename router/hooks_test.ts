import assert from "node:assert/strict";
import { Hooks, type StanzaEvent } from "./hooks.ts";
import { StanzaError } from "../protocol/errors.ts";
import { x } from "../xml/element.ts";
import { parseJid } from "../jid/mod.ts";

const ev = (): StanzaEvent => ({
  stanza: x("message", { to: "b@example.org" }),
  kind: "message",
  route: "bare",
  from: parseJid("a@example.org/r"),
  to: parseJid("b@example.org"),
  origin: null,
});

Deno.test("a stanza chain runs by priority and stops at the first handler that takes it", async (t) => {
  await t.step("synchronous handlers answer synchronously", () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.on("message/bare", () => void ran.push("low"), -10);
    hooks.on("message/bare", () => (ran.push("high"), false), 10);
    assert.equal(hooks.fireStanza("message/bare", ev()), false);
    assert.deepEqual(ran, ["high", "low"]);
    hooks.on("message/bare", () => (ran.push("taker"), true), 0);
    ran.length = 0;
    assert.equal(hooks.fireStanza("message/bare", ev()), true);
    assert.deepEqual(ran, ["high", "taker"]);
    assert.equal(hooks.fireStanza("presence/bare", ev()), false, "an empty chain");
  });

  await t.step("after a handler returns a promise the rest runs once it settles", async () => {
    const hooks = new Hooks();
    const ran: string[] = [];
    hooks.on("message/bare", () => Promise.resolve(ran.push("async") < 0), 10);
    hooks.on("message/bare", () => (ran.push("sync"), false), 5);
    hooks.on("message/bare", () => Promise.resolve(ran.push("async taker") > 0), 0);
    hooks.on("message/bare", () => (ran.push("never"), true), -5);
    const r = hooks.fireStanza("message/bare", ev());
    assert.ok(r instanceof Promise);
    assert.deepEqual(ran, ["async"], "nothing after the pending handler has run yet");
    assert.equal(await r, true);
    assert.deepEqual(ran, ["async", "sync", "async taker"]);
  });
});

Deno.test("a failing stanza handler is skipped; a StanzaError is the chain's answer", async (t) => {
  await t.step("a plain Error, thrown or rejected, does not stop the chain", async () => {
    const hooks = new Hooks();
    hooks.on("message/bare", () => {
      throw new Error("bug (expected in this test)");
    }, 10);
    hooks.on("message/bare", () => Promise.reject(new Error("async bug (expected)")), 5);
    hooks.on("message/bare", () => true, 0);
    assert.equal(await hooks.fireStanza("message/bare", ev()), true);
  });

  await t.step("a StanzaError reaches the caller, thrown or rejected", async () => {
    const sync = new Hooks();
    sync.on("message/bare", () => {
      throw new StanzaError("forbidden");
    });
    assert.throws(() => sync.fireStanza("message/bare", ev()), StanzaError);
    const later = new Hooks();
    later.on("message/bare", () => Promise.resolve(false), 10);
    later.on("message/bare", () => {
      throw new StanzaError("not-allowed");
    });
    await assert.rejects(Promise.resolve(later.fireStanza("message/bare", ev())), StanzaError);
  });
});
