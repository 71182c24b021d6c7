import assert from "node:assert/strict";
import { type Element, x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { pluginHarness } from "../../tests/helpers/plugin_harness.ts";
import { validateConfig } from "../../config/mod.ts";
import { parseAllOptions } from "../registry.ts";
import priv from "./mod.ts";

const PRIVATE = "jabber:iq:private";
const query = (...items: Element[]) => x("query", { xmlns: PRIVATE }, ...items);
const condition = (iq: Element) => iq.getChild("error")?.elements()[0]?.localName;

Deno.test("private returns the asked-for empty element when nothing is stored", async () => {
  const h = await pluginHarness([priv]);
  const alice = h.session("alice@localhost/phone");
  const reply = await h.request(
    alice,
    x("iq", { type: "get" }, query(x("storage", { xmlns: "storage:bookmarks" }))),
  );
  assert.equal(reply.attrs.type, "result");
  assert.equal(
    serialize(reply.elements()[0]!),
    "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>",
  );
  await h.stop();
});

Deno.test("private stores several fragments in one set and returns each by name and namespace", async () => {
  const h = await pluginHarness([priv]);
  const alice = h.session("alice@localhost/phone");
  const set = await h.request(
    alice,
    x(
      "iq",
      { type: "set" },
      query(
        x("exodus", { xmlns: "exodus:prefs" }, x("defaultnick", {}, "Hamlet")),
        x("storage", { xmlns: "storage:bookmarks" }, x("conference", { jid: "room@muc" })),
      ),
    ),
  );
  assert.equal(set.attrs.type, "result");

  const got = await h.request(
    alice,
    x(
      "iq",
      { type: "get" },
      query(x("storage", { xmlns: "storage:bookmarks" }), x("exodus", { xmlns: "exodus:prefs" })),
    ),
  );
  assert.equal(
    serialize(got.elements()[0]!),
    "<query xmlns='jabber:iq:private'>" +
      "<storage xmlns='storage:bookmarks'><conference jid='room@muc'/></storage>" +
      "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query>",
  );
  // Same name, other namespace: a different fragment.
  const other = await h.request(
    alice,
    x("iq", { type: "get" }, query(x("storage", { xmlns: "storage:rosternotes" }))),
  );
  assert.equal(other.elements()[0]?.elements()[0]?.elements().length, 0);
  await h.stop();
});

Deno.test("private keeps each user's data apart", async () => {
  const h = await pluginHarness([priv]);
  const alice = h.session("alice@localhost/phone");
  const bob = h.session("bob@localhost/desk");
  await h.request(alice, x("iq", { type: "set" }, query(x("n", { xmlns: "x:notes" }, "alice's"))));
  const got = await h.request(bob, x("iq", { type: "get" }, query(x("n", { xmlns: "x:notes" }))));
  assert.equal(got.elements()[0]?.elements()[0]?.text(), "");
  await h.stop();
});

Deno.test("private answers forbidden to a get or set addressed to another user", async () => {
  const h = await pluginHarness([priv]);
  const bob = h.session("bob@localhost/desk");
  for (const type of ["get", "set"]) {
    const reply = await h.request(
      bob,
      x("iq", { type, to: "alice@localhost" }, query(x("n", { xmlns: "x:notes" }, "hi"))),
    );
    assert.equal(reply.attrs.type, "error");
    assert.equal(condition(reply), "forbidden", type);
  }
  assert.equal(await h.db.private.get("alice@localhost", "n x:notes"), null);
  await h.stop();
});

Deno.test("private refuses an empty query and jabber:* fragments with not-acceptable", async () => {
  const h = await pluginHarness([priv]);
  const alice = h.session("alice@localhost/phone");
  const cases: [string, Element][] = [
    ["get", query()],
    ["set", query()],
    ["get", query(x("query", { xmlns: "jabber:iq:roster" }))],
    ["set", query(x("query", { xmlns: "jabber:iq:roster" }))],
    // A child without its own xmlns inherits jabber:iq:private.
    ["set", query(x("prefs"))],
  ];
  for (const [type, q] of cases) {
    const reply = await h.request(alice, x("iq", { type }, q));
    assert.equal(condition(reply), "not-acceptable", `${type} ${serialize(q)}`);
  }
  await h.stop();
});

Deno.test("private refuses a set with a fragment over max_bytes and stores none of it", async () => {
  const h = await pluginHarness([priv], { sections: { private: { max_bytes: 64 } } });
  const alice = h.session("alice@localhost/phone");
  const reply = await h.request(
    alice,
    x(
      "iq",
      { type: "set" },
      query(x("a", { xmlns: "x:a" }, "ok"), x("b", { xmlns: "x:b" }, "y".repeat(64))),
    ),
  );
  assert.equal(condition(reply), "not-acceptable");
  assert.equal(await h.db.private.get("alice@localhost", "a x:a"), null);
  await h.stop();
});

Deno.test("private announces jabber:iq:private and validates max_bytes at start-up", async () => {
  const h = await pluginHarness([priv]);
  assert.ok(h.core.disco.features.has(PRIVATE));
  await h.stop();
  const config = validateConfig({ private: { max_bytes: -1 } });
  assert.throws(() => parseAllOptions([priv], config), /private\.max_bytes/);
});
