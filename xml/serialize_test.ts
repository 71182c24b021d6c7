import assert from "node:assert/strict";
import { Element, x } from "./element.ts";
import { escapeAttr, escapeText, serialize, STREAM_CLOSE, streamOpen } from "./serialize.ts";

Deno.test("escapeText escapes &, < and >, keeps CR as a reference and leaves quotes alone", () => {
  assert.equal(escapeText("a & b < c > d \"e\" 'f'"), "a &amp; b &lt; c &gt; d \"e\" 'f'");
  assert.equal(escapeText("plain"), "plain");
  assert.equal(escapeText("tab\tlf\ncr\r"), "tab\tlf\ncr&#13;");
});

Deno.test("escapeAttr escapes quotes, > and whitespace controls as character references", () => {
  assert.equal(
    escapeAttr("a&b<c>d\"e'f\tg\nh\ri"),
    "a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i",
  );
});

Deno.test("serializer never emits characters invalid in XML 1.0", () => {
  const bad = "a\u0000b\u0008c\u000bd\u000ce\u000ef\u001fg\ufffeh\uffffi";
  assert.equal(escapeText(bad), "abcdefghi");
  assert.equal(escapeAttr(bad), "abcdefghi");
  // Lone surrogates become U+FFFD; well-formed pairs are kept.
  assert.equal(escapeText("x\ud800y\udc00z"), "x\ufffdy\ufffdz");
  assert.equal(escapeText("😀\ud83d"), "😀\ufffd");
  assert.equal(escapeAttr("\udfff&"), "\ufffd&amp;");
  assert.equal(escapeText("日本語 😀 é"), "日本語 😀 é");
});

Deno.test("serialize writes names and attributes as they are, in order, with single quotes", () => {
  const el = x(
    "message",
    { to: "juliet@example.com", type: "chat", id: "it's" },
    x("body", {}, "1 < 2"),
    x("active", { xmlns: "http://jabber.org/protocol/chatstates" }),
  );
  assert.equal(
    serialize(el),
    "<message to='juliet@example.com' type='chat' id='it&apos;s'><body>1 &lt; 2</body>" +
      "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
  );
  assert.equal(serialize(new Element("presence")), "<presence/>");
  assert.equal(serialize(x("body", {}, "")), "<body></body>");
  assert.equal(serialize(x("m", { a: undefined, b: "1" })), "<m b='1'/>");
});

Deno.test("serialize writes mixed content in order", () => {
  const el = new Element("p").t("a").append(new Element("b").t("c")).t("d");
  assert.equal(serialize(el), "<p>a<b>c</b>d</p>");
});

Deno.test("streamOpen writes the declaration and the given attributes in order", () => {
  assert.equal(
    streamOpen({
      xmlns: "jabber:client",
      "xmlns:stream": "http://etherx.jabber.org/streams",
      id: "abc",
      from: "example.com",
      version: "1.0",
      "xml:lang": "en",
    }),
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
      "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.com' " +
      "version='1.0' xml:lang='en'>",
  );
  assert.equal(STREAM_CLOSE, "</stream:stream>");
});

Deno.test("cloneDetached declares the inherited namespaces on the copy", () => {
  const root = x("stream:stream", {
    xmlns: "jabber:client",
    "xmlns:stream": "http://etherx.jabber.org/streams",
  });
  const msg = x("message", { to: "a@b" }, x("body", {}, "hi"));
  msg.parent = root;
  const err = x("stream:error", {});
  err.parent = root;
  const copy = msg.cloneDetached();
  assert.equal(copy.parent, null);
  assert.equal(
    serialize(copy),
    "<message xmlns='jabber:client' to='a@b'><body>hi</body></message>",
  );
  const wrapped = x("forwarded", { xmlns: "urn:xmpp:forward:0" }, copy);
  assert.equal(wrapped.getChild("message")!.ns, "jabber:client");
  assert.equal(
    serialize(err.cloneDetached()),
    "<stream:error xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>",
  );
});
