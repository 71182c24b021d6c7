/** Stanza forwarding (XEP-0297), shared by carbons, the message archive and MUC history. */
import { Element, x } from "../xml/element.ts";
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

/** `<forwarded xmlns='urn:xmpp:forward:0'>`, with a XEP-0203 delay when a stamp is given. */
export function forwarded(stanza: Element, stamp?: Date): Element {
  return x(
    "forwarded",
    { xmlns: NS.forward },
    stamp ? x("delay", { xmlns: NS.delay, stamp: stamp.toISOString() }) : null,
    forwardable(stanza),
  );
}
