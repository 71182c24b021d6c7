import assert from "node:assert/strict";
import { x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { memoryDatabase, pluginHarness } from "../../tests/helpers/plugin_harness.ts";
import { validateConfig } from "../../config/mod.ts";
import { parseAllOptions } from "../registry.ts";
import vcard from "./mod.ts";

const VCARD = "vcard-temp";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const card = (fn: string) => x("vCard", { xmlns: VCARD }, x("FN", {}, fn));
const condition = (
  iq: { getChild(n: string): { elements(): { localName: string }[] } | undefined },
) => iq.getChild("error")?.elements()[0]?.localName;

Deno.test("vcard-temp returns an empty vCard to its owner when none is stored", async () => {
  const h = await pluginHarness([vcard]);
  const alice = h.session("alice@localhost/phone");
  const reply = await h.request(alice, x("iq", { type: "get" }, x("vCard", { xmlns: VCARD })));
  assert.equal(reply.attrs.type, "result");
  assert.equal(serialize(reply.elements()[0]!), "<vCard xmlns='vcard-temp'/>");
  await h.stop();
});

Deno.test("vcard-temp stores the owner's vCard and returns it, with no to or to the own bare JID", async () => {
  const h = await pluginHarness([vcard]);
  const alice = h.session("alice@localhost/phone");
  const set = await h.request(alice, x("iq", { type: "set" }, card("Alice Liddell")));
  assert.equal(set.attrs.type, "result");
  assert.equal(set.elements().length, 0);
  assert.equal(
    await h.db.vcard.get("alice@localhost"),
    "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN></vCard>",
  );

  for (const to of [undefined, "alice@localhost"]) {
    const got = await h.request(alice, x("iq", { type: "get", to }, x("vCard", { xmlns: VCARD })));
    assert.equal(got.attrs.type, "result");
    assert.equal(got.elements()[0]?.getChildText("FN"), "Alice Liddell");
  }
  await h.stop();
});

Deno.test("vcard-temp answers another user's vCard on their behalf, service-unavailable when none", async () => {
  const h = await pluginHarness([vcard], { db: memoryDatabase(["bob@localhost"]) });
  const alice = h.session("alice@localhost/phone");
  const bob = h.session("bob@localhost/desk");
  const none = await h.request(
    bob,
    x("iq", { type: "get", to: "alice@localhost" }, x("vCard", { xmlns: VCARD })),
  );
  assert.equal(none.attrs.type, "error");
  assert.equal(condition(none), "service-unavailable");
  const nobody = await h.request(
    bob,
    x("iq", { type: "get", to: "nobody@localhost" }, x("vCard", { xmlns: VCARD })),
  );
  assert.equal(condition(nobody), "service-unavailable", "a missing account looks the same");

  await h.request(alice, x("iq", { type: "set" }, card("Alice")));
  const got = await h.request(
    bob,
    x("iq", { type: "get", to: "alice@localhost" }, x("vCard", { xmlns: VCARD })),
  );
  assert.equal(got.attrs.type, "result");
  assert.equal(got.attrs.from, "alice@localhost");
  assert.equal(got.elements()[0]?.getChildText("FN"), "Alice");
  await h.stop();
});

Deno.test("vcard-temp forbids setting another user's vCard", async () => {
  const h = await pluginHarness([vcard]);
  const bob = h.session("bob@localhost/desk");
  const reply = await h.request(
    bob,
    x("iq", { type: "set", to: "alice@localhost" }, card("Mallory")),
  );
  assert.equal(reply.attrs.type, "error");
  assert.equal(condition(reply), "forbidden");
  assert.equal(reply.getChild("error")?.getChild("forbidden")?.ns, STANZAS);
  assert.equal(await h.db.vcard.get("alice@localhost"), null);
  await h.stop();
});

Deno.test("vcard-temp refuses a vCard over max_bytes with not-acceptable and keeps the old one", async () => {
  const h = await pluginHarness([vcard], { sections: { "vcard-temp": { max_bytes: 100 } } });
  const alice = h.session("alice@localhost/phone");
  await h.request(alice, x("iq", { type: "set" }, card("small")));
  const reply = await h.request(alice, x("iq", { type: "set" }, card("x".repeat(100))));
  assert.equal(condition(reply), "not-acceptable");
  assert.match(await h.db.vcard.get("alice@localhost") ?? "", /small/);
  await h.stop();
});

Deno.test("vcard-temp announces its disco feature on the server and on accounts", async () => {
  const h = await pluginHarness([vcard]);
  assert.ok(h.core.disco.features.has(VCARD));
  assert.ok(h.core.disco.accountFeatures.has(VCARD));
  await h.stop();
});

Deno.test("vcard-temp rejects a max_bytes that is not a positive integer at start-up", () => {
  for (const max_bytes of [0, 1.5, "big"]) {
    const config = validateConfig({ "vcard-temp": { max_bytes } });
    assert.throws(() => parseAllOptions([vcard], config), /vcard-temp\.max_bytes/);
  }
});
