/** Stanza forwarding (XEP-0297), shared by carbons, the message archive and MUC history. */
import { Element, x } from "../xml/element.ts";
import { escapeAttr, serialize } from "../xml/serialize.ts";
import { NS } from "./ns.ts";

/**
 * A copy of a stanza to embed in `<forwarded/>`: it keeps its namespace, and a stanza built by
 * the server without one (which a stream would put in jabber:client) gets jabber:client declared.
 */
export function forwardable(stanza: Element): Element {
  const copy = stanza.cloneDetached();
  if (copy.prefix === null && copy.attrs.xmlns === undefined) {
    copy.attrs = { xmlns: NS.client, ...copy.attrs };
  }
  return copy;
}

/**
 * `serialize(forwardable(stanza))` without the copy: the message path archives every message this
 * way, and cloning the whole stanza only to declare its namespace showed in the profile. A caller
 * that has `serialize(stanza)` already passes it.
 */
export function serializeForwardable(stanza: Element, serialized = serialize(stanza)): string {
  // The declarations cloneDetached() and forwardable() put first, in their order.
  let declared = "";
  if (stanza.attrs.xmlns === undefined) {
    const def = stanza.resolvePrefix(null) ?? (stanza.prefix === null ? NS.client : undefined);
    if (def !== undefined) declared = " xmlns='" + escapeAttr(def) + "'";
  }
  const prefix = stanza.prefix;
  if (prefix !== null && prefix !== "xml" && stanza.attrs[`xmlns:${prefix}`] === undefined) {
    const ns = stanza.resolvePrefix(prefix);
    if (ns !== undefined) declared += " xmlns:" + prefix + "='" + escapeAttr(ns) + "'";
  }
  if (declared === "") return serialized;
  return "<" + stanza.name + declared + serialized.slice(1 + stanza.name.length);
}

/** `<forwarded xmlns='urn:xmpp:forward:0'>`, with a XEP-0203 delay when a stamp is given. */
export function forwarded(stanza: Element, stamp?: Date): Element {
  return x(
    "forwarded",
    { xmlns: NS.forward },
    stamp ? x("delay", { xmlns: NS.delay, stamp: stamp.toISOString() }) : null,
    forwardable(stanza),
  );
}
