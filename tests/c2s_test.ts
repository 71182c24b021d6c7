import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";

for (const mechanism of ["SCRAM-SHA-1", "SCRAM-SHA-256"] as const) {
  Deno.test(`@xmpp/client logs in over STARTTLS with ${mechanism} and chats with a second client`, async () => {
    await using t = await startTestServer();
    await t.addUser("alice", "alice-secret");
    await t.addUser("bob", "bob-secret");
    const alice = await connectClient({
      port: t.port,
      username: "alice",
      password: "alice-secret",
      mechanism,
    });
    const bob = await connectClient({
      port: t.port,
      username: "bob",
      password: "bob-secret",
      mechanism,
    });
    try {
      assert.match(alice.jid, /^alice@localhost\/.+/);
      await alice.send(
        xml(
          "message",
          { to: bob.jid, type: "chat", id: "m1", from: "mallory@localhost/evil" },
          xml("body", {}, "hello bob"),
        ),
      );
      const got = await bob.waitFor((s) => s.is("message") && s.attrs.id === "m1");
      assert.equal(got.getChildText("body"), "hello bob");
      assert.equal(
        got.attrs.from,
        alice.jid,
        "from is stamped by the server, not taken from the client",
      );
    } finally {
      await alice.stop();
      await bob.stop();
    }
  });
}
