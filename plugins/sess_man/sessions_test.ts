import assert from "node:assert/strict";
import type { JID } from "../../jid/mod.ts";
import { type BindableSession, SessionRegistry } from "./sessions.ts";

function fake(name: string): BindableSession & { replacedCalls: number } {
  return {
    id: name,
    transport: "tcp",
    remoteAddress: "127.0.0.1",
    jid: null as JID | null,
    secure: false,
    available: false,
    priority: 0,
    presence: null,
    interested: false,
    data: new Map(),
    replacedCalls: 0,
    send() {},
    close() {},
    replaced() {
      this.replacedCalls++;
    },
  };
}

const ids = (ss: { id: string }[]) => ss.map((s) => s.id).sort();

Deno.test("registry keeps one user's one, two and then one session again", () => {
  const r = new SessionRegistry("example.com", 4);
  const a = fake("a"), b = fake("b");
  assert.deepEqual(r.bind(a, "alice", "phone"), { ok: true, jid: "alice@example.com/phone" });
  assert.equal(r.byResource("alice@example.com", "phone"), a);
  assert.equal(r.byResource("alice@example.com", "laptop"), undefined);
  assert.deepEqual(r.bind(b, "alice", "laptop"), { ok: true, jid: "alice@example.com/laptop" });
  assert.deepEqual(ids(r.ofUser("alice@example.com")), ["a", "b"]);
  assert.equal(r.get(b.jid!), b);
  assert.equal(r.size, 2);
  r.unbind(a);
  assert.deepEqual(ids(r.ofUser("alice@example.com")), ["b"]);
  assert.equal(r.byResource("alice@example.com", "phone"), undefined);
  assert.equal(r.byResource("alice@example.com", "laptop"), b);
  r.unbind(b);
  assert.deepEqual(r.ofUser("alice@example.com"), []);
  assert.deepEqual(r.users(), []);
  assert.equal(r.size, 0);
});

Deno.test("registry replaces the holder of a full JID, single or among several", () => {
  const r = new SessionRegistry("example.com", 4);
  const a = fake("a"), a2 = fake("a2"), b = fake("b"), b2 = fake("b2");
  r.bind(a, "alice", "phone");
  r.bind(a2, "alice", "phone");
  assert.equal(a.replacedCalls, 1);
  assert.deepEqual(ids(r.all()), ["a2"]);
  r.bind(b, "alice", "laptop");
  r.bind(b2, "alice", "laptop");
  assert.equal(b.replacedCalls, 1);
  assert.deepEqual(ids(r.all()), ["a2", "b2"]);
  assert.equal(r.size, 2);
  // The replaced session's own unbind later changes nothing.
  r.unbind(a);
  r.unbind(b);
  assert.equal(r.size, 2);
});

Deno.test("registry refuses resources beyond max_resources, also for a single one", () => {
  const one = new SessionRegistry("example.com", 1);
  one.bind(fake("a"), "alice", "phone");
  assert.deepEqual(one.bind(fake("b"), "alice", "laptop"), {
    ok: false,
    condition: "resource-constraint",
  });
  const two = new SessionRegistry("example.com", 2);
  two.bind(fake("a"), "alice", "1");
  two.bind(fake("b"), "alice", "2");
  assert.deepEqual(two.bind(fake("c"), "alice", "3"), {
    ok: false,
    condition: "resource-constraint",
  });
  assert.equal(two.size, 2);
});

Deno.test("registry makes up a resource when the client asks for none", () => {
  const r = new SessionRegistry("example.com", 4);
  const out = r.bind(fake("a"), "alice", null);
  assert.ok(out.ok && /^alice@example\.com\/parley-[0-9a-f]{8}$/.test(out.jid));
});
