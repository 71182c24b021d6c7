/**
 * What the connection machine itself costs per login: one actor in a pooled system taken from
 * start through header, a two-step SASL exchange, the restarted header and bind to established,
 * then closed. Actions do nothing and the SASL and bind answers are immediate, so the figure is
 * XState's interpretation of the negotiation alone, the part of a login's CPU that grows with the
 * machine's events and states (docs/performance.md).
 *
 *   deno bench --allow-all bench/connection_machine_bench.ts
 */
import type { Actor } from "xstate";
import {
  type ConnectionEvent,
  type ConnectionInput,
  connectionMachine,
} from "../actors/connection_machine.ts";
import { SystemPool } from "../actors/system_pool.ts";

type Answer = Extract<ConnectionEvent, { type: "SASL_STEP" | "BOUND" }>;

const answerLater = (self: unknown, event: Answer) =>
  queueMicrotask(() => (self as Actor<typeof connectionMachine>).send(event));

const names = Object.keys(connectionMachine.implementations.actions);
const machine = connectionMachine.provide({
  actions: {
    ...Object.fromEntries(names.map((n) => [n, () => {}])),
    runSaslStep: ({ self }, p: { data: Uint8Array | null }) =>
      answerLater(self, {
        type: "SASL_STEP",
        step: p.data?.length === 1
          ? { type: "challenge", data: new Uint8Array(3) }
          : { type: "success", username: "alice" },
      }),
    bindResource: ({ self }) =>
      answerLater(self, { type: "BOUND", result: { ok: true, jid: "alice@example.org/r" } }),
  },
});

const input: ConnectionInput = {
  streamId: "s1",
  domain: "example.org",
  secure: false,
  tlsAvailable: false,
  requireEncryption: false,
  mechanisms: [{ name: "SCRAM-SHA-1", requiresTls: false }],
  preAuthIqNamespaces: [],
  openTimeoutMs: 30_000,
  negotiationTimeoutMs: 60_000,
  maxSaslFailures: 5,
};
const OPEN = { type: "OPEN", attrs: { version: "1.0", to: "example.org" } } as const;
const pool = new SystemPool(64);

/** Resolves when the actor reaches `value` (the machine's answers come a microtask later). */
function reached(actor: Actor<typeof connectionMachine>, value: string): Promise<void> {
  return new Promise((resolve) => {
    const sub = actor.subscribe((snap) => {
      const v = snap.value;
      const name = typeof v === "string"
        ? v
        : `negotiating.${(v as { negotiating: string }).negotiating}`;
      if (name !== value) return;
      sub.unsubscribe();
      resolve();
    });
  });
}

async function login(): Promise<void> {
  const { actor, release } = pool.guest(machine, { input });
  actor.start();
  actor.send(OPEN);
  let next = reached(actor, "negotiating.saslChallenge");
  actor.send({ type: "AUTH", mechanism: "SCRAM-SHA-1", data: new Uint8Array(1) });
  await next;
  next = reached(actor, "negotiating.awaitingOpen");
  actor.send({ type: "SASL_RESPONSE", data: new Uint8Array(2) });
  await next;
  actor.send(OPEN);
  next = reached(actor, "established");
  actor.send({ type: "BIND", id: "b1", resource: "r" });
  await next;
  actor.send({ type: "CLOSE" });
  if (actor.getSnapshot().status !== "done") throw new Error("not closed");
  release();
}

Deno.bench("one login through the connection machine (no I/O)", async () => {
  await login();
});
