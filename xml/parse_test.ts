import assert from "node:assert/strict";
import { x } from "./element.ts";
import { parseElement, XmlParseError } from "./parse.ts";
import { serialize } from "./serialize.ts";

Deno.test("parseElement round-trips what serialize wrote, text and attributes included", () => {
  const original = x(
    "vCard",
    { xmlns: "vcard-temp" },
    x("FN", {}, 'Juliet & "Romeo" <3'),
    x("NICKNAME", { lang: "it's" }, "日本語 😀"),
    x("PHOTO", {}, x("TYPE", {}, "image/png"), x("BINVAL", {}, "iVBORw0KGgo=")),
  );
  const xml = serialize(original);
  const parsed = parseElement(xml);
  assert.equal(serialize(parsed), xml);
  assert.ok(parsed.is("vCard", "vcard-temp"));
  assert.equal(parsed.getChildText("FN", "vcard-temp"), 'Juliet & "Romeo" <3');
  assert.equal(parsed.getChild("NICKNAME")?.attrs.lang, "it's");
});

Deno.test("parseElement puts an element without xmlns in jabber:client, as on a client stream", () => {
  const msg = parseElement("<message to='a@b' type='chat'><body>hi</body></message>");
  assert.ok(msg.is("message", "jabber:client"));
  assert.equal(msg.getChildText("body", "jabber:client"), "hi");
  // No redundant declaration is added when it is written out again...
  assert.equal(serialize(msg), "<message to='a@b' type='chat'><body>hi</body></message>");
  // ...and cloneDetached() keeps the namespace for embedding (MAM, carbons).
  assert.equal(
    serialize(x("forwarded", { xmlns: "urn:xmpp:forward:0" }, msg.cloneDetached())),
    "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='a@b' type='chat'>" +
      "<body>hi</body></message></forwarded>",
  );
});

Deno.test("parseElement resolves prefixes declared on the element and allows whitespace around it", () => {
  const el = parseElement(
    "\n  <p:storage xmlns:p='storage:bookmarks'><p:conference/></p:storage>\n",
  );
  assert.ok(el.is("storage", "storage:bookmarks"));
  assert.ok(el.getChild("conference", "storage:bookmarks"));
});

Deno.test("parseElement rejects anything but exactly one well-formed element", () => {
  for (
    const bad of [
      "",
      "   ",
      "just text",
      "<a>",
      "<a></b>",
      "<a/><b/>",
      "<a/>trailing",
      "leading<a/>",
      "<a/><!-- comment -->",
      "<?pi x?><a/>",
      "<!DOCTYPE a><a/>",
      "<a>&custom;</a>",
      "<x:a/>",
      "<a/></stream:stream><b/>",
    ]
  ) {
    assert.throws(() => parseElement(bad), XmlParseError, JSON.stringify(bad));
  }
});
