import assert from "node:assert/strict";
import { type Element, x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { parseJid } from "../../jid/mod.ts";
import type { RosterItem, RosterStore } from "../../db/types.ts";
import type { Session } from "../../router/session.ts";
import { itemElement, parseRosterSet, RosterService, visible } from "./mod.ts";

const LIMITS = { max_name_length: 20 };
const query = (...items: Element[]) => x("query", { xmlns: "jabber:iq:roster" }, ...items);

function rejects(q: Element, condition: string) {
  assert.throws(() => parseRosterSet(q, LIMITS), (e) => {
    assert.ok(e instanceof StanzaError);
    assert.equal(e.condition, condition);
    return true;
  });
}

Deno.test("a roster set with one item asks for an update with its name and groups", () => {
  const q = query(
    x("item", { jid: "Bob@Example.com", name: "Bob" }, x("group", {}, "A"), x("group", {}, "B")),
  );
  assert.deepEqual(parseRosterSet(q, LIMITS), {
    op: "update",
    jid: "bob@example.com",
    name: "Bob",
    groups: ["A", "B"],
  });
  assert.deepEqual(
    parseRosterSet(query(x("item", { jid: "bob@example.com", subscription: "remove" })), LIMITS),
    { op: "remove", jid: "bob@example.com" },
  );
});

Deno.test("roster set errors follow RFC 6121 §2.3.3", () => {
  rejects(query(), "bad-request");
  rejects(query(x("item", { jid: "a@b" }), x("item", { jid: "c@d" })), "bad-request");
  rejects(query(x("item", {})), "bad-request");
  rejects(query(x("item", { jid: "a@@b" })), "jid-malformed");
  rejects(query(x("item", { jid: "a@b/res" })), "jid-malformed");
  rejects(query(x("item", { jid: "a@b", subscription: "both" })), "not-allowed");
  rejects(query(x("item", { jid: "a@b", name: "x".repeat(21) })), "not-acceptable");
  rejects(query(x("item", { jid: "a@b" }, x("group", {}))), "not-acceptable");
  rejects(
    query(x("item", { jid: "a@b" }, x("group", {}, "A"), x("group", {}, "A"))),
    "bad-request",
  );
});

Deno.test("roster items render with ask only while a request is pending", () => {
  const item: RosterItem = {
    jid: "bob@example.com",
    name: "Bob",
    subscription: "none",
    askOut: true,
    pendingIn: false,
    groups: ["Friends"],
  };
  assert.equal(
    serialize(itemElement(item)),
    "<item jid='bob@example.com' name='Bob' subscription='none' ask='subscribe'>" +
      "<group>Friends</group></item>",
  );
  assert.equal(
    serialize(itemElement({ ...item, askOut: false, name: undefined, groups: [] })),
    "<item jid='bob@example.com' subscription='none'/>",
  );
});

Deno.test("an unanswered request alone is not shown in the roster", () => {
  const base: RosterItem = {
    jid: "a@b",
    subscription: "none",
    askOut: false,
    pendingIn: true,
    groups: [],
  };
  assert.equal(visible(base), false);
  assert.equal(visible({ ...base, name: "A" }), true);
  assert.equal(visible({ ...base, askOut: true }), true);
  assert.equal(visible({ ...base, subscription: "to" }), true);
  assert.equal(visible({ ...base, pendingIn: false }), true);
});

class MemoryRoster implements RosterStore {
  items = new Map<string, RosterItem>();
  version = 0;
  get(_owner: string) {
    return Promise.resolve({ version: String(this.version), items: [...this.items.values()] });
  }
  getItem(_owner: string, contact: string) {
    return Promise.resolve(structuredClone(this.items.get(contact) ?? null));
  }
  put(_owner: string, item: RosterItem) {
    this.items.set(item.jid, structuredClone(item));
    return Promise.resolve(String(++this.version));
  }
  remove(_owner: string, contact: string) {
    return Promise.resolve(this.items.delete(contact) ? String(++this.version) : null);
  }
}

function fakeSession(full: string, interested: boolean): Session & { sent: Element[] } {
  const sent: Element[] = [];
  return {
    id: full,
    transport: "tcp",
    remoteAddress: "127.0.0.1",
    jid: parseJid(full),
    secure: true,
    available: true,
    priority: 0,
    presence: null,
    interested,
    data: new Map(),
    sent,
    send: (el) => void sent.push(el),
    close: () => {},
  };
}

Deno.test("roster updates push the new version to interested resources only", async () => {
  const store = new MemoryRoster();
  const one = fakeSession("alice@example.com/one", true);
  const two = fakeSession("alice@example.com/two", false);
  const roster = new RosterService(store, { ofUser: () => [one, two] });
  await roster.update("alice@example.com", "bob@example.com", () => ({
    jid: "bob@example.com",
    subscription: "none",
    askOut: false,
    pendingIn: false,
    groups: [],
  }));
  assert.equal(one.sent.length, 1);
  assert.equal(two.sent.length, 0);
  const push = one.sent[0]!;
  assert.equal(push.attrs.type, "set");
  assert.equal(push.attrs.to, "alice@example.com/one");
  assert.equal(push.getChild("query")?.attrs.ver, "1");
  assert.equal(push.getChild("query")?.getChild("item")?.attrs.jid, "bob@example.com");
  // Writing the same item again changes nothing and pushes nothing.
  await roster.update("alice@example.com", "bob@example.com", (item) => item);
  assert.equal(one.sent.length, 1);
  assert.equal(store.version, 1);
  await roster.update("alice@example.com", "bob@example.com", () => null);
  assert.equal(one.sent[1]?.getChild("query")?.getChild("item")?.attrs.subscription, "remove");
});

Deno.test("hidden pending requests are stored without a push and dropped once answered", async () => {
  const store = new MemoryRoster();
  const one = fakeSession("alice@example.com/one", true);
  const roster = new RosterService(store, { ofUser: () => [one] });
  const pending: RosterItem = {
    jid: "eve@example.com",
    subscription: "none",
    askOut: false,
    pendingIn: true,
    pendingInStanza: "<presence type='subscribe'/>",
    groups: [],
  };
  await roster.update("alice@example.com", "eve@example.com", () => pending);
  assert.equal(store.items.size, 1);
  assert.equal(one.sent.length, 0);
  await roster.update("alice@example.com", "eve@example.com", (item) => ({
    ...item!,
    pendingIn: false,
    pendingInStanza: undefined,
  }));
  assert.equal(store.items.size, 0, "a denied request leaves nothing behind");
  assert.equal(one.sent.length, 0);
});

Deno.test("updates of one roster run one at a time", async () => {
  const store = new MemoryRoster();
  const roster = new RosterService(store, { ofUser: () => [] });
  const add = (g: string) =>
    roster.update("alice@example.com", "bob@example.com", async (item) => {
      await new Promise((r) => setTimeout(r, 5));
      const cur = item ??
        {
          jid: "bob@example.com",
          subscription: "none",
          askOut: false,
          pendingIn: false,
          groups: [],
        };
      return { ...cur, groups: [...cur.groups, g] };
    });
  await Promise.all([add("a"), add("b"), add("c")]);
  assert.deepEqual(store.items.get("bob@example.com")?.groups, ["a", "b", "c"]);
});
