/**
 * What the server does with bad, hostile or premature input, over real sockets: each test writes
 * raw XML and asserts the exact stream error, SASL failure or stanza error that comes back, and,
 * for stream errors, that the server then closes the connection.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { RawClient, streamErrorCondition, streamHeader } from "./helpers/raw_client.ts";

const STREAM_ERROR = /<stream:error>[\s\S]*?<\/stream:error>/;

/** Reads the stream error, asserts its condition, and that the server closes the socket. */
async function expectStreamErrorAndClose(c: RawClient, condition: string): Promise<void> {
  const err = await c.readUntil(STREAM_ERROR);
  assert.equal(streamErrorCondition(err), condition, err);
  await c.readUntil(/<\/stream:stream>/);
  assert.equal(await c.waitClosed(5000), true, "the server closes the connection");
}

/** A connection on the STARTTLS port with the stream opened and TLS negotiated. */
async function securedStream(t: TestServer): Promise<RawClient> {
  const c = await RawClient.connect({ port: t.port });
  await c.openStream();
  await c.startTls();
  await c.openStream();
  return c;
}

Deno.test("malformed XML gets a not-well-formed stream error and the socket closes", async () => {
  await using t = await startTestServer();
  await using c = await RawClient.connect({ port: t.port });
  await c.openStream();
  c.send("<message to='bob@localhost'><body>unclosed</message>");
  await expectStreamErrorAndClose(c, "not-well-formed");
});

Deno.test("malformed XML from a logged-in session is not-well-formed too", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await using c = await RawClient.login({
    port: t.port,
    username: "alice",
    password: "alice-secret",
  });
  c.send("<message to='alice@localhost'><body a=unquoted/></message>");
  await expectStreamErrorAndClose(c, "not-well-formed");
});

Deno.test("a DOCTYPE (entity declarations) gets a restricted-xml stream error", async () => {
  await using t = await startTestServer();
  await using c = await RawClient.connect({ port: t.port });
  c.send(
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]>" +
      streamHeader().replace("<?xml version='1.0'?>", ""),
  );
  // The client's header never arrived, so the server opens its own stream to carry the error.
  await c.readUntil(/<stream:stream\b[^>]*>/);
  await expectStreamErrorAndClose(c, "restricted-xml");
});

Deno.test("a stanza over limits.max_stanza_bytes gets a policy-violation stream error", async () => {
  await using t = await startTestServer({ limits: { max_stanza_bytes: 1024 } });
  await t.addUser("alice", "alice-secret");
  await using c = await RawClient.login({
    port: t.port,
    username: "alice",
    password: "alice-secret",
  });
  // Just under the limit: delivered (to the sender's own full JID).
  const small = `<message to='${c.jid}' id='small' type='chat'><body>${
    "a".repeat(900)
  }</body></message>`;
  assert.ok(new TextEncoder().encode(small).length < 1024);
  c.send(small);
  const echoed = await c.readUntil(/<message\b[^>]*id='small'[\s\S]*?<\/message>/);
  assert.match(echoed, new RegExp(`a{900}`));
  // Over it: the stream ends.
  c.send(`<message to='${c.jid}' id='big' type='chat'><body>${"b".repeat(2000)}</body></message>`);
  await expectStreamErrorAndClose(c, "policy-violation");
  assert.doesNotMatch(c.transcript, /id='big'/, "the oversized stanza was not delivered");
});

Deno.test("a stanza before authentication gets a not-authorized stream error", async () => {
  await using t = await startTestServer();
  await t.addUser("bob", "bob-secret");
  await using c = await securedStream(t);
  c.send("<message to='bob@localhost' type='chat'><body>let me in</body></message>");
  await expectStreamErrorAndClose(c, "not-authorized");
});

Deno.test("a wrong password gets SASL not-authorized and a retry on the same stream succeeds", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await using c = await securedStream(t);
  const bad = await c.authenticate("alice", "wrong-password");
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.condition, "not-authorized");
  assert.equal(c.isClosed, false, "a failed attempt leaves the stream open");
  const good = await c.authenticate("alice", "alice-secret");
  assert.deepEqual(good, { ok: true });
  await c.openStream();
  assert.match(await c.bind("retry"), /^alice@localhost\/retry$/);
});

Deno.test("an unknown user gets the same SASL not-authorized as a wrong password", async () => {
  await using t = await startTestServer();
  await using c = await securedStream(t);
  const r = await c.authenticate("nobody", "whatever-pw", "PLAIN");
  assert.equal(!r.ok && r.condition, "not-authorized");
});

Deno.test("after limits.auth_failures_before_throttle failures an address gets temporary-auth-failure even with the right password", async () => {
  await using t = await startTestServer({
    limits: { auth_failures_before_throttle: 2, auth_throttle_seconds: 60 },
  });
  await t.addUser("alice", "alice-secret");
  {
    await using c = await securedStream(t);
    for (let i = 0; i < 2; i++) {
      const r = await c.authenticate("alice", `wrong-${i}`);
      assert.equal(!r.ok && r.condition, "not-authorized");
    }
    const r = await c.authenticate("alice", "alice-secret");
    assert.equal(!r.ok && r.condition, "temporary-auth-failure", "the same stream is throttled");
  }
  // A new connection from the same address is throttled as well, whatever the mechanism.
  await using c2 = await securedStream(t);
  const r = await c2.authenticate("alice", "alice-secret", "PLAIN");
  assert.equal(!r.ok && r.condition, "temporary-auth-failure");
});

Deno.test("a spoofed from is replaced by the sender's full JID", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  await using alice = await RawClient.login({
    port: t.port,
    username: "alice",
    password: "alice-secret",
    resource: "phone",
  });
  await using bob = await RawClient.login({
    port: t.port,
    username: "bob",
    password: "bob-secret",
  });
  alice.send(
    `<message to='${bob.jid}' from='mallory@localhost/evil' id='spoof' type='chat'>` +
      `<body>trust me</body></message>`,
  );
  const got = await bob.readUntil(/<message\b[^>]*id='spoof'[^>]*>[\s\S]*?<\/message>/);
  assert.match(got, /\bfrom='alice@localhost\/phone'/);
  assert.doesNotMatch(got, /mallory/);
  // An iq to the server with a spoofed from: the answer goes to the real sender.
  alice.send(
    `<iq type='get' id='p1' to='localhost' from='bob@localhost/x'><ping xmlns='urn:xmpp:ping'/></iq>`,
  );
  const pong = await alice.readUntil(/<iq\b[^>]*id='p1'[^>]*?(\/>|>[\s\S]*?<\/iq>)/);
  assert.match(pong, /type='result'/);
  assert.match(pong, /\bto='alice@localhost\/phone'/);
});

Deno.test("an iq to the server in an unknown namespace gets service-unavailable", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await using c = await RawClient.login({
    port: t.port,
    username: "alice",
    password: "alice-secret",
  });
  c.send(`<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:nothing-here'/></iq>`);
  const reply = await c.readUntil(/<iq\b[^>]*id='u1'[^>]*>[\s\S]*?<\/iq>/);
  assert.match(reply, /type='error'/);
  assert.match(reply, /from='localhost'/);
  assert.match(
    reply,
    /<error type='cancel'>\s*<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/,
  );
  assert.equal(c.isClosed, false, "a stanza error does not end the stream");
});

Deno.test("a message to a nonexistent local user gets service-unavailable back", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await using c = await RawClient.login({
    port: t.port,
    username: "alice",
    password: "alice-secret",
  });
  c.send(
    `<message to='nobody@localhost' id='m404' type='chat'><body>anyone there?</body></message>`,
  );
  const reply = await c.readUntil(/<message\b[^>]*id='m404'[^>]*>[\s\S]*?<\/message>/);
  assert.match(reply, /type='error'/);
  assert.match(reply, /from='nobody@localhost'/);
  assert.match(reply, new RegExp(`to='${c.jid}'`));
  assert.match(reply, /<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/);
});

Deno.test("AUTH before STARTTLS with require_encryption gets encryption-required and no mechanisms are offered", async () => {
  await using t = await startTestServer({ c2s: { require_encryption: true } });
  await t.addUser("alice", "alice-secret");
  await using c = await RawClient.connect({ port: t.port });
  const features = await c.openStream();
  assert.match(
    features,
    /<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required\/><\/starttls>/,
  );
  assert.doesNotMatch(features, /<mechanisms/);
  const r = await c.authenticate("alice", "alice-secret", "PLAIN");
  assert.equal(!r.ok && r.condition, "encryption-required");
  // The stream stays usable: STARTTLS, then the same login works.
  await c.startTls();
  const secured = await c.openStream();
  assert.match(secured, /<mechanism>PLAIN<\/mechanism>/);
  assert.deepEqual(await c.authenticate("alice", "alice-secret", "PLAIN"), { ok: true });
});

Deno.test("a stream header addressed to another host gets host-unknown", async () => {
  await using t = await startTestServer();
  await using c = await RawClient.connect({ port: t.port });
  c.send(streamHeader("example.org"));
  const header = await c.readUntil(/<stream:stream\b[^>]*>/);
  assert.match(header, /from='localhost'/);
  await expectStreamErrorAndClose(c, "host-unknown");
});

Deno.test("a connection that never opens a stream gets connection-timeout", async () => {
  await using t = await startTestServer({ c2s: { stream_open_timeout_seconds: 0.3 } });
  await using c = await RawClient.connect({ port: t.port });
  const started = performance.now();
  await expectStreamErrorAndClose(c, "connection-timeout");
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 250, `not before the timeout (${elapsed} ms)`);
});

Deno.test("direct TLS connections get the same stream errors (not-authorized before login)", async () => {
  await using t = await startTestServer();
  await using c = await RawClient.connect({ port: t.tlsPort, directTls: true });
  const features = await c.openStream();
  assert.doesNotMatch(features, /starttls/, "no STARTTLS on an already encrypted stream");
  assert.match(features, /<mechanism>SCRAM-SHA-1<\/mechanism>/);
  c.send("<iq type='get' id='early' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  await expectStreamErrorAndClose(c, "not-authorized");
});
