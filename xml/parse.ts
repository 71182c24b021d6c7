/**
 * Parses one stored XML element (a vCard, private data, an offline or archived message) back into
 * an {@link Element}, with the same framer that reads client streams: the same well-formedness
 * rules, the same RFC 6120 restrictions, the same tree.
 *
 * The element comes out exactly as a stanza read from a `jabber:client` stream does: it hangs off a
 * childless stream header, so unprefixed elements without their own `xmlns` are in `jabber:client`
 * and serialize without a redundant declaration. To embed it in another element (a MAM result, a
 * carbon), use `cloneDetached()`, as with any stanza from a stream.
 */
import type { Element } from "./element.ts";
import { Framer } from "./framer.ts";
import { STREAM_CLOSE } from "./serialize.ts";

const HEADER =
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/** The stored text is not exactly one well-formed element. */
export class XmlParseError extends SyntaxError {
  override name = "XmlParseError";
}

/**
 * Parses a string holding exactly one XML element (surrounding whitespace allowed).
 * Throws {@link XmlParseError} for anything else: malformed XML, restricted XML (comments,
 * processing instructions, DTDs), an incomplete element, several elements, or stray text.
 */
export function parseElement(xml: string): Element {
  // Stored data already passed the stream's limits when it arrived; the limits here only guard
  // against a corrupt row, so they are generous.
  const framer = new Framer({ maxStanzaBytes: 64 << 20, maxDepth: 1024, maxAttributes: 1024 });
  framer.push(HEADER);
  let found: Element | null = null;
  for (const ev of framer.push(xml)) {
    if (ev.kind === "error") throw new XmlParseError(`${ev.condition}: ${ev.text}`);
    if (ev.kind === "close") throw new XmlParseError("a stream end tag in the stored text");
    if (ev.kind !== "element") continue;
    if (found) throw new XmlParseError("more than one element");
    found = ev.element;
  }
  // Closing the stream proves nothing was left open after the element.
  const end = framer.push(STREAM_CLOSE)[0];
  if (end?.kind === "error") throw new XmlParseError(`${end.condition}: ${end.text}`);
  if (!found || end?.kind !== "close") throw new XmlParseError("no complete element");
  return found;
}
