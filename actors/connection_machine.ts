/**
 * The client-to-server stream as an XState v5 machine (RFC 6120 §4-§7), h11-style: it performs no
 * I/O. Parsed elements come in as typed events; what to write, when to upgrade to TLS and when to
 * close come out as actions that a transport adapter (`net/xmpp_stream.ts`) implements with
 * `machine.provide()`. The same machine drives TCP, direct TLS, BOSH and WebSocket sessions.
 *
 * Stanzas in the `established` state do not go through the machine: the adapter checks the state
 * and hands them to the router directly, because an XState event per routed stanza costs ~8 us
 * and decides nothing (see docs/architecture.md).
 *
 * The two asynchronous steps of a login (a SASL step, resource binding) are started by an entry
 * action and end with an event the adapter sends (SASL_STEP / SASL_STEP_FAILED, BOUND /
 * BIND_FAILED), not as invoked promise actors: an invoked actor is a child actor started,
 * registered and stopped per step, three per login, which measured ~25% of the machine's cost per
 * login (`bench/connection_machine_bench.ts`). A result that arrives after its state was left
 * (the stream closed meanwhile) is an event no state handles, and is ignored.
 */
import { assign, setup } from "xstate";
import type { Element } from "../xml/element.ts";
import { NS } from "../protocol/ns.ts";
import type { SaslCondition, SaslStep } from "../protocol/sasl/mechanism.ts";
import type { StreamErrorCondition } from "../protocol/errors.ts";

export interface MechanismOffer {
  name: string;
  requiresTls: boolean;
}

export interface ConnectionInput {
  streamId: string;
  domain: string;
  /** the transport is already encrypted (direct TLS, HTTPS) */
  secure: boolean;
  /** STARTTLS can be offered on this transport */
  tlsAvailable: boolean;
  requireEncryption: boolean;
  mechanisms: MechanismOffer[];
  /** pre-auth iq namespaces the server answers (XEP-0077 in-band registration) */
  preAuthIqNamespaces: string[];
  openTimeoutMs: number;
  negotiationTimeoutMs: number;
  maxSaslFailures: number;
  /** BOSH/WebSocket: stream restarts are signalled by the transport, headers look different */
  closingGraceMs?: number;
}

export interface ConnectionContext extends ConnectionInput {
  headerSent: boolean;
  authenticated: boolean;
  username: string | null;
  jid: string | null;
  mechanism: string | null;
  saslFailures: number;
  /** the client's stream header `from`, kept for logging */
  peer: string | null;
  /** id of the bind request being processed, for its reply */
  bindRequestId: string;
}

export type ConnectionEvent =
  | { type: "OPEN"; attrs: Record<string, string> }
  | { type: "STARTTLS" }
  | { type: "AUTH"; mechanism: string; data: Uint8Array | null }
  | { type: "SASL_RESPONSE"; data: Uint8Array | null }
  | { type: "SASL_ABORT" }
  | { type: "SASL_BAD_ENCODING" }
  | { type: "BIND"; id: string; resource: string | null }
  /** the adapter's answers to `runSaslStep` and `bindResource` */
  | { type: "SASL_STEP"; step: SaslStep }
  | { type: "SASL_STEP_FAILED" }
  | { type: "BOUND"; result: BindOutput }
  | { type: "BIND_FAILED" }
  | { type: "STANZA"; element: Element }
  | { type: "CLOSE" }
  | { type: "TLS_DONE" }
  | { type: "TLS_FAILED" }
  | { type: "SOCKET_CLOSED" }
  | { type: "STREAM_ERROR"; condition: StreamErrorCondition; text?: string }
  | { type: "REPLACED" }
  | { type: "SHUTDOWN" }
  /** the server ends the stream without an error */
  | { type: "END" };

export type BindOutput =
  | { ok: true; jid: string }
  | { ok: false; condition: "conflict" | "bad-request" | "not-allowed" | "resource-constraint" };

/** Turns one top-level element into the event the machine speaks. Pure. */
export function classifyElement(el: Element): ConnectionEvent {
  const ns = el.ns;
  if (ns === NS.tls && el.localName === "starttls") return { type: "STARTTLS" };
  if (ns === NS.sasl) {
    const payload = saslPayload(el);
    if (payload === "bad") return { type: "SASL_BAD_ENCODING" };
    switch (el.localName) {
      case "auth":
        return { type: "AUTH", mechanism: el.attrs.mechanism ?? "", data: payload };
      case "response":
        return { type: "SASL_RESPONSE", data: payload };
      case "abort":
        return { type: "SASL_ABORT" };
    }
  }
  if (el.localName === "iq" && el.attrs.type === "set") {
    const bind = el.getChild("bind", NS.bind);
    if (bind) {
      const resource = bind.getChildText("resource", NS.bind)?.trim();
      return { type: "BIND", id: el.attrs.id ?? "", resource: resource ? resource : null };
    }
  }
  return { type: "STANZA", element: el };
}

/** SASL payloads: absent -> null, "=" -> empty (RFC 6120 §6.4.2), invalid base64 -> "bad". */
function saslPayload(el: Element): Uint8Array | null | "bad" {
  const text = el.text().trim();
  if (text === "") return null;
  if (text === "=") return new Uint8Array(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return "bad";
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    return "bad";
  }
}

function offered(ctx: ConnectionContext, name: string): boolean {
  return ctx.mechanisms.some((m) => m.name === name && (!m.requiresTls || ctx.secure));
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actions: {
    // Implemented by the transport adapter: runs one SASL step of the current mechanism and
    // answers SASL_STEP, or SASL_STEP_FAILED if the step threw.
    runSaslStep: (_, _params: { mechanism: string; data: Uint8Array | null }) => {},
    // Implemented by sess-man through the adapter: resource binding with the conflict policy;
    // answers BOUND, or BIND_FAILED if binding threw.
    bindResource: (_, _params: { username: string; resource: string | null }) => {},
    sendHeader: (_, _params: { stage: "initial" | "restart" }) => {},
    sendFeatures: (_, _params: { stage: "pre-auth" | "post-auth"; secure: boolean }) => {},
    sendTlsProceed: () => {},
    sendTlsFailure: () => {},
    startTls: () => {},
    resetParser: () => {},
    sendSaslChallenge: (_, _params: { data: Uint8Array }) => {},
    sendSaslSuccess: (_, _params: { data?: Uint8Array }) => {},
    sendSaslFailure: (_, _params: { condition: SaslCondition; text?: string }) => {},
    sendBindResult: (_, _params: { id: string; jid: string }) => {},
    sendBindError: (_, _params: { id: string; condition: string }) => {},
    routePreAuth: (_, _params: { element: Element }) => {},
    deliver: (_, _params: { element: Element }) => {},
    sendStreamError: (_, _params: { condition: StreamErrorCondition; text?: string }) => {},
    sendClose: () => {},
    closeTransport: () => {},
    sessionEstablished: (_, _params: { jid: string }) => {},
    sessionEnded: () => {},
    authFailed: (_, _params: { condition: SaslCondition }) => {},
    authSucceeded: (_, _params: { username: string }) => {},
  },
  guards: {
    headerNotSent: ({ context }) => !context.headerSent,
    unsupportedVersion: ({ event }) => {
      if (event.type !== "OPEN") return false;
      const v = event.attrs.version;
      // RFC 6120 §4.7.5: no version means pre-1.0; we speak only 1.x.
      return v === undefined || !/^1\.\d+$/.test(v);
    },
    unknownHost: ({ context, event }) => {
      if (event.type !== "OPEN") return false;
      const to = event.attrs.to;
      return to !== undefined && to.toLowerCase().replace(/\.$/, "") !== context.domain;
    },
    isAuthenticated: ({ context }) => context.authenticated,
    canStartTls: ({ context }) => context.tlsAvailable && !context.secure,
    encryptionRequired: ({ context }) => context.requireEncryption && !context.secure,
    mechanismOffered: ({ context, event }) =>
      event.type === "AUTH" && offered(context, event.mechanism),
    isPreAuthIq: ({ context, event }) => {
      if (event.type !== "STANZA" || event.element.localName !== "iq") return false;
      const payload = event.element.elements()[0];
      return payload !== undefined && context.preAuthIqNamespaces.includes(payload.ns ?? "");
    },
    stepIsChallenge: ({ event }) => event.type === "SASL_STEP" && event.step.type === "challenge",
    stepIsSuccess: ({ event }) => event.type === "SASL_STEP" && event.step.type === "success",
    tooManyFailures: ({ context }) => context.saslFailures + 1 >= context.maxSaslFailures,
    bindSucceeded: ({ event }) => event.type === "BOUND" && event.result.ok,
  },
  delays: {
    openTimeout: ({ context }) => context.openTimeoutMs,
    negotiationTimeout: ({ context }) => context.negotiationTimeoutMs,
    closingGrace: ({ context }) => context.closingGraceMs ?? 2000,
  },
}).createMachine({
  id: "c2s",
  context: ({ input }) => ({
    ...input,
    headerSent: false,
    authenticated: false,
    username: null,
    jid: null,
    mechanism: null,
    saslFailures: 0,
    peer: null,
    bindRequestId: "",
  }),
  initial: "negotiating",
  on: {
    SOCKET_CLOSED: ".closed",
    CLOSE: { target: ".closed", actions: ["sendClose"] },
    STREAM_ERROR: [
      {
        guard: "headerNotSent",
        target: ".closing",
        actions: [
          { type: "sendHeader", params: { stage: "initial" } },
          assign({ headerSent: true }),
          {
            type: "sendStreamError",
            params: ({ event }) => ({ condition: event.condition, text: event.text }),
          },
        ],
      },
      {
        target: ".closing",
        actions: {
          type: "sendStreamError",
          params: ({ event }) => ({ condition: event.condition, text: event.text }),
        },
      },
    ],
    // RFC 6120 §4.9.1.1: even an error (or a close) before the stream opened needs our header first.
    END: [
      {
        guard: "headerNotSent",
        target: ".closing",
        actions: [
          { type: "sendHeader", params: { stage: "initial" } },
          assign({ headerSent: true }),
        ],
      },
      { target: ".closing" },
    ],
    SHUTDOWN: [
      {
        guard: "headerNotSent",
        target: ".closing",
        actions: [
          { type: "sendHeader", params: { stage: "initial" } },
          assign({ headerSent: true }),
          { type: "sendStreamError", params: { condition: "system-shutdown" } },
        ],
      },
      {
        target: ".closing",
        actions: { type: "sendStreamError", params: { condition: "system-shutdown" } },
      },
    ],
  },
  states: {
    negotiating: {
      initial: "awaitingOpen",
      after: {
        // This can fire while a restarted stream (after STARTTLS or SASL) has no header yet.
        negotiationTimeout: [
          {
            guard: "headerNotSent",
            target: "closing",
            actions: [
              { type: "sendHeader", params: { stage: "initial" } },
              assign({ headerSent: true }),
              {
                type: "sendStreamError",
                params: {
                  condition: "connection-timeout",
                  text: "stream negotiation took too long",
                },
              },
            ],
          },
          {
            target: "closing",
            actions: {
              type: "sendStreamError",
              params: { condition: "connection-timeout", text: "stream negotiation took too long" },
            },
          },
        ],
      },
      states: {
        awaitingOpen: {
          after: {
            openTimeout: {
              target: "#c2s.closing",
              actions: [
                { type: "sendHeader", params: { stage: "initial" } },
                { type: "sendStreamError", params: { condition: "connection-timeout" } },
              ],
            },
          },
          on: {
            OPEN: [
              {
                guard: "unsupportedVersion",
                target: "#c2s.closing",
                actions: [
                  { type: "sendHeader", params: { stage: "initial" } },
                  assign({ headerSent: true }),
                  { type: "sendStreamError", params: { condition: "unsupported-version" } },
                ],
              },
              {
                guard: "unknownHost",
                target: "#c2s.closing",
                actions: [
                  { type: "sendHeader", params: { stage: "initial" } },
                  assign({ headerSent: true }),
                  { type: "sendStreamError", params: { condition: "host-unknown" } },
                ],
              },
              {
                guard: "isAuthenticated",
                target: "binding",
                actions: [
                  assign({ headerSent: true, peer: ({ event }) => event.attrs.from ?? null }),
                  { type: "sendHeader", params: { stage: "restart" } },
                  {
                    type: "sendFeatures",
                    params: ({ context }) => ({ stage: "post-auth", secure: context.secure }),
                  },
                ],
              },
              {
                target: "unauthenticated",
                actions: [
                  assign({ headerSent: true, peer: ({ event }) => event.attrs.from ?? null }),
                  { type: "sendHeader", params: { stage: "initial" } },
                  {
                    type: "sendFeatures",
                    params: ({ context }) => ({ stage: "pre-auth", secure: context.secure }),
                  },
                ],
              },
            ],
            STANZA: {
              target: "#c2s.closing",
              actions: [
                { type: "sendHeader", params: { stage: "initial" } },
                { type: "sendStreamError", params: { condition: "not-authorized" } },
              ],
            },
          },
        },
        unauthenticated: {
          on: {
            STARTTLS: [
              { guard: "canStartTls", target: "startingTls", actions: "sendTlsProceed" },
              { target: "#c2s.closing", actions: "sendTlsFailure" },
            ],
            AUTH: [
              {
                guard: "encryptionRequired",
                actions: {
                  type: "sendSaslFailure",
                  params: { condition: "encryption-required", text: "use STARTTLS first" },
                },
              },
              {
                guard: "mechanismOffered",
                target: "authenticating",
                actions: assign({
                  mechanism: ({ event }) => (event as { mechanism: string }).mechanism,
                }),
              },
              {
                actions: { type: "sendSaslFailure", params: { condition: "invalid-mechanism" } },
              },
            ],
            SASL_RESPONSE: {
              actions: { type: "sendSaslFailure", params: { condition: "malformed-request" } },
            },
            SASL_ABORT: {
              actions: { type: "sendSaslFailure", params: { condition: "aborted" } },
            },
            SASL_BAD_ENCODING: {
              actions: { type: "sendSaslFailure", params: { condition: "incorrect-encoding" } },
            },
            BIND: {
              target: "#c2s.closing",
              actions: { type: "sendStreamError", params: { condition: "not-authorized" } },
            },
            STANZA: [
              {
                guard: "isPreAuthIq",
                actions: {
                  type: "routePreAuth",
                  params: ({ event }) => ({ element: event.element }),
                },
              },
              {
                target: "#c2s.closing",
                actions: { type: "sendStreamError", params: { condition: "not-authorized" } },
              },
            ],
          },
        },
        startingTls: {
          entry: "startTls",
          on: {
            TLS_DONE: {
              target: "awaitingOpen",
              actions: [assign({ secure: true, headerSent: false }), "resetParser"],
            },
            TLS_FAILED: "#c2s.closed",
          },
        },
        authenticating: {
          entry: {
            type: "runSaslStep",
            params: ({ context, event }) => ({
              mechanism: context.mechanism ?? "",
              data: event.type === "AUTH" || event.type === "SASL_RESPONSE" ? event.data : null,
            }),
          },
          on: {
            SASL_STEP: [
              {
                guard: "stepIsChallenge",
                target: "saslChallenge",
                actions: {
                  type: "sendSaslChallenge",
                  params: ({ event }) => ({ data: (stepOf(event) as Challenge).data }),
                },
              },
              {
                guard: "stepIsSuccess",
                target: "awaitingOpen",
                actions: [
                  assign(({ event }) => ({
                    authenticated: true,
                    headerSent: false,
                    username: (stepOf(event) as Success).username,
                  })),
                  {
                    type: "sendSaslSuccess",
                    params: ({ event }) => ({ data: (stepOf(event) as Success).data }),
                  },
                  {
                    type: "authSucceeded",
                    params: ({ context }) => ({ username: context.username ?? "" }),
                  },
                  "resetParser",
                ],
              },
              {
                guard: "tooManyFailures",
                target: "#c2s.closing",
                actions: [
                  { type: "sendSaslFailure", params: ({ event }) => failureOf(stepOf(event)) },
                  {
                    type: "authFailed",
                    params: ({ event }) => ({ condition: failureOf(stepOf(event)).condition }),
                  },
                  {
                    type: "sendStreamError",
                    params: { condition: "policy-violation", text: "too many failed logins" },
                  },
                ],
              },
              {
                target: "unauthenticated",
                actions: [
                  assign({ saslFailures: ({ context }) => context.saslFailures + 1 }),
                  { type: "sendSaslFailure", params: ({ event }) => failureOf(stepOf(event)) },
                  {
                    type: "authFailed",
                    params: ({ event }) => ({ condition: failureOf(stepOf(event)).condition }),
                  },
                ],
              },
            ],
            SASL_STEP_FAILED: {
              target: "unauthenticated",
              actions: {
                type: "sendSaslFailure",
                params: { condition: "temporary-auth-failure" },
              },
            },
          },
        },
        saslChallenge: {
          on: {
            SASL_RESPONSE: "authenticating",
            SASL_ABORT: {
              target: "unauthenticated",
              actions: [
                assign({ saslFailures: ({ context }) => context.saslFailures + 1 }),
                { type: "sendSaslFailure", params: { condition: "aborted" } },
              ],
            },
            SASL_BAD_ENCODING: {
              target: "unauthenticated",
              actions: { type: "sendSaslFailure", params: { condition: "incorrect-encoding" } },
            },
            AUTH: {
              target: "unauthenticated",
              actions: { type: "sendSaslFailure", params: { condition: "malformed-request" } },
            },
            STANZA: {
              target: "#c2s.closing",
              actions: { type: "sendStreamError", params: { condition: "not-authorized" } },
            },
          },
        },
        binding: {
          on: {
            BIND: "bindingResource",
            STANZA: {
              target: "#c2s.closing",
              actions: {
                type: "sendStreamError",
                params: { condition: "not-authorized", text: "bind a resource first" },
              },
            },
            STARTTLS: {
              target: "#c2s.closing",
              actions: { type: "sendStreamError", params: { condition: "policy-violation" } },
            },
            AUTH: {
              target: "#c2s.closing",
              actions: { type: "sendStreamError", params: { condition: "policy-violation" } },
            },
          },
        },
        bindingResource: {
          // The bind request id has to outlive the BIND event, so it is kept in context.
          entry: [
            assign({ bindRequestId: ({ event }) => event.type === "BIND" ? event.id : "" }),
            {
              type: "bindResource",
              params: ({ context, event }) => ({
                username: context.username ?? "",
                resource: event.type === "BIND" ? event.resource : null,
              }),
            },
          ],
          on: {
            BOUND: [
              {
                guard: "bindSucceeded",
                target: "#c2s.established",
                actions: [
                  assign({ jid: ({ event }) => (boundOf(event) as BindSuccess).jid }),
                  {
                    type: "sendBindResult",
                    params: ({ context }) => ({ id: bindId(context), jid: context.jid ?? "" }),
                  },
                  {
                    type: "sessionEstablished",
                    params: ({ context }) => ({ jid: context.jid ?? "" }),
                  },
                ],
              },
              {
                target: "binding",
                actions: {
                  type: "sendBindError",
                  params: ({ context, event }) => ({
                    id: bindId(context),
                    condition: (boundOf(event) as BindRefusal).condition,
                  }),
                },
              },
            ],
            BIND_FAILED: {
              target: "binding",
              actions: {
                type: "sendBindError",
                params: ({ context }) => ({
                  id: bindId(context),
                  condition: "internal-server-error",
                }),
              },
            },
          },
        },
      },
    },
    established: {
      on: {
        STANZA: {
          actions: { type: "deliver", params: ({ event }) => ({ element: event.element }) },
        },
        BIND: {
          actions: {
            type: "sendBindError",
            params: ({ event }) => ({ id: event.id, condition: "not-allowed" }),
          },
        },
        REPLACED: {
          target: "closing",
          actions: {
            type: "sendStreamError",
            params: { condition: "conflict", text: "replaced by a new session" },
          },
        },
      },
    },
    closing: {
      entry: "sendClose",
      after: { closingGrace: "closed" },
      on: {
        CLOSE: "closed",
        STANZA: {},
        // `</stream:stream>` has been written: nothing more may follow it, not even a stream error.
        STREAM_ERROR: {},
        SHUTDOWN: {},
        END: {},
      },
    },
    closed: {
      type: "final",
      entry: ["closeTransport", "sessionEnded"],
    },
  },
});

function bindId(context: ConnectionContext): string {
  return context.bindRequestId;
}

type Challenge = Extract<SaslStep, { type: "challenge" }>;
type Success = Extract<SaslStep, { type: "success" }>;
type BindSuccess = Extract<BindOutput, { ok: true }>;
type BindRefusal = Extract<BindOutput, { ok: false }>;

/** The step a SASL_STEP event carries (guards have checked the event's type). */
function stepOf(event: ConnectionEvent): SaslStep {
  if (event.type !== "SASL_STEP") throw new Error(`no SASL step in ${event.type}`);
  return event.step;
}

function boundOf(event: ConnectionEvent): BindOutput {
  if (event.type !== "BOUND") throw new Error(`no bind result in ${event.type}`);
  return event.result;
}

function failureOf(step: SaslStep): { condition: SaslCondition; text?: string } {
  return step.type === "failure"
    ? { condition: step.condition, text: step.text }
    : { condition: "temporary-auth-failure" };
}
