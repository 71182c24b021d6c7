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

function isToBoundResource(ctx: UserContext, m: InboundMessage): boolean {
  return m.resource !== null && m.resource in ctx.sessions;
}

/** What the `live` state does with a message, in the order of its guarded transitions. */
export type LiveAction =
  | "deliverToResource"
  | "bounce"
  | "drop"
  | "deliverToAll"
  | "deliverToHighest";

/**
 * The `live` state's MESSAGE decision as a pure function. The machine's guards below are built
 * from the same predicates, and a test checks the two agree; the adapter calls this directly
 * for messages to a live user instead of sending an event (~8 us per XState event, DESIGN.md).
 */
export function liveDecision(ctx: UserContext, m: InboundMessage): LiveAction {
  if (isToBoundResource(ctx, m)) return "deliverToResource";
  if (m.type === "groupchat") return "bounce";
  if (m.type === "error") return "drop";
  if (m.type === "headline") return "deliverToAll";
  return "deliverToHighest";
}

const storeStrategies = new Set<OfflineStrategy>(["store", "store_and_bounce", "store_and_drop"]);

export const userMachine = setup({
  types: {
    context: {} as UserContext,
    events: {} as UserEvent,
    input: {} as UserInput,
  },
  actors: {
    /** msgoffline: check quotas, store what fits; resolves when committed, one result each */
    storeOffline: fromPromise<StoreOutput[], { owner: string; messages: InboundMessage[] }>(() => {
      throw new Error("storeOffline not provided");
    }),
    /** push stored messages to the resource with a delay stamp, delete them once written */
    flushOffline: fromPromise<{ delivered: number }, { owner: string; resource: string }>(() => {
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
      return m !== null && isToBoundResource(context, m);
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
    /** provided by the adapter; without one every login looks for stored messages */
    nothingStored: () => false,
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
          // Everything pending goes in one write: a burst to an absent user costs one round trip.
          invoke: {
            id: "storeOffline",
            src: "storeOffline",
            input: ({ context }) => ({ owner: context.jid, messages: context.pending }),
            // Per message: stored, or over quota and then bounced or dropped per strategy.
            onDone: {
              target: "idle",
              actions: enqueueActions(({ context, event, enqueue, check }) => {
                const results = (event as unknown as { output: StoreOutput[] }).output;
                results.forEach((r, i) => {
                  const message = context.pending[i]!;
                  if (r.stored) enqueue({ type: "stored", params: { message } });
                  else if (check("overQuotaBounces")) {
                    enqueue({
                      type: "bounce",
                      params: { message, condition: "resource-constraint" },
                    });
                  } else {enqueue({
                      type: "drop",
                      params: { message, reason: "offline quota reached" },
                    });}
                });
                // Messages that arrived during the write stay pending for the next one.
                enqueue.assign({ pending: context.pending.slice(results.length) });
              }),
            },
            // A failed store is never silent: every sender hears about it.
            onError: {
              target: "idle",
              actions: enqueueActions(({ context, enqueue }) => {
                for (const message of context.pending) {
                  enqueue({
                    type: "bounce",
                    params: { message, condition: "internal-server-error" },
                  });
                }
                enqueue.assign({ pending: [] });
              }),
            },
          },
        },
      },
    },
    online: {
      initial: "arriving",
      always: { guard: "noDeliverable", target: "offline" },
      states: {
        // A user whose store the adapter knows to be empty goes live at once: a flush invoked
        // per login to find nothing was a child actor per login (~20 us, docs/performance.md).
        arriving: {
          always: [
            { guard: "nothingStored", target: "live", actions: assign({ flushTarget: null }) },
            { target: "flushing" },
          ],
        },
        flushing: {
          invoke: {
            id: "flushOffline",
            src: "flushOffline",
            input: ({ context }) => ({
              owner: context.jid,
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
