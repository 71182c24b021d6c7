import assert from "node:assert/strict";
import { x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { parseStored } from "./mod.ts";

Deno.test("a stored subscription request reads back as the stanza that was stored", () => {
  const req = x(
    "presence",
    { xmlns: "jabber:client", type: "subscribe", from: "a@b", to: "c@d" },
    x("status", {}, "let me <in> & see"),
    x("nick", { xmlns: "http://jabber.org/protocol/nick" }, "A"),
  );
  const back = parseStored(serialize(req));
  assert.ok(back);
  assert.equal(serialize(back), serialize(req));
  assert.equal(back.getChildText("nick", "http://jabber.org/protocol/nick"), "A");
  assert.equal(back.ns, "jabber:client");
});

Deno.test("a stored request that is not XML reads back as nothing", () => {
  assert.equal(parseStored("<presence"), null);
  assert.equal(parseStored("not xml at all"), null);
});
