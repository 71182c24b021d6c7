/**
 * One user's message delivery as an XState v5 machine (`user:<bareJid>`): offline <-> online,
 * with online split into `flushing` (stored messages go out first, oldest first) and `live`.
 * Every delivery decision — deliver now, store offline, bounce, drop — is a guarded transition
 * here; the actions and invoked actors that carry them out (writing to sessions, the offline
 * store) are provided by sess-man's adapter (`plugins/sess_man/users.ts`). No I/O in this file.
 *
 * Presence drives it: a resource with available presence and priority >= 0 makes the user
 * online (RFC 6121 §8.5, XEP-0160); the first one to appear gets the stored messages.
 */
import { assign, enqueueActions, fromPromise, setup } from "xstate";
import type { Element } from "../xml/element.ts";
import type { StanzaErrorCondition } from "../protocol/errors.ts";

/** Openfire's offline strategies (xmpp.offline.type), over the msgoffline quotas. */
export type OfflineStrategy = "store" | "bounce" | "drop" | "store_and_bounce" | "store_and_drop";

/** A message addressed to this user, as the machine needs to see it. */
export interface InboundMessage {
  /** a per-actor sequence number, for tracing */
  seq: number;
  stanza: Element;
  /** "chat" | "normal" | "headline" | "groupchat" | "error" */
  type: string;
  /** the addressed resource, or null for the bare JID */
  resource: string | null;
  /** has a body and no XEP-0334 no-store hint: worth storing when the user is away */
  storable: boolean;
}

export interface UserInput {
  jid: string;
  /** null when the msgoffline component is off: nothing is ever stored */
  offline: OfflineStrategy | null;
  idleTimeoutMs: number;
}

export interface UserContext extends UserInput {
  /** bound sessions by resource: their presence priority, or null while not available */
  sessions: Record<string, number | null>;
  /** messages waiting to be stored, one at a time, in arrival order */
  pending: InboundMessage[];
  /** messages that arrived during a flush, delivered once it is done */
  held: InboundMessage[];
  /** the resource that receives the stored messages */
  flushTarget: string | null;
}

export type StoreOutput = { stored: true } | { stored: false; reason: "over-quota" };

export type UserEvent =
  | { type: "SESSION_BOUND"; resource: string }
  | { type: "PRESENCE"; resource: string; priority: number | null }
  | { type: "SESSION_CLOSED"; resource: string }
  | { type: "MESSAGE"; message: InboundMessage };

function deliverableResources(ctx: UserContext): string[] {
  return Object.entries(ctx.sessions).filter(([, p]) => p !== null && p >= 0).map(([r]) => r);
}

function messageOf(event: UserEvent): InboundMessage | null {
  return event.type === "MESSAGE" ? event.message : null;
}

const storeStrategies = new Set<OfflineStrategy>(["store", "store_and_bounce", "store_and_drop"]);

export const userMachine = setup({
  types: {
    context: {} as UserContext,
    events: {} as UserEvent,
    input: {} as UserInput,
  },
  actors: {
    /** msgoffline: check quota, store; resolves when committed */
    storeOffline: fromPromise<StoreOutput, { message: InboundMessage }>(() => {
      throw new Error("storeOffline not provided");
    }),
    /** push stored messages to the resource with a delay stamp, delete them once written */
    flushOffline: fromPromise<{ delivered: number }, { resource: string }>(() => {
      throw new Error("flushOffline not provided");
    }),
  },
  actions: {
    /** to one resource (a full-JID message whose resource is bound) */
    deliverToResource: (_, _p: { message: InboundMessage; resource: string }) => {},
    /** to the highest-priority available resources (chat/normal to the bare JID) */
    deliverToHighest: (_, _p: { message: InboundMessage }) => {},
    /** to every available resource with priority >= 0 (headline) */
    deliverToAll: (_, _p: { message: InboundMessage }) => {},
    bounce: (_, _p: { message: InboundMessage; condition: StanzaErrorCondition }) => {},
    /** not an error and not delivered: chat states to an absent user, or strategy `drop` */
    drop: (_, _p: { message: InboundMessage; reason: string }) => {},
    stored: (_, _p: { message: InboundMessage }) => {},
    forgetSession: assign({
      sessions: ({ context, event }) => {
        if (event.type !== "SESSION_CLOSED") return context.sessions;
        const { [event.resource]: _gone, ...rest } = context.sessions;
        return rest;
      },
      flushTarget: ({ context, event }) =>
        event.type === "SESSION_CLOSED" && context.flushTarget === event.resource
          ? null
          : context.flushTarget,
    }),
    /** messages held behind a flush are decided again in the state we are now in */
    releaseHeld: enqueueActions(({ context, enqueue }) => {
      for (const message of context.held) enqueue.raise({ type: "MESSAGE", message });
      enqueue.assign({ held: [] });
    }),
  },
  guards: {
    toBoundResource: ({ context, event }) => {
      const m = messageOf(event);
      return m !== null && m.resource !== null && m.resource in context.sessions;
    },
    isGroupchat: ({ event }) => messageOf(event)?.type === "groupchat",
    isHeadline: ({ event }) => messageOf(event)?.type === "headline",
    isError: ({ event }) => messageOf(event)?.type === "error",
    notStorable: ({ event }) => {
      const m = messageOf(event);
      return m !== null && (!m.storable || m.type === "headline" || m.type === "error");
    },
    offlineBounces: ({ context }) => context.offline === null || context.offline === "bounce",
    offlineDrops: ({ context }) => context.offline === "drop",
    offlineStores: ({ context }) =>
      context.offline !== null && storeStrategies.has(context.offline),
    hasPending: ({ context }) => context.pending.length > 0,
    hasDeliverable: ({ context }) => deliverableResources(context).length > 0,
    noDeliverable: ({ context }) => deliverableResources(context).length === 0,
    noSessions: ({ context }) => Object.keys(context.sessions).length === 0,
    wasStored: ({ event }) => "output" in event && (event.output as StoreOutput).stored,
    overQuotaBounces: ({ context }) =>
      context.offline === "store_and_bounce" || context.offline === "store",
  },
  delays: {
    idleTimeout: ({ context }) => context.idleTimeoutMs,
  },
}).createMachine({
  id: "user",
  context: ({ input }) => ({ ...input, sessions: {}, pending: [], held: [], flushTarget: null }),
  initial: "offline",
  on: {
    SESSION_BOUND: {
      actions: assign({
        sessions: ({ context, event }) => ({ ...context.sessions, [event.resource]: null }),
      }),
    },
    SESSION_CLOSED: { actions: "forgetSession" },
    PRESENCE: {
      actions: assign({
        sessions: ({ context, event }) =>
          event.resource in context.sessions
            ? { ...context.sessions, [event.resource]: event.priority }
            : context.sessions,
      }),
    },
  },
  states: {
    offline: {
      initial: "idle",
      entry: "releaseHeld",
      on: {
        PRESENCE: {
          // The first resource to become available while offline receives the stored messages.
          actions: assign({
            sessions: ({ context, event }) =>
              event.resource in context.sessions
                ? { ...context.sessions, [event.resource]: event.priority }
                : context.sessions,
            // A target that stops being available (possible while a store is in progress)
            // gives way; the flush then goes to whichever resource is available.
            flushTarget: ({ context, event }) =>
              context.flushTarget !== null && context.flushTarget !== event.resource
                ? context.flushTarget
                : event.priority !== null && event.priority >= 0 &&
                    event.resource in context.sessions
                ? event.resource
                : null,
          }),
        },
        MESSAGE: [
          {
            guard: "toBoundResource",
            actions: {
              type: "deliverToResource",
              params: ({ event }) => ({
                message: event.message,
                resource: event.message.resource ?? "",
              }),
            },
          },
          {
            guard: "isGroupchat",
            actions: {
              type: "bounce",
              params: ({ event }) => ({
                message: event.message,
                condition: "service-unavailable",
              }),
            },
          },
          {
            guard: "notStorable",
            actions: {
              type: "drop",
              params: ({ event }) => ({ message: event.message, reason: "not stored offline" }),
            },
          },
          {
            guard: "offlineBounces",
            actions: {
              type: "bounce",
              params: ({ event }) => ({
                message: event.message,
                condition: "service-unavailable",
              }),
            },
          },
          {
            guard: "offlineDrops",
            actions: {
              type: "drop",
              params: ({ event }) => ({ message: event.message, reason: "offline strategy drop" }),
            },
          },
          {
            guard: "offlineStores",
            actions: assign({
              pending: ({ context, event }) => [...context.pending, event.message],
            }),
          },
        ],
      },
      states: {
        idle: {
          always: [
            { guard: "hasPending", target: "storing" },
            { guard: "hasDeliverable", target: "#user.online" },
          ],
          after: {
            idleTimeout: { guard: "noSessions", target: "#user.stopped" },
          },
          on: {
            // Re-entering restarts the idle timer once the last session is gone.
            SESSION_CLOSED: { target: "idle", reenter: true, actions: "forgetSession" },
          },
        },
        storing: {
          invoke: {
            id: "storeOffline",
            src: "storeOffline",
            input: ({ context }) => ({ message: context.pending[0]! }),
            onDone: [
              {
                guard: "wasStored",
                target: "idle",
                actions: [
                  { type: "stored", params: ({ context }) => ({ message: context.pending[0]! }) },
                  assign({ pending: ({ context }) => context.pending.slice(1) }),
                ],
              },
              {
                guard: "overQuotaBounces",
                target: "idle",
                actions: [
                  {
                    type: "bounce",
                    params: ({ context }) => ({
                      message: context.pending[0]!,
                      condition: "resource-constraint",
                    }),
                  },
                  assign({ pending: ({ context }) => context.pending.slice(1) }),
                ],
              },
              {
                target: "idle",
                actions: [
                  {
                    type: "drop",
                    params: ({ context }) => ({
                      message: context.pending[0]!,
                      reason: "offline quota reached",
                    }),
                  },
                  assign({ pending: ({ context }) => context.pending.slice(1) }),
                ],
              },
            ],
            // A failed store is never silent: the sender hears about it.
            onError: {
              target: "idle",
              actions: [
                {
                  type: "bounce",
                  params: ({ context }) => ({
                    message: context.pending[0]!,
                    condition: "internal-server-error",
                  }),
                },
                assign({ pending: ({ context }) => context.pending.slice(1) }),
              ],
            },
          },
        },
      },
    },
    online: {
      initial: "flushing",
      always: { guard: "noDeliverable", target: "offline" },
      states: {
        flushing: {
          invoke: {
            id: "flushOffline",
            src: "flushOffline",
            input: ({ context }) => ({
              resource: context.flushTarget ?? deliverableResources(context)[0] ?? "",
            }),
            onDone: "live",
            // Stored messages stay stored; the next login tries again.
            onError: "live",
          },
          on: {
            MESSAGE: {
              // Held so nothing overtakes the older stored messages.
              actions: assign({
                held: ({ context, event }) => [...context.held, event.message],
              }),
            },
          },
          exit: assign({ flushTarget: null }),
        },
        live: {
          entry: "releaseHeld",
          on: {
            MESSAGE: [
              {
                guard: "toBoundResource",
                actions: {
                  type: "deliverToResource",
                  params: ({ event }) => ({
                    message: event.message,
                    resource: event.message.resource ?? "",
                  }),
                },
              },
              {
                guard: "isGroupchat",
                actions: {
                  type: "bounce",
                  params: ({ event }) => ({
                    message: event.message,
                    condition: "service-unavailable",
                  }),
                },
              },
              {
                guard: "isError",
                actions: {
                  type: "drop",
                  params: ({ event }) => ({
                    message: event.message,
                    reason: "error to gone resource",
                  }),
                },
              },
              {
                guard: "isHeadline",
                actions: {
                  type: "deliverToAll",
                  params: ({ event }) => ({ message: event.message }),
                },
              },
              {
                actions: {
                  type: "deliverToHighest",
                  params: ({ event }) => ({ message: event.message }),
                },
              },
            ],
          },
        },
      },
    },
    stopped: { type: "final" },
  },
});
