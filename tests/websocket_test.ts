// XMPP over WebSocket (RFC 7395) end to end over loopback: @xmpp/client over WebSocket against
// @xmpp/client over TCP, and raw WebSocket transcripts for the framing rules.
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type TestClient, xml } from "./helpers/xmpp_client.ts";
import { parseElement } from "../xml/parse.ts";
import type { Element } from "../xml/element.ts";
import type { SessionRegistry } from "../plugins/sess_man/sessions.ts";
import { until } from "./helpers/until.ts";

const components = ["c2s", "sess-man", "disco", "http", "ws", "msgoffline", "message-archive"];
const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const STREAM = "http://etherx.jabber.org/streams";
const MAM = "urn:xmpp:mam:2";

function start(ws: Record<string, unknown> = { consider_secure: true }): Promise<TestServer> {
  return startTestServer({ components, ws });
}

function wsUrl(t: TestServer): string {
  return `ws://127.0.0.1:${t.httpPort}/xmpp-websocket`;
}

function loginWs(t: TestServer, username: string, resource?: string): Promise<TestClient> {
  return connectClient({
    port: t.port,
    service: wsUrl(t),
    username,
    password: `${username}-secret`,
    resource,
  });
}

/** A bare WebSocket that collects messages, for transcripts. */
interface RawWs {
  socket: WebSocket;
  next(what?: string): Promise<string>;
  nextElement(what?: string): Promise<Element>;
  closed: Promise<CloseEvent>;
}

async function rawWs(url: string, protocols: string[] = ["xmpp"]): Promise<RawWs> {
  const socket = new WebSocket(url, protocols);
  const queue: string[] = [];
  let wake: (() => void) | null = null;
  const { promise: closed, resolve: onClose } = Promise.withResolvers<CloseEvent>();
  socket.onmessage = (ev) => {
    queue.push(String(ev.data));
    wake?.();
  };
  socket.onclose = (ev) => {
    onClose(ev);
    wake?.();
  };
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("WebSocket handshake failed"));
  });
  let done = false;
  void closed.then(() => done = true);
  const next = async (what = "message") => {
    const deadline = Date.now() + 5000;
    while (queue.length === 0) {
      if (done) throw new Error(`socket closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, deadline - Date.now());
      });
      clearTimeout(timer);
      wake = null;
    }
    return queue.shift()!;
  };
  return {
    socket,
    next,
    nextElement: async (what) => parseElement(await next(what)),
    closed,
  };
}

Deno.test("@xmpp/client logs in over WebSocket and exchanges messages with a TCP client", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const alice = await loginWs(t, "alice", "web");
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  try {
    assert.equal(alice.jid, "alice@localhost/web");
    const sessions = t.server.core.service<SessionRegistry>("sessions");
    assert.equal(sessions.ofUser("alice@localhost")[0]?.transport, "websocket");

    await alice.send(
      xml("message", { to: "bob@localhost", type: "chat", id: "w1" }, xml("body", {}, "from ws")),
    );
    const got = await bob.waitFor((s) => s.is("message") && s.attrs.id === "w1");
    assert.equal(got.getChildText("body"), "from ws");
    assert.equal(got.attrs.from, "alice@localhost/web");

    await bob.send(
      xml("message", { to: alice.jid, type: "chat", id: "t1" }, xml("body", {}, "from tcp")),
    );
    const back = await alice.waitFor((s) => s.is("message") && s.attrs.id === "t1");
    assert.equal(back.getChildText("body"), "from tcp");
    assert.match(back.attrs.from, /^bob@localhost\//);
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("WebSocket framing: <open/> is answered with <open/>, elements are self-contained, <close/> ends it", async () => {
  await using t = await start();
  const ws = await rawWs(wsUrl(t));
  assert.equal(ws.socket.protocol, "xmpp");
  ws.socket.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`);
  const open = await ws.nextElement("open");
  assert.ok(open.is("open", FRAMING));
  assert.equal(open.attrs.from, "localhost");
  assert.equal(open.attrs.version, "1.0");
  assert.ok(open.attrs.id);
  assert.equal(open.attrs["xmlns:stream"], undefined);
  const raw = await ws.next("features");
  assert.match(raw, /^<stream:features xmlns:stream='http:\/\/etherx.jabber.org\/streams'/);
  const features = parseElement(raw);
  assert.ok(features.is("features", STREAM));
  assert.ok(features.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"));
  assert.equal(features.getChild("starttls"), undefined, "no STARTTLS over WebSocket");

  // A stanza before authentication: the error element carries its own namespace declarations.
  ws.socket.send("<iq xmlns='jabber:client' type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>");
  const err = await ws.next("stream error");
  assert.match(err, /^<stream:error xmlns:stream='http:\/\/etherx.jabber.org\/streams'>/);
  assert.ok(parseElement(err).getChild("not-authorized", "urn:ietf:params:xml:ns:xmpp-streams"));
  const close = await ws.nextElement("close");
  assert.ok(close.is("close", FRAMING));
  ws.socket.send(`<close xmlns='${FRAMING}'/>`);
  const ev = await ws.closed;
  assert.equal(ev.code, 1000);
});

Deno.test("a client <close/> over WebSocket is answered with <close/> and the socket is closed", async () => {
  await using t = await start();
  const ws = await rawWs(wsUrl(t));
  ws.socket.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`);
  await ws.nextElement("open");
  await ws.nextElement("features");
  ws.socket.send(`<close xmlns='${FRAMING}'/>`);
  assert.ok((await ws.nextElement("close")).is("close", FRAMING));
  await ws.closed;
});

Deno.test("the WebSocket endpoint requires the xmpp subprotocol and an upgrade", async () => {
  await using t = await start();
  await assert.rejects(rawWs(wsUrl(t), ["chat"]), /handshake failed/);
  const res = await fetch(`http://127.0.0.1:${t.httpPort}/xmpp-websocket`);
  await res.body?.cancel();
  assert.equal(res.status, 426);
});

Deno.test("plain ws:// is not secure unless consider_secure: no SASL while encryption is required", async () => {
  await using t = await start({});
  const ws = await rawWs(wsUrl(t));
  ws.socket.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`);
  await ws.nextElement("open");
  const features = await ws.nextElement("features");
  assert.equal(features.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"), undefined);
  ws.socket.close();
  await ws.closed;
});

Deno.test("a WebSocket message over the stanza size limit ends the stream with policy-violation", async () => {
  await using t = await startTestServer({
    components,
    ws: { consider_secure: true },
    limits: { max_stanza_bytes: 2048 },
  });
  const ws = await rawWs(wsUrl(t));
  ws.socket.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`);
  await ws.nextElement("open");
  await ws.nextElement("features");
  ws.socket.send(
    `<message xmlns='jabber:client' to='a@localhost'><body>${"x".repeat(4096)}</body></message>`,
  );
  const err = await ws.nextElement("stream error");
  assert.ok(err.getChild("policy-violation", "urn:ietf:params:xml:ns:xmpp-streams"));
  assert.ok((await ws.nextElement("close")).is("close", FRAMING));
  ws.socket.close();
  await ws.closed;
});

Deno.test("a WebSocket session gets offline messages with delay stamps and can query its archive", async () => {
  await using t = await start();
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  try {
    await bob.send(
      xml("message", { to: "alice@localhost", type: "chat", id: "off1" }, xml("body", {}, "later")),
    );
    await until(
      "offline storage",
      async () => (await t.db.offline.usage("alice@localhost")).count === 1,
    );
    const alice = await loginWs(t, "alice");
    try {
      const m = await alice.waitFor((s) => s.is("message") && s.attrs.id === "off1");
      assert.equal(m.getChildText("body"), "later");
      const delay = m.getChild("delay", "urn:xmpp:delay");
      assert.ok(delay, "delay stamp");
      assert.ok(!Number.isNaN(Date.parse(delay.attrs.stamp)));

      const fin = await alice.iq(
        xml("iq", { type: "set" }, xml("query", { xmlns: MAM, queryid: "q1" })),
      );
      assert.ok(fin.is("fin", MAM) || fin.getChild("fin", MAM));
      const bodies = alice.inbox
        .filter((s) => s.getChild("result", MAM)?.attrs.queryid === "q1")
        .map((r) =>
          r.getChild("result", MAM)!.getChild("forwarded", "urn:xmpp:forward:0")!
            .getChild("message")!.getChildText("body")
        );
      assert.deepEqual(bodies, ["later"]);
    } finally {
      await alice.stop();
    }
  } finally {
    await bob.stop();
  }
});

Deno.test("stopping the server ends WebSocket streams with system-shutdown", async () => {
  await using t = await start();
  const ws = await rawWs(wsUrl(t));
  ws.socket.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`);
  await ws.nextElement("open");
  await ws.nextElement("features");
  await t.stopServer();
  const err = await ws.nextElement("stream error");
  assert.ok(err.getChild("system-shutdown", "urn:ietf:params:xml:ns:xmpp-streams"));
  assert.ok((await ws.nextElement("close")).is("close", FRAMING));
  await ws.closed;
});
