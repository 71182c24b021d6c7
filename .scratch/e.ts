import { initialTransition, transition } from "xstate";
import { connectionMachine } from "../actors/connection_machine.ts";
const input = { streamId: "s1", domain: "example.org", secure: false, tlsAvailable: true, requireEncryption: true,
  mechanisms: [{ name: "SCRAM-SHA-1", requiresTls: false }, { name: "PLAIN", requiresTls: true }],
  preAuthIqNamespaces: ["jabber:iq:register"], openTimeoutMs: 1000, negotiationTimeoutMs: 5000, maxSaslFailures: 2 };
const show = (label: string, [s, a]: any) => { console.log(label, JSON.stringify(s.value), a.map((x: any) => [x.type, x.params, x.id])); return s; };
let s = show("init", initialTransition(connectionMachine, input));
s = show("open", transition(connectionMachine, s, { type: "OPEN", attrs: { version: "1.0", to: "example.org" } }));
let t = show("starttls", transition(connectionMachine, s, { type: "STARTTLS" }));
t = show("tlsdone", transition(connectionMachine, t, { type: "TLS_DONE" }));
t = show("open2", transition(connectionMachine, t, { type: "OPEN", attrs: { version: "1.0", to: "example.org" } }));
t = show("auth", transition(connectionMachine, t, { type: "AUTH", mechanism: "SCRAM-SHA-1", data: null }));
console.log(Object.keys(t.children));
const t2 = show("done", transition(connectionMachine, t, { type: "xstate.done.actor.saslStep", output: { type: "challenge", data: new Uint8Array([1]) } } as any));
let t3 = show("succ", transition(connectionMachine, t, { type: "xstate.done.actor.saslStep", output: { type: "success", username: "alice" } } as any));
console.log(t3.context);
show("se closing", transition(connectionMachine, show("end", transition(connectionMachine, s, {type:"END"})), {type:"STREAM_ERROR", condition:"not-well-formed"}));
show("shutdown pre", transition(connectionMachine, initialTransition(connectionMachine, input)[0], {type:"SHUTDOWN"}));
show("end pre", transition(connectionMachine, initialTransition(connectionMachine, input)[0], {type:"END"}));
show("close pre", transition(connectionMachine, initialTransition(connectionMachine, input)[0], {type:"CLOSE"}));
