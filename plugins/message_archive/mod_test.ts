import assert from "node:assert/strict";
import { Core } from "../../server/core.ts";
import { validateConfig } from "../../config/mod.ts";
import { openDatabase } from "../../db/mod.ts";
import type { Database } from "../../db/types.ts";
import { ActorDirectory } from "../../actors/directory.ts";
import { type AnyPlugin, parseAllOptions, pluginApi } from "../registry.ts";
import sessMan, { type SessionRegistry } from "../sess_man/mod.ts";
import messageArchive, { decide, newStanzaId, parseStored, PrefsCache } from "./mod.ts";
import type { BindableSession } from "../sess_man/sessions.ts";
import type { JID } from "../../jid/mod.ts";
import { parseJid } from "../../jid/mod.ts";
import { type Element, x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { NS } from "../../protocol/ns.ts";
import { forwardable } from "../../protocol/forward.ts";
import type { MessageAccepted } from "../../router/hooks.ts";

// One database and core for the whole file (PGlite takes seconds to start); each test uses its own
// users so their archives never meet.

const DOMAIN = "example.com";

interface Fixture {
  core: Core;
  db: Database;
  sessions: SessionRegistry;
}

let fixture: Promise<Fixture> | undefined;

async function setup(): Promise<Fixture> {
  const config = validateConfig({ domain: DOMAIN, components: ["sess-man", "message-archive"] });
  const db = await openDatabase({ memory: true });
  const core = new Core(config, db, new ActorDirectory());
  const plugins: AnyPlugin[] = [sessMan, messageArchive];
  const options = parseAllOptions(plugins, config);
  for (const p of plugins) await p.setup(pluginApi(core, p, options.get(p.name)));
  return { core, db, sessions: core.service<SessionRegistry>("sessions") };
}

function world(): Promise<Fixture> {
  return fixture ??= setup();
}

let userSeq = 0;
/** Fresh user names for one test. */
function users<const N extends string[]>(...names: N): { [K in keyof N]: string } {
  userSeq++;
  return names.map((n) => `${n}${userSeq}`) as { [K in keyof N]: string };
}

interface Client {
  session: BindableSession;
  jid: JID;
  sent: Element[];
}

function connect(f: Fixture, user: string, resource = "phone"): Client {
  const sent: Element[] = [];
  const session: BindableSession = {
    id: crypto.randomUUID(),
    transport: "tcp",
    remoteAddress: "127.0.0.1",
    jid: null,
    secure: true,
    available: true,
    priority: 0,
    presence: null,
    interested: false,
    data: new Map(),
    send: (el) => sent.push(el),
    close: () => {},
    replaced: () => {},
  };
  const r = f.sessions.bind(session, user, resource);
  assert.ok(r.ok);
  return { session, jid: session.jid!, sent };
}

let iqSeq = 0;
/** Sends an iq from the client; returns the messages sent before the reply, and the reply. */
async function iq(
  f: Fixture,
  c: Client,
  type: "get" | "set",
  payload: Element,
  to?: string,
): Promise<{ messages: Element[]; reply: Element }> {
  const id = `iq${++iqSeq}`;
  const start = c.sent.length;
  await f.core.router.fromSession(c.session, x("iq", { type, id, to }, payload));
  const out = c.sent.slice(start);
  const i = out.findIndex((s) => s.name === "iq" && s.attrs.id === id);
  assert.ok(i >= 0, `no reply to ${id}`);
  return { messages: out.slice(0, i), reply: out[i]! };
}

/** What the recipient's user actor does: fire message/accepted on the message it delivers. */
function accept(f: Fixture, from: string, to: string, body: string, extra: Element[] = []) {
  const stanza = x(
    "message",
    { from, to, type: "chat", id: body },
    x("body", {}, body),
    ...extra,
  );
  f.core.hooks.fireSync("message/accepted", {
    stanza,
    from: parseJid(from),
    to: parseJid(to),
    outcome: "delivered",
    origin: null,
  });
  return stanza;
}

/** message/accepted for a stanza built by the test, from a local sender; returns the event. */
function fireAccepted(f: Fixture, stanza: Element, from: JID, to: string): MessageAccepted {
  const ev: MessageAccepted = {
    stanza,
    from,
    to: parseJid(to),
    outcome: "delivered",
    origin: null,
  };
  f.core.hooks.fireSync("message/accepted", ev);
  return ev;
}

const mamQuery = (attrs: Record<string, string> = {}, ...children: Element[]) =>
  x("query", { xmlns: NS.mam, ...attrs }, ...children);

const rsm = (o: { max?: number; after?: string; before?: string }) =>
  x(
    "set",
    { xmlns: NS.rsm },
    o.max !== undefined ? x("max", {}, String(o.max)) : null,
    o.after !== undefined ? x("after", {}, o.after) : null,
    o.before !== undefined ? x("before", {}, o.before) : null,
  );

const form = (fields: Record<string, string | string[]>) =>
  x(
    "x",
    { xmlns: NS.dataForms, type: "submit" },
    x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", {}, NS.mam)),
    ...Object.entries(fields).map(([k, v]) =>
      x("field", { var: k }, ...(Array.isArray(v) ? v : [v]).map((s) => x("value", {}, s)))
    ),
  );

const bodies = (messages: Element[]) =>
  messages.map((m) =>
    m.getChild("result", NS.mam)!.getChild("forwarded", NS.forward)!.getChild("message")!
      .getChildText("body")
  );

const errorOf = (reply: Element) =>
  reply.attrs.type === "error" ? reply.getChild("error")!.elements()[0]!.localName : "result";

Deno.test("message-archive stamps the recipient's copy with a stanza-id and drops a spoofed one", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const bobBare = `${bob}@${DOMAIN}`;
  const stanza = accept(f, `${alice}@${DOMAIN}/pc`, bobBare, "hi", [
    x("stanza-id", { xmlns: NS.sid, id: "forged", by: bobBare }),
    x("stanza-id", { xmlns: NS.sid, id: "room-id", by: "room@muc.example.org" }),
  ]);
  const ids = stanza.getChildren("stanza-id", NS.sid);
  assert.deepEqual(ids.map((e) => e.attrs.by), ["room@muc.example.org", bobBare]);
  assert.notEqual(ids[1]!.attrs.id, "forged");
  assert.match(serialize(stanza), /<stanza-id xmlns='urn:xmpp:sid:0' id='[0-9a-z]+' by='bob/);
});

Deno.test("message-archive archives the recipient's and the local sender's copies, each for its owner", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const a = connect(f, alice);
  const b = connect(f, bob);
  const delivered = accept(f, a.jid.full, `${bob}@${DOMAIN}`, "hello bob");
  const stanzaId = delivered.getChild("stanza-id", NS.sid)!.attrs.id!;

  const got = await iq(f, b, "set", mamQuery({ queryid: "q1" }));
  assert.equal(got.reply.attrs.type, "result");
  assert.equal(got.messages.length, 1);
  const result = got.messages[0]!.getChild("result", NS.mam)!;
  assert.equal(result.attrs.queryid, "q1");
  assert.equal(result.attrs.id, stanzaId, "the archive id is the stanza-id the recipient saw");
  assert.equal(got.messages[0]!.attrs.to, b.jid.full);
  const fwd = result.getChild("forwarded", NS.forward)!;
  assert.ok(fwd.getChild("delay", NS.delay)?.attrs.stamp);
  const original = fwd.getChild("message")!;
  assert.equal(original.ns, NS.client, "the forwarded message keeps jabber:client");
  assert.equal(original.attrs.from, a.jid.full);
  assert.equal(original.getChildText("body"), "hello bob");
  const fin = got.reply.getChild("fin", NS.mam)!;
  assert.equal(fin.attrs.complete, "true");
  const set = fin.getChild("set", NS.rsm)!;
  assert.equal(set.getChildText("count"), "1");
  assert.equal(set.getChildText("first"), stanzaId);
  assert.equal(set.getChild("first")!.attrs.index, "0");

  const sent = await iq(f, a, "set", mamQuery());
  assert.deepEqual(bodies(sent.messages), ["hello bob"]);
  const aliceId = sent.messages[0]!.getChild("result", NS.mam)!.attrs.id;
  assert.notEqual(aliceId, stanzaId, "each owner's copy has its own id");
  const aliceCopy = sent.messages[0]!.getChild("result", NS.mam)!.getChild("forwarded")!
    .getChild("message")!;
  assert.equal(aliceCopy.getChild("stanza-id", NS.sid), undefined, "bob's id stays in bob's copy");
});

Deno.test("message-archive stores each copy as the serialisation of what its owner saw", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const a = connect(f, alice);
  const delivered = accept(f, a.jid.full, `${bob}@${DOMAIN}`, `a < b & "c" 'd' \u00e9`, [
    x("thread", {}, "t&1"),
  ]);
  // Decisions wait for each owner's preferences to load; a query through the plugin waits too.
  const b = connect(f, bob);
  await iq(f, a, "set", mamQuery());
  await iq(f, b, "set", mamQuery());
  // Stored as written on the recipient's and the sender's streams (jabber:client undeclared)...
  const [inCopy] = (await f.db.archive.query({ owner: `${bob}@${DOMAIN}`, max: 5 })).items;
  assert.equal(inCopy!.xml, serialize(delivered));
  const [outCopy] = (await f.db.archive.query({ owner: `${alice}@${DOMAIN}`, max: 5 })).items;
  const unstamped = delivered.clone();
  unstamped.remove(unstamped.getChild("stanza-id", NS.sid)!);
  assert.equal(outCopy!.xml, serialize(unstamped));
  // ...and read back in jabber:client, declared, as MAM forwards them.
  assert.equal(serialize(parseStored(inCopy!.xml)!), serialize(forwardable(delivered)));
  assert.equal(serialize(parseStored(outCopy!.xml)!), serialize(forwardable(unstamped)));
});

Deno.test("message-archive declares the namespace of a copy that is not in jabber:client", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const a = connect(f, alice);
  const stanza = x(
    "message",
    { xmlns: "jabber:component:accept", from: a.jid.full, to: `${bob}@${DOMAIN}`, type: "chat" },
    x("body", {}, "from elsewhere"),
  );
  fireAccepted(f, stanza, a.jid, `${bob}@${DOMAIN}`);
  const b = connect(f, bob);
  await iq(f, b, "set", mamQuery());
  const [inCopy] = (await f.db.archive.query({ owner: `${bob}@${DOMAIN}`, max: 5 })).items;
  assert.equal(parseStored(inCopy!.xml)!.attrs.xmlns, "jabber:component:accept");
  const nested = x("wrapper", { xmlns: "jabber:server" }, x("message", { to: `${bob}@${DOMAIN}` }));
  const inherited = nested.getChild("message")!;
  inherited.append(x("body", {}, "inherited"));
  fireAccepted(f, inherited, a.jid, `${bob}@${DOMAIN}`);
  await iq(f, b, "set", mamQuery());
  const copies = (await f.db.archive.query({ owner: `${bob}@${DOMAIN}`, max: 5 })).items;
  assert.equal(parseStored(copies.at(-1)!.xml)!.attrs.xmlns, "jabber:server");
});

Deno.test("message-archive hands delivery the serialisation of the stamped stanza", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const a = connect(f, alice);
  const stanza = x(
    "message",
    { from: a.jid.full, to: `${bob}@${DOMAIN}`, type: "chat", id: "s1" },
    x("body", {}, `<&> \u00e9`),
  );
  const ev = fireAccepted(f, stanza, a.jid, `${bob}@${DOMAIN}`);
  assert.ok(stanza.getChild("stanza-id", NS.sid), "stamped");
  assert.equal(ev.serialized, serialize(stanza));
  // Nothing archived, nothing handed over.
  const typing = fireAccepted(f, x("message", { type: "chat" }), a.jid, `${bob}@${DOMAIN}`);
  assert.equal(typing.serialized, undefined);
});

Deno.test("message-archive does not keep a remote sender's copy nor unarchivable messages", async () => {
  const f = await world();
  const [bob] = users("bob");
  const b = connect(f, bob);
  accept(f, "stranger@elsewhere.org/x", `${bob}@${DOMAIN}`, "from afar");
  accept(f, "stranger@elsewhere.org/x", `${bob}@${DOMAIN}`, "secret", [
    x("no-store", { xmlns: NS.hints }),
  ]);
  const groupchat = x("message", { type: "groupchat" }, x("body", {}, "room talk"));
  f.core.hooks.fireSync("message/accepted", {
    stanza: groupchat,
    from: parseJid("room@muc.elsewhere.org/nick"),
    to: b.jid,
    outcome: "delivered",
    origin: null,
  });
  const got = await iq(f, b, "set", mamQuery());
  assert.deepEqual(bodies(got.messages), ["from afar"]);
  assert.equal(groupchat.getChild("stanza-id", NS.sid), undefined);
});

Deno.test("message-archive pages with RSM max/after/before cover the archive exactly once, in order", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const b = connect(f, bob);
  const all = Array.from({ length: 7 }, (_, i) => `m${i}`);
  for (const body of all) accept(f, `${alice}@${DOMAIN}/pc`, `${bob}@${DOMAIN}`, body);

  const forward: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 5; page++) {
    const got = await iq(f, b, "set", mamQuery({}, rsm({ max: 3, after })));
    forward.push(...bodies(got.messages) as string[]);
    const fin = got.reply.getChild("fin", NS.mam)!;
    const set = fin.getChild("set", NS.rsm)!;
    assert.equal(set.getChildText("count"), "7");
    assert.equal(set.getChild("first")!.attrs.index, String(page * 3));
    after = set.getChildText("last");
    if (fin.attrs.complete === "true") break;
  }
  assert.deepEqual(forward, all);

  const backward: string[][] = [];
  let before = "";
  for (let page = 0; page < 5; page++) {
    const got = await iq(f, b, "set", mamQuery({}, rsm({ max: 3, before })));
    backward.unshift(bodies(got.messages) as string[]);
    const fin = got.reply.getChild("fin", NS.mam)!;
    before = fin.getChild("set", NS.rsm)!.getChildText("first")!;
    if (fin.attrs.complete === "true") break;
  }
  assert.deepEqual(backward, [["m0"], ["m1", "m2", "m3"], ["m4", "m5", "m6"]]);
});

Deno.test("message-archive answers item-not-found for an unknown RSM id and bad-request for a bad form", async () => {
  const f = await world();
  const [bob] = users("bob");
  const b = connect(f, bob);
  const unknown = await iq(f, b, "set", mamQuery({}, rsm({ after: "no-such-id" })));
  assert.equal(errorOf(unknown.reply), "item-not-found");
  const bad = await iq(f, b, "set", mamQuery({}, form({ colour: "blue" })));
  assert.equal(errorOf(bad.reply), "bad-request");
  const badDate = await iq(f, b, "set", mamQuery({}, form({ start: "yesterday" })));
  assert.equal(errorOf(badDate.reply), "bad-request");
});

Deno.test("message-archive filters by with, time and ids from the data form", async () => {
  const f = await world();
  const [alice, carol, bob] = users("alice", "carol", "bob");
  const b = connect(f, bob);
  const bobBare = `${bob}@${DOMAIN}`;
  accept(f, `${alice}@${DOMAIN}/pc`, bobBare, "a1");
  const c1 = accept(f, `${carol}@${DOMAIN}/pc`, bobBare, "c1");
  accept(f, `${alice}@${DOMAIN}/pc`, bobBare, "a2");

  const withAlice = await iq(f, b, "set", mamQuery({}, form({ with: `${alice}@${DOMAIN}/other` })));
  assert.deepEqual(bodies(withAlice.messages), ["a1", "a2"]);

  const future = await iq(f, b, "set", mamQuery({}, form({ start: "2999-01-01T00:00:00Z" })));
  assert.deepEqual(bodies(future.messages), []);
  assert.equal(
    future.reply.getChild("fin", NS.mam)!.getChild("set", NS.rsm)!.getChildText("count"),
    "0",
  );

  const id = c1.getChild("stanza-id", NS.sid)!.attrs.id!;
  const byId = await iq(f, b, "set", mamQuery({}, form({ ids: [id] })));
  assert.deepEqual(bodies(byId.messages), ["c1"]);

  const afterId = await iq(f, b, "set", mamQuery({}, form({ "after-id": id })));
  assert.deepEqual(bodies(afterId.messages), ["a2"]);
});

Deno.test("message-archive describes its query form", async () => {
  const f = await world();
  const [bob] = users("bob");
  const b = connect(f, bob);
  const got = await iq(f, b, "get", mamQuery());
  const fields = got.reply.getChild("query", NS.mam)!.getChild("x", NS.dataForms)!
    .getChildren("field").map((el) => el.attrs.var);
  assert.deepEqual(fields, ["FORM_TYPE", "with", "start", "end", "after-id", "before-id", "ids"]);
  assert.ok(f.core.disco.accountFeatures.has(NS.mam));
  assert.ok(f.core.disco.accountFeatures.has(NS.sid));
});

Deno.test("message-archive refuses a query of another user's archive", async () => {
  const f = await world();
  const [alice, bob] = users("alice", "bob");
  const a = connect(f, alice);
  accept(f, `${alice}@${DOMAIN}/pc`, `${bob}@${DOMAIN}`, "private words");
  const got = await iq(f, a, "set", mamQuery(), `${bob}@${DOMAIN}`);
  assert.equal(errorOf(got.reply), "forbidden");
  assert.equal(got.messages.length, 0);
  const prefs = await iq(f, a, "get", x("prefs", { xmlns: NS.mam }), `${bob}@${DOMAIN}`);
  assert.equal(errorOf(prefs.reply), "forbidden");
});

Deno.test("message-archive preferences are stored, read back and applied at once", async () => {
  const f = await world();
  const [alice, carol, dave, bob] = users("alice", "carol", "dave", "bob");
  const b = connect(f, bob);
  const bobBare = `${bob}@${DOMAIN}`;
  const set = await iq(
    f,
    b,
    "set",
    x(
      "prefs",
      { xmlns: NS.mam, default: "never" },
      x("always", {}, x("jid", {}, `${alice}@${DOMAIN}/ignored-resource`)),
      x("never", {}),
    ),
  );
  const echoed = set.reply.getChild("prefs", NS.mam)!;
  assert.equal(echoed.attrs.default, "never");
  assert.deepEqual(echoed.getChild("always")!.getChildren("jid").map((j) => j.text()), [
    `${alice}@${DOMAIN}`,
  ]);
  assert.deepEqual(await f.db.archive.getPrefs(bobBare), {
    default: "never",
    always: [`${alice}@${DOMAIN}`],
    never: [],
  });

  accept(f, `${alice}@${DOMAIN}/pc`, bobBare, "kept");
  accept(f, `${carol}@${DOMAIN}/pc`, bobBare, "dropped");

  // roster: only contacts (and still the always list).
  await iq(f, b, "set", x("prefs", { xmlns: NS.mam, default: "roster" }));
  await f.db.roster.put(bobBare, {
    jid: `${dave}@${DOMAIN}`,
    subscription: "both",
    askOut: false,
    pendingIn: false,
    groups: [],
  });
  accept(f, `${dave}@${DOMAIN}/pc`, bobBare, "contact");
  accept(f, `${carol}@${DOMAIN}/pc`, bobBare, "stranger");

  const got = await iq(f, b, "set", mamQuery());
  assert.deepEqual(bodies(got.messages), ["kept", "contact"]);
  const read = await iq(f, b, "get", x("prefs", { xmlns: NS.mam }));
  assert.equal(read.reply.getChild("prefs", NS.mam)!.attrs.default, "roster");

  const invalid = await iq(f, b, "set", x("prefs", { xmlns: NS.mam, default: "sometimes" }));
  assert.equal(errorOf(invalid.reply), "bad-request");
});

Deno.test("message-archive decides a cache miss by the stored preferences, keeping order", async () => {
  const f = await world();
  const [alice, bob, carol] = users("alice", "bob", "carol");
  const bobBare = `${bob}@${DOMAIN}`;
  // Written behind the plugin's back: its cache has never seen bob.
  await f.db.archive.setPrefs(bobBare, {
    default: "always",
    always: [],
    never: [`${carol}@${DOMAIN}`],
  });
  const stamped = accept(f, `${carol}@${DOMAIN}/pc`, bobBare, "not archived");
  assert.ok(stamped.getChild("stanza-id", NS.sid), "stamped before the preferences are known");
  for (const body of ["one", "two", "three"]) accept(f, `${alice}@${DOMAIN}/pc`, bobBare, body);
  const b = connect(f, bob);
  const got = await iq(f, b, "set", mamQuery());
  assert.deepEqual(bodies(got.messages), ["one", "two", "three"]);
});

Deno.test("decide: never beats always, both beat the default", () => {
  const p = { default: "roster" as const, always: ["a@x", "b@x"], never: ["b@x"] };
  assert.equal(decide(p, "a@x"), "yes");
  assert.equal(decide(p, "b@x"), "no");
  assert.equal(decide(p, "c@x"), "roster");
  assert.equal(decide({ ...p, default: "never" }, "c@x"), "no");
  assert.equal(decide({ ...p, default: "always" }, "c@x"), "yes");
});

Deno.test("PrefsCache loads once for concurrent callers and a set during a load wins", async () => {
  let loads = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const cache = new PrefsCache(async () => {
    loads++;
    await gate;
    return { default: "always", always: [], never: [] };
  }, 2);
  const p1 = cache.get("o@x");
  const p2 = cache.get("o@x");
  cache.set("o@x", { default: "never", always: [], never: [] });
  release();
  assert.equal((await p1).default, "never");
  assert.equal((await p2).default, "never");
  assert.equal(loads, 1);
  cache.set("p@x", { default: "always", always: [], never: [] });
  cache.set("q@x", { default: "always", always: [], never: [] });
  assert.equal(cache.size, 2, "bounded");
  assert.equal(cache.peek("o@x"), undefined, "the oldest was forgotten");
});

Deno.test("newStanzaId gives distinct, time-ordered ids", () => {
  const ids = Array.from({ length: 1000 }, () => newStanzaId(1_700_000_000_000));
  assert.equal(new Set(ids).size, 1000);
  const later = newStanzaId(1_700_000_000_001);
  assert.ok(ids.every((id) => id < later));
  assert.ok(ids.slice(1).every((id, i) => id > ids[i]!), "ordered within a millisecond");
});

Deno.test("parseStored reads an archived message back in jabber:client", () => {
  const el = parseStored(
    "<message xmlns='jabber:client' to='a@b'><body>x &amp; y</body></message>",
  );
  assert.equal(el?.ns, NS.client);
  assert.equal(el?.getChildText("body"), "x & y");
  assert.equal(parseStored("<message><body>"), null);
});

Deno.test("message-archive test fixture closes", async () => {
  if (!fixture) return;
  const f = await fixture;
  await f.core.stop();
  await f.db.close();
});
