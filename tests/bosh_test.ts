// BOSH (XEP-0124/0206) end to end over loopback HTTP: a fetch-based BOSH client against the
// server, talking to @xmpp/client over TCP.
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";
import { BoshClient, postBody, requestBody } from "./helpers/bosh_client.ts";
import type { SessionRegistry } from "../plugins/sess_man/sessions.ts";
import type { BoshManager } from "../net/bosh.ts";
import { parseElement } from "../xml/parse.ts";
import { until } from "./helpers/until.ts";

const components = [
  "c2s",
  "sess-man",
  "disco",
  "http",
  "ws",
  "bosh",
  "host-meta",
  "msgoffline",
  "message-archive",
];
const NS_BIND = "http://jabber.org/protocol/httpbind";
const MAM = "urn:xmpp:mam:2";

function start(bosh: Record<string, unknown> = {}): Promise<TestServer> {
  return startTestServer({
    components,
    ws: { consider_secure: true },
    bosh: { consider_secure: true, ...bosh },
  });
}

function url(t: TestServer): string {
  return `http://127.0.0.1:${t.httpPort}/http-bind`;
}

function sessionsOf(t: TestServer, bare: string) {
  return t.server.core.service<SessionRegistry>("sessions").ofUser(bare);
}

const discoInfo = (id: string) =>
  `<iq xmlns='jabber:client' type='get' to='localhost' id='${id}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`;

Deno.test("BOSH session creation answers with the session attributes and the stream features", async () => {
  await using t = await start();
  const c = new BoshClient(url(t));
  const r = await c.create({ wait: "30", hold: "3" });
  assert.equal(r.status, 200);
  const b = r.body;
  assert.ok(b.is("body", NS_BIND));
  assert.match(b.attrs.sid!, /^[0-9a-f]{32}$/);
  assert.equal(b.attrs.wait, "30");
  assert.equal(b.attrs.hold, "1", "hold is capped at 1");
  assert.equal(b.attrs.requests, "2");
  assert.equal(b.attrs.inactivity, "60");
  assert.ok(Number(b.attrs.polling) > 0);
  assert.ok(Number(b.attrs.maxpause) > 0);
  assert.equal(b.attrs.ver, "1.11");
  assert.equal(b.attrs.from, "localhost");
  assert.ok(b.attrs.authid, "the stream id");
  assert.equal(b.attrs["xmpp:version"], "1.0");
  assert.equal(b.attrs["xmpp:restartlogic"], "true");
  assert.equal(b.resolvePrefix("xmpp"), "urn:xmpp:xbosh");
  const features = b.getChild("features", "http://etherx.jabber.org/streams");
  assert.ok(features, "stream features in the creation response");
  const mechs = features.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl");
  assert.deepEqual(
    mechs?.getChildren("mechanism").map((m) => m.text()),
    ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
  );
  assert.equal(features.getChild("starttls"), undefined, "no STARTTLS over BOSH");
  await c.stop();
});

Deno.test("a BOSH client logs in with SCRAM-SHA-1 and exchanges messages with a TCP client", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const bosh = new BoshClient(url(t));
  const jid = await bosh.login("alice", "alice-secret", "web");
  assert.equal(jid, "alice@localhost/web");
  assert.equal(sessionsOf(t, "alice@localhost")[0]?.transport, "bosh");
  bosh.send("<presence xmlns='jabber:client'/>");
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  try {
    bosh.send(
      "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='b1'><body>hi from BOSH</body></message>",
    );
    const got = await bob.waitFor((s) => s.is("message") && s.attrs.id === "b1");
    assert.equal(got.getChildText("body"), "hi from BOSH");
    assert.equal(got.attrs.from, "alice@localhost/web");

    await bob.send(
      xml("message", { to: jid, type: "chat", id: "t1" }, xml("body", {}, "hi from TCP")),
    );
    const back = await bosh.waitFor((el) => el.is("message") && el.attrs.id === "t1");
    assert.equal(back.getChildText("body"), "hi from TCP");
    assert.equal(back.ns, "jabber:client", "stanzas carry their namespace inside <body/>");
    assert.match(back.attrs.from!, /^bob@localhost\//);
  } finally {
    await bob.stop();
    await bosh.stop();
  }
});

Deno.test("a BOSH request with a future rid waits for the gap, then both are answered in order", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  const c = new BoshClient(url(t));
  await c.login("alice", "alice-secret");
  await c.quiesce();
  const rid = c.rid;
  // rid+2 first: it may not be processed before rid+1.
  const second = c.request({}, [discoInfo("second")], rid + 2);
  const first = c.request({}, [discoInfo("first")], rid + 1);
  const [r1, r2] = await Promise.all([first, second]);
  c.rid = rid + 2;
  assert.equal(r1.status, 200);
  assert.equal(r2.status, 200);
  assert.notEqual(r1.body.attrs.type, "terminate");
  assert.notEqual(r2.body.attrs.type, "terminate");
  const ids = [...r1.body.elements(), ...r2.body.elements()].map((el) => el.attrs.id);
  assert.deepEqual(ids, ["first", "second"], "processed and answered in rid order");

  // A repeated rid gets the very same response again (§14.3).
  const again = await c.request({}, [discoInfo("second")], rid + 2);
  assert.equal(again.text, r2.text);
  assert.equal(again.status, 200);
  await c.stop();
});

Deno.test("a BOSH rid outside the window, an unknown sid, or a malformed body end with terminal conditions", async () => {
  await using t = await start();
  const c = new BoshClient(url(t));
  await c.create();
  const beyond = await c.request({}, [], c.rid + 5);
  assert.equal(beyond.status, 200);
  assert.equal(beyond.body.attrs.type, "terminate");
  assert.equal(beyond.body.attrs.condition, "item-not-found");

  const unknown = await postBody(url(t), requestBody({ rid: "5", sid: "nope" }));
  assert.equal(unknown.status, 200);
  assert.equal(unknown.body.attrs.condition, "item-not-found");

  for (
    const bad of [
      "<body xmlns='http://jabber.org/protocol/httpbind' rid='1'",
      "<!DOCTYPE body [<!ENTITY x 'y'>]><body xmlns='http://jabber.org/protocol/httpbind' rid='1'/>",
      "<body xmlns='http://jabber.org/protocol/httpbind' rid='1'>&x;</body>",
      "<html/>",
      "<body xmlns='http://jabber.org/protocol/httpbind' to='localhost' ver='1.11'/>",
    ]
  ) {
    const r = await postBody(url(t), bad);
    assert.equal(r.status, 200, bad);
    assert.equal(r.body.attrs.type, "terminate", bad);
    assert.equal(r.body.attrs.condition, "bad-request", bad);
  }
  // Clients that give no `ver` get the legacy HTTP codes (XEP-0124 §17).
  const legacy = await postBody(
    url(t),
    "<body xmlns='http://jabber.org/protocol/httpbind' to='localhost'/>",
  );
  assert.equal(legacy.status, 400);

  const wrongHost = new BoshClient(url(t));
  const r = await wrongHost.create({ to: "elsewhere.example" });
  assert.equal(r.body.attrs.type, "terminate");
  assert.equal(r.body.attrs.condition, "host-unknown");
});

Deno.test("BOSH overactivity and too-frequent polling end the session with policy-violation", async () => {
  await using t = await start();
  // Three requests unanswered at once where `requests` is 2.
  const c = new BoshClient(url(t));
  await c.create();
  const base = c.rid;
  const held = c.request({}, [], base + 1); // held
  const waiting = c.request({}, [], base + 3); // waits for base+2
  await until("the held and the waiting request", () => manager(t).get(c.sid)?.unanswered === 2);
  const third = await c.request({}, [], base + 2);
  assert.equal(third.body.attrs.type, "terminate");
  assert.equal(third.body.attrs.condition, "policy-violation");
  for (const r of await Promise.all([held, waiting])) assert.equal(r.body.attrs.type, "terminate");

  // A polling session (hold=0) may not poll faster than `polling` seconds.
  const p = new BoshClient(url(t));
  const created = await p.create({ hold: "0" });
  assert.equal(created.body.attrs.hold, "0");
  assert.equal(created.body.attrs.requests, "1");
  const first = await p.request();
  assert.notEqual(first.body.attrs.type, "terminate");
  const second = await p.request();
  assert.equal(second.body.attrs.type, "terminate");
  assert.equal(second.body.attrs.condition, "policy-violation");
});

function manager(t: TestServer): BoshManager {
  return t.server.core.service<BoshManager>("bosh.sessions");
}

Deno.test("an idle BOSH session ends after the inactivity timeout and its user goes offline", async () => {
  await using t = await start({ inactivity: 1 });
  await t.addUser("alice", "alice-secret");
  const c = new BoshClient(url(t));
  await c.login("alice", "alice-secret");
  assert.equal(sessionsOf(t, "alice@localhost").length, 1);
  await c.quiesce();
  await until("the session to end", () => sessionsOf(t, "alice@localhost").length === 0);
  const r = await c.request();
  assert.equal(r.body.attrs.type, "terminate", "the sid is over");
});

Deno.test("BOSH terminate sends the final stanzas, ends the session and answers type='terminate'", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  const c = new BoshClient(url(t));
  try {
    await c.login("alice", "alice-secret");
    const r = await c.terminate(
      "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='bye'><body>bye</body></message>",
      "<presence xmlns='jabber:client' type='unavailable'/>",
    );
    assert.equal(r.body.attrs.type, "terminate");
    assert.equal(r.body.attrs.condition, undefined, "a normal end has no condition");
    const got = await bob.waitFor((s) => s.is("message") && s.attrs.id === "bye");
    assert.equal(got.getChildText("body"), "bye");
    await until("the session to end", () => sessionsOf(t, "alice@localhost").length === 0);
    const after = await c.request();
    assert.equal(after.body.attrs.type, "terminate");
  } finally {
    await bob.stop();
    await c.stop();
  }
});

Deno.test("a BOSH session gets offline messages with delay stamps and can query its archive", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  const c = new BoshClient(url(t));
  try {
    await bob.send(
      xml("message", { to: "alice@localhost", type: "chat", id: "off1" }, xml("body", {}, "later")),
    );
    await until(
      "offline storage",
      async () => (await t.db.offline.usage("alice@localhost")).count === 1,
    );
    await c.login("alice", "alice-secret");
    c.send("<presence xmlns='jabber:client'/>");
    const m = await c.waitFor((el) => el.is("message") && el.attrs.id === "off1");
    assert.equal(m.getChildText("body"), "later");
    const delay = m.getChild("delay", "urn:xmpp:delay");
    assert.ok(delay, "delay stamp");
    assert.ok(!Number.isNaN(Date.parse(delay.attrs.stamp!)));

    c.send(
      `<iq xmlns='jabber:client' type='set' id='mam1'><query xmlns='${MAM}' queryid='q1'/></iq>`,
    );
    const fin = await c.waitFor((el) => el.is("iq") && el.attrs.id === "mam1");
    assert.equal(fin.attrs.type, "result");
    const results = c.inbox.filter((el) => el.getChild("result", MAM)?.attrs.queryid === "q1");
    const bodies = results.map((r) =>
      r.getChild("result", MAM)!.getChild("forwarded", "urn:xmpp:forward:0")!.getChild("message")!
        .getChildText("body")
    );
    assert.deepEqual(bodies, ["later"]);
  } finally {
    await bob.stop();
    await c.stop();
  }
});

Deno.test("the BOSH endpoint answers CORS preflights and sends CORS headers", async () => {
  await using t = await start({ cors_origins: ["https://app.example"] });
  const pre = await fetch(url(t), {
    method: "OPTIONS",
    headers: { origin: "https://app.example", "access-control-request-method": "POST" },
  });
  await pre.body?.cancel();
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /content-type/i);

  const other = await fetch(url(t), {
    method: "OPTIONS",
    headers: { origin: "https://evil.example" },
  });
  await other.body?.cancel();
  assert.equal(other.headers.get("access-control-allow-origin"), null);

  const res = await fetch(url(t), {
    method: "POST",
    headers: { origin: "https://app.example", "content-type": "text/xml" },
    body: requestBody({ rid: "1", sid: "none" }),
  });
  await res.text();
  assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(res.headers.get("content-type") ?? "", /text\/xml/);
});

Deno.test("host-meta lists the BOSH and WebSocket endpoints (XEP-0156)", async () => {
  await using t = await start();
  const base = `http://127.0.0.1:${t.httpPort}`;
  const json = await (await fetch(`${base}/.well-known/host-meta.json`)).json();
  assert.deepEqual(json, {
    links: [
      { rel: "urn:xmpp:alt-connections:xbosh", href: `${base}/http-bind` },
      {
        rel: "urn:xmpp:alt-connections:websocket",
        href: `ws://127.0.0.1:${t.httpPort}/xmpp-websocket`,
      },
    ],
  });
  const res = await fetch(`${base}/.well-known/host-meta`);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const xrd = await res.text();
  assert.match(xrd, /<XRD xmlns='http:\/\/docs.oasis-open.org\/ns\/xri\/xrd-1.0'>/);
  assert.match(
    xrd,
    /rel='urn:xmpp:alt-connections:xbosh' href='http:\/\/127.0.0.1:\d+\/http-bind'/,
  );
});

Deno.test("stopping the server answers held BOSH requests with system-shutdown", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  const c = new BoshClient(url(t));
  await c.login("alice", "alice-secret");
  await c.quiesce();
  const held = c.request();
  await until("the request to be held", () => manager(t).get(c.sid)?.unanswered === 1);
  await t.stopServer();
  const r = await held;
  assert.equal(r.body.attrs.type, "terminate");
  assert.equal(r.body.attrs.condition, "remote-stream-error");
  const err = r.body.getChild("error", "http://etherx.jabber.org/streams");
  assert.ok(err?.getChild("system-shutdown", "urn:ietf:params:xml:ns:xmpp-streams"));
  await c.settled();
});

Deno.test("BOSH over HTTPS is secure without consider_secure: SASL is offered", async () => {
  await using t = await startTestServer({
    components,
    http: { tls_port: 0 },
    bosh: { consider_secure: false },
  });
  const caCerts = [await Deno.readTextFile(`${t.dataDir}/certs/localhost.crt`)];
  using client = Deno.createHttpClient({ caCerts });
  const res = await fetch(`https://localhost:${t.httpsPort}/http-bind`, {
    method: "POST",
    client,
    body: requestBody({ rid: "1", to: "localhost", wait: "5", hold: "1", ver: "1.11" }),
  });
  const created = parseElement(await res.text());
  const features = created.getChild("features", "http://etherx.jabber.org/streams");
  assert.ok(features?.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"));
  // Over plain HTTP the same server offers no SASL: encryption is required.
  const plain = await postBody(
    url(t),
    requestBody({ rid: "1", to: "localhost", wait: "5", hold: "1", ver: "1.11" }),
  );
  const plainFeatures = plain.body.getChild("features", "http://etherx.jabber.org/streams");
  assert.ok(plainFeatures);
  assert.equal(plainFeatures.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"), undefined);
});
