import assert from "node:assert/strict";
import { Element, x } from "./element.ts";
import { type FrameEvent, Framer, type FramerOptions, NS_FRAMING, NS_STREAMS } from "./framer.ts";
import { serialize } from "./serialize.ts";

const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

const enc = new TextEncoder();

type Seen =
  | { kind: "open"; name: string; attrs: Record<string, string> }
  | { kind: "element"; xml: string; ns: string | undefined; bytes: number }
  | { kind: "close" }
  | { kind: "error"; condition: string };

function view(events: FrameEvent[]): Seen[] {
  return events.map((e): Seen => {
    switch (e.kind) {
      case "element":
        return { kind: "element", xml: serialize(e.element), ns: e.element.ns, bytes: e.bytes };
      case "error":
        return { kind: "error", condition: e.condition };
      default:
        return e;
    }
  });
}

/** Feeds `input` as UTF-8 bytes cut at the given sizes (cycled), returning all events. */
function feed(input: string, sizes: number[] = [Infinity], opts?: FramerOptions): Seen[] {
  const f = new Framer(opts);
  const bytes = enc.encode(input);
  const events: FrameEvent[] = [];
  let k = 0;
  for (let i = 0; i < bytes.length;) {
    const size = Math.min(sizes[k++ % sizes.length]!, bytes.length - i);
    events.push(...f.push(bytes.subarray(i, i + size)));
    i += size;
  }
  return view(events);
}

function oneShot(input: string, opts?: FramerOptions): Seen[] {
  return feed(input, [Infinity], opts);
}

function errorOf(input: string, opts?: FramerOptions): string | undefined {
  const events = oneShot(input, opts);
  const err = events.find((e) => e.kind === "error");
  return err?.kind === "error" ? err.condition : undefined;
}

/** Elements of a one-shot parse. */
function elements(input: string, opts?: FramerOptions): Element[] {
  const f = new Framer(opts);
  const out: Element[] = [];
  for (const e of f.push(input)) {
    if (e.kind === "element") out.push(e.element);
    if (e.kind === "error") throw new Error(`${e.condition}: ${e.text}`);
  }
  return out;
}

// Deterministic so a failing chunking can be reproduced.
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RICH_STREAM = HEADER +
  "\n <message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat'" +
  " id='m&amp;1' xml:lang='en'>\r\n<body>Wherefore art thou? &lt;3 &#x1F600;&#65; 日本語 😀 é" +
  "<![CDATA[<raw> & ]]]></body><thread>t1</thread>" +
  "<x xmlns='jabber:x:data' type='form'><field var='a\tb\r\nc' label=\"it's\"/></x></message>" +
  "\n\n \t" +
  "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" +
  "<presence/>" +
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
  "</stream:stream>";

Deno.test("framer emits open, one event per top-level element, and close", () => {
  const events = oneShot(RICH_STREAM);
  assert.deepEqual(events.map((e) => e.kind), [
    "open",
    "element",
    "element",
    "element",
    "element",
    "close",
  ]);
  assert.deepEqual(events[0], {
    kind: "open",
    name: "stream:stream",
    attrs: {
      xmlns: "jabber:client",
      "xmlns:stream": NS_STREAMS,
      to: "example.com",
      version: "1.0",
    },
  });
});

Deno.test("framer gives top-level stanzas the stream's namespaces without redundant xmlns", () => {
  const [message, iq, presence, features] = elements(RICH_STREAM);
  assert.equal(message!.ns, "jabber:client");
  assert.equal(message!.getChild("body", "jabber:client")?.ns, "jabber:client");
  assert.equal(iq!.getChild("ping", "urn:xmpp:ping")?.ns, "urn:xmpp:ping");
  assert.equal(serialize(presence!), "<presence/>");
  assert.equal(features!.ns, NS_STREAMS);
  assert.ok(features!.is("features", NS_STREAMS));
  assert.equal(
    serialize(features!),
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
  );
  assert.ok(serialize(message!).startsWith("<message to="));
});

Deno.test("framer decodes entities, character references, CDATA and normalizes line ends", () => {
  const [message] = elements(RICH_STREAM);
  assert.equal(message!.attrs.id, "m&1");
  assert.equal(message!.children[0], "\n");
  assert.equal(message!.getChildText("body"), "Wherefore art thou? <3 😀A 日本語 😀 é<raw> & ]");
  const field = message!.getChild("x", "jabber:x:data")!.getChild("field")!;
  // Attribute-value normalization turns tab, LF and CRLF into single spaces.
  assert.equal(field.attrs.var, "a b c");
  assert.equal(field.attrs.label, "it's");
  const [m2] = elements(HEADER + "<m a='x&#9;y&#13;&#10;'>a\rb&#13;c\r</m>");
  assert.equal(m2!.attrs.a, "x\ty\r\n");
  assert.equal(m2!.text(), "a\nb\rc\n");
});

Deno.test("framer fed one byte at a time gives the same events as one shot", () => {
  assert.deepEqual(feed(RICH_STREAM, [1]), oneShot(RICH_STREAM));
});

Deno.test("framer fed random chunkings (seeded) gives the same events as one shot", () => {
  const expected = oneShot(RICH_STREAM);
  const rand = mulberry32(0x5eed);
  for (let round = 0; round < 300; round++) {
    const sizes = Array.from({ length: 16 }, () => 1 + Math.floor(rand() * 24));
    assert.deepEqual(feed(RICH_STREAM, sizes), expected, `chunk sizes ${sizes.join(",")}`);
  }
});

Deno.test("framer joins multi-byte UTF-8 split at every byte offset", () => {
  const stream = HEADER + "<message><body>😀日本語é𝄞</body></message>";
  const bytes = enc.encode(stream);
  const expected = oneShot(stream);
  for (let cut = 1; cut < bytes.length; cut++) {
    const f = new Framer();
    const events = [...f.push(bytes.subarray(0, cut)), ...f.push(bytes.subarray(cut))];
    assert.deepEqual(view(events), expected, `cut at ${cut}`);
  }
  assert.equal(elements(stream)[0]!.getChildText("body"), "😀日本語é𝄞");
});

Deno.test("framer reports each element's size in UTF-8 bytes as received", () => {
  const stanza = "<message id='é'><body>😀 日本 &amp; <![CDATA[x]]></body></message>";
  const events = oneShot(HEADER + "  " + stanza + " <presence/>");
  assert.deepEqual(
    events.filter((e) => e.kind === "element").map((e) => e.kind === "element" && e.bytes),
    [enc.encode(stanza).length, "<presence/>".length],
  );
});

Deno.test("framer rejects invalid UTF-8 with not-well-formed", () => {
  for (const bad of [[0xc3, 0x28], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff]]) {
    const f = new Framer();
    f.push(HEADER + "<message><body>");
    const events = f.push(new Uint8Array(bad));
    assert.deepEqual(view(events), [{ kind: "error", condition: "not-well-formed" }], `${bad}`);
  }
});

Deno.test("framer rejects invalid UTF-8 in the push that completes it, byte by byte", () => {
  // Each sequence is a valid prefix until its last byte: the error comes with that byte, as a
  // streaming decoder would report it, not a push later.
  for (const bad of [[0xe0, 0x80], [0xed, 0xa0], [0xf0, 0x80], [0xf4, 0x90], [0xe2, 0x82, 0x28]]) {
    const f = new Framer();
    f.push(HEADER + "<message><body>");
    for (let i = 0; i < bad.length - 1; i++) {
      assert.deepEqual(f.push(new Uint8Array([bad[i]!])), [], `${bad} at ${i}`);
    }
    const events = f.push(new Uint8Array([bad[bad.length - 1]!]));
    assert.deepEqual(view(events), [{ kind: "error", condition: "not-well-formed" }], `${bad}`);
  }
});

Deno.test("framer drops a byte order mark only at the start of a stream, even when split", () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode(HEADER + "<presence/>")]);
  const f = new Framer();
  const events = [...f.push(bytes.subarray(0, 2)), ...f.push(bytes.subarray(2))];
  assert.deepEqual(view(events).map((e) => e.kind), ["open", "element"]);
  // After the header a BOM is just a character, and not whitespace between stanzas.
  assert.deepEqual(view(f.push(new Uint8Array([0xef, 0xbb, 0xbf]))), [
    { kind: "error", condition: "not-well-formed" },
  ]);
  // reset() starts a new stream, which may open with a BOM again.
  const g = new Framer();
  g.push(HEADER);
  g.reset();
  assert.deepEqual(view(g.push(bytes)).map((e) => e.kind), ["open", "element"]);
});

Deno.test("framers cut inside characters at the same time do not mix their bytes", () => {
  const a = new Framer(), b = new Framer();
  a.push(HEADER + "<message><body>");
  b.push(HEADER + "<message><body>");
  const euro = enc.encode("€"), clef = enc.encode("𝄞");
  a.push(euro.subarray(0, 1));
  b.push(clef.subarray(0, 2));
  a.push(euro.subarray(1));
  b.push(clef.subarray(2));
  const [ea] = a.push("</body></message>"), [eb] = b.push("</body></message>");
  assert.equal(ea?.kind === "element" && ea.element.getChildText("body"), "€");
  assert.equal(eb?.kind === "element" && eb.element.getChildText("body"), "𝄞");
});

Deno.test("streams with the same header share one frozen parent for their stanzas", () => {
  const parents = [new Framer(), new Framer()].map((f) => {
    const [, el] = f.push(HEADER + "<presence/>");
    assert.ok(el?.kind === "element");
    return el.element.parent!;
  });
  assert.equal(parents[0], parents[1]);
  assert.ok(Object.isFrozen(parents[0]) && Object.isFrozen(parents[0]!.attrs));
  assert.throws(() => parents[0]!.children.push("x"));
  const [, other] = new Framer().push(HEADER.replace("example.com", "other.example") + "<a/>");
  assert.ok(other?.kind === "element");
  assert.notEqual(other.element.parent, parents[0]);
  assert.equal(other.element.parent!.attrs.to, "other.example");
});

Deno.test("framer rejects a non-UTF-8 encoding declaration with unsupported-encoding", () => {
  assert.equal(
    errorOf("<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream/>"),
    "unsupported-encoding",
  );
  assert.equal(errorOf("<?xml version='1.0' encoding='utf-8'?>" + HEADER.slice(21)), undefined);
  assert.equal(errorOf("<?xml version='1.0' standalone='yes'?>" + HEADER.slice(21)), undefined);
  assert.equal(errorOf("<?xml encoding='UTF-8'?>" + HEADER.slice(21)), "not-well-formed");
});

Deno.test("framer allows the XML declaration only before the stream header", () => {
  assert.equal(errorOf(HEADER + "<?xml version='1.0'?>"), "restricted-xml");
  assert.equal(errorOf("<?xml version='1.0'?><?xml version='1.0'?>"), "restricted-xml");
  assert.equal(errorOf("<?php echo 1 ?>" + HEADER), "restricted-xml");
  assert.equal(errorOf(HEADER + "<message><?php x?></message>"), "restricted-xml");
});

Deno.test("framer rejects comments with restricted-xml", () => {
  assert.equal(errorOf("<!-- hi -->" + HEADER), "restricted-xml");
  assert.equal(errorOf(HEADER + "<!-- keepalive -->"), "restricted-xml");
  assert.equal(errorOf(HEADER + "<message><!-- x --></message>"), "restricted-xml");
});

Deno.test("framer rejects a DOCTYPE with restricted-xml", () => {
  assert.equal(
    errorOf("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY e 'boom'>]>" + HEADER.slice(21)),
    "restricted-xml",
  );
  assert.equal(errorOf(HEADER + "<!DOCTYPE x>"), "restricted-xml");
  assert.equal(errorOf(HEADER + "<message><!ENTITY e 'x'></message>"), "restricted-xml");
});

Deno.test("framer rejects entity references other than the predefined five with restricted-xml", () => {
  assert.equal(errorOf(HEADER + "<message><body>&foo;</body></message>"), "restricted-xml");
  assert.equal(errorOf(HEADER + "<message id='&nbsp;'/>"), "restricted-xml");
  assert.equal(errorOf(HEADER + "<message><body>&amp</body></message>"), "not-well-formed");
  assert.equal(errorOf(HEADER + "<message><body>& x;</body></message>"), "not-well-formed");
  assert.equal(errorOf(HEADER + "<message><body>&;</body></message>"), "not-well-formed");
});

Deno.test("framer rejects character references to non-characters with not-well-formed", () => {
  for (
    const ref of ["&#0;", "&#x0;", "&#8;", "&#xD800;", "&#xFFFE;", "&#x110000;", "&#x;", "&#a;"]
  ) {
    assert.equal(errorOf(HEADER + `<m>${ref}</m>`), "not-well-formed", ref);
  }
  assert.deepEqual(
    elements(HEADER + "<m>&#9;&#x10FFFF;&#xe000;</m>")[0]!.text(),
    "\t\u{10FFFF}\ue000",
  );
});

Deno.test("framer rejects malformed markup with not-well-formed", () => {
  const cases: Record<string, string> = {
    "mismatched end tag": "<message><body></message></body>",
    "duplicate attribute": "<message id='1' id='2'/>",
    "duplicate expanded attribute": "<m xmlns:a='u' xmlns:b='u' a:x='1' b:x='2'/>",
    "unquoted attribute": "<message id=1/>",
    "attribute without value": "<message id/>",
    "'<' in attribute value": "<message id='a<b'/>",
    "no space between attributes": "<message id='1'to='2'/>",
    "text at stream level": "hello",
    "entity at stream level": "&amp;",
    "CDATA at stream level": "<![CDATA[x]]>",
    "']]>' in text": "<m>a]]>b</m>",
    "control character in text": "<m>\u0001</m>",
    "control character in attribute": "<m a='\u001f'/>",
    "U+FFFF in text": "<m>\uffff</m>",
    "unbound element prefix": "<foo:bar/>",
    "unbound attribute prefix": "<m foo:a='1'/>",
    "empty prefix declaration": "<m xmlns:a=''/>",
    "two colons": "<a:b:c xmlns:a='u'/>",
    "bad name start": "<1m/>",
    "space after '<'": "< m/>",
    "unexpected end tag": "</message>",
    "bad CDATA": "<m><![CDAT[x]]></m>",
    "garbage after '/'": "<m/ >",
  };
  for (const [what, xml] of Object.entries(cases)) {
    assert.equal(errorOf(HEADER + xml), "not-well-formed", what);
  }
});

Deno.test("framer ignores whitespace keepalives between stanzas", () => {
  const events = oneShot(HEADER + " \n\t\r\n <presence/>\n \n<presence/> ");
  assert.deepEqual(events.map((e) => e.kind), ["open", "element", "element"]);
});

Deno.test("framer accepts CDATA sections inside stanzas as text", () => {
  const [m] = elements(HEADER + "<m>a<![CDATA[<b>&amp;]]]]><![CDATA[>]]>c</m>");
  assert.equal(m!.text(), "a<b>&amp;]]>c");
});

Deno.test("framer accepts a stanza of exactly maxStanzaBytes and rejects one byte more", () => {
  const max = 200;
  const make = (size: number) => {
    const head = "<message><body>";
    const tail = "</body></message>";
    return head + "é".repeat((size - head.length - tail.length) / 2) + tail;
  };
  const fits = make(max);
  assert.equal(enc.encode(fits).length, max);
  assert.deepEqual(oneShot(HEADER + fits, { maxStanzaBytes: max }).at(-1), {
    kind: "element",
    xml: fits,
    ns: "jabber:client",
    bytes: max,
  });
  assert.deepEqual(feed(HEADER + fits, [1], { maxStanzaBytes: max }).at(-1)?.kind, "element");
  const over = fits.replace("<body>", "<body>x");
  assert.equal(errorOf(HEADER + over, { maxStanzaBytes: max }), "policy-violation");
  assert.equal(feed(HEADER + over, [1], { maxStanzaBytes: max }).at(-1)?.kind, "error");
});

Deno.test("framer fails an oversized stanza before it is complete", () => {
  const f = new Framer({ maxStanzaBytes: 1000 });
  f.push(HEADER);
  assert.deepEqual(f.push("<message><body>"), []);
  assert.deepEqual(f.push("a".repeat(1000 - 15)), []);
  assert.deepEqual(view(f.push("a")), [{ kind: "error", condition: "policy-violation" }]);
  assert.deepEqual(f.push("</body></message>"), []);
  // A header that never ends is bounded the same way.
  const g = new Framer({ maxStanzaBytes: 1000 });
  assert.equal(view(g.push("<stream:stream a='" + "x".repeat(2000)))[0]?.kind, "error");
  // Whitespace between stanzas is dropped, never buffered or counted.
  const h = new Framer({ maxStanzaBytes: 150 });
  h.push(HEADER);
  assert.deepEqual(h.push(" ".repeat(1000)), []);
  assert.equal(view(h.push("<presence/>"))[0]?.kind, "element");
  assert.equal(view(h.push("<presence id='" + "a".repeat(150)))[0]?.kind, "error");
});

Deno.test("framer accepts maxDepth nested elements and rejects one more with policy-violation", () => {
  const nest = (depth: number) => "<a>".repeat(depth) + "</a>".repeat(depth);
  assert.equal(errorOf(HEADER + nest(64)), undefined);
  assert.equal(errorOf(HEADER + nest(65)), "policy-violation");
  assert.equal(errorOf(HEADER + nest(3), { maxDepth: 3 }), undefined);
  assert.equal(errorOf(HEADER + nest(4), { maxDepth: 3 }), "policy-violation");
});

Deno.test("framer accepts maxAttributes attributes and rejects one more with policy-violation", () => {
  const attrs = (k: number) => Array.from({ length: k }, (_, i) => ` a${i}='${i}'`).join("");
  assert.equal(errorOf(HEADER + `<m${attrs(5)}/>`, { maxAttributes: 5 }), undefined);
  assert.equal(errorOf(HEADER + `<m${attrs(6)}/>`, { maxAttributes: 5 }), "policy-violation");
});

Deno.test("framer validates the stream header's namespaces with invalid-namespace", () => {
  assert.equal(
    errorOf("<stream:stream xmlns='jabber:client' xmlns:stream='urn:x'>"),
    "invalid-namespace",
  );
  assert.equal(errorOf("<stream:stream xmlns='jabber:client'>"), "invalid-namespace");
  assert.equal(
    errorOf(`<stream:stream xmlns='jabber:foo' xmlns:stream='${NS_STREAMS}'>`),
    "invalid-namespace",
  );
  assert.equal(errorOf(`<stream:stream xmlns:stream='${NS_STREAMS}'>`), "invalid-namespace");
  assert.equal(
    errorOf(`<stream:flow xmlns='jabber:client' xmlns:stream='${NS_STREAMS}'>`),
    "invalid-namespace",
  );
  assert.equal(errorOf("<message xmlns='jabber:client'/>"), "invalid-namespace");
  const server = oneShot(`<stream xmlns='${NS_STREAMS}' xmlns:c='jabber:server'>`);
  assert.equal(server[0]?.kind, "error");
  const s2s = `<stream:stream xmlns='jabber:server' xmlns:stream='${NS_STREAMS}'><message/>`;
  assert.equal(elements(s2s)[0]!.ns, "jabber:server");
});

Deno.test("framer emits nothing after an error", () => {
  const f = new Framer();
  f.push(HEADER);
  assert.equal(f.push("<m><!-- x -->")[0]?.kind, "error");
  assert.deepEqual(f.push("</m><presence/></stream:stream>"), []);
});

Deno.test("framer ignores input after the stream is closed", () => {
  const f = new Framer();
  assert.deepEqual(view(f.push(HEADER + "</stream:stream>")).map((e) => e.kind), ["open", "close"]);
  assert.deepEqual(f.push("<presence/>garbage"), []);
});

Deno.test("framer expects a new stream header after reset", () => {
  const f = new Framer();
  f.push(HEADER + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</auth>");
  f.reset();
  const events = view(f.push(HEADER + "<iq type='set' id='b'/>"));
  assert.deepEqual(events.map((e) => e.kind), ["open", "element"]);
  // A partial stanza from before the reset is forgotten.
  const g = new Framer();
  g.push(HEADER + "<message><bo");
  g.reset();
  assert.deepEqual(view(g.push(HEADER + "<presence/>")).map((e) => e.kind), ["open", "element"]);
});

Deno.test("framer round-trips parse, serialize, parse", () => {
  const first = elements(RICH_STREAM);
  const again = elements(HEADER + first.map(serialize).join("") + "</stream:stream>");
  assert.deepEqual(again.map(serialize), first.map(serialize));
  assert.deepEqual(
    again.map((e) => e.getChildText("body")),
    first.map((e) => e.getChildText("body")),
  );
  const built = x(
    "message",
    { to: "a@b", id: "q'\"<>&\t" },
    x("body", {}, "a < b && c > d ]]>\r\n"),
  );
  const [parsed] = elements(HEADER + serialize(built));
  assert.equal(serialize(parsed!), serialize(built));
  assert.equal(parsed!.attrs.id, "q'\"<>&\t");
  assert.equal(parsed!.getChildText("body"), "a < b && c > d ]]>\r\n");
});

Deno.test("framer keeps an attribute named __proto__ as an ordinary attribute", () => {
  const [m] = elements(HEADER + "<m __proto__='x' constructor='y'/>");
  assert.equal(Object.getPrototypeOf(m!.attrs), Object.prototype);
  assert.equal(m!.attrs["__proto__"], "x");
  assert.equal(m!.attrs.constructor, "y");
});

Deno.test("framer in websocket mode reads open, stanzas and close, one message per push", () => {
  const f = new Framer({ mode: "websocket" });
  const open = view(f.push(`<open xmlns='${NS_FRAMING}' to='example.com' version='1.0'/>`));
  assert.deepEqual(open, [{
    kind: "open",
    name: "open",
    attrs: { xmlns: NS_FRAMING, to: "example.com", version: "1.0" },
  }]);
  const msg = f.push(
    enc.encode("<message xmlns='jabber:client' to='a@b'><body>😀</body></message>"),
  );
  assert.equal(msg[0]?.kind === "element" && msg[0].element.ns, "jabber:client");
  assert.equal(
    msg[0]?.kind === "element" && serialize(msg[0].element),
    "<message xmlns='jabber:client' to='a@b'><body>😀</body></message>",
  );
  assert.deepEqual(view(f.push(`<close xmlns='${NS_FRAMING}'/>`)), [{ kind: "close" }]);
  // Same local name in another namespace is just an element.
  const g = new Framer({ mode: "websocket" });
  assert.equal(g.push("<open xmlns='urn:other'/>")[0]?.kind, "element");
});

Deno.test("framer in websocket mode rejects an incomplete message and an XML declaration", () => {
  const f = new Framer({ mode: "websocket" });
  assert.equal(view(f.push("<message xmlns='jabber:client'><body>"))[0]?.kind, "error");
  const g = new Framer({ mode: "websocket" });
  assert.deepEqual(view(g.push("<?xml version='1.0'?><open xmlns='" + NS_FRAMING + "'/>")), [
    { kind: "error", condition: "restricted-xml" },
  ]);
  const h = new Framer({ mode: "websocket" });
  assert.deepEqual(view(h.push(new Uint8Array([0x3c, 0x61, 0x3e, 0xe6, 0x97]))), [
    { kind: "error", condition: "not-well-formed" },
  ]);
});

Deno.test("framer builds a tree with parents set and text merged", () => {
  const [m] = elements(HEADER + "<message><body>a&amp;b<![CDATA[c]]>d</body><x/>tail</message>");
  const body = m!.getChild("body")!;
  assert.equal(body.parent, m);
  assert.deepEqual(body.children, ["a&bcd"]);
  assert.equal(m!.children.length, 3);
  assert.ok(m!.parent instanceof Element);
  assert.equal(m!.parent!.children.length, 0);
});
