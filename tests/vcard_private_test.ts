import assert from "node:assert/strict";
import { DEFAULT_COMPONENTS } from "../config/mod.ts";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";

const config = { components: [...DEFAULT_COMPONENTS, "vcard-temp", "private"] };

/** The RFC 6120 condition of a rejected iq request (@xmpp/client's StanzaError). */
async function refused(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (e) {
    return (e as { condition?: string }).condition ?? String(e);
  }
  throw new Error("the request succeeded");
}

/** The payload of an iq result. */
async function result(request: Promise<Stanza>): Promise<Stanza> {
  const iq = await request;
  const payload = iq.getChildElements()[0];
  if (!payload) throw new Error("empty result");
  return payload;
}

async function twoUsers(port: number): Promise<[TestClient, TestClient]> {
  const alice = await connectClient({ port, username: "alice", password: "alice-secret" });
  const bob = await connectClient({ port, username: "bob", password: "bob-secret" });
  return [alice, bob];
}

Deno.test("a client sets its vCard, reads it back, and another user reads it from its bare JID", async () => {
  await using t = await startTestServer(config);
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const [alice, bob] = await twoUsers(t.port);
  try {
    const empty = await result(
      alice.iq(xml("iq", { type: "get" }, xml("vCard", { xmlns: "vcard-temp" }))),
    );
    assert.ok(empty.is("vCard", "vcard-temp"));
    assert.equal(empty.children.length, 0, "no vCard yet: an empty one");

    await alice.iq(
      xml(
        "iq",
        { type: "set" },
        xml(
          "vCard",
          { xmlns: "vcard-temp" },
          xml("FN", {}, "Alice Liddell"),
          xml("NICKNAME", {}, "alice & co"),
        ),
      ),
    );
    const own = await result(alice.iq(
      xml("iq", { type: "get", to: "alice@localhost" }, xml("vCard", { xmlns: "vcard-temp" })),
    ));
    assert.equal(own.getChildText("FN"), "Alice Liddell");
    assert.equal(own.getChildText("NICKNAME"), "alice & co");

    const seen = await result(bob.iq(
      xml("iq", { type: "get", to: "alice@localhost" }, xml("vCard", { xmlns: "vcard-temp" })),
    ));
    assert.equal(seen.getChildText("FN"), "Alice Liddell");
    assert.equal(
      alice.inbox.filter((s) => s.is("iq") && s.attrs.type === "get").length,
      0,
      "answered by the server",
    );
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("vCard errors: another user's missing vCard, a nonexistent user, setting someone else's, too large", async () => {
  await using t = await startTestServer({ ...config, "vcard-temp": { max_bytes: 512 } });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const [alice, bob] = await twoUsers(t.port);
  try {
    const get = (to: string) =>
      bob.iq(xml("iq", { type: "get", to }, xml("vCard", { xmlns: "vcard-temp" })));
    assert.equal(await refused(get("alice@localhost")), "service-unavailable");
    assert.equal(await refused(get("nobody@localhost")), "service-unavailable");
    assert.equal(
      await refused(
        bob.iq(
          xml(
            "iq",
            { type: "set", to: "alice@localhost" },
            xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Mallory")),
          ),
        ),
      ),
      "forbidden",
    );
    assert.equal(
      await refused(
        alice.iq(
          xml(
            "iq",
            { type: "set" },
            xml("vCard", { xmlns: "vcard-temp" }, xml("DESC", {}, "x".repeat(600))),
          ),
        ),
      ),
      "not-acceptable",
    );
    assert.equal(await t.db.vcard.get("alice@localhost"), null);
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("private storage: a client stores bookmarks, reads them in a new session, and only it can", async () => {
  await using t = await startTestServer(config);
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const [alice, bob] = await twoUsers(t.port);
  const bookmarks = () => xml("storage", { xmlns: "storage:bookmarks" });
  try {
    const none = await result(alice.iq(
      xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:private" }, bookmarks())),
    ));
    assert.ok(none.getChild("storage", "storage:bookmarks"));
    assert.equal(none.getChild("storage")?.children.length, 0);

    await alice.iq(
      xml(
        "iq",
        { type: "set" },
        xml(
          "query",
          { xmlns: "jabber:iq:private" },
          xml(
            "storage",
            { xmlns: "storage:bookmarks" },
            xml("conference", { jid: "tea@conference.localhost", name: "Tea party" }),
          ),
        ),
      ),
    );
    await alice.stop();

    const again = await connectClient({
      port: t.port,
      username: "alice",
      password: "alice-secret",
    });
    try {
      const got = await result(again.iq(
        xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:private" }, bookmarks())),
      ));
      const conf = got.getChild("storage", "storage:bookmarks")?.getChild("conference");
      assert.equal(conf?.attrs.jid, "tea@conference.localhost");
      assert.equal(conf?.attrs.name, "Tea party");
    } finally {
      await again.stop();
    }

    const theirs = (type: string) =>
      bob.iq(
        xml(
          "iq",
          { type, to: "alice@localhost" },
          xml("query", { xmlns: "jabber:iq:private" }, bookmarks()),
        ),
      );
    assert.equal(await refused(theirs("get")), "forbidden");
    assert.equal(await refused(theirs("set")), "forbidden");
    assert.equal(
      await refused(
        bob.iq(
          xml(
            "iq",
            { type: "set" },
            xml(
              "query",
              { xmlns: "jabber:iq:private" },
              xml("query", { xmlns: "jabber:iq:roster" }),
            ),
          ),
        ),
      ),
      "not-acceptable",
    );
    assert.equal(
      await refused(
        bob.iq(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:private" }))),
      ),
      "not-acceptable",
    );
  } finally {
    await alice.stop();
    await bob.stop();
  }
});

Deno.test("disco#info of the server lists vcard-temp and jabber:iq:private when enabled", async () => {
  await using t = await startTestServer(config);
  await t.addUser("alice", "alice-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    const info = await result(alice.iq(
      xml(
        "iq",
        { type: "get", to: "localhost" },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
      ),
    ));
    const features = info.getChildren("feature").map((f: Stanza) => f.attrs.var);
    assert.ok(features.includes("vcard-temp"));
    assert.ok(features.includes("jabber:iq:private"));
  } finally {
    await alice.stop();
  }
});
