/**
 * The same 360-byte chat message through the XML parsers Parley could use, for the decision in
 * docs/architecture.md ("XML parsing"). Each iteration parses BATCH stanzas into a tree.
 */
import { XMLParser } from "fast-xml-parser";
import { SaxesParser } from "saxes";
import { Element } from "../xml/element.ts";
import { Framer } from "../xml/framer.ts";

// The stanza these benchmarks use: a 360-byte chat message as typical clients send it. It is
// made a flat string, as a decoded socket read is: V8 keeps literal concatenations as rope
// strings, which index several times slower and would skew the timings.
const CHAT_MESSAGE = new TextDecoder().decode(
  new TextEncoder().encode(
    "<message from='juliet@example.com/balcony' to='romeo@example.net/orchard'" +
      " type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague? Neither," +
      " fair saint, if either thee dislike. How camest thou hither, tell me? Tell me, wherefore" +
      "</body><active xmlns='http://jabber.org/protocol/chatstates'/>" +
      "<request xmlns='urn:xmpp:receipts'/></message>",
  ),
);
if (new TextEncoder().encode(CHAT_MESSAGE).length !== 360) throw new Error("fixture must be 360 B");

const STREAM_HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

const BATCH = 1000;

// Options pinned so the output is faithful XML: order kept, attributes kept, no value coercion,
// no trimming, entities decoded (which also enables DOCTYPE entity expansion; there is no switch
// for one without the other).
const fxp = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
});

Deno.bench("fast-xml-parser: 1000 x 360 B, one parse per stanza", { group: "parsers" }, () => {
  for (let i = 0; i < BATCH; i++) fxp.parse(CHAT_MESSAGE);
});

// saxes parses a stream incrementally, so like the framer it gets one long-lived parser per
// connection; the handlers build Element trees so the work compares with the framer's.
function saxesStream(): { parser: SaxesParser<{ xmlns: true }>; count: () => number } {
  const parser = new SaxesParser({ xmlns: true });
  const stack: Element[] = [];
  let n = 0;
  let depth = 0;
  parser.on("opentag", (tag) => {
    depth++;
    if (depth === 1) return;
    const attrs: Record<string, string> = {};
    for (const k in tag.attributes) attrs[k] = tag.attributes[k]!.value;
    const el = new Element(tag.name, attrs);
    const top = stack[stack.length - 1];
    if (top) top.append(el);
    stack.push(el);
  });
  parser.on("text", (t) => {
    const top = stack[stack.length - 1];
    if (top) top.children.push(t);
  });
  parser.on("closetag", () => {
    depth--;
    if (depth === 0) return;
    stack.pop();
    if (depth === 1) n++;
  });
  parser.write(STREAM_HEADER);
  return { parser, count: () => n };
}

const sx = saxesStream();
Deno.bench("saxes (xmlns: true): 1000 x 360 B on one stream", { group: "parsers" }, () => {
  const before = sx.count();
  for (let i = 0; i < BATCH; i++) sx.parser.write(CHAT_MESSAGE);
  if (sx.count() - before !== BATCH) throw new Error("saxes lost stanzas");
});

const framer = new Framer();
framer.push(STREAM_HEADER);
Deno.bench(
  "parley framer: 1000 x 360 B on one stream",
  { group: "parsers", baseline: true },
  () => {
    let n = 0;
    for (let i = 0; i < BATCH; i++) n += framer.push(CHAT_MESSAGE).length;
    if (n !== BATCH) throw new Error("framer lost stanzas");
  },
);
