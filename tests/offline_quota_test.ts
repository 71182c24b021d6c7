/**
 * msgoffline strategies and quotas, end to end with real clients: what the sender hears back,
 * what is stored, and what the recipient receives at the next login.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";
import type { UserManager } from "../plugins/sess_man/mod.ts";
import { until } from "./helpers/until.ts";

const components = ["c2s", "sess-man", "msgoffline", "ping"];
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const BOB = "bob@localhost";

async function setup(msgoffline: Record<string, unknown>): Promise<TestServer> {
  const t = await startTestServer({ components, msgoffline });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  await t.addUser("carol", "carol-secret");
  return t;
}

function login(t: TestServer, username: string, presence = true): Promise<TestClient> {
  return connectClient({ port: t.port, username, password: `${username}-secret`, presence });
}

function chat(to: string, id: string): Stanza {
  return xml("message", { to, type: "chat", id }, xml("body", {}, `body ${id}`));
}

function counters(t: TestServer) {
  return t.server.core.service<UserManager>("users").counters;
}

/** Bounded polling of server state (the user actor decides asynchronously). */
async function storedCount(t: TestServer, owner = BOB): Promise<number> {
  return (await t.db.offline.usage(owner)).count;
}

/** A ping round-trip: every stanza the server wrote to this client before it has arrived. */
async function roundTrip(c: TestClient): Promise<void> {
  await c.iq(xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })))
    .catch(() => {});
}

function errorCondition(s: Stanza): string | undefined {
  const error = s.getChild("error");
  return error?.getChildElements().find((c: Stanza) => c.attrs.xmlns === STANZAS)?.name;
}

function waitError(c: TestClient, id: string): Promise<Stanza> {
  return c.waitFor(
    (s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === id,
    5000,
    `error for ${id}`,
  );
}

function errorsIn(c: TestClient): Stanza[] {
  return c.inbox.filter((s) => s.is("message") && s.attrs.type === "error");
}

/** Logs bob in and collects exactly `ids` (in order); afterwards nothing else is stored or sent. */
async function receiveAll(t: TestServer, ids: string[]): Promise<Stanza[]> {
  const bob = await login(t, "bob");
  try {
    const got: Stanza[] = [];
    for (const id of ids) {
      got.push(await bob.waitFor((s) => s.is("message") && s.attrs.id === id, 5000, id));
    }
    await until("the stored rows are deleted", async () => (await storedCount(t)) === 0);
    await roundTrip(bob);
    assert.deepEqual(bob.inbox.filter((s) => s.is("message")).map((s) => s.attrs.id), [], "extras");
    for (const m of got) assert.ok(m.getChild("delay", "urn:xmpp:delay"), "delay stamp");
    return got;
  } finally {
    await bob.stop();
  }
}

Deno.test("store_and_bounce: a message over max_messages bounces resource-constraint; the 2 stored arrive", async () => {
  await using t = await setup({ strategy: "store_and_bounce", max_messages: 2 });
  const alice = await login(t, "alice");
  try {
    for (const id of ["q1", "q2", "q3"]) await alice.send(chat(BOB, id));
    const bounced = await waitError(alice, "q3");
    assert.equal(errorCondition(bounced), "resource-constraint");
    assert.equal(bounced.getChild("error")?.attrs.type, "wait");
    assert.equal(bounced.attrs.from, BOB);
    assert.equal(await storedCount(t), 2);
    await roundTrip(alice);
    assert.deepEqual(errorsIn(alice), [], "only the third bounces");
  } finally {
    await alice.stop();
  }
  const got = await receiveAll(t, ["q1", "q2"]);
  assert.deepEqual(got.map((m) => m.getChildText("body")), ["body q1", "body q2"]);
});

Deno.test("store_and_drop: a message over max_messages is silently not stored", async () => {
  await using t = await setup({ strategy: "store_and_drop", max_messages: 2 });
  const alice = await login(t, "alice");
  try {
    for (const id of ["q1", "q2", "q3"]) await alice.send(chat(BOB, id));
    await until("the third is dropped", () => counters(t).dropped === 1);
    assert.equal(await storedCount(t), 2);
    await roundTrip(alice);
    assert.deepEqual(errorsIn(alice), [], "no error for a dropped message");
  } finally {
    await alice.stop();
  }
  await receiveAll(t, ["q1", "q2"]);
});

Deno.test("drop: nothing is stored and the sender gets no error", async () => {
  await using t = await setup({ strategy: "drop" });
  const alice = await login(t, "alice");
  try {
    for (const id of ["d1", "d2"]) await alice.send(chat(BOB, id));
    await until("both are dropped", () => counters(t).dropped === 2);
    await roundTrip(alice);
    assert.deepEqual(errorsIn(alice), []);
    assert.equal(await storedCount(t), 0);
    assert.equal(counters(t).stored, 0);
  } finally {
    await alice.stop();
  }
});

Deno.test("bounce: the sender gets service-unavailable and nothing is stored", async () => {
  await using t = await setup({ strategy: "bounce" });
  const alice = await login(t, "alice");
  try {
    await alice.send(chat(BOB, "b1"));
    const bounced = await waitError(alice, "b1");
    assert.equal(errorCondition(bounced), "service-unavailable");
    assert.equal(bounced.getChild("error")?.attrs.type, "cancel");
    assert.equal(await storedCount(t), 0);
  } finally {
    await alice.stop();
  }
});

Deno.test("max_messages_per_sender limits each sender, not the others", async () => {
  await using t = await setup({
    strategy: "store_and_bounce",
    max_messages: 0,
    max_messages_per_sender: 2,
  });
  const alice = await login(t, "alice");
  const carol = await login(t, "carol");
  try {
    for (const id of ["a1", "a2", "a3"]) await alice.send(chat(BOB, id));
    assert.equal(errorCondition(await waitError(alice, "a3")), "resource-constraint");
    for (const id of ["c1", "c2"]) await carol.send(chat(BOB, id));
    await until("carol's two are stored", async () => (await storedCount(t)) === 4);
    assert.equal((await t.db.offline.usage(BOB, "alice@localhost")).count, 2);
    assert.equal((await t.db.offline.usage(BOB, "carol@localhost")).count, 2);
    await roundTrip(carol);
    assert.deepEqual(errorsIn(carol), [], "carol is under her own limit");
    await roundTrip(alice);
    assert.deepEqual(errorsIn(alice), []);
  } finally {
    await alice.stop();
    await carol.stop();
  }
  await receiveAll(t, ["a1", "a2", "c1", "c2"]);
});

Deno.test("max_bytes counts octets: a message that would pass the limit bounces", async () => {
  await using t = await setup({ strategy: "store_and_bounce", max_messages: 0, max_bytes: 600 });
  const alice = await login(t, "alice");
  try {
    // 150 four-octet characters: 300 UTF-16 units but 600 octets of body alone.
    const big = "😀".repeat(150);
    await alice.send(xml("message", { to: BOB, type: "chat", id: "big" }, xml("body", {}, big)));
    assert.equal(errorCondition(await waitError(alice, "big")), "resource-constraint");
    assert.equal(await storedCount(t), 0);
    await alice.send(chat(BOB, "small"));
    await until("the small one is stored", async () => (await storedCount(t)) === 1);
  } finally {
    await alice.stop();
  }
});
