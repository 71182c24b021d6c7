import assert from "node:assert/strict";
import { Core } from "../../server/core.ts";
import { validateConfig } from "../../config/mod.ts";
import { openDatabase } from "../../db/mod.ts";
import type { Database } from "../../db/types.ts";
import { ActorDirectory } from "../../actors/directory.ts";
import { type AnyPlugin, parseAllOptions, pluginApi } from "../registry.ts";
import sessMan, { type SessionRegistry } from "../sess_man/mod.ts";
import messageCarbons, { carbonEligible } from "./mod.ts";
import type { BindableSession } from "../sess_man/sessions.ts";
import { type Element, x } from "../../xml/element.ts";
import { NS } from "../../protocol/ns.ts";

// One core for the file; delivery hooks (message/delivered) are fired by hand, as the recipient's
// user actor fires them. Sent carbons go through the real router from a fake session.

const DOMAIN = "example.com";

interface Fixture {
  core: Core;
  db: Database;
  sessions: SessionRegistry;
}

let fixture: Promise<Fixture> | undefined;

function world(): Promise<Fixture> {
  return fixture ??= (async () => {
    const config = validateConfig({ domain: DOMAIN, components: ["sess-man", "message-carbons"] });
    const db = await openDatabase({ memory: true });
    const core = new Core(config, db, new ActorDirectory());
    const plugins: AnyPlugin[] = [sessMan, messageCarbons];
    const options = parseAllOptions(plugins, config);
    for (const p of plugins) await p.setup(pluginApi(core, p, options.get(p.name)));
    return { core, db, sessions: core.service<SessionRegistry>("sessions") };
  })();
}

let seq = 0;

interface Client {
  session: BindableSession;
  sent: Element[];
  full: string;
}

function connect(f: Fixture, user: string, resource: string): Client {
  const sent: Element[] = [];
  const session: BindableSession = {
    id: `s${++seq}`,
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
  assert.ok(f.sessions.bind(session, user, resource).ok);
  return { session, sent, full: session.jid!.full };
}

async function setCarbons(f: Fixture, c: Client, on: boolean): Promise<Element> {
  const id = `c${++seq}`;
  await f.core.router.fromSession(
    c.session,
    x("iq", { type: "set", id }, x(on ? "enable" : "disable", { xmlns: NS.carbons })),
  );
  const reply = c.sent.find((s) => s.attrs.id === id);
  assert.ok(reply);
  return reply;
}

/** Three resources of one user, two of them carbon-enabled; and a peer. */
async function family(f: Fixture) {
  const n = ++seq;
  const user = `juliet${n}`;
  const peer = `romeo${n}`;
  const phone = connect(f, user, "phone");
  const laptop = connect(f, user, "laptop");
  const tablet = connect(f, user, "tablet");
  const romeo = connect(f, peer, "pc");
  assert.equal((await setCarbons(f, phone, true)).attrs.type, "result");
  assert.equal((await setCarbons(f, laptop, true)).attrs.type, "result");
  return { bare: `${user}@${DOMAIN}`, phone, laptop, tablet, romeo };
}

const carbonsOf = (c: Client, kind: "sent" | "received") =>
  c.sent.filter((s) => s.name === "message" && s.getChild(kind, NS.carbons));

const forwardedBody = (carbon: Element, kind: "sent" | "received") =>
  carbon.getChild(kind, NS.carbons)!.getChild("forwarded", NS.forward)!.getChild("message")!
    .getChildText("body");

function delivered(f: Fixture, from: Client, to: Client, stanza: Element, sessions: Client[]) {
  f.core.hooks.fireSync("message/delivered", {
    stanza,
    from: from.session.jid!,
    to: to.session.jid!.bareJid(),
    sessions: sessions.map((c) => c.session),
  });
}

const chat = (body: string, ...extra: Element[]) =>
  x("message", { type: "chat", id: body }, x("body", {}, body), ...extra);

Deno.test("message-carbons copies a received message to the other carbon-enabled resources", async () => {
  const f = await world();
  const j = await family(f);
  const msg = chat("hello juliet");
  msg.attrs.from = j.romeo.full;
  msg.attrs.to = j.bare;
  delivered(f, j.romeo, j.phone, msg, [j.phone]);

  assert.equal(carbonsOf(j.phone, "received").length, 0, "not to the resource that got it");
  assert.equal(carbonsOf(j.tablet, "received").length, 0, "not to a resource without carbons");
  const [copy, ...more] = carbonsOf(j.laptop, "received");
  assert.equal(more.length, 0);
  assert.ok(copy);
  assert.equal(copy.attrs.from, j.bare);
  assert.equal(copy.attrs.to, j.laptop.full);
  assert.equal(copy.attrs.type, "chat");
  assert.equal(forwardedBody(copy, "received"), "hello juliet");
  const inner = copy.getChild("received")!.getChild("forwarded")!.getChild("message")!;
  assert.equal(inner.ns, NS.client);
  assert.equal(inner.attrs.from, j.romeo.full);
});

Deno.test("message-carbons copies a sent message to the sender's other carbon-enabled resources", async () => {
  const f = await world();
  const j = await family(f);
  await f.core.router.fromSession(j.phone.session, chat("hi romeo").setAttr("to", j.romeo.full));

  assert.equal(carbonsOf(j.phone, "sent").length, 0, "not back to the sender");
  assert.equal(carbonsOf(j.tablet, "sent").length, 0);
  const [copy] = carbonsOf(j.laptop, "sent");
  assert.ok(copy);
  assert.equal(copy.attrs.from, j.bare);
  assert.equal(forwardedBody(copy, "sent"), "hi romeo");
  const inner = copy.getChild("sent")!.getChild("forwarded")!.getChild("message")!;
  assert.equal(inner.attrs.from, j.phone.full, "the original as stamped by the server");
  assert.equal(inner.attrs.to, j.romeo.full);
});

Deno.test("message-carbons respects private, no-copy, and skips errors, groupchat and carbons", async () => {
  const f = await world();
  const j = await family(f);
  const skipped = [
    chat("private", x("private", { xmlns: NS.carbons }), x("no-copy", { xmlns: NS.hints })),
    chat("no-copy", x("no-copy", { xmlns: NS.hints })),
    x("message", { type: "error" }, x("body", {}, "error")),
    x("message", { type: "groupchat" }, x("body", {}, "groupchat")),
    x("message", { type: "headline" }, x("body", {}, "headline")),
    x("message", {}, x("subject", {}, "normal without body")),
    chat("a carbon", x("received", { xmlns: NS.carbons }, x("forwarded", { xmlns: NS.forward }))),
  ];
  for (const m of skipped) {
    const sentCopy = m.clone().setAttr("to", j.romeo.full);
    await f.core.router.fromSession(j.phone.session, sentCopy);
    const recv = m.clone();
    recv.attrs.from = j.romeo.full;
    delivered(f, j.romeo, j.phone, recv, [j.phone]);
  }
  assert.deepEqual(carbonsOf(j.laptop, "sent"), []);
  assert.deepEqual(carbonsOf(j.laptop, "received"), []);
  assert.equal(carbonEligible(x("message", {}, x("body", {}, "normal with body"))), true);
});

Deno.test("message-carbons stops copying after disable", async () => {
  const f = await world();
  const j = await family(f);
  assert.equal((await setCarbons(f, j.laptop, false)).attrs.type, "result");
  await f.core.router.fromSession(j.phone.session, chat("quiet").setAttr("to", j.romeo.full));
  delivered(f, j.romeo, j.phone, chat("quiet too"), [j.phone]);
  assert.deepEqual(carbonsOf(j.laptop, "sent"), []);
  assert.deepEqual(carbonsOf(j.laptop, "received"), []);
  assert.ok(f.core.disco.features.has(NS.carbons));
});

Deno.test("message-carbons test fixture closes", async () => {
  if (!fixture) return;
  const f = await fixture;
  await f.core.stop();
  await f.db.close();
});
