/**
 * slixmpp (python3-slixmpp 1.8, a second independent client implementation) against Parley:
 * login over STARTTLS and over direct TLS (XEP-0368), and a chat message each way with an
 * @xmpp/client user, with addresses stamped by the server.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";
import { runSlixmpp } from "./helpers/slixmpp.ts";

for (const directTls of [false, true]) {
  const how = directTls ? "direct TLS (XEP-0368)" : "STARTTLS";
  Deno.test(`slixmpp logs in over ${how} and exchanges messages both ways with @xmpp/client`, async () => {
    await using t = await startTestServer();
    await t.addUser("alice", "alice-secret");
    await t.addUser("bob", "bob-secret");
    const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
    try {
      await using slix = runSlixmpp({
        port: directTls ? t.tlsPort : t.port,
        directTls,
        jid: "alice@localhost/slix",
        password: "alice-secret",
        peer: "bob@localhost",
        say: "hello bob, from slixmpp",
      });
      const started = await slix.waitFor((e) => e.event === "session_start");
      assert.equal(started.jid, "alice@localhost/slix");
      assert.equal(started.encrypted, true, "the stream is encrypted");

      // slixmpp -> @xmpp/client, to the bare JID.
      const got = await bob.waitFor(
        (s) => s.is("message") && s.getChildText("body") === "hello bob, from slixmpp",
      );
      assert.equal(got.attrs.from, "alice@localhost/slix", "from is the sender's full JID");
      assert.equal(got.attrs.type, "chat");

      // @xmpp/client -> slixmpp, to the full JID, with a forged from the server must replace.
      await bob.send(
        xml(
          "message",
          { to: "alice@localhost/slix", type: "chat", from: "mallory@localhost/x" },
          xml("body", {}, "hi alice, from xmpp.js"),
        ),
      );
      const back = await slix.waitFor((e) => e.event === "message");
      assert.equal(back.body, "hi alice, from xmpp.js");
      assert.equal(back.from, bob.jid);
      assert.equal(await slix.exit(), 0, JSON.stringify(slix.events) + slix.stderr());
    } finally {
      await bob.stop();
    }
  });
}

Deno.test("slixmpp with a wrong password fails to log in and never starts a session", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await using slix = runSlixmpp({
    port: t.port,
    jid: "alice@localhost/slix",
    password: "not-the-password",
  });
  const failed = await slix.waitFor((e) => e.event === "error");
  assert.equal(failed.stage, "auth");
  assert.equal(await slix.exit(), 1);
  assert.equal(slix.events.some((e) => e.event === "session_start"), false);
});
