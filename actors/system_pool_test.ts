import assert from "node:assert/strict";
import { createActor, setup } from "xstate";
import { stopGuest, SystemPool } from "./system_pool.ts";

/** A machine that waits for FINISH (then is done) and has a delayed transition pending. */
const guestMachine = setup({
  types: { events: {} as { type: "FINISH" } | { type: "PING" } },
  delays: { later: 60_000 },
}).createMachine({
  initial: "waiting",
  context: { pings: 0 },
  states: {
    waiting: {
      after: { later: "finished" },
      on: { FINISH: "finished", PING: { actions: ({ context }) => context.pings++ } },
    },
    finished: { type: "final" },
  },
});

Deno.test("pooled actors share their host's system; root actors get their own", () => {
  const pool = new SystemPool(8);
  const a = pool.acquire(), b = pool.acquire();
  assert.equal(a, b);
  const g1 = createActor(guestMachine, { parent: a.ref, systemId: "g:1" }).start();
  const g2 = createActor(guestMachine, { parent: b.ref, systemId: "g:2" }).start();
  const root = createActor(guestMachine, { systemId: "g:3" }).start();
  assert.equal(g1.system, g2.system);
  assert.notEqual(g1.system, root.system);
  assert.equal(g1.system.get("g:2"), g2);
  g1.send({ type: "PING" });
  assert.equal(g1.getSnapshot().context.pings, 1);
  stopGuest(g1);
  stopGuest(g2);
  stopGuest(root);
  pool.release(a);
  pool.release(b);
  assert.equal(pool.hosts, 0);
});

Deno.test("a host takes at most `capacity` guests and is stopped when its last one ends", () => {
  const pool = new SystemPool(2);
  const hosts = [pool.acquire(), pool.acquire(), pool.acquire()];
  assert.equal(hosts[0], hosts[1]);
  assert.notEqual(hosts[1], hosts[2]);
  assert.equal(pool.hosts, 2);
  pool.release(hosts[2]!);
  assert.equal(hosts[2]!.ref.getSnapshot().status, "stopped");
  assert.equal(pool.hosts, 1);
  // A full host that loses a guest takes the next one again.
  pool.release(hosts[0]!);
  assert.equal(pool.acquire(), hosts[0]);
  assert.equal(pool.hosts, 1);
  pool.release(hosts[0]!);
  pool.release(hosts[0]!);
  assert.equal(hosts[0]!.ref.getSnapshot().status, "stopped");
  assert.equal(pool.hosts, 0);
});

Deno.test("a guest that finishes completes its observers; its host ignores the done event", () => {
  const pool = new SystemPool();
  const host = pool.acquire();
  const guest = createActor(guestMachine, { parent: host.ref, systemId: "g:done" });
  let completed = 0;
  guest.subscribe({ complete: () => completed++ });
  guest.start();
  guest.send({ type: "FINISH" });
  assert.equal(completed, 1);
  assert.equal(guest.getSnapshot().status, "done");
  assert.equal(host.ref.getSnapshot().status, "active");
  // Its systemId is free again for the next actor of the same name in this system.
  const next = createActor(guestMachine, { parent: host.ref, systemId: "g:done" }).start();
  stopGuest(next);
  pool.release(host);
});

Deno.test("stopGuest stops a guest, cancels its delayed events and completes its observers", () => {
  const pool = new SystemPool();
  const host = pool.acquire();
  const guest = createActor(guestMachine, { parent: host.ref });
  let completed = 0;
  guest.subscribe({ complete: () => completed++ });
  guest.start();
  assert.throws(() => guest.stop(), /non-root/);
  stopGuest(guest);
  assert.equal(guest.getSnapshot().status, "stopped");
  assert.equal(completed, 1);
  // The 60 s timer is gone: the test runs with --trace-leaks, which would report it.
  assert.deepEqual(Object.keys(guest.system.getSnapshot()._scheduledEvents), []);
  pool.release(host);
});

Deno.test("guest joins a shared system unless inspected, and releases its place once", () => {
  const pool = new SystemPool(8);
  const a = pool.guest(guestMachine, { systemId: "g:a" });
  const b = pool.guest(guestMachine, { systemId: "g:b" });
  assert.equal(a.actor.system, b.actor.system);
  assert.equal(pool.hosts, 1);
  const inspected = pool.guest(guestMachine, { inspect: () => {} });
  assert.equal(inspected.actor._parent, undefined, "an inspected actor is a root of its own");
  assert.equal(pool.hosts, 1);
  for (const g of [a, b, inspected]) {
    g.actor.start();
    stopGuest(g.actor);
  }
  a.release();
  a.release();
  assert.equal(pool.hosts, 1, "a second release of the same guest changes nothing");
  b.release();
  inspected.release();
  assert.equal(pool.hosts, 0);
});
