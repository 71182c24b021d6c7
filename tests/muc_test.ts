import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";

const components = ["c2s", "sess-man", "disco", "muc"];
const MUC = "http://jabber.org/protocol/muc";
const MUC_USER = `${MUC}#user`;
const MUC_OWNER = `${MUC}#owner`;
const MUC_ADMIN = `${MUC}#admin`;
const SERVICE = "conference.localhost";

function codes(s: Stanza): number[] {
  return (s.getChild("x", MUC_USER)?.getChildren("status") ?? []).map((c: Stanza) =>
    Number(c.attrs.code)
  );
}

function errorCondition(s: Stanza): string | undefined {
  const err = s.getChild("error");
  return err?.children.find((c: unknown) => typeof c !== "string")?.name;
}

/** Joins and resolves with the self-presence (status 110), or rejects with the error condition. */
async function join(
  c: TestClient,
  room: string,
  nick: string,
  opts: { password?: string; history?: Record<string, string> } = {},
): Promise<Stanza> {
  const full = `${room}/${nick}`;
  await c.send(
    xml(
      "presence",
      { to: full },
      xml(
        "x",
        { xmlns: MUC },
        opts.password !== undefined ? xml("password", {}, opts.password) : null,
        opts.history ? xml("history", opts.history) : null,
      ),
    ),
  );
  const p = await c.waitFor(
    (s) =>
      s.is("presence") && s.attrs.from === full &&
      (s.attrs.type === "error" || codes(s).includes(110)),
    5000,
    `join ${full}`,
  );
  if (p.attrs.type === "error") throw new Error(errorCondition(p));
  // Every join ends with the subject message.
  await c.waitFor((s) =>
    s.is("message") && s.attrs.from?.startsWith(room) && !!s.getChild("subject")
  );
  return p;
}

function field(v: string, value: string) {
  return xml("field", { var: v }, xml("value", {}, value));
}

async function configure(c: TestClient, room: string, fields: Record<string, string> = {}) {
  await c.iq(
    xml(
      "iq",
      { type: "set", to: room },
      xml(
        "query",
        { xmlns: MUC_OWNER },
        xml(
          "x",
          { xmlns: "jabber:x:data", type: "submit" },
          field("FORM_TYPE", `${MUC}#roomconfig`),
          ...Object.entries(fields).map(([k, v]) => field(k, v)),
        ),
      ),
    ),
  );
}

/** Creates a room as `owner` with the given configuration. */
async function createRoom(
  c: TestClient,
  room: string,
  nick: string,
  fields: Record<string, string> = {},
): Promise<Stanza> {
  const self = await join(c, room, nick);
  assert.ok(codes(self).includes(201), "status 201: room created");
  await configure(c, room, fields);
  return self;
}

async function withUsers(
  t: TestServer,
  names: string[],
  fn: (clients: TestClient[]) => Promise<void>,
): Promise<void> {
  const clients: TestClient[] = [];
  try {
    for (const n of names) {
      await t.addUser(n, `${n}-pw`);
      clients.push(await connectClient({ port: t.port, username: n, password: `${n}-pw` }));
    }
    await fn(clients);
  } finally {
    for (const c of clients) await c.stop();
  }
}

const isGroupchat = (from: string, body: string) => (s: Stanza) =>
  s.is("message") && s.attrs.type === "groupchat" && s.attrs.from === from &&
  s.getChildText("body") === body;

Deno.test("muc: three users create, configure, chat, change subject and nick, kick and ban", async () => {
  await using t = await startTestServer({ components });
  await withUsers(t, ["alice", "bob", "carol"], async ([alice, bob, carol]) => {
    const room = `lounge@${SERVICE}`;
    const created = await join(alice!, room, "Alice");
    assert.deepEqual(codes(created).sort(), [110, 170, 201]);
    const item = created.getChild("x", MUC_USER)!.getChild("item")!;
    assert.equal(item.attrs.affiliation, "owner");
    assert.equal(item.attrs.role, "moderator");

    // Locked until configured: others are refused with item-not-found.
    await assert.rejects(join(bob!, room, "Bob"), /item-not-found/);
    const form = await alice!.iq(
      xml("iq", { type: "get", to: room }, xml("query", { xmlns: MUC_OWNER })),
    );
    const vars = form.getChild("query")!.getChild("x", "jabber:x:data")!.getChildren("field")
      .map((f: Stanza) => f.attrs.var);
    for (
      const v of ["muc#roomconfig_persistentroom", "muc#roomconfig_whois", "muc#maxhistoryfetch"]
    ) {
      assert.ok(vars.includes(v), `form has ${v}`);
    }
    await configure(alice!, room, {
      "muc#roomconfig_roomname": "The Lounge",
      "muc#roomconfig_whois": "anyone",
    });

    const bobSelf = await join(bob!, room, "Bob");
    assert.ok(codes(bobSelf).includes(100), "non-anonymous room says 100");
    // Bob was told Alice is there, with her real JID (whois anyone).
    const aliceSeen = await bob!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Alice`
    );
    assert.equal(aliceSeen.getChild("x", MUC_USER)!.getChild("item")!.attrs.jid, alice!.jid);
    await alice!.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Bob`);
    await join(carol!, room, "Carol");

    // Nick conflict.
    await assert.rejects(join(carol!, room, "Bob"), /conflict/);

    // Groupchat reaches everyone, sender included.
    await bob!.send(
      xml("message", { to: room, type: "groupchat", id: "g1" }, xml("body", {}, "hi all")),
    );
    for (const c of [alice!, bob!, carol!]) {
      const m = await c.waitFor(isGroupchat(`${room}/Bob`, "hi all"));
      assert.equal(m.attrs.id, "g1");
      assert.equal(m.getChild("stanza-id", "urn:xmpp:sid:0")?.attrs.by, room);
    }

    // Subject: the owner may; a participant may not (changesubject off).
    await alice!.send(xml("message", { to: room, type: "groupchat" }, xml("subject", {}, "Tea")));
    for (const c of [alice!, bob!, carol!]) {
      await c.waitFor((s) =>
        s.is("message") && s.attrs.from === `${room}/Alice` && s.getChildText("subject") === "Tea"
      );
    }
    await bob!.send(
      xml("message", { to: room, type: "groupchat", id: "s2" }, xml("subject", {}, "Coffee")),
    );
    const denied = await bob!.waitFor((s) => s.is("message") && s.attrs.id === "s2");
    assert.equal(errorCondition(denied), "forbidden");

    // Nick change: 303 with the new nick, then presence under the new nick.
    await bob!.send(xml("presence", { to: `${room}/Robert` }));
    const gone = await carol!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Bob` && s.attrs.type === "unavailable"
    );
    assert.deepEqual(codes(gone), [303]);
    assert.equal(gone.getChild("x", MUC_USER)!.getChild("item")!.attrs.nick, "Robert");
    await carol!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Robert` && !s.attrs.type
    );
    const selfGone = await bob!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Bob` && s.attrs.type === "unavailable"
    );
    assert.deepEqual(codes(selfGone).sort(), [110, 303]);

    // Kick: 307 to the kicked (with 110) and to the others.
    await alice!.iq(
      xml(
        "iq",
        { type: "set", to: room },
        xml(
          "query",
          { xmlns: MUC_ADMIN },
          xml("item", { nick: "Carol", role: "none" }, xml("reason", {}, "be nice")),
        ),
      ),
    );
    const kicked = await carol!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Carol` && s.attrs.type === "unavailable"
    );
    assert.deepEqual(codes(kicked).sort(), [110, 307]);
    assert.equal(
      kicked.getChild("x", MUC_USER)!.getChild("item")!.getChildText("reason"),
      "be nice",
    );
    const kickSeen = await bob!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Carol` && s.attrs.type === "unavailable"
    );
    assert.deepEqual(codes(kickSeen), [307]);
    // A kicked user may come back.
    await join(carol!, room, "Carol");

    // A participant cannot kick.
    await assert.rejects(
      bob!.iq(
        xml(
          "iq",
          { type: "set", to: room },
          xml("query", { xmlns: MUC_ADMIN }, xml("item", { nick: "Carol", role: "none" })),
        ),
      ),
    );

    // Ban: 301, outcast; the banned user cannot rejoin (403).
    await alice!.iq(
      xml(
        "iq",
        { type: "set", to: room },
        xml(
          "query",
          { xmlns: MUC_ADMIN },
          xml("item", { jid: "bob@localhost", affiliation: "outcast" }),
        ),
      ),
    );
    const banned = await bob!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Robert` && s.attrs.type === "unavailable"
    );
    assert.deepEqual(codes(banned).sort(), [110, 301]);
    assert.equal(banned.getChild("x", MUC_USER)!.getChild("item")!.attrs.affiliation, "outcast");
    await assert.rejects(join(bob!, room, "Bob"), /forbidden/);
    const outcasts = await alice!.iq(
      xml(
        "iq",
        { type: "get", to: room },
        xml("query", { xmlns: MUC_ADMIN }, xml("item", { affiliation: "outcast" })),
      ),
    );
    assert.deepEqual(
      outcasts.getChild("query")!.getChildren("item").map((i: Stanza) => i.attrs.jid),
      ["bob@localhost"],
    );

    // Members-only refuses a non-member (407 registration-required).
    const club = `club@${SERVICE}`;
    await createRoom(alice!, club, "Alice", { "muc#roomconfig_membersonly": "1" });
    await assert.rejects(join(carol!, club, "Carol"), /registration-required/);

    // Password-protected room refuses a wrong password (401 not-authorized), admits the right one.
    const vault = `vault@${SERVICE}`;
    await createRoom(alice!, vault, "Alice", {
      "muc#roomconfig_passwordprotectedroom": "1",
      "muc#roomconfig_roomsecret": "sesame",
    });
    await assert.rejects(join(carol!, vault, "Carol", { password: "wrong" }), /not-authorized/);
    await join(carol!, vault, "Carol", { password: "sesame" });
  });
});

Deno.test("muc: a late joiner gets the history with delay stamps; MAM on the room pages in order", async () => {
  await using t = await startTestServer({ components });
  await withUsers(t, ["alice", "bob", "carol"], async ([alice, bob, carol]) => {
    const room = `history@${SERVICE}`;
    await createRoom(alice!, room, "Alice");
    for (let i = 1; i <= 3; i++) {
      await alice!.send(xml("message", { to: room, type: "groupchat" }, xml("body", {}, `m${i}`)));
      await alice!.waitFor(isGroupchat(`${room}/Alice`, `m${i}`));
    }
    await bob!.send(xml("presence", { to: `${room}/Bob` }, xml("x", { xmlns: MUC })));
    const got: Stanza[] = [];
    for (let i = 1; i <= 3; i++) {
      got.push(await bob!.waitFor(isGroupchat(`${room}/Alice`, `m${i}`)));
    }
    for (const m of got) {
      const delay = m.getChild("delay", "urn:xmpp:delay");
      assert.ok(delay, "history carries a delay");
      assert.equal(delay.attrs.from, room);
      assert.ok(!Number.isNaN(Date.parse(delay.attrs.stamp)));
    }
    // History comes after the presences and before the subject.
    await bob!.waitFor((s) => s.is("message") && !!s.getChild("subject"));

    // maxstanzas limits the history.
    await join(carol!, room, "Carol", { history: { maxstanzas: "1" } });
    const carolHistory = carol!.inbox.filter((s) =>
      s.is("message") && s.getChild("delay", "urn:xmpp:delay")
    );
    assert.deepEqual(carolHistory.map((s) => s.getChildText("body")), ["m3"]);

    // MAM: every groupchat, in order, paged with RSM.
    const query = async (c: TestClient, qid: string, set: Stanza[]) => {
      const fin = await c.iq(
        xml(
          "iq",
          { type: "set", to: room },
          xml(
            "query",
            { xmlns: "urn:xmpp:mam:2", queryid: qid },
            xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, ...set),
          ),
        ),
      );
      const results = c.inbox.filter((s) =>
        s.getChild("result", "urn:xmpp:mam:2")?.attrs.queryid === qid
      );
      return { fin: fin.getChild("fin", "urn:xmpp:mam:2")!, results };
    };
    const page1 = await query(bob!, "q1", [xml("max", {}, "2")]);
    const body = (r: Stanza) =>
      r.getChild("result")!.getChild("forwarded", "urn:xmpp:forward:0")!.getChild("message")!
        .getChildText("body");
    assert.deepEqual(page1.results.map(body), ["m1", "m2"]);
    assert.equal(page1.results[0]!.attrs.from, room);
    assert.equal(page1.fin.attrs.complete, "false");
    const last = page1.fin.getChild("set")!.getChildText("last");
    const page2 = await query(bob!, "q2", [xml("max", {}, "2"), xml("after", {}, last)]);
    assert.deepEqual(page2.results.map(body), ["m3"]);
    assert.equal(page2.fin.attrs.complete, "true");
    const from =
      page2.results[0]!.getChild("result")!.getChild("forwarded")!.getChild("message")!.attrs.from;
    assert.equal(from, `${room}/Alice`);

    // Someone neither in the room nor a member may not read it.
    await t.addUser("dave", "dave-pw");
    const dave = await connectClient({ port: t.port, username: "dave", password: "dave-pw" });
    try {
      await assert.rejects(query(dave, "q3", []), /forbidden/);
    } finally {
      await dave.stop();
    }
  });
});

Deno.test("muc: a persistent room keeps its configuration and affiliations over a restart", async () => {
  await using t = await startTestServer({ components });
  const room = `keep@${SERVICE}`;
  await withUsers(t, ["alice", "bob"], async ([alice]) => {
    await createRoom(alice!, room, "Alice", {
      "muc#roomconfig_persistentroom": "1",
      "muc#roomconfig_membersonly": "1",
      "muc#roomconfig_roomname": "Keeper",
    });
    await alice!.iq(
      xml(
        "iq",
        { type: "set", to: room },
        xml(
          "query",
          { xmlns: MUC_ADMIN },
          xml("item", { jid: "bob@localhost", affiliation: "member" }),
        ),
      ),
    );
    await alice!.send(
      xml("message", { to: room, type: "groupchat" }, xml("body", {}, "before restart")),
    );
    await alice!.waitFor(isGroupchat(`${room}/Alice`, "before restart"));
  });
  await t.restart();
  await t.addUser("carol", "carol-pw");
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-pw" });
  const carol = await connectClient({ port: t.port, username: "carol", password: "carol-pw" });
  try {
    const info = await bob.iq(
      xml(
        "iq",
        { type: "get", to: room },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
      ),
    );
    const q = info.getChild("query")!;
    assert.equal(q.getChild("identity")!.attrs.name, "Keeper");
    const features = q.getChildren("feature").map((f: Stanza) => f.attrs.var);
    for (
      const f of [
        "http://jabber.org/protocol/muc",
        "muc_persistent",
        "muc_membersonly",
        "urn:xmpp:mam:2",
      ]
    ) {
      assert.ok(features.includes(f), `feature ${f}`);
    }
    // Bob is still a member: he gets in, with the history restored from the archive.
    const self = await join(bob, room, "Bob");
    assert.equal(self.getChild("x", MUC_USER)!.getChild("item")!.attrs.affiliation, "member");
    assert.ok(
      bob.inbox.some((s) => s.is("message") && s.getChildText("body") === "before restart"),
      "history survives",
    );
    await assert.rejects(join(carol, room, "Carol"), /registration-required/);
    // The service lists the public room.
    const items = await carol.iq(
      xml(
        "iq",
        { type: "get", to: SERVICE },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#items" }),
      ),
    );
    assert.deepEqual(
      items.getChild("query")!.getChildren("item").map((i: Stanza) => [i.attrs.jid, i.attrs.name]),
      [[room, "Keeper"]],
    );
  } finally {
    await bob.stop();
    await carol.stop();
  }
  const rec = await t.db.muc!.get(room);
  assert.deepEqual(rec?.affiliations, { "alice@localhost": "owner", "bob@localhost": "member" });
});

Deno.test("muc: disco, private messages, self-ping, invitations, and leaving when the session ends", async () => {
  await using t = await startTestServer({ components });
  await withUsers(t, ["alice", "bob", "carol"], async ([alice, bob, carol]) => {
    const services = await alice!.iq(
      xml(
        "iq",
        { type: "get", to: "localhost" },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#items" }),
      ),
    );
    assert.ok(
      services.getChild("query")!.getChildren("item").some((i: Stanza) => i.attrs.jid === SERVICE),
    );
    const sinfo = await alice!.iq(
      xml(
        "iq",
        { type: "get", to: SERVICE },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
      ),
    );
    const sq = sinfo.getChild("query")!;
    assert.deepEqual(
      [sq.getChild("identity")!.attrs.category, sq.getChild("identity")!.attrs.type],
      ["conference", "text"],
    );
    assert.ok(sq.getChildren("feature").some((f: Stanza) => f.attrs.var === MUC));

    const room = `chat@${SERVICE}`;
    await createRoom(alice!, room, "Alice", { "muc#roomconfig_membersonly": "1" });

    // Mediated invitation: the invitee hears from the room and becomes a member.
    await alice!.send(
      xml(
        "message",
        { to: room },
        xml(
          "x",
          { xmlns: MUC_USER },
          xml("invite", { to: "bob@localhost" }, xml("reason", {}, "join us")),
        ),
      ),
    );
    const inv = await bob!.waitFor((s) => s.is("message") && s.attrs.from === room);
    const invite = inv.getChild("x", MUC_USER)!.getChild("invite")!;
    assert.equal(invite.attrs.from, "alice@localhost");
    assert.equal(invite.getChildText("reason"), "join us");
    await join(bob!, room, "Bob");

    // Direct invitation (XEP-0249) is client to client: it routes like any message.
    await alice!.send(
      xml(
        "message",
        { to: "carol@localhost" },
        xml("x", { xmlns: "jabber:x:conference", jid: room }),
      ),
    );
    const direct = await carol!.waitFor((s) =>
      s.is("message") && !!s.getChild("x", "jabber:x:conference")
    );
    assert.equal(direct.getChild("x", "jabber:x:conference")!.attrs.jid, room);

    // Private message between occupants: from the sender's occupant JID.
    await bob!.send(xml("message", { to: `${room}/Alice`, type: "chat" }, xml("body", {}, "psst")));
    const pm = await alice!.waitFor((s) => s.is("message") && s.getChildText("body") === "psst");
    assert.equal(pm.attrs.from, `${room}/Bob`);
    assert.ok(pm.getChild("x", MUC_USER));

    // XEP-0410 self-ping: result while joined, not-acceptable when not.
    await bob!.iq(
      xml("iq", { type: "get", to: `${room}/Bob` }, xml("ping", { xmlns: "urn:xmpp:ping" })),
    );
    await assert.rejects(
      carol!.iq(
        xml("iq", { type: "get", to: `${room}/Carol` }, xml("ping", { xmlns: "urn:xmpp:ping" })),
      ),
      /not-acceptable/,
    );

    // Room disco: muc_* features per configuration.
    const info = await bob!.iq(
      xml(
        "iq",
        { type: "get", to: room },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
      ),
    );
    const features = info.getChild("query")!.getChildren("feature").map((f: Stanza) => f.attrs.var);
    for (
      const f of [
        "muc_temporary",
        "muc_membersonly",
        "muc_semianonymous",
        "muc_unsecured",
        "muc_unmoderated",
      ]
    ) {
      assert.ok(features.includes(f), `feature ${f}`);
    }

    // Bob's session ends: Alice sees him leave.
    await bob!.stop();
    const left = await alice!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Bob` && s.attrs.type === "unavailable"
    );
    assert.equal(left.getChild("x", MUC_USER)!.getChild("item")!.attrs.role, "none");

    // The owner destroys the room with a reason and an alternate venue.
    await alice!.iq(
      xml(
        "iq",
        { type: "set", to: room },
        xml(
          "query",
          { xmlns: MUC_OWNER },
          xml("destroy", { jid: `other@${SERVICE}` }, xml("reason", {}, "moving")),
        ),
      ),
    );
    const destroyed = await alice!.waitFor((s) =>
      s.is("presence") && s.attrs.from === `${room}/Alice` && s.attrs.type === "unavailable"
    );
    const d = destroyed.getChild("x", MUC_USER)!.getChild("destroy")!;
    assert.equal(d.attrs.jid, `other@${SERVICE}`);
    assert.equal(d.getChildText("reason"), "moving");
    await assert.rejects(
      alice!.iq(
        xml(
          "iq",
          { type: "get", to: room },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
      ),
      /item-not-found/,
    );
  });
});
