import assert from "node:assert/strict";
import {
  type Direction,
  nameOf,
  STATE_NAMES,
  type StateName,
  stateOf,
  type SubscriptionType,
  transition,
} from "./subscription.ts";

/**
 * RFC 6121 Appendix A, transcribed as the RFC prints it: existing state | route/deliver? | new
 * state ("-" for "no state change"). Outbound subscribe is routed in every state (§3.1.2).
 */
const RFC: Record<`${Direction} ${SubscriptionType}`, string> = {
  "outbound subscribe": `
    None                  | yes | None + Pending Out
    None + Pending Out    | yes | -
    None + Pending In     | yes | None + Pending Out+In
    None + Pending Out+In | yes | -
    To                    | yes | -
    To + Pending In       | yes | -
    From                  | yes | From + Pending Out
    From + Pending Out    | yes | -
    Both                  | yes | -`,
  "outbound subscribed": `
    None                  | no  | -
    None + Pending Out    | no  | -
    None + Pending In     | yes | From
    None + Pending Out+In | yes | From + Pending Out
    To                    | no  | -
    To + Pending In       | yes | Both
    From                  | no  | -
    From + Pending Out    | no  | -
    Both                  | no  | -`,
  "outbound unsubscribe": `
    None                  | no  | -
    None + Pending Out    | yes | None
    None + Pending In     | no  | -
    None + Pending Out+In | yes | None + Pending In
    To                    | yes | None
    To + Pending In       | yes | None + Pending In
    From                  | no  | -
    From + Pending Out    | yes | From
    Both                  | yes | From`,
  "outbound unsubscribed": `
    None                  | no  | -
    None + Pending Out    | no  | -
    None + Pending In     | yes | None
    None + Pending Out+In | yes | None + Pending Out
    To                    | no  | -
    To + Pending In       | yes | To
    From                  | yes | None
    From + Pending Out    | yes | None + Pending Out
    Both                  | yes | To`,
  "inbound subscribe": `
    None                  | yes | None + Pending In
    None + Pending Out    | yes | None + Pending Out+In
    None + Pending In     | no  | -
    None + Pending Out+In | no  | -
    To                    | yes | To + Pending In
    To + Pending In       | no  | -
    From                  | no  | -
    From + Pending Out    | no  | -
    Both                  | no  | -`,
  "inbound subscribed": `
    None                  | no  | -
    None + Pending Out    | yes | To
    None + Pending In     | no  | -
    None + Pending Out+In | yes | To + Pending In
    To                    | no  | -
    To + Pending In       | no  | -
    From                  | no  | -
    From + Pending Out    | yes | Both
    Both                  | no  | -`,
  "inbound unsubscribe": `
    None                  | no  | -
    None + Pending Out    | no  | -
    None + Pending In     | yes | None
    None + Pending Out+In | yes | None + Pending Out
    To                    | no  | -
    To + Pending In       | yes | To
    From                  | yes | None
    From + Pending Out    | yes | None + Pending Out
    Both                  | yes | To`,
  "inbound unsubscribed": `
    None                  | no  | -
    None + Pending Out    | yes | None
    None + Pending In     | no  | -
    None + Pending Out+In | yes | None + Pending In
    To                    | yes | None
    To + Pending In       | yes | None + Pending In
    From                  | no  | -
    From + Pending Out    | yes | From
    Both                  | yes | From`,
};

for (const [key, table] of Object.entries(RFC)) {
  const [dir, type] = key.split(" ") as [Direction, SubscriptionType];
  Deno.test(`${dir} ${type} follows RFC 6121 Appendix A in all nine states`, () => {
    const rows = table.trim().split("\n").map((l) => l.split("|").map((c) => c.trim()));
    assert.deepEqual(rows.map((r) => r[0]), [...STATE_NAMES], "the table covers every state");
    for (const [existing, pass, next] of rows) {
      const out = transition(stateOf(existing as StateName), dir, type);
      const want = next === "-" ? existing : next;
      assert.equal(nameOf(out.state), want, `${existing}: new state`);
      assert.equal(out.changed, next !== "-", `${existing}: changed`);
      assert.equal(out.pass, pass === "yes", `${existing}: route/deliver`);
    }
  });
}

Deno.test("state names and states convert both ways", () => {
  for (const name of STATE_NAMES) assert.equal(nameOf(stateOf(name)), name);
  assert.equal(new Set(STATE_NAMES.map((n) => JSON.stringify(stateOf(n)))).size, 9);
});

Deno.test("inbound subscribe is auto-approved exactly when the contact is already subscribed", () => {
  for (const name of STATE_NAMES) {
    const out = transition(stateOf(name), "inbound", "subscribe");
    const approved = name.startsWith("From") || name === "Both";
    assert.equal(out.autoReply, approved ? "subscribed" : undefined, name);
  }
  for (const type of ["subscribed", "unsubscribe", "unsubscribed"] as const) {
    for (const name of STATE_NAMES) {
      assert.equal(transition(stateOf(name), "inbound", type).autoReply, undefined);
      assert.equal(transition(stateOf(name), "outbound", type).autoReply, undefined);
    }
  }
});

Deno.test("approving a request sends the approver's presence to the new subscriber", () => {
  assert.equal(
    transition(stateOf("None + Pending In"), "outbound", "subscribed").presence,
    "available",
  );
  assert.equal(
    transition(stateOf("To + Pending In"), "outbound", "subscribed").presence,
    "available",
  );
  assert.equal(transition(stateOf("From"), "outbound", "subscribed").presence, undefined);
});

Deno.test("ending the contact's subscription sends unavailable to it", () => {
  for (const name of ["From", "From + Pending Out", "Both"] as const) {
    assert.equal(transition(stateOf(name), "outbound", "unsubscribed").presence, "unavailable");
    assert.equal(transition(stateOf(name), "inbound", "unsubscribe").presence, "unavailable");
  }
  // Ending the user's own subscription (to the contact) does not hide the user.
  assert.equal(transition(stateOf("Both"), "outbound", "unsubscribe").presence, undefined);
  assert.equal(transition(stateOf("Both"), "inbound", "unsubscribed").presence, undefined);
  assert.equal(
    transition(stateOf("None + Pending In"), "outbound", "unsubscribed").presence,
    undefined,
  );
});

Deno.test("the full handshake reaches both on each side", () => {
  // A subscribes to B, B approves and subscribes back, A approves.
  let a = stateOf("None");
  let b = stateOf("None");
  a = transition(a, "outbound", "subscribe").state;
  b = transition(b, "inbound", "subscribe").state;
  b = transition(b, "outbound", "subscribed").state;
  a = transition(a, "inbound", "subscribed").state;
  b = transition(b, "outbound", "subscribe").state;
  a = transition(a, "inbound", "subscribe").state;
  a = transition(a, "outbound", "subscribed").state;
  b = transition(b, "inbound", "subscribed").state;
  assert.equal(nameOf(a), "Both");
  assert.equal(nameOf(b), "Both");
});
