/**
 * In-band registration (XEP-0077) on the wire: slixmpp's xep_0077 plugin registers, changes its
 * password and cancels; the raw client checks logins, stream features and the error conditions.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { RawClient } from "./helpers/raw_client.ts";
import { runSlixmpp } from "./helpers/slixmpp.ts";

const WITH_REGISTER = ["c2s", "sess-man", "disco", "ping", "version", "register"];
const REGISTER_FEATURE = /<register xmlns='http:\/\/jabber.org\/features\/iq-register'\/>/;

/** Tries a PLAIN login on a fresh STARTTLS connection; returns "ok" or the SASL condition. */
async function tryLogin(t: TestServer, username: string, password: string): Promise<string> {
  await using c = await RawClient.connect({ port: t.port });
  await c.openStream();
  await c.startTls();
  await c.openStream();
  const r = await c.authenticate(username, password, "PLAIN");
  return r.ok ? "ok" : r.condition;
}

/** The features offered after STARTTLS, before authentication. */
async function preAuthFeatures(t: TestServer): Promise<string> {
  await using c = await RawClient.connect({ port: t.port });
  await c.openStream();
  await c.startTls();
  return await c.openStream();
}

async function serverDiscoInfo(t: TestServer, username: string, password: string) {
  await using c = await RawClient.login({ port: t.port, username, password });
  c.send(
    `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
  );
  const reply = await c.readUntil(/<iq\b[^>]*id='d1'[^>]*>[\s\S]*?<\/iq>/);
  assert.match(reply, /type='result'/);
  return [...reply.matchAll(/<feature var='([^']+)'\/>/g)].map((m) => m[1]!);
}

Deno.test("slixmpp registers a new account in-band over TLS and logs in with it", async () => {
  await using t = await startTestServer({ components: WITH_REGISTER, register: { open: true } });
  assert.match(await preAuthFeatures(t), REGISTER_FEATURE, "open registration is advertised");
  assert.equal(await tryLogin(t, "carol", "carol-secret"), "not-authorized", "no account yet");

  await using slix = runSlixmpp({
    port: t.port,
    jid: "carol@localhost/slix",
    password: "carol-secret",
    register: true,
  });
  await slix.waitFor((e) => e.event === "registered");
  const started = await slix.waitFor((e) => e.event === "session_start");
  assert.equal(started.jid, "carol@localhost/slix");
  assert.equal(await slix.exit(), 0, JSON.stringify(slix.events) + slix.stderr());

  assert.equal(await tryLogin(t, "carol", "carol-secret"), "ok", "the account persists");
  assert.ok((await serverDiscoInfo(t, "carol", "carol-secret")).includes("jabber:iq:register"));
});

Deno.test("registering a username that is taken gets conflict and leaves the account alone", async () => {
  await using t = await startTestServer({ components: WITH_REGISTER, register: { open: true } });
  await t.addUser("alice", "alice-secret");
  await using slix = runSlixmpp({
    port: t.port,
    jid: "alice@localhost/slix",
    password: "hijacked-password",
    register: true,
  });
  const err = await slix.waitFor((e) => e.event === "error");
  assert.deepEqual([err.stage, err.condition], ["register", "conflict"]);
  assert.equal(await slix.exit(), 1);
  assert.equal(await tryLogin(t, "alice", "alice-secret"), "ok");
  assert.equal(await tryLogin(t, "alice", "hijacked-password"), "not-authorized");
});

Deno.test("a password changed in-band logs in and the old password no longer does", async () => {
  await using t = await startTestServer({ components: WITH_REGISTER, register: { open: true } });
  await t.addUser("alice", "old-secret");
  await using slix = runSlixmpp({
    port: t.port,
    jid: "alice@localhost/slix",
    password: "old-secret",
    changePassword: "new-secret",
  });
  await slix.waitFor((e) => e.event === "password_changed");
  assert.equal(await slix.exit(), 0, JSON.stringify(slix.events) + slix.stderr());
  assert.equal(await tryLogin(t, "alice", "new-secret"), "ok");
  assert.equal(await tryLogin(t, "alice", "old-secret"), "not-authorized");
});

Deno.test("cancelling the registration (<remove/>) deletes the account", async () => {
  await using t = await startTestServer({ components: WITH_REGISTER, register: { open: true } });
  await t.addUser("alice", "alice-secret");
  await using other = await RawClient.login({
    port: t.port,
    username: "alice",
    password: "alice-secret",
    resource: "other-device",
  });
  await using slix = runSlixmpp({
    port: t.port,
    jid: "alice@localhost/slix",
    password: "alice-secret",
    cancel: true,
  });
  await slix.waitFor((e) => e.event === "cancelled");
  assert.equal(await slix.exit(), 0, JSON.stringify(slix.events) + slix.stderr());
  assert.equal(await tryLogin(t, "alice", "alice-secret"), "not-authorized");
  // The account's other sessions end too.
  const err = await other.readUntil(/<stream:error>[\s\S]*?<\/stream:error>/);
  assert.match(err, /<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/);
  assert.equal(await other.waitClosed(5000), true);
});

Deno.test("with registration closed there is no register feature and registering gets not-allowed", async () => {
  await using t = await startTestServer({ components: WITH_REGISTER, register: { open: false } });
  await using c = await RawClient.connect({ port: t.port });
  await c.openStream();
  await c.startTls();
  const features = await c.openStream();
  assert.doesNotMatch(features, REGISTER_FEATURE);
  c.send(
    `<iq type='set' id='r1'><query xmlns='jabber:iq:register'>` +
      `<username>dave</username><password>dave-secret</password></query></iq>`,
  );
  const reply = await c.readUntil(/<iq\b[^>]*id='r1'[^>]*>[\s\S]*?<\/iq>/);
  assert.match(reply, /type='error'/);
  assert.match(reply, /<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/);
  assert.equal(c.isClosed, false);
  assert.equal(await tryLogin(t, "dave", "dave-secret"), "not-authorized", "no account was made");
});

Deno.test("without the register component there is no register feature and disco#info does not list jabber:iq:register", async () => {
  await using t = await startTestServer({ components: ["c2s", "sess-man", "disco", "ping"] });
  await t.addUser("alice", "alice-secret");
  assert.doesNotMatch(await preAuthFeatures(t), REGISTER_FEATURE);
  const features = await serverDiscoInfo(t, "alice", "alice-secret");
  assert.ok(features.includes("urn:xmpp:ping"), "disco#info itself works");
  assert.ok(!features.includes("jabber:iq:register"), features.join(" "));
  // A registration attempt before login is just an unauthenticated stanza.
  await using c = await RawClient.connect({ port: t.port });
  await c.openStream();
  await c.startTls();
  await c.openStream();
  c.send(
    `<iq type='set' id='r1'><query xmlns='jabber:iq:register'>` +
      `<username>dave</username><password>dave-secret</password></query></iq>`,
  );
  const err = await c.readUntil(/<stream:error>[\s\S]*?<\/stream:error>/);
  assert.match(err, /<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
});
