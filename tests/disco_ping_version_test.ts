/**
 * Service discovery (XEP-0030), ping (XEP-0199) and software version (XEP-0092) as @xmpp/client
 * sees them: disco#info reflects exactly the enabled plugins, and each enabled plugin answers.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";
import { PARLEY_VERSION } from "../version.ts";

const DISCO_INFO = "http://jabber.org/protocol/disco#info";

async function discoInfo(c: TestClient): Promise<{ identities: Stanza[]; features: string[] }> {
  const reply = await c.iq(
    xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: DISCO_INFO })),
  );
  assert.equal(reply.attrs.type, "result");
  assert.equal(reply.attrs.from, "localhost");
  const q = reply.getChild("query", DISCO_INFO);
  assert.ok(q, "the result carries the disco#info query");
  return {
    identities: q.getChildren("identity"),
    features: q.getChildren("feature").map((f: Stanza) => String(f.attrs.var)),
  };
}

/** The condition of a rejected iq request (@xmpp/client rejects with an XMPPError). */
async function iqErrorCondition(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { condition?: string }).condition ?? String(e);
  }
  assert.fail("the request succeeded");
}

Deno.test("disco#info on the server lists the server identity and the enabled plugins' features", async () => {
  await using t = await startTestServer({
    components: ["c2s", "sess-man", "disco", "ping", "version"],
  });
  await t.addUser("alice", "alice-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    const { identities, features } = await discoInfo(alice);
    assert.ok(
      identities.some((i) => i.attrs.category === "server" && i.attrs.type === "im"),
      "a server/im identity",
    );
    for (
      const f of [
        DISCO_INFO,
        "http://jabber.org/protocol/disco#items",
        "urn:xmpp:ping",
        "jabber:iq:version",
      ]
    ) {
      assert.ok(features.includes(f), `${f} is listed: ${features.join(" ")}`);
    }
    assert.ok(!features.includes("jabber:iq:register"), "register is not enabled");
    assert.equal(new Set(features).size, features.length, "no feature is listed twice");
  } finally {
    await alice.stop();
  }
});

Deno.test("plugins left out of components are absent from disco#info and their iqs get service-unavailable", async () => {
  await using t = await startTestServer({ components: ["c2s", "sess-man", "disco"] });
  await t.addUser("alice", "alice-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    const { features } = await discoInfo(alice);
    assert.ok(features.includes(DISCO_INFO));
    assert.ok(!features.includes("urn:xmpp:ping"), features.join(" "));
    assert.ok(!features.includes("jabber:iq:version"), features.join(" "));
    const ping = xml(
      "iq",
      { type: "get", to: "localhost" },
      xml("ping", { xmlns: "urn:xmpp:ping" }),
    );
    assert.equal(await iqErrorCondition(alice.iq(ping)), "service-unavailable");
    const version = xml(
      "iq",
      { type: "get", to: "localhost" },
      xml("query", { xmlns: "jabber:iq:version" }),
    );
    assert.equal(await iqErrorCondition(alice.iq(version)), "service-unavailable");
  } finally {
    await alice.stop();
  }
});

Deno.test("the server answers a ping, addressed to it or sent without a to, with an empty result", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    const pong = await alice.iq(
      xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })),
    );
    assert.equal(pong.attrs.type, "result");
    assert.equal(pong.attrs.from, "localhost");
    assert.equal(pong.attrs.to, alice.jid);
    assert.equal(pong.children.length, 0, "an empty result");
    const own = await alice.iq(xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(own.attrs.type, "result");
  } finally {
    await alice.stop();
  }
});

Deno.test("the server answers a version request with its name and version and no OS by default", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    const reply = await alice.iq(
      xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "jabber:iq:version" })),
    );
    assert.equal(reply.attrs.type, "result");
    const q = reply.getChild("query", "jabber:iq:version");
    assert.ok(q);
    assert.equal(q.getChildText("name"), "Parley");
    assert.equal(q.getChildText("version"), PARLEY_VERSION);
    assert.equal(q.getChild("os"), undefined, "the OS is not disclosed unless configured");
  } finally {
    await alice.stop();
  }
});

Deno.test("version.show_os adds the operating system to the version answer", async () => {
  await using t = await startTestServer({ version: { show_os: true } });
  await t.addUser("alice", "alice-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    const reply = await alice.iq(
      xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "jabber:iq:version" })),
    );
    assert.equal(
      reply.getChild("query", "jabber:iq:version")?.getChildText("os"),
      `${Deno.build.os} ${Deno.build.arch}`,
    );
  } finally {
    await alice.stop();
  }
});
