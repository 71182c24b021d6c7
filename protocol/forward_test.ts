import assert from "node:assert/strict";
import { Framer } from "../xml/framer.ts";
import { parseElement } from "../xml/parse.ts";
import { x } from "../xml/element.ts";
import { serialize } from "../xml/serialize.ts";
import { forwardable, serializeForwardable } from "./forward.ts";

/** Stanzas as a client stream delivers them: in the stream's default namespace, no xmlns. */
function fromStream(stanza: string) {
  const f = new Framer({ maxStanzaBytes: 65536, maxDepth: 32 });
  const open =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='x'>";
  const frames = f.push(new TextEncoder().encode(open + stanza));
  const el = frames.find((fr) => "element" in fr && fr.element);
  // deno-lint-ignore no-explicit-any
  return (el as any).element;
}

Deno.test("serializeForwardable writes what serialize(forwardable()) writes, without the copy", () => {
  const cases = [
    fromStream(
      "<message to='b@x' type='chat' id='1'><body>hi &amp; &lt;there&gt; 'q' \"d\"</body></message>",
    ),
    fromStream("<message to='b@x'/>"),
    fromStream("<message><body/><x xmlns='urn:other'><y a='&apos;'/></x></message>"),
    x("message", { to: "b@x" }, x("body", {}, "built by the server")),
    x("message", { xmlns: "jabber:client", to: "b@x" }, x("body", {}, "declared")),
    x("message", { xmlns: "jabber:server", to: "b@x" }, x("body", {}, "other namespace")),
    parseElement(
      "<c:message xmlns:c='jabber:client' to='b@x'><c:body>prefixed</c:body></c:message>",
    ),
  ];
  for (const el of cases) {
    const before = serialize(el);
    assert.equal(serializeForwardable(el), serialize(forwardable(el)), before);
    assert.equal(serialize(el), before, "the stanza itself is left as it was");
  }
});

Deno.test("serializeForwardable keeps a prefixed stanza's namespaces declared", () => {
  const stream = parseElement(
    "<s xmlns='urn:outer' xmlns:c='jabber:client'><c:message to='b@x'><c:body>p</c:body></c:message></s>",
  );
  const el = stream.getChildren("message")[0] ?? stream.children.find((c) => typeof c !== "string");
  assert.ok(el && typeof el !== "string");
  assert.equal(serializeForwardable(el), serialize(forwardable(el)));
  assert.match(serializeForwardable(el), /^<c:message xmlns='urn:outer' xmlns:c='jabber:client'/);
});
