/**
 * RFC 6120 stream and stanza errors as typed values, and the elements that carry them.
 */
import { Element, x } from "../xml/element.ts";
import { NS } from "./ns.ts";

/** RFC 6120 §4.9.3 */
export type StreamErrorCondition =
  | "bad-format"
  | "bad-namespace-prefix"
  | "conflict"
  | "connection-timeout"
  | "host-gone"
  | "host-unknown"
  | "improper-addressing"
  | "internal-server-error"
  | "invalid-from"
  | "invalid-namespace"
  | "invalid-xml"
  | "not-authorized"
  | "not-well-formed"
  | "policy-violation"
  | "remote-connection-failed"
  | "reset"
  | "resource-constraint"
  | "restricted-xml"
  | "see-other-host"
  | "system-shutdown"
  | "undefined-condition"
  | "unsupported-encoding"
  | "unsupported-feature"
  | "unsupported-stanza-type"
  | "unsupported-version";

/** RFC 6120 §8.3.3 */
export type StanzaErrorCondition =
  | "bad-request"
  | "conflict"
  | "feature-not-implemented"
  | "forbidden"
  | "gone"
  | "internal-server-error"
  | "item-not-found"
  | "jid-malformed"
  | "not-acceptable"
  | "not-allowed"
  | "not-authorized"
  | "policy-violation"
  | "recipient-unavailable"
  | "redirect"
  | "registration-required"
  | "remote-server-not-found"
  | "remote-server-timeout"
  | "resource-constraint"
  | "service-unavailable"
  | "subscription-required"
  | "undefined-condition"
  | "unexpected-request";

export type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** The error type RFC 6120 §8.3.3 gives each condition, used when a caller names none. */
const DEFAULT_TYPE: Record<StanzaErrorCondition, StanzaErrorType> = {
  "bad-request": "modify",
  "conflict": "cancel",
  "feature-not-implemented": "cancel",
  "forbidden": "auth",
  "gone": "cancel",
  "internal-server-error": "cancel",
  "item-not-found": "cancel",
  "jid-malformed": "modify",
  "not-acceptable": "modify",
  "not-allowed": "cancel",
  "not-authorized": "auth",
  "policy-violation": "modify",
  "recipient-unavailable": "wait",
  "redirect": "modify",
  "registration-required": "auth",
  "remote-server-not-found": "cancel",
  "remote-server-timeout": "wait",
  "resource-constraint": "wait",
  "service-unavailable": "cancel",
  "subscription-required": "auth",
  "undefined-condition": "cancel",
  "unexpected-request": "wait",
};

/** Thrown by a handler to answer the stanza with this error. */
export class StanzaError extends Error {
  override name = "StanzaError";
  readonly type: StanzaErrorType;
  constructor(
    readonly condition: StanzaErrorCondition,
    readonly text?: string,
    type?: StanzaErrorType,
  ) {
    super(text ? `${condition}: ${text}` : condition);
    this.type = type ?? DEFAULT_TYPE[condition];
  }
}

/** Thrown to end a stream with this error. */
export class StreamError extends Error {
  override name = "StreamError";
  constructor(readonly condition: StreamErrorCondition, readonly text?: string) {
    super(text ? `${condition}: ${text}` : condition);
  }
}

export function streamErrorElement(condition: StreamErrorCondition, text?: string): Element {
  return x(
    "stream:error",
    {},
    x(condition, { xmlns: NS.streams }),
    text ? x("text", { xmlns: NS.streams }, text) : null,
  );
}

export function stanzaErrorElement(
  condition: StanzaErrorCondition,
  type: StanzaErrorType = DEFAULT_TYPE[condition],
  text?: string,
  by?: string,
): Element {
  return x(
    "error",
    { type, by },
    x(condition, { xmlns: NS.stanzas }),
    text ? x("text", { xmlns: NS.stanzas }, text) : null,
  );
}

/**
 * The error reply to a stanza (RFC 6120 §8.3.1): addresses swapped, type='error', the original
 * payload kept so the sender can tell which stanza failed.
 */
export function errorReply(stanza: Element, error: StanzaError): Element {
  const reply = new Element(stanza.name, { type: "error" });
  const { from, to, id } = stanza.attrs;
  if (to !== undefined) reply.attrs.from = to;
  if (from !== undefined) reply.attrs.to = from;
  if (id !== undefined) reply.attrs.id = id;
  if (stanza.attrs.xmlns !== undefined) reply.attrs.xmlns = stanza.attrs.xmlns;
  // iq errors echo nothing but the error (the request payload may be large); others echo the body.
  if (stanza.name !== "iq") {
    for (const c of stanza.children) {
      if (typeof c === "string") continue;
      if (c.localName === "error") continue;
      reply.append(c.clone());
    }
  }
  reply.append(stanzaErrorElement(error.condition, error.type, error.text));
  return reply;
}

/** A stanza may get an error reply unless it is itself an error (RFC 6120 §8.3.1 rule 4). */
export function mayReplyWithError(stanza: Element): boolean {
  return stanza.attrs.type !== "error";
}
