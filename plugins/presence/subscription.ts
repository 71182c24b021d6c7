/**
 * The subscription state machine of RFC 6121 §3 and Appendix A, as data: one table per
 * subscription stanza and direction, rows by existing state. No I/O: a state and an input in, the
 * new state and what the server must do out. The presence plugin applies the outcome.
 *
 * "Outbound" is a stanza the roster's owner sends (the user's server, Appendix A.2); "inbound" is a
 * stanza the owner receives from the contact (the contact's server, Appendix A.3).
 */
import type { Subscription } from "../../db/types.ts";

export type SubscriptionType = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed";
export type Direction = "outbound" | "inbound";

/** A roster item's subscription state as far as the state machine cares. */
export interface SubState {
  subscription: Subscription;
  /** "Pending Out": the owner asked for the contact's presence (shown as ask='subscribe') */
  askOut: boolean;
  /** "Pending In": the contact asked for the owner's presence, not yet answered */
  pendingIn: boolean;
}

export interface Outcome {
  state: SubState;
  /** the state differs from the one given */
  changed: boolean;
  /**
   * outbound: route the stanza to the contact; inbound: deliver it to the owner's resources
   * (for subscribe: store it as pending when no resource is there to see it).
   */
  pass: boolean;
  /** inbound only: the owner's server answers the contact itself with this type */
  autoReply?: "subscribed";
  /**
   * Presence the owner's server sends to the contact on its own: the owner's current presence
   * after approving a subscription, unavailable after cancelling one (RFC 6121 §3.1.5, §3.2.2,
   * §3.3.3).
   */
  presence?: "available" | "unavailable";
}

/** The nine states of RFC 6121 Appendix A, in the RFC's order and spelling. */
export type StateName =
  | "None"
  | "None + Pending Out"
  | "None + Pending In"
  | "None + Pending Out+In"
  | "To"
  | "To + Pending In"
  | "From"
  | "From + Pending Out"
  | "Both";

export const STATE_NAMES: readonly StateName[] = [
  "None",
  "None + Pending Out",
  "None + Pending In",
  "None + Pending Out+In",
  "To",
  "To + Pending In",
  "From",
  "From + Pending Out",
  "Both",
];

const STATES: Record<StateName, SubState> = {
  "None": { subscription: "none", askOut: false, pendingIn: false },
  "None + Pending Out": { subscription: "none", askOut: true, pendingIn: false },
  "None + Pending In": { subscription: "none", askOut: false, pendingIn: true },
  "None + Pending Out+In": { subscription: "none", askOut: true, pendingIn: true },
  "To": { subscription: "to", askOut: false, pendingIn: false },
  "To + Pending In": { subscription: "to", askOut: false, pendingIn: true },
  "From": { subscription: "from", askOut: false, pendingIn: false },
  "From + Pending Out": { subscription: "from", askOut: true, pendingIn: false },
  "Both": { subscription: "both", askOut: false, pendingIn: false },
};

/** The SubState a state name stands for. */
export function stateOf(name: StateName): SubState {
  return { ...STATES[name] };
}

/**
 * The RFC name of a state. States the RFC cannot reach (pending out while already subscribed to,
 * pending in while the contact is already subscribed from) are read without the redundant flag.
 */
export function nameOf(s: SubState): StateName {
  switch (s.subscription) {
    case "none":
      return s.askOut
        ? (s.pendingIn ? "None + Pending Out+In" : "None + Pending Out")
        : (s.pendingIn ? "None + Pending In" : "None");
    case "to":
      return s.pendingIn ? "To + Pending In" : "To";
    case "from":
      return s.askOut ? "From + Pending Out" : "From";
    case "both":
      return "Both";
  }
}

/** A row: the new state (null: no state change) and whether the stanza goes on. */
type Row = [next: StateName | null, pass: boolean];
type Table = Record<StateName, Row>;

/**
 * Appendix A.2.1, outbound subscribe. The stanza is routed in every state (RFC 6121 §3.1.2: the
 * contact's server answers a repeated request itself when it is already approved), so a contact
 * that lost its state can resynchronise.
 */
const OUT_SUBSCRIBE: Table = {
  "None": ["None + Pending Out", true],
  "None + Pending Out": [null, true],
  "None + Pending In": ["None + Pending Out+In", true],
  "None + Pending Out+In": [null, true],
  "To": [null, true],
  "To + Pending In": [null, true],
  "From": ["From + Pending Out", true],
  "From + Pending Out": [null, true],
  "Both": [null, true],
};

/** Appendix A.2.2, outbound subscribed (no pre-approval: without a request it is dropped). */
const OUT_SUBSCRIBED: Table = {
  "None": [null, false],
  "None + Pending Out": [null, false],
  "None + Pending In": ["From", true],
  "None + Pending Out+In": ["From + Pending Out", true],
  "To": [null, false],
  "To + Pending In": ["Both", true],
  "From": [null, false],
  "From + Pending Out": [null, false],
  "Both": [null, false],
};

/** Appendix A.2.3, outbound unsubscribe. */
const OUT_UNSUBSCRIBE: Table = {
  "None": [null, false],
  "None + Pending Out": ["None", true],
  "None + Pending In": [null, false],
  "None + Pending Out+In": ["None + Pending In", true],
  "To": ["None", true],
  "To + Pending In": ["None + Pending In", true],
  "From": [null, false],
  "From + Pending Out": ["From", true],
  "Both": ["From", true],
};

/** Appendix A.2.4, outbound unsubscribed (cancelling or denying). */
const OUT_UNSUBSCRIBED: Table = {
  "None": [null, false],
  "None + Pending Out": [null, false],
  "None + Pending In": ["None", true],
  "None + Pending Out+In": ["None + Pending Out", true],
  "To": [null, false],
  "To + Pending In": ["To", true],
  "From": ["None", true],
  "From + Pending Out": ["None + Pending Out", true],
  "Both": ["To", true],
};

/** Appendix A.3.1, inbound subscribe (From/Both: auto-replied, see below). */
const IN_SUBSCRIBE: Table = {
  "None": ["None + Pending In", true],
  "None + Pending Out": ["None + Pending Out+In", true],
  "None + Pending In": [null, false],
  "None + Pending Out+In": [null, false],
  "To": ["To + Pending In", true],
  "To + Pending In": [null, false],
  "From": [null, false],
  "From + Pending Out": [null, false],
  "Both": [null, false],
};

/** Appendix A.3.2, inbound subscribed. */
const IN_SUBSCRIBED: Table = {
  "None": [null, false],
  "None + Pending Out": ["To", true],
  "None + Pending In": [null, false],
  "None + Pending Out+In": ["To + Pending In", true],
  "To": [null, false],
  "To + Pending In": [null, false],
  "From": [null, false],
  "From + Pending Out": ["Both", true],
  "Both": [null, false],
};

/** Appendix A.3.3, inbound unsubscribe. */
const IN_UNSUBSCRIBE: Table = {
  "None": [null, false],
  "None + Pending Out": [null, false],
  "None + Pending In": ["None", true],
  "None + Pending Out+In": ["None + Pending Out", true],
  "To": [null, false],
  "To + Pending In": ["To", true],
  "From": ["None", true],
  "From + Pending Out": ["None + Pending Out", true],
  "Both": ["To", true],
};

/** Appendix A.3.4, inbound unsubscribed. */
const IN_UNSUBSCRIBED: Table = {
  "None": [null, false],
  "None + Pending Out": ["None", true],
  "None + Pending In": [null, false],
  "None + Pending Out+In": ["None + Pending In", true],
  "To": ["None", true],
  "To + Pending In": ["None + Pending In", true],
  "From": [null, false],
  "From + Pending Out": ["From", true],
  "Both": ["From", true],
};

/** Every table, by direction and stanza type. */
export const TABLES: Record<Direction, Record<SubscriptionType, Table>> = {
  outbound: {
    subscribe: OUT_SUBSCRIBE,
    subscribed: OUT_SUBSCRIBED,
    unsubscribe: OUT_UNSUBSCRIBE,
    unsubscribed: OUT_UNSUBSCRIBED,
  },
  inbound: {
    subscribe: IN_SUBSCRIBE,
    subscribed: IN_SUBSCRIBED,
    unsubscribe: IN_UNSUBSCRIBE,
    unsubscribed: IN_UNSUBSCRIBED,
  },
};

/** The contact may see the owner's presence. */
export function hasFrom(s: Subscription): boolean {
  return s === "from" || s === "both";
}

/** The owner may see the contact's presence. */
export function hasTo(s: Subscription): boolean {
  return s === "to" || s === "both";
}

/** Is this presence type one of the four subscription types? */
export function isSubscriptionType(type: string | undefined): type is SubscriptionType {
  return type === "subscribe" || type === "subscribed" || type === "unsubscribe" ||
    type === "unsubscribed";
}

/** Applies one subscription stanza to one roster item's state. */
export function transition(state: SubState, dir: Direction, type: SubscriptionType): Outcome {
  const from = nameOf(state);
  const [nextName, pass] = TABLES[dir][type][from];
  const next = nextName === null ? { ...STATES[from] } : stateOf(nextName);
  const out: Outcome = { state: next, changed: nextName !== null && nextName !== from, pass };
  if (dir === "inbound" && type === "subscribe" && hasFrom(next.subscription)) {
    // RFC 6121 §3.1.3: already approved, the server answers for the owner.
    out.autoReply = "subscribed";
  }
  if (!out.changed) return out;
  const before = hasFrom(state.subscription);
  const after = hasFrom(next.subscription);
  if (dir === "outbound" && !before && after) out.presence = "available";
  // Outbound unsubscribed (§3.2.2) and inbound unsubscribe (§3.3.3) end the contact's view.
  if (before && !after) out.presence = "unavailable";
  return out;
}
