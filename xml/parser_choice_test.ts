/**
 * Why Parley's framer is its own XML parser: these tests pin down what fast-xml-parser (the parser
 * the design card named) does with input an XMPP server must refuse, next to what the framer does.
 * They assert the library's current behaviour; if an upgrade makes one fail, the library changed
 * and the decision in docs/architecture.md ("XML parsing") deserves another look.
 */
import assert from "node:assert/strict";
import { XMLParser } from "fast-xml-parser";
import { Framer } from "./framer.ts";

const HEADER = "<stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams'>";

// The most faithful options fast-xml-parser offers (see bench/xml_parsers_bench.ts).
const PINNED = {
  preserveOrder: true,
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
} as const;

function fxp(xml: string): unknown {
  return new XMLParser(PINNED).parse(xml);
}

function framerError(xml: string): string | undefined {
  const events = new Framer().push(HEADER + xml);
  const err = events.find((e) => e.kind === "error");
  return err?.kind === "error" ? err.condition : undefined;
}

Deno.test("fast-xml-parser expands DOCTYPE entities that the framer refuses", () => {
  const xml = "<!DOCTYPE m [<!ENTITY e 'boom'>]><m><body>&e;</body></m>";
  assert.deepEqual(fxp(xml), [{ m: [{ body: [{ "#text": "boom" }] }] }]);
  // Turning processEntities off stops the expansion but also stops &amp; being decoded.
  assert.deepEqual(
    new XMLParser({ ...PINNED, processEntities: false }).parse("<m>a &amp; b</m>"),
    [{ m: [{ "#text": "a &amp; b" }] }],
  );
  assert.equal(framerError("<!DOCTYPE m [<!ENTITY e 'boom'>]>"), "restricted-xml");
});

Deno.test("fast-xml-parser accepts malformed XML that the framer rejects", () => {
  const accepted: Record<string, [string, unknown]> = {
    "mismatched end tags": ["<a><b></a></b>", [{ a: [{ b: [] }] }]],
    "unquoted attribute (dropped)": ["<a id=1/>", [{ a: [] }]],
    "duplicate attribute (last wins)": ["<a x='1' x='2'/>", [{ a: [], ":@": { "@_x": "2" } }]],
    "'<' in an attribute value": ["<a x='a<b'/>", [{ a: [], ":@": { "@_x": "a<b" } }]],
    "&#0; (dropped)": ["<a>&#0;</a>", [{ a: [] }]],
    "control character in text": ["<a>\u0001</a>", [{ a: [{ "#text": "\u0001" }] }]],
  };
  for (const [what, [xml, result]] of Object.entries(accepted)) {
    assert.deepEqual(fxp(xml), result, what);
    assert.equal(framerError(xml), "not-well-formed", what);
  }
  // A document that simply stops is completed with empty elements; to the framer in a stream it
  // is a stanza still arriving, and as a whole WebSocket message it is an error.
  assert.deepEqual(fxp("<a><b>"), [{ a: [{ b: [] }] }]);
  const ws = new Framer({ mode: "websocket" }).push("<a xmlns='jabber:client'><b>");
  assert.deepEqual(ws.map((e) => e.kind === "error" && e.condition), ["not-well-formed"]);
});

Deno.test("fast-xml-parser passes through what RFC 6120 restricts", () => {
  assert.deepEqual(fxp("<a>&foo;</a>"), [{ a: [{ "#text": "&foo;" }] }]);
  assert.equal(framerError("<a>&foo;</a>"), "restricted-xml");
  assert.deepEqual(fxp("<a><!-- c --></a>"), [{ a: [] }]);
  assert.equal(framerError("<a><!-- c --></a>"), "restricted-xml");
  assert.deepEqual(fxp("<a><?php x?></a>"), [{ a: [{ "?php": [{ "#text": "" }] }] }]);
  assert.equal(framerError("<a><?php x?></a>"), "restricted-xml");
});

Deno.test("fast-xml-parser has no namespaces: unbound prefixes pass", () => {
  assert.deepEqual(fxp("<foo:bar/>"), [{ "foo:bar": [] }]);
  assert.equal(framerError("<foo:bar/>"), "not-well-formed");
});

Deno.test("fast-xml-parser turns <body>0123</body> into 123 unless parseTagValue is off", () => {
  assert.deepEqual(new XMLParser().parse("<m><body>0123</body></m>"), { m: { body: 123 } });
  assert.deepEqual(fxp("<m><body>0123</body></m>"), [{ m: [{ body: [{ "#text": "0123" }] }] }]);
  const events = new Framer().push(HEADER + "<m><body>0123</body></m>");
  const el = events[1];
  assert.equal(el?.kind === "element" && el.element.getChildText("body"), "0123");
});
