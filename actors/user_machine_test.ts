/**
 * The user delivery machine, transition by transition, with XState's pure `initialTransition` /
 * `transition` (no actors run, nothing is executed: we read the next state and the actions it
 * would carry out). The idle timeout runs a real actor on a SimulatedClock.
 */
import assert from "node:assert/strict";
import {
  type AnyEventObject,
  createActor,
  fromPromise,
  initialTransition,
  SimulatedClock,
  type SnapshotFrom,
  transition,
} from "xstate";
import { x } from "../xml/element.ts";
import {
  type InboundMessage,
  liveDecision,
  type OfflineStrategy,
  type StoreOutput,
  type UserEvent,
  userMachine,
} from "./user_machine.ts";

type Snapshot = SnapshotFrom<typeof userMachine>;
interface Action {
  type: string;
  params?: unknown;
}

const IDLE_MS = 60_000;

function start(offline: OfflineStrategy | null = "store"): Snapshot {
  return initialTransition(userMachine, { jid: "bob@localhost", offline, idleTimeoutMs: IDLE_MS })[
    0
  ];
}

let seq = 0;
function msg(
  opts: { type?: string; resource?: string | null; storable?: boolean; id?: string } = {},
): InboundMessage {
  const type = opts.type ?? "chat";
  const id = opts.id ?? `m${++seq}`;
  return {
    seq: ++seq,
    stanza: x("message", { type, id, to: "bob@localhost" }, x("body", {}, id)),
    type,
    resource: opts.resource ?? null,
    storable: opts.storable ?? true,
  };
}

/** Feeds events in order; returns the final snapshot and the actions of the last event. */
function run(s: Snapshot, ...events: (UserEvent | AnyEventObject)[]): [Snapshot, Action[]] {
  let actions: Action[] = [];
  for (const e of events) {
    const [next, acts] = transition(userMachine, s, e as UserEvent);
    s = next;
    actions = acts as Action[];
  }
  return [s, actions];
}

/** The machine's own actions (deliver/bounce/drop/stored), without XState's bookkeeping. */
function decisions(actions: Action[]): Action[] {
  return actions.filter((a) => !a.type.startsWith("xstate.")).map(({ type, params }) => ({
    type,
    params,
  }));
}

function spawned(actions: Action[]): { src: string; id: string; input: unknown }[] {
  return actions.filter((a) => a.type === "xstate.spawnChild").map((a) => {
    const p = a.params as { src: string; id: string; input: unknown };
    return { src: p.src, id: p.id, input: p.input };
  });
}

const bound = (resource: string): UserEvent => ({ type: "SESSION_BOUND", resource });
const presence = (resource: string, priority: number | null): UserEvent => ({
  type: "PRESENCE",
  resource,
  priority,
});
const closed = (resource: string): UserEvent => ({ type: "SESSION_CLOSED", resource });
const message = (m: InboundMessage): UserEvent => ({ type: "MESSAGE", message: m });
const storeDone = (...output: StoreOutput[]): AnyEventObject => ({
  type: "xstate.done.actor.storeOffline",
  output,
});
const storeFailed: AnyEventObject = {
  type: "xstate.error.actor.storeOffline",
  error: new Error("db down"),
};
const flushDone: AnyEventObject = {
  type: "xstate.done.actor.flushOffline",
  output: { delivered: 0 },
};
const flushFailed: AnyEventObject = {
  type: "xstate.error.actor.flushOffline",
  error: new Error("db down"),
};

/** Online and live with the given resources and priorities. */
function live(resources: Record<string, number>): Snapshot {
  let s = start();
  for (const [r, p] of Object.entries(resources)) s = run(s, bound(r), presence(r, p))[0];
  s = run(s, flushDone)[0];
  assert.deepEqual(s.value, { online: "live" });
  return s;
}

// --- session bookkeeping -------------------------------------------------------------------

Deno.test("user machine starts offline and idle with the idle timer scheduled", () => {
  const [s, actions] = initialTransition(userMachine, {
    jid: "bob@localhost",
    offline: "store",
    idleTimeoutMs: IDLE_MS,
  });
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(s.context.sessions, {});
  assert.equal(s.context.flushTarget, null);
  const timer = actions.find((a) => a.type === "xstate.raise");
  assert.equal((timer?.params as { delay: number }).delay, IDLE_MS);
});

Deno.test("SESSION_BOUND records a resource that is not yet available", () => {
  const [s, actions] = run(start(), bound("phone"));
  assert.deepEqual(s.context.sessions, { phone: null });
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(decisions(actions), []);
});

Deno.test("PRESENCE records a bound resource's priority and ignores unbound resources", () => {
  const [s] = run(start(), bound("phone"), presence("phone", -1), presence("ghost", 5));
  assert.deepEqual(s.context.sessions, { phone: -1 });
  assert.deepEqual(s.value, { offline: "idle" }, "an unbound resource never makes the user online");
});

Deno.test("SESSION_CLOSED forgets the resource", () => {
  const [s] = run(start(), bound("phone"), bound("desk"), closed("phone"));
  assert.deepEqual(s.context.sessions, { desk: null });
});

Deno.test("unavailable presence (null priority) records the resource as not available", () => {
  const [s] = run(start(), bound("phone"), presence("phone", null));
  assert.deepEqual(s.context.sessions, { phone: null });
  assert.deepEqual(s.value, { offline: "idle" });
});

// --- offline -> online ---------------------------------------------------------------------

Deno.test("first available presence with priority >= 0 goes online(flushing) to that resource", () => {
  const [s, actions] = run(start(), bound("desk"), bound("phone"), presence("phone", 0));
  assert.deepEqual(s.value, { online: "flushing" });
  assert.equal(s.context.flushTarget, "phone");
  assert.deepEqual(spawned(actions), [{
    src: "flushOffline",
    id: "flushOffline",
    input: { owner: "bob@localhost", resource: "phone" },
  }]);
  assert.ok(actions.some((a) => a.type === "xstate.cancel"), "the idle timer is cancelled");
});

Deno.test("a user the adapter knows has nothing stored goes live without a flush", () => {
  const known = userMachine.provide({ guards: { nothingStored: () => true } });
  let [s] = initialTransition(known, { jid: "bob@localhost", offline: "store", idleTimeoutMs: 1 });
  [s] = transition(known, s, bound("desk"));
  let actions;
  [s, actions] = transition(known, s, presence("desk", 0));
  assert.deepEqual(s.value, { online: "live" });
  assert.equal(s.context.flushTarget, null);
  assert.deepEqual(spawned(actions as Action[]), []);
  // and a message to it is delivered at once, not held behind a flush
  [s, actions] = transition(known, s, message(msg()));
  assert.deepEqual(decisions(actions as Action[]).map((a) => a.type), ["deliverToHighest"]);
});

Deno.test("negative priority keeps the user offline", () => {
  const [s, actions] = run(start(), bound("bot"), presence("bot", -1));
  assert.deepEqual(s.value, { offline: "idle" });
  assert.equal(s.context.flushTarget, null);
  assert.deepEqual(spawned(actions), []);
});

Deno.test("flushing ends in live on done and also on error (messages stay stored)", () => {
  const s = run(start(), bound("a"), presence("a", 1))[0];
  assert.deepEqual(run(s, flushDone)[0].value, { online: "live" });
  assert.deepEqual(run(s, flushFailed)[0].value, { online: "live" });
  assert.equal(run(s, flushDone)[0].context.flushTarget, null, "target cleared after the flush");
});

// --- MESSAGE while offline -----------------------------------------------------------------

Deno.test("offline: a full-JID message to a bound (unavailable) resource is delivered to it", () => {
  const m = msg({ resource: "phone" });
  const [s, actions] = run(start(), bound("phone"), message(m));
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(decisions(actions), [{
    type: "deliverToResource",
    params: { message: m, resource: "phone" },
  }]);
});

Deno.test("offline: groupchat is bounced with service-unavailable", () => {
  const m = msg({ type: "groupchat" });
  const [, actions] = run(start(), message(m));
  assert.deepEqual(decisions(actions), [{
    type: "bounce",
    params: { message: m, condition: "service-unavailable" },
  }]);
});

Deno.test("offline: messages not worth storing are dropped (no body, headline, error)", () => {
  for (const m of [msg({ storable: false }), msg({ type: "headline" }), msg({ type: "error" })]) {
    const [s, actions] = run(start(), message(m));
    assert.deepEqual(s.value, { offline: "idle" });
    assert.deepEqual(s.context.pending, []);
    assert.deepEqual(decisions(actions), [{
      type: "drop",
      params: { message: m, reason: "not stored offline" },
    }], m.type);
  }
});

Deno.test("offline: strategy bounce and no msgoffline (null) bounce with service-unavailable", () => {
  for (const strategy of ["bounce", null] as const) {
    const m = msg();
    const [s, actions] = run(start(strategy), message(m));
    assert.deepEqual(s.value, { offline: "idle" });
    assert.deepEqual(decisions(actions), [{
      type: "bounce",
      params: { message: m, condition: "service-unavailable" },
    }], String(strategy));
  }
});

Deno.test("offline: strategy drop drops silently", () => {
  const m = msg();
  const [s, actions] = run(start("drop"), message(m));
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(decisions(actions), [{
    type: "drop",
    params: { message: m, reason: "offline strategy drop" },
  }]);
});

Deno.test("offline: storing strategies queue the message and invoke storeOffline with the pending list", () => {
  for (const strategy of ["store", "store_and_bounce", "store_and_drop"] as const) {
    const m = msg();
    const [s, actions] = run(start(strategy), message(m));
    assert.deepEqual(s.value, { offline: "storing" }, strategy);
    assert.deepEqual(s.context.pending, [m]);
    assert.deepEqual(decisions(actions), []);
    assert.deepEqual(spawned(actions), [{
      src: "storeOffline",
      id: "storeOffline",
      input: { owner: "bob@localhost", messages: [m] },
    }]);
  }
});

// --- storing outcomes ----------------------------------------------------------------------

Deno.test("storing: arrivals during a write are stored together by the next one, in order", () => {
  const m1 = msg();
  const m2 = msg();
  const m3 = msg();
  let [s, actions] = run(start(), message(m1));
  assert.deepEqual(spawned(actions).map((a) => a.input), [{
    owner: "bob@localhost",
    messages: [m1],
  }]);
  [s] = run(s, message(m2), message(m3));
  assert.deepEqual(s.value, { offline: "storing" });
  assert.deepEqual(s.context.pending, [m1, m2, m3], "later ones wait behind the first write");

  [s, actions] = run(s, storeDone({ stored: true }));
  assert.deepEqual(decisions(actions), [{ type: "stored", params: { message: m1 } }]);
  assert.deepEqual(s.value, { offline: "storing" }, "the rest is written at once, as one batch");
  assert.deepEqual(spawned(actions).map((a) => a.input), [{
    owner: "bob@localhost",
    messages: [m2, m3],
  }]);

  [s, actions] = run(s, storeDone({ stored: true }, { stored: true }));
  assert.deepEqual(decisions(actions), [
    { type: "stored", params: { message: m2 } },
    { type: "stored", params: { message: m3 } },
  ]);
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(s.context.pending, []);
});

Deno.test("storing: one batch may mix stored and over-quota results, each decided per strategy", () => {
  const m3 = msg();
  const m4 = msg();
  let [s] = run(start("store_and_bounce"), message(m3), message(m4));
  let actions;
  [s, actions] = run(s, storeDone({ stored: false, reason: "over-quota" }));
  assert.deepEqual(decisions(actions), [{
    type: "bounce",
    params: { message: m3, condition: "resource-constraint" },
  }]);
  [s, actions] = run(s, storeDone({ stored: true }));
  assert.deepEqual(decisions(actions), [{ type: "stored", params: { message: m4 } }]);
  assert.deepEqual(s.value, { offline: "idle" });
});

Deno.test("storing: over quota with store_and_bounce bounces resource-constraint", () => {
  const m = msg();
  const [s, actions] = run(
    start("store_and_bounce"),
    message(m),
    storeDone({
      stored: false,
      reason: "over-quota",
    }),
  );
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(s.context.pending, []);
  assert.deepEqual(decisions(actions), [{
    type: "bounce",
    params: { message: m, condition: "resource-constraint" },
  }]);
});

Deno.test("storing: over quota with plain store also bounces resource-constraint", () => {
  const m = msg();
  const [, actions] = run(
    start("store"),
    message(m),
    storeDone({
      stored: false,
      reason: "over-quota",
    }),
  );
  assert.deepEqual(decisions(actions), [{
    type: "bounce",
    params: { message: m, condition: "resource-constraint" },
  }]);
});

Deno.test("storing: over quota with store_and_drop drops silently", () => {
  const m = msg();
  const [s, actions] = run(
    start("store_and_drop"),
    message(m),
    storeDone({
      stored: false,
      reason: "over-quota",
    }),
  );
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(decisions(actions), [{
    type: "drop",
    params: { message: m, reason: "offline quota reached" },
  }]);
});

Deno.test("storing: a failed store bounces internal-server-error", () => {
  const m = msg();
  const [s, actions] = run(start(), message(m), storeFailed);
  assert.deepEqual(s.value, { offline: "idle" });
  assert.deepEqual(s.context.pending, []);
  assert.deepEqual(decisions(actions), [{
    type: "bounce",
    params: { message: m, condition: "internal-server-error" },
  }]);
});

Deno.test("storing finishes before going online; the resource then gets the flush", () => {
  const m = msg();
  let [s] = run(start(), message(m), bound("a"), presence("a", 2));
  assert.deepEqual(s.value, { offline: "storing" }, "presence does not interrupt a store");
  assert.equal(s.context.flushTarget, "a");
  let actions: Action[];
  [s, actions] = run(s, storeDone({ stored: true }));
  assert.deepEqual(s.value, { online: "flushing" });
  assert.deepEqual(spawned(actions).map((a) => a.input), [{
    owner: "bob@localhost",
    resource: "a",
  }]);
});

Deno.test("a flush target that becomes unavailable while a store runs gives way to another", () => {
  let [s] = run(start(), message(msg()), bound("a"), bound("b"), presence("a", 1));
  assert.equal(s.context.flushTarget, "a");
  [s] = run(s, presence("b", 0), presence("a", null));
  assert.equal(s.context.flushTarget, null, "a is no longer available");
  const [next, actions] = run(s, storeDone({ stored: true }));
  assert.deepEqual(next.value, { online: "flushing" });
  assert.deepEqual(spawned(actions).map((a) => a.input), [{
    owner: "bob@localhost",
    resource: "b",
  }]);
});

// --- flushing and held messages ------------------------------------------------------------

Deno.test("messages arriving during a flush are held, then released in order in live", () => {
  let s = run(start(), bound("a"), presence("a", 1), bound("b"), presence("b", -1))[0];
  const chat = msg();
  const full = msg({ resource: "b" });
  const headline = msg({ type: "headline" });
  let actions: Action[];
  for (const m of [chat, full, headline]) {
    [s, actions] = run(s, message(m));
    assert.deepEqual(decisions(actions), [], "nothing overtakes the stored messages");
  }
  assert.deepEqual(s.context.held, [chat, full, headline]);
  [s, actions] = run(s, flushDone);
  assert.deepEqual(s.value, { online: "live" });
  assert.deepEqual(s.context.held, []);
  assert.deepEqual(decisions(actions), [
    { type: "deliverToHighest", params: { message: chat } },
    { type: "deliverToResource", params: { message: full, resource: "b" } },
    { type: "deliverToAll", params: { message: headline } },
  ]);
});

Deno.test("held messages are stored when the user goes offline mid-flush", () => {
  let s = run(start(), bound("a"), presence("a", 1))[0];
  const m1 = msg();
  const m2 = msg();
  s = run(s, message(m1), message(m2))[0];
  const [next, actions] = run(s, closed("a"));
  assert.deepEqual(next.value, { offline: "storing" });
  assert.deepEqual(next.context.held, []);
  assert.deepEqual(next.context.pending, [m1, m2]);
  // the first write starts as m1 arrives; m2 waits for the next one
  assert.deepEqual(spawned(actions).map((a) => a.input), [{
    owner: "bob@localhost",
    messages: [m1],
  }]);
});

// --- live ----------------------------------------------------------------------------------

Deno.test("live: a full-JID message goes to that resource, even at negative priority", () => {
  const s = live({ a: 5, bot: -1 });
  const m = msg({ resource: "bot" });
  assert.deepEqual(decisions(run(s, message(m))[1]), [{
    type: "deliverToResource",
    params: { message: m, resource: "bot" },
  }]);
});

Deno.test("live: groupchat to the user is bounced with service-unavailable", () => {
  const m = msg({ type: "groupchat" });
  assert.deepEqual(decisions(run(live({ a: 1 }), message(m))[1]), [{
    type: "bounce",
    params: { message: m, condition: "service-unavailable" },
  }]);
});

Deno.test("live: an error message to no bound resource is dropped", () => {
  const m = msg({ type: "error", resource: "gone" });
  assert.deepEqual(decisions(run(live({ a: 1 }), message(m))[1]), [{
    type: "drop",
    params: { message: m, reason: "error to gone resource" },
  }]);
});

Deno.test("live: headline goes to all available resources", () => {
  const m = msg({ type: "headline" });
  assert.deepEqual(decisions(run(live({ a: 1, b: 0 }), message(m))[1]), [{
    type: "deliverToAll",
    params: { message: m },
  }]);
});

Deno.test("live: chat and normal to the bare JID go to the highest priority", () => {
  const s = live({ a: 1, b: 3 });
  for (const type of ["chat", "normal"]) {
    const m = msg({ type });
    assert.deepEqual(decisions(run(s, message(m))[1]), [{
      type: "deliverToHighest",
      params: { message: m },
    }], type);
  }
  const toGone = msg({ resource: "gone" });
  assert.deepEqual(decisions(run(s, message(toGone))[1]), [{
    type: "deliverToHighest",
    params: { message: toGone },
  }], "chat to an unbound resource is treated as to the bare JID");
});

// --- going offline -------------------------------------------------------------------------

Deno.test("the user goes offline when the last available resource leaves, not before", () => {
  const s = live({ a: 1, b: 0 });
  const [one] = run(s, presence("a", null));
  assert.deepEqual(one.value, { online: "live" }, "b is still available");
  assert.deepEqual(run(one, presence("b", null))[0].value, { offline: "idle" }, "unavailable");
  assert.deepEqual(run(one, presence("b", -5))[0].value, { offline: "idle" }, "negative priority");
  const [gone] = run(one, closed("b"));
  assert.deepEqual(gone.value, { offline: "idle" }, "session closed");
  assert.deepEqual(gone.context.sessions, { a: null });
});

Deno.test("after going offline, bare-JID messages are stored again", () => {
  const [s] = run(live({ a: 1 }), closed("a"));
  const m = msg();
  const [next] = run(s, message(m));
  assert.deepEqual(next.value, { offline: "storing" });
  assert.deepEqual(next.context.pending, [m]);
});

// --- idle timeout (real actor, simulated time) ---------------------------------------------

function idleActor() {
  const clock = new SimulatedClock();
  const machine = userMachine.provide({
    actors: {
      storeOffline: fromPromise<StoreOutput[], { owner: string; messages: InboundMessage[] }>((
        { input },
      ) => Promise.resolve(input.messages.map(() => ({ stored: true as const })))),
      flushOffline: fromPromise(() => Promise.resolve({ delivered: 0 })),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { jid: "bob@localhost", offline: "store", idleTimeoutMs: IDLE_MS },
  });
  actor.start();
  return { actor, clock };
}

Deno.test("an idle user actor with no sessions stops after the idle timeout", () => {
  const { actor, clock } = idleActor();
  clock.increment(IDLE_MS - 1);
  assert.equal(actor.getSnapshot().status, "active");
  clock.increment(1);
  assert.equal(actor.getSnapshot().status, "done");
  assert.equal(actor.getSnapshot().value, "stopped");
});

Deno.test("an idle user actor with a bound session never stops; closing it restarts the timer", () => {
  const { actor, clock } = idleActor();
  actor.send(bound("phone"));
  clock.increment(IDLE_MS * 3);
  assert.equal(actor.getSnapshot().status, "active", "a bound session keeps the actor");
  assert.deepEqual(actor.getSnapshot().value, { offline: "idle" });
  actor.send(closed("phone"));
  clock.increment(IDLE_MS - 1);
  assert.equal(actor.getSnapshot().status, "active", "the timer starts over at the close");
  clock.increment(1);
  assert.equal(actor.getSnapshot().status, "done");
});

Deno.test("an online user actor never times out; it does once offline and sessionless", () => {
  const { actor, clock } = idleActor();
  actor.send(bound("a"));
  actor.send(presence("a", 0));
  clock.increment(IDLE_MS * 3);
  assert.equal(actor.getSnapshot().status, "active");
  actor.send(closed("a"));
  assert.deepEqual(actor.getSnapshot().value, { offline: "idle" });
  clock.increment(IDLE_MS);
  assert.equal(actor.getSnapshot().status, "done");
});

Deno.test("liveDecision (the adapter's fast path) agrees with the live state's transitions", () => {
  const contexts = [live({ a: 5, b: 1, bot: -1 }), live({ a: 0 }), live({ a: 3, idle: -5 })];
  const types = ["chat", "normal", "headline", "groupchat", "error"];
  const resources = [null, "a", "bot", "gone"];
  let checked = 0;
  for (const s of contexts) {
    for (const type of types) {
      for (const resource of resources) {
        const m = msg({ type, resource });
        const fromMachine = decisions(run(s, message(m))[1]).map((a) => a.type);
        assert.deepEqual(fromMachine, [liveDecision(s.context, m)], `${type} to ${resource}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 60);
});
