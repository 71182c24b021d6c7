/**
 * BOSH `<body/>` wrappers (XEP-0124, XEP-0206): reading a request body through the framer (so it
 * gets the same limits and RFC 6120 restrictions as a TCP stream: no DTD, comments, PIs or
 * entities) and writing response bodies.
 */
import { Element } from "../xml/element.ts";
import { Framer } from "../xml/framer.ts";
import { escapeAttr, STREAM_CLOSE } from "../xml/serialize.ts";
import { NS } from "../protocol/ns.ts";

export const NS_HTTPBIND = "http://jabber.org/protocol/httpbind";
export const NS_XBOSH = "urn:xmpp:xbosh";

/** XEP-0124 §17 terminal binding conditions (and XEP-0206's remote-stream-error). */
export type BoshCondition =
  | "bad-request"
  | "host-gone"
  | "host-unknown"
  | "improper-addressing"
  | "internal-server-error"
  | "item-not-found"
  | "other-request"
  | "policy-violation"
  | "remote-connection-failed"
  | "remote-stream-error"
  | "see-other-uri"
  | "system-shutdown"
  | "undefined-condition";

// The pseudo stream a body is read in: stanzas without their own xmlns end up in jabber:client.
const HEADER = `<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`;
const STREAM_ROOT = new Element("stream:stream", { xmlns: NS.client, "xmlns:stream": NS.stream });

export type ParsedBody = { ok: true; body: Element } | { ok: false; reason: string };

/**
 * Parses one request body: exactly one `<body xmlns='http://jabber.org/protocol/httpbind'/>`,
 * optionally after an XML declaration. Its child elements are re-parented onto a `jabber:client`
 * stream root, as the framer does for TCP stanzas, so a stanza the client wrote without `xmlns`
 * is in `jabber:client` rather than in the httpbind namespace (XEP-0206 §3).
 */
export function parseBody(text: string, maxBytes: number, maxDepth: number): ParsedBody {
  // The body itself is one level deeper than a stream's stanzas.
  const framer = new Framer({ maxStanzaBytes: maxBytes, maxDepth: maxDepth + 1 });
  let rest = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const events = [];
  const decl = /^\s*<\?xml\s/.test(rest) ? rest.indexOf("?>") : -1;
  if (decl >= 0) {
    events.push(...framer.push(rest.slice(0, decl + 2)));
    rest = rest.slice(decl + 2);
  }
  events.push(...framer.push(HEADER), ...framer.push(rest), ...framer.push(STREAM_CLOSE));
  let body: Element | null = null;
  for (const ev of events) {
    if (ev.kind === "error") return { ok: false, reason: `${ev.condition}: ${ev.text}` };
    if (ev.kind !== "element") continue;
    if (body) return { ok: false, reason: "more than one element" };
    body = ev.element;
  }
  if (events.at(-1)?.kind !== "close") return { ok: false, reason: "incomplete body" };
  if (!body) return { ok: false, reason: "no body element" };
  if (!body.is("body", NS_HTTPBIND)) {
    return { ok: false, reason: `expected <body xmlns='${NS_HTTPBIND}'/>` };
  }
  for (const c of body.children) {
    if (typeof c === "string") {
      if (c.trim() !== "") return { ok: false, reason: "text in body" };
      continue;
    }
    c.parent = STREAM_ROOT;
  }
  body.children = body.children.filter((c) => typeof c !== "string");
  return { ok: true, body };
}

/** An attribute in the `urn:xmpp:xbosh` namespace, whatever prefix the client bound to it. */
export function xboshAttr(body: Element, local: string): string | undefined {
  for (const k in body.attrs) {
    const colon = k.indexOf(":");
    if (colon < 0 || k.slice(colon + 1) !== local || k.startsWith("xmlns:")) continue;
    if (body.resolvePrefix(k.slice(0, colon)) === NS_XBOSH) return body.attrs[k];
  }
  return undefined;
}

/** A response body around already serialized payloads. */
export function responseBody(attrs: Record<string, string>, payload: string[]): string {
  let s = `<body xmlns='${NS_HTTPBIND}'`;
  for (const [k, v] of Object.entries(attrs)) s += ` ${k}='${escapeAttr(v)}'`;
  if (payload.length === 0) return s + "/>";
  return s + ">" + payload.join("") + "</body>";
}

/** `<body type='terminate' condition='…'/>`, the way every BOSH error is reported. */
export function terminateBody(condition?: BoshCondition, payload: string[] = []): string {
  const attrs: Record<string, string> = { type: "terminate" };
  if (condition) attrs.condition = condition;
  // A stream error inside (remote-stream-error) carries its own xmlns:stream.
  return responseBody(attrs, payload);
}
