/**
 * The connection machine, transition by transition. Most tests use XState's pure
 * `initialTransition` / `transition`, which return the next snapshot and the actions the machine
 * wants run without running them: the assertions read like the stream transcript the adapter would
 * write. Timeouts run a real actor on a `SimulatedClock`, so no test sleeps.
 */
import assert from "node:assert/strict";
import {
  type AnyActorRef,
  createActor,
  initialTransition,
  SimulatedClock,
  type SnapshotFrom,
  transition,
  waitFor,
} from "xstate";
import {
  type BindOutput,
  classifyElement,
  type ConnectionEvent,
  type ConnectionInput,
  connectionMachine,
} from "./connection_machine.ts";
import { x } from "../xml/element.ts";
import { NS } from "../protocol/ns.ts";
import type { SaslStep } from "../protocol/sasl/mechanism.ts";

type Snapshot = SnapshotFrom<typeof connectionMachine>;

/** An action the machine asks for, as the adapter would receive it. */
interface Sent {
  type: string;
  params?: unknown;
}

interface Step {
  snapshot: Snapshot;
  /** the state as a dotted path: "negotiating.unauthenticated", "closing" */
  state: string;
  /** what the machine writes and reports (XState's timer bookkeeping and the starts of SASL
   * steps and binding, whose answers come back as events, left out) */
  sent: Sent[];
  /** every action, including `runSaslStep`, `bindResource` and the timer raises */
  all: { type: string; params?: unknown }[];
}

const DOMAIN = "example.org";

function input(over: Partial<ConnectionInput> = {}): ConnectionInput {
  return {
    streamId: "s1",
    domain: DOMAIN,
    secure: false,
    tlsAvailable: true,
    requireEncryption: true,
    mechanisms: [
      { name: "SCRAM-SHA-256", requiresTls: false },
      { name: "PLAIN", requiresTls: true },
    ],
    preAuthIqNamespaces: [NS.register],
    openTimeoutMs: 10_000,
    negotiationTimeoutMs: 60_000,
    maxSaslFailures: 3,
    ...over,
  };
}

function stateOf(snapshot: Snapshot): string {
  const walk = (v: unknown): string =>
    typeof v === "string"
      ? v
      : Object.entries(v as Record<string, unknown>).map(([k, c]) => `${k}.${walk(c)}`).join("|");
  return walk(snapshot.value);
}

/** Actions that start asynchronous work; the machine hears of the result as an event. */
const STARTS_WORK = new Set(["runSaslStep", "bindResource"]);

function toStep(
  [snapshot, actions]: [Snapshot, readonly { type: string; params?: unknown }[]],
): Step {
  const all = actions.map((a) => ({ type: a.type, params: a.params }));
  return {
    snapshot,
    state: stateOf(snapshot),
    sent: all.filter((a) => !a.type.startsWith("xstate.") && !STARTS_WORK.has(a.type)).map((a) =>
      a.params === undefined ? { type: a.type } : a
    ),
    all,
  };
}

function begin(over: Partial<ConnectionInput> = {}): Step {
  return toStep(initialTransition(connectionMachine, input(over)));
}

/** Sends one event; internal XState events are allowed through a cast. */
function send(from: Step | Snapshot, event: ConnectionEvent | { type: string }): Step {
  const snapshot = "snapshot" in from ? from.snapshot : from;
  return toStep(transition(connectionMachine, snapshot, event as ConnectionEvent));
}

function sendAll(from: Step, ...events: (ConnectionEvent | { type: string })[]): Step {
  let s = from;
  for (const e of events) s = send(s, e);
  return s;
}

const OPEN: ConnectionEvent = { type: "OPEN", attrs: { version: "1.0", to: DOMAIN } };
const bytes = (s: string) => new TextEncoder().encode(s);
const saslDone = (step: SaslStep): ConnectionEvent => ({ type: "SASL_STEP", step });
const bindDone = (result: BindOutput): ConnectionEvent => ({ type: "BOUND", result });

function types(step: Step): string[] {
  return step.sent.map((a) => a.type);
}

function paramsOf(step: Step, type: string): unknown {
  const found = step.all.find((a) => a.type === type);
  assert.ok(found, `expected action ${type} among ${step.all.map((a) => a.type).join(", ")}`);
  return found.params;
}

// Drivers to each state along the happy path.
const opened = (over?: Partial<ConnectionInput>) => send(begin(over), OPEN);
const secured = (over?: Partial<ConnectionInput>) =>
  sendAll(opened(over), { type: "STARTTLS" }, { type: "TLS_DONE" }, OPEN);
const authenticating = (over?: Partial<ConnectionInput>) =>
  send(secured(over), { type: "AUTH", mechanism: "SCRAM-SHA-256", data: bytes("n,,n=alice") });
const challenged = (over?: Partial<ConnectionInput>) =>
  send(authenticating(over), saslDone({ type: "challenge", data: bytes("r=abc") }));
const authenticated = (over?: Partial<ConnectionInput>) =>
  send(authenticating(over), saslDone({ type: "success", username: "alice" }));
const binding = (over?: Partial<ConnectionInput>) => send(authenticated(over), OPEN);
const bindingResource = (over?: Partial<ConnectionInput>) =>
  send(binding(over), { type: "BIND", id: "bind1", resource: "phone" });
const established = (over?: Partial<ConnectionInput>) =>
  send(bindingResource(over), bindDone({ ok: true, jid: "alice@example.org/phone" }));
const closing = () => send(opened(), { type: "END" });

// --- stream open -------------------------------------------------------------------------------

Deno.test("connection starts in negotiating.awaitingOpen with the open and negotiation timers armed", () => {
  const s = begin();
  assert.equal(s.state, "negotiating.awaitingOpen");
  assert.deepEqual(s.sent, []);
  const delays = s.all.filter((a) => a.type === "xstate.raise").map((a) =>
    (a.params as { delay: number }).delay
  );
  assert.deepEqual(delays.sort((a, b) => a - b), [10_000, 60_000]);
  assert.equal(s.snapshot.context.headerSent, false);
  assert.equal(s.snapshot.context.authenticated, false);
});

Deno.test("a valid stream open answers with the initial header and pre-auth features", () => {
  const s = send(begin(), { type: "OPEN", attrs: { version: "1.0", to: DOMAIN, from: "a@b" } });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendFeatures", params: { stage: "pre-auth", secure: false } },
  ]);
  assert.equal(s.snapshot.context.headerSent, true);
  assert.equal(s.snapshot.context.peer, "a@b");
});

Deno.test("stream open accepts the domain in any case and with a trailing dot, and no 'to'", () => {
  for (const to of ["EXAMPLE.org", "example.org.", undefined]) {
    const attrs: Record<string, string> = { version: "1.0" };
    if (to !== undefined) attrs.to = to;
    assert.equal(send(begin(), { type: "OPEN", attrs }).state, "negotiating.unauthenticated", to);
  }
});

Deno.test("stream open on an encrypted transport announces secure features", () => {
  const s = opened({ secure: true });
  assert.deepEqual(paramsOf(s, "sendFeatures"), { stage: "pre-auth", secure: true });
});

Deno.test("stream open without version or with 2.0 gets unsupported-version after our header", () => {
  const opens: Record<string, string>[] = [{ to: DOMAIN }, { to: DOMAIN, version: "2.0" }, {
    version: "1.x",
  }];
  for (const attrs of opens) {
    const s = send(begin(), { type: "OPEN", attrs });
    assert.equal(s.state, "closing", JSON.stringify(attrs));
    assert.deepEqual(s.sent, [
      { type: "sendHeader", params: { stage: "initial" } },
      { type: "sendStreamError", params: { condition: "unsupported-version" } },
      { type: "sendClose" },
    ]);
  }
});

Deno.test("stream open to another domain gets host-unknown after our header", () => {
  const s = send(begin(), { type: "OPEN", attrs: { version: "1.0", to: "other.example" } });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendStreamError", params: { condition: "host-unknown" } },
    { type: "sendClose" },
  ]);
});

Deno.test("a stanza before the stream open gets a header and not-authorized", () => {
  const s = send(begin(), { type: "STANZA", element: x("message") });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendStreamError", params: { condition: "not-authorized" } },
    { type: "sendClose" },
  ]);
});

// --- STARTTLS ----------------------------------------------------------------------------------

Deno.test("STARTTLS on a plain transport proceeds and starts TLS", () => {
  const s = send(opened(), { type: "STARTTLS" });
  assert.equal(s.state, "negotiating.startingTls");
  assert.deepEqual(types(s), ["sendTlsProceed", "startTls"]);
});

Deno.test("TLS_DONE resets the parser and awaits a new stream header, now secure", () => {
  const s = sendAll(opened(), { type: "STARTTLS" }, { type: "TLS_DONE" });
  assert.equal(s.state, "negotiating.awaitingOpen");
  assert.deepEqual(types(s), ["resetParser"]);
  assert.equal(s.snapshot.context.secure, true);
  assert.equal(s.snapshot.context.headerSent, false);
  // The open timer is armed again for the restarted stream.
  assert.ok(s.all.some((a) => a.type === "xstate.raise"));
  const again = send(s, OPEN);
  assert.deepEqual(again.sent, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendFeatures", params: { stage: "pre-auth", secure: true } },
  ]);
});

Deno.test("TLS_FAILED closes the transport at once", () => {
  const s = sendAll(opened(), { type: "STARTTLS" }, { type: "TLS_FAILED" });
  assert.equal(s.state, "closed");
  assert.equal(s.snapshot.status, "done");
  assert.deepEqual(types(s), ["closeTransport", "sessionEnded"]);
});

Deno.test("STARTTLS is refused with a TLS failure when the transport is already secure", () => {
  const s = send(opened({ secure: true }), { type: "STARTTLS" });
  assert.equal(s.state, "closing");
  assert.deepEqual(types(s), ["sendTlsFailure", "sendClose"]);
});

Deno.test("STARTTLS is refused with a TLS failure when TLS is unavailable on the transport", () => {
  const s = send(opened({ tlsAvailable: false }), { type: "STARTTLS" });
  assert.equal(s.state, "closing");
  assert.deepEqual(types(s), ["sendTlsFailure", "sendClose"]);
});

Deno.test("a second STARTTLS after TLS is refused", () => {
  const s = send(secured(), { type: "STARTTLS" });
  assert.equal(s.state, "closing");
  assert.deepEqual(types(s), ["sendTlsFailure", "sendClose"]);
});

// --- AUTH --------------------------------------------------------------------------------------

Deno.test("AUTH before TLS fails with encryption-required when encryption is required", () => {
  const s = send(opened(), { type: "AUTH", mechanism: "SCRAM-SHA-256", data: null });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "encryption-required", text: "use STARTTLS first" },
  }]);
});

Deno.test("AUTH with a mechanism that is not offered fails with invalid-mechanism", () => {
  const s = send(secured(), { type: "AUTH", mechanism: "DIGEST-MD5", data: null });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "invalid-mechanism" },
  }]);
});

Deno.test("AUTH with a TLS-only mechanism on a plain stream fails with invalid-mechanism", () => {
  const s = send(opened({ requireEncryption: false }), {
    type: "AUTH",
    mechanism: "PLAIN",
    data: null,
  });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(paramsOf(s, "sendSaslFailure"), { condition: "invalid-mechanism" });
});

Deno.test("AUTH without TLS is accepted when encryption is not required", () => {
  const s = send(opened({ requireEncryption: false }), {
    type: "AUTH",
    mechanism: "SCRAM-SHA-256",
    data: null,
  });
  assert.equal(s.state, "negotiating.authenticating");
});

Deno.test("AUTH with an offered mechanism runs a SASL step with the initial response", () => {
  const s = authenticating();
  assert.equal(s.state, "negotiating.authenticating");
  assert.deepEqual(s.sent, []);
  assert.equal(s.snapshot.context.mechanism, "SCRAM-SHA-256");
  assert.deepEqual(paramsOf(s, "runSaslStep"), {
    mechanism: "SCRAM-SHA-256",
    data: bytes("n,,n=alice"),
  });
});

Deno.test("PLAIN is offered once the stream is encrypted", () => {
  const s = send(secured(), { type: "AUTH", mechanism: "PLAIN", data: null });
  assert.equal(s.state, "negotiating.authenticating");
});

// --- SASL steps --------------------------------------------------------------------------------

Deno.test("a challenge from the SASL step is sent and the machine waits for the response", () => {
  const s = challenged();
  assert.equal(s.state, "negotiating.saslChallenge");
  assert.deepEqual(s.sent, [{ type: "sendSaslChallenge", params: { data: bytes("r=abc") } }]);
});

Deno.test("a SASL response to a challenge runs the next SASL step with its data", () => {
  const s = send(challenged(), { type: "SASL_RESPONSE", data: bytes("c=biws") });
  assert.equal(s.state, "negotiating.authenticating");
  assert.deepEqual(paramsOf(s, "runSaslStep"), {
    mechanism: "SCRAM-SHA-256",
    data: bytes("c=biws"),
  });
});

Deno.test("success from the SASL step authenticates, resets the parser and awaits the restart", () => {
  const s = send(
    authenticating(),
    saslDone({ type: "success", username: "alice", data: bytes("v=xyz") }),
  );
  assert.equal(s.state, "negotiating.awaitingOpen");
  assert.deepEqual(s.sent, [
    { type: "sendSaslSuccess", params: { data: bytes("v=xyz") } },
    { type: "authSucceeded", params: { username: "alice" } },
    { type: "resetParser" },
  ]);
  assert.equal(s.snapshot.context.authenticated, true);
  assert.equal(s.snapshot.context.username, "alice");
  assert.equal(s.snapshot.context.headerSent, false);
});

Deno.test("failure from the SASL step is reported and counted, back to unauthenticated", () => {
  const s = send(
    authenticating(),
    saslDone({ type: "failure", condition: "not-authorized", text: "bad password" }),
  );
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [
    { type: "sendSaslFailure", params: { condition: "not-authorized", text: "bad password" } },
    { type: "authFailed", params: { condition: "not-authorized" } },
  ]);
  assert.equal(s.snapshot.context.saslFailures, 1);
});

Deno.test("the failure that reaches maxSaslFailures ends the stream with policy-violation", () => {
  const fail = saslDone({ type: "failure", condition: "not-authorized" });
  const auth = { type: "AUTH", mechanism: "SCRAM-SHA-256", data: null } as const;
  let s = secured({ maxSaslFailures: 3 });
  s = sendAll(s, auth, fail, auth, fail);
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.equal(s.snapshot.context.saslFailures, 2);
  s = sendAll(s, auth, fail);
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendSaslFailure", params: { condition: "not-authorized", text: undefined } },
    { type: "authFailed", params: { condition: "not-authorized" } },
    {
      type: "sendStreamError",
      params: { condition: "policy-violation", text: "too many failed logins" },
    },
    { type: "sendClose" },
  ]);
});

Deno.test("a SASL step's answer after the stream was ended is ignored", () => {
  const ended = send(authenticating(), { type: "STREAM_ERROR", condition: "policy-violation" });
  assert.equal(ended.state, "closing");
  const late = send(ended, saslDone({ type: "success", username: "alice" }));
  assert.equal(late.state, "closing");
  assert.deepEqual(late.all, []);
  assert.equal(late.snapshot.context.authenticated, false);
});

Deno.test("a SASL step that throws answers temporary-auth-failure without counting a failure", () => {
  const s = send(authenticating(), { type: "SASL_STEP_FAILED" });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "temporary-auth-failure" },
  }]);
  assert.equal(s.snapshot.context.saslFailures, 0);
});

Deno.test("SASL_RESPONSE without an exchange in progress fails with malformed-request", () => {
  const s = send(secured(), { type: "SASL_RESPONSE", data: null });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "malformed-request" },
  }]);
});

Deno.test("SASL_ABORT without an exchange in progress answers aborted", () => {
  const s = send(secured(), { type: "SASL_ABORT" });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{ type: "sendSaslFailure", params: { condition: "aborted" } }]);
});

Deno.test("SASL_BAD_ENCODING without an exchange in progress answers incorrect-encoding", () => {
  const s = send(secured(), { type: "SASL_BAD_ENCODING" });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "incorrect-encoding" },
  }]);
});

Deno.test("SASL_ABORT during a challenge answers aborted and counts a failure", () => {
  const s = send(challenged(), { type: "SASL_ABORT" });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{ type: "sendSaslFailure", params: { condition: "aborted" } }]);
  assert.equal(s.snapshot.context.saslFailures, 1);
});

Deno.test("SASL_BAD_ENCODING during a challenge answers incorrect-encoding", () => {
  const s = send(challenged(), { type: "SASL_BAD_ENCODING" });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "incorrect-encoding" },
  }]);
});

Deno.test("a new AUTH during a challenge fails with malformed-request", () => {
  const s = send(challenged(), { type: "AUTH", mechanism: "SCRAM-SHA-256", data: null });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{
    type: "sendSaslFailure",
    params: { condition: "malformed-request" },
  }]);
});

Deno.test("a stanza during a challenge ends the stream with not-authorized", () => {
  const s = send(challenged(), { type: "STANZA", element: x("message") });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendStreamError", params: { condition: "not-authorized" } },
    { type: "sendClose" },
  ]);
});

Deno.test("SASL events while a step runs are ignored (the adapter holds frames meanwhile)", () => {
  for (
    const e of [
      { type: "SASL_RESPONSE", data: null },
      { type: "SASL_ABORT" },
      { type: "SASL_BAD_ENCODING" },
      { type: "AUTH", mechanism: "PLAIN", data: null },
    ] as ConnectionEvent[]
  ) {
    const s = send(authenticating(), e);
    assert.equal(s.state, "negotiating.authenticating", e.type);
    assert.deepEqual(s.sent, [], e.type);
  }
});

Deno.test("SASL events after authentication end the stream with policy-violation or are ignored", () => {
  const auth = send(binding(), { type: "AUTH", mechanism: "PLAIN", data: null });
  assert.equal(auth.state, "closing");
  assert.deepEqual(paramsOf(auth, "sendStreamError"), { condition: "policy-violation" });
  // Responses and aborts with no exchange to belong to are dropped while binding and established.
  for (const from of [binding, established]) {
    for (
      const e of [
        { type: "SASL_RESPONSE", data: null },
        { type: "SASL_ABORT" },
        { type: "SASL_BAD_ENCODING" },
      ] as ConnectionEvent[]
    ) {
      const before = from();
      const s = send(before, e);
      assert.equal(s.state, before.state, `${e.type} in ${before.state}`);
      assert.deepEqual(s.sent, []);
    }
  }
});

// --- pre-auth stanzas --------------------------------------------------------------------------

Deno.test("a pre-auth iq in a served namespace is routed before authentication", () => {
  const iq = x("iq", { type: "get", id: "r1" }, x("query", { xmlns: NS.register }));
  const s = send(opened(), { type: "STANZA", element: iq });
  assert.equal(s.state, "negotiating.unauthenticated");
  assert.deepEqual(s.sent, [{ type: "routePreAuth", params: { element: iq } }]);
});

Deno.test("other stanzas before authentication end the stream with not-authorized", () => {
  for (
    const el of [
      x("message", {}, x("body", {}, "hi")),
      x("iq", { type: "get" }, x("query", { xmlns: NS.roster })),
      x("iq", { type: "get" }),
      x("presence"),
    ]
  ) {
    const s = send(opened(), { type: "STANZA", element: el });
    assert.equal(s.state, "closing", el.name);
    assert.deepEqual(paramsOf(s, "sendStreamError"), { condition: "not-authorized" });
  }
});

Deno.test("BIND before authentication ends the stream with not-authorized", () => {
  const s = send(opened(), { type: "BIND", id: "b", resource: null });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendStreamError", params: { condition: "not-authorized" } },
    { type: "sendClose" },
  ]);
});

// --- restart and binding -----------------------------------------------------------------------

Deno.test("the restarted stream after SASL gets a restart header and post-auth features", () => {
  const s = send(authenticated(), { type: "OPEN", attrs: { version: "1.0", to: DOMAIN } });
  assert.equal(s.state, "negotiating.binding");
  assert.deepEqual(s.sent, [
    { type: "sendHeader", params: { stage: "restart" } },
    { type: "sendFeatures", params: { stage: "post-auth", secure: true } },
  ]);
  assert.equal(s.snapshot.context.headerSent, true);
});

Deno.test("the restarted stream is still checked for version and host", () => {
  const bad = send(authenticated(), { type: "OPEN", attrs: { version: "1.0", to: "x.test" } });
  assert.equal(bad.state, "closing");
  assert.deepEqual(paramsOf(bad, "sendStreamError"), { condition: "host-unknown" });
});

Deno.test("BIND runs bindResource with the username and requested resource", () => {
  const s = bindingResource();
  assert.equal(s.state, "negotiating.bindingResource");
  assert.equal(s.snapshot.context.bindRequestId, "bind1");
  assert.deepEqual(s.sent, []);
  assert.deepEqual(paramsOf(s, "bindResource"), { username: "alice", resource: "phone" });
});

Deno.test("a successful bind answers the bind iq and establishes the session", () => {
  const s = established();
  assert.equal(s.state, "established");
  assert.deepEqual(s.sent, [
    { type: "sendBindResult", params: { id: "bind1", jid: "alice@example.org/phone" } },
    { type: "sessionEstablished", params: { jid: "alice@example.org/phone" } },
  ]);
  assert.equal(s.snapshot.context.jid, "alice@example.org/phone");
  // Leaving negotiation cancels its timer.
  assert.ok(s.all.some((a) => a.type === "xstate.cancel"));
});

Deno.test("a bind conflict answers the iq with the condition and lets the client retry", () => {
  const s = send(bindingResource(), bindDone({ ok: false, condition: "conflict" }));
  assert.equal(s.state, "negotiating.binding");
  assert.deepEqual(s.sent, [
    { type: "sendBindError", params: { id: "bind1", condition: "conflict" } },
  ]);
  const retry = send(s, { type: "BIND", id: "bind2", resource: null });
  assert.equal(retry.state, "negotiating.bindingResource");
  assert.equal(retry.snapshot.context.bindRequestId, "bind2");
});

Deno.test("a bindResource that throws answers internal-server-error", () => {
  const s = send(bindingResource(), { type: "BIND_FAILED" });
  assert.equal(s.state, "negotiating.binding");
  assert.deepEqual(s.sent, [
    { type: "sendBindError", params: { id: "bind1", condition: "internal-server-error" } },
  ]);
});

Deno.test("a stanza before binding ends the stream with not-authorized", () => {
  const s = send(binding(), { type: "STANZA", element: x("message") });
  assert.equal(s.state, "closing");
  assert.deepEqual(paramsOf(s, "sendStreamError"), {
    condition: "not-authorized",
    text: "bind a resource first",
  });
});

Deno.test("STARTTLS after authentication ends the stream with policy-violation", () => {
  const s = send(binding(), { type: "STARTTLS" });
  assert.equal(s.state, "closing");
  assert.deepEqual(paramsOf(s, "sendStreamError"), { condition: "policy-violation" });
});

// --- established -------------------------------------------------------------------------------

Deno.test("stanzas in established are delivered", () => {
  const msg = x("message", { to: "bob@example.org" }, x("body", {}, "hi"));
  const s = send(established(), { type: "STANZA", element: msg });
  assert.equal(s.state, "established");
  assert.deepEqual(s.sent, [{ type: "deliver", params: { element: msg } }]);
});

Deno.test("a second BIND in established is refused with not-allowed", () => {
  const s = send(established(), { type: "BIND", id: "again", resource: "x" });
  assert.equal(s.state, "established");
  assert.deepEqual(s.sent, [
    { type: "sendBindError", params: { id: "again", condition: "not-allowed" } },
  ]);
});

Deno.test("REPLACED ends an established stream with conflict", () => {
  const s = send(established(), { type: "REPLACED" });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    {
      type: "sendStreamError",
      params: { condition: "conflict", text: "replaced by a new session" },
    },
    { type: "sendClose" },
  ]);
});

// --- ending the stream -------------------------------------------------------------------------

Deno.test("the client's CLOSE is answered with our close and the transport closes", () => {
  for (const from of [opened, secured, challenged, binding, established]) {
    const s = send(from(), { type: "CLOSE" });
    assert.equal(s.state, "closed");
    assert.deepEqual(types(s), ["sendClose", "closeTransport", "sessionEnded"]);
  }
});

Deno.test("SOCKET_CLOSED ends the session without writing anything", () => {
  for (const from of [begin, opened, authenticating, binding, established, closing]) {
    const s = send(from(), { type: "SOCKET_CLOSED" });
    assert.equal(s.state, "closed");
    assert.equal(s.snapshot.status, "done");
    assert.deepEqual(types(s), ["closeTransport", "sessionEnded"]);
  }
});

Deno.test("STREAM_ERROR before our header sends the header first", () => {
  const s = send(begin(), { type: "STREAM_ERROR", condition: "not-well-formed", text: "oops" });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendStreamError", params: { condition: "not-well-formed", text: "oops" } },
    { type: "sendClose" },
  ]);
});

Deno.test("STREAM_ERROR on a restarted stream that has no header yet sends one first", () => {
  const s = send(authenticated(), { type: "STREAM_ERROR", condition: "policy-violation" });
  assert.deepEqual(types(s), ["sendHeader", "sendStreamError", "sendClose"]);
});

Deno.test("STREAM_ERROR after our header sends only the error and the close", () => {
  for (const from of [opened, challenged, binding, established]) {
    const s = send(from(), { type: "STREAM_ERROR", condition: "restricted-xml" });
    assert.equal(s.state, "closing");
    assert.deepEqual(s.sent, [
      { type: "sendStreamError", params: { condition: "restricted-xml", text: undefined } },
      { type: "sendClose" },
    ]);
  }
});

Deno.test("SHUTDOWN ends the stream with system-shutdown", () => {
  for (const from of [opened, binding, established]) {
    const s = send(from(), { type: "SHUTDOWN" });
    assert.equal(s.state, "closing");
    assert.deepEqual(s.sent, [
      { type: "sendStreamError", params: { condition: "system-shutdown" } },
      { type: "sendClose" },
    ]);
  }
});

Deno.test("SHUTDOWN before the stream opened sends our header before the error", () => {
  const s = send(begin(), { type: "SHUTDOWN" });
  assert.equal(s.state, "closing");
  assert.deepEqual(s.sent, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendStreamError", params: { condition: "system-shutdown" } },
    { type: "sendClose" },
  ]);
});

Deno.test("END closes the stream without an error", () => {
  const s = send(established(), { type: "END" });
  assert.equal(s.state, "closing");
  assert.deepEqual(types(s), ["sendClose"]);
});

Deno.test("END before the stream opened sends our header before the close", () => {
  const s = send(begin(), { type: "END" });
  assert.equal(s.state, "closing");
  assert.deepEqual(types(s), ["sendHeader", "sendClose"]);
});

Deno.test("closing waits for the client's close and then closes the transport", () => {
  const s = send(closing(), { type: "CLOSE" });
  assert.equal(s.state, "closed");
  // Our close was written on entering closing; it is not written twice.
  assert.deepEqual(types(s), ["closeTransport", "sessionEnded"]);
});

Deno.test("closing writes nothing more after our close: stanzas, errors, shutdown, end", () => {
  for (
    const e of [
      { type: "STANZA", element: x("message") },
      { type: "STREAM_ERROR", condition: "not-well-formed" },
      { type: "SHUTDOWN" },
      { type: "END" },
      { type: "REPLACED" },
      { type: "BIND", id: "b", resource: null },
    ] as ConnectionEvent[]
  ) {
    const s = send(closing(), e);
    assert.equal(s.state, "closing", e.type);
    assert.deepEqual(s.sent, [], e.type);
  }
});

// --- classifyElement ---------------------------------------------------------------------------

Deno.test("classifyElement: starttls in the TLS namespace is STARTTLS, elsewhere a stanza", () => {
  assert.deepEqual(classifyElement(x("starttls", { xmlns: NS.tls })), { type: "STARTTLS" });
  assert.equal(classifyElement(x("starttls", { xmlns: "urn:other" })).type, "STANZA");
});

Deno.test("classifyElement: auth carries the mechanism and the decoded initial response", () => {
  const e = classifyElement(x("auth", { xmlns: NS.sasl, mechanism: "PLAIN" }, btoa("\0a\0b")));
  assert.deepEqual(e, { type: "AUTH", mechanism: "PLAIN", data: bytes("\0a\0b") });
});

Deno.test("classifyElement: an empty auth has no data, '=' is an empty response", () => {
  assert.deepEqual(classifyElement(x("auth", { xmlns: NS.sasl, mechanism: "X" })), {
    type: "AUTH",
    mechanism: "X",
    data: null,
  });
  assert.deepEqual(classifyElement(x("auth", { xmlns: NS.sasl, mechanism: "X" }, "=")), {
    type: "AUTH",
    mechanism: "X",
    data: new Uint8Array(0),
  });
});

Deno.test("classifyElement: auth without a mechanism attribute has mechanism ''", () => {
  const e = classifyElement(x("auth", { xmlns: NS.sasl }));
  assert.deepEqual(e, { type: "AUTH", mechanism: "", data: null });
});

Deno.test("classifyElement: response and abort", () => {
  assert.deepEqual(classifyElement(x("response", { xmlns: NS.sasl }, " Yz1iaXdz \n")), {
    type: "SASL_RESPONSE",
    data: bytes("c=biws"),
  });
  assert.deepEqual(classifyElement(x("response", { xmlns: NS.sasl })), {
    type: "SASL_RESPONSE",
    data: null,
  });
  assert.deepEqual(classifyElement(x("abort", { xmlns: NS.sasl })), { type: "SASL_ABORT" });
});

Deno.test("classifyElement: invalid base64 in any SASL element is SASL_BAD_ENCODING", () => {
  for (const text of ["not base64!", "abc", "ab=c", "===="]) {
    for (const name of ["auth", "response"]) {
      assert.deepEqual(
        classifyElement(x(name, { xmlns: NS.sasl, mechanism: "PLAIN" }, text)),
        { type: "SASL_BAD_ENCODING" },
        `${name} ${text}`,
      );
    }
  }
});

Deno.test("classifyElement: an unknown element in the SASL namespace is a stanza", () => {
  assert.equal(classifyElement(x("success", { xmlns: NS.sasl })).type, "STANZA");
});

Deno.test("classifyElement: iq set with bind is BIND with the trimmed resource", () => {
  const iq = (resource?: string) =>
    x(
      "iq",
      { type: "set", id: "b1" },
      x("bind", { xmlns: NS.bind }, resource === undefined ? null : x("resource", {}, resource)),
    );
  assert.deepEqual(classifyElement(iq(" phone ")), { type: "BIND", id: "b1", resource: "phone" });
  assert.deepEqual(classifyElement(iq("")), { type: "BIND", id: "b1", resource: null });
  assert.deepEqual(classifyElement(iq("  ")), { type: "BIND", id: "b1", resource: null });
  assert.deepEqual(classifyElement(iq()), { type: "BIND", id: "b1", resource: null });
});

Deno.test("classifyElement: a bind iq without id binds with id ''", () => {
  const e = classifyElement(x("iq", { type: "set" }, x("bind", { xmlns: NS.bind })));
  assert.deepEqual(e, { type: "BIND", id: "", resource: null });
});

Deno.test("classifyElement: iq get with bind, and other stanzas, are STANZA events", () => {
  for (
    const el of [
      x("iq", { type: "get", id: "1" }, x("bind", { xmlns: NS.bind })),
      x("iq", { type: "set", id: "1" }, x("bind", { xmlns: "urn:other" })),
      x("iq", { type: "set", id: "1" }, x("query", { xmlns: NS.roster })),
      x("message", {}, x("body", {}, "hi")),
      x("presence"),
    ]
  ) {
    const e = classifyElement(el);
    assert.equal(e.type, "STANZA");
    assert.equal((e as { element: unknown }).element, el);
  }
});

// --- timeouts, with a real actor on a simulated clock ------------------------------------------

/** The machine with every action recorded and SASL/bind implemented by the given results. */
function live(
  over: Partial<ConnectionInput> = {},
  opts: { sasl?: SaslStep; bind?: BindOutput } = {},
) {
  const clock = new SimulatedClock();
  const log: Sent[] = [];
  const record = (type: string) => (_: unknown, params: unknown) => {
    log.push(params === undefined ? { type } : { type, params });
  };
  const names = [
    "sendHeader",
    "sendFeatures",
    "sendTlsProceed",
    "sendTlsFailure",
    "startTls",
    "resetParser",
    "sendSaslChallenge",
    "sendSaslSuccess",
    "sendSaslFailure",
    "sendBindResult",
    "sendBindError",
    "routePreAuth",
    "deliver",
    "sendStreamError",
    "sendClose",
    "closeTransport",
    "sessionEnded",
    "sessionEstablished",
    "authFailed",
    "authSucceeded",
  ] as const;
  const actions = Object.fromEntries(names.map((n) => [n, record(n)]));
  // As the adapter does: the result of the work an action starts comes back later, as an event.
  const later = (event: ConnectionEvent) => () => queueMicrotask(() => actor.send(event));
  const machine = connectionMachine.provide({
    actions: {
      // deno-lint-ignore no-explicit-any
      ...actions as any,
      runSaslStep: later({
        type: "SASL_STEP",
        step: opts.sasl ?? { type: "success", username: "alice" },
      }),
      bindResource: later({
        type: "BOUND",
        result: opts.bind ?? { ok: true, jid: "alice@example.org/r" },
      }),
    },
  });
  const actor = createActor(machine, { clock, input: input(over) });
  actor.start();
  return { actor, clock, log, state: () => stateOf(actor.getSnapshot()) };
}

function stop(actor: AnyActorRef): void {
  actor.stop();
}

Deno.test("no stream header within openTimeout: header, connection-timeout, close", () => {
  const t = live({ openTimeoutMs: 5_000 });
  t.clock.increment(4_999);
  assert.equal(t.state(), "negotiating.awaitingOpen");
  assert.deepEqual(t.log, []);
  t.clock.increment(1);
  assert.equal(t.state(), "closing");
  assert.deepEqual(t.log, [
    { type: "sendHeader", params: { stage: "initial" } },
    { type: "sendStreamError", params: { condition: "connection-timeout" } },
    { type: "sendClose" },
  ]);
  stop(t.actor);
});

Deno.test("the open timer stops when the header arrives", () => {
  const t = live({ openTimeoutMs: 5_000, negotiationTimeoutMs: 60_000 });
  t.clock.increment(4_000);
  t.actor.send(OPEN);
  t.clock.increment(10_000);
  assert.equal(t.state(), "negotiating.unauthenticated");
  assert.deepEqual(t.log.map((a) => a.type), ["sendHeader", "sendFeatures"]);
  stop(t.actor);
});

Deno.test("the open timer is armed again for the stream restarted after STARTTLS", () => {
  const t = live({ openTimeoutMs: 5_000 });
  t.actor.send(OPEN);
  t.actor.send({ type: "STARTTLS" });
  t.actor.send({ type: "TLS_DONE" });
  t.log.length = 0;
  t.clock.increment(5_000);
  assert.equal(t.state(), "closing");
  assert.deepEqual(t.log.map((a) => a.type), ["sendHeader", "sendStreamError", "sendClose"]);
  stop(t.actor);
});

Deno.test("negotiation that outlasts negotiationTimeout ends with connection-timeout", () => {
  const t = live({ openTimeoutMs: 5_000, negotiationTimeoutMs: 30_000 });
  t.actor.send(OPEN);
  t.log.length = 0;
  t.clock.increment(29_999);
  assert.equal(t.state(), "negotiating.unauthenticated");
  t.clock.increment(1);
  assert.equal(t.state(), "closing");
  assert.deepEqual(t.log, [
    {
      type: "sendStreamError",
      params: { condition: "connection-timeout", text: "stream negotiation took too long" },
    },
    { type: "sendClose" },
  ]);
  stop(t.actor);
});

Deno.test("negotiationTimeout on a restarted stream without header sends the header first", () => {
  // Opening timer longer than what is left of the negotiation budget.
  const t = live({ openTimeoutMs: 20_000, negotiationTimeoutMs: 30_000 });
  t.actor.send(OPEN);
  t.clock.increment(15_000);
  t.actor.send({ type: "STARTTLS" });
  t.actor.send({ type: "TLS_DONE" });
  t.log.length = 0;
  t.clock.increment(15_000);
  assert.equal(t.state(), "closing");
  assert.deepEqual(t.log.map((a) => a.type), ["sendHeader", "sendStreamError", "sendClose"]);
  stop(t.actor);
});

Deno.test("an established session is not ended by the negotiation timer", async () => {
  const t = live({ secure: true, negotiationTimeoutMs: 30_000 });
  t.actor.send(OPEN);
  t.actor.send({ type: "AUTH", mechanism: "SCRAM-SHA-256", data: null });
  await waitFor(t.actor, (s) => s.matches({ negotiating: "awaitingOpen" }));
  t.actor.send(OPEN);
  t.actor.send({ type: "BIND", id: "b", resource: "r" });
  await waitFor(t.actor, (s) => s.matches("established"));
  assert.ok(t.log.some((a) => a.type === "sessionEstablished"));
  t.clock.increment(120_000);
  assert.equal(t.state(), "established");
  stop(t.actor);
});

Deno.test("closing gives the client closingGrace to answer, then closes the transport", () => {
  const t = live({ closingGraceMs: 3_000 });
  t.actor.send(OPEN);
  t.actor.send({ type: "END" });
  t.log.length = 0;
  t.clock.increment(2_999);
  assert.equal(t.state(), "closing");
  t.clock.increment(1);
  assert.equal(t.state(), "closed");
  assert.equal(t.actor.getSnapshot().status, "done");
  assert.deepEqual(t.log.map((a) => a.type), ["closeTransport", "sessionEnded"]);
});

Deno.test("closingGrace defaults to two seconds", () => {
  const t = live();
  t.actor.send(OPEN);
  t.actor.send({ type: "SHUTDOWN" });
  t.clock.increment(1_999);
  assert.equal(t.state(), "closing");
  t.clock.increment(1);
  assert.equal(t.state(), "closed");
});

Deno.test("the client's close during the grace period closes at once and cancels the timer", () => {
  const t = live({ closingGraceMs: 3_000 });
  t.actor.send(OPEN);
  t.actor.send({ type: "END" });
  t.actor.send({ type: "CLOSE" });
  assert.equal(t.state(), "closed");
  const ends = t.log.filter((a) => a.type === "sessionEnded").length;
  t.clock.increment(10_000);
  assert.equal(t.log.filter((a) => a.type === "sessionEnded").length, ends);
  assert.equal(ends, 1);
});

Deno.test("closed is final: an ended actor ignores every later event", () => {
  // A live actor, because the pure transition() does not check whether a snapshot is done.
  const t = live();
  t.actor.send(OPEN);
  t.actor.send({ type: "SOCKET_CLOSED" });
  assert.equal(t.actor.getSnapshot().status, "done");
  const before = t.log.length;
  t.actor.send({ type: "CLOSE" });
  t.actor.send({ type: "STREAM_ERROR", condition: "conflict" });
  t.actor.send({ type: "SHUTDOWN" });
  t.clock.increment(120_000);
  assert.equal(t.state(), "closed");
  assert.equal(t.log.length, before);
});

Deno.test("a SASL failure run by the real actor counts and reports", async () => {
  const t = live({ secure: true }, { sasl: { type: "failure", condition: "not-authorized" } });
  t.actor.send(OPEN);
  t.actor.send({ type: "AUTH", mechanism: "SCRAM-SHA-256", data: null });
  await waitFor(t.actor, (s) => s.context.saslFailures === 1);
  assert.equal(t.state(), "negotiating.unauthenticated");
  assert.ok(t.log.some((a) => a.type === "authFailed"));
  stop(t.actor);
});
