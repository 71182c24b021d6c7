/**
 * Offline storage throughput: storing 1,000 messages for an offline user (sender's first write to
 * the last row committed) and flushing them (the recipient's initial presence to the last message
 * received). In-process server; PostgreSQL when DATABASE_URL is set, else PGlite in memory.
 *
 *   deno bench -A bench/offline_flush_bench.ts
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno bench -A bench/offline_flush_bench.ts
 */
import { startTestServer } from "../tests/helpers/server.ts";
import { connectClient, xml } from "../tests/helpers/xmpp_client.ts";

const COUNT = 1000;
const ROUNDS = { n: 3, warmup: 1 };

// One server up and down before the benches: sets up logging and opens the shared database once.
await (await startTestServer({ components: ["sess-man"] }))[Symbol.asyncDispose]();

type Measure = { start(): void; end(): void };
const unmeasured: Measure = { start() {}, end() {} };

/**
 * One round on a fresh server (its own schema on PostgreSQL; the shared in-memory PGlite is
 * emptied): alice stores COUNT messages for offline bob, then bob logs in and gets them all.
 */
async function round(store: Measure, flush: Measure): Promise<void> {
  await using t = await startTestServer({
    components: ["c2s", "sess-man", "msgoffline"],
    c2s: { require_encryption: false },
    msgoffline: { strategy: "store_and_bounce", max_messages: 0, max_bytes: 0 },
  });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  const alice = await connectClient({ port: t.port, username: "alice", password: "alice-secret" });
  try {
    store.start();
    for (let i = 1; i <= COUNT; i++) {
      await alice.send(
        xml(
          "message",
          { to: "bob@localhost", type: "chat", id: `m${i}` },
          xml("body", {}, `offline message ${i} of ${COUNT}`),
        ),
      );
    }
    const deadline = Date.now() + 120_000;
    while ((await t.db.offline.usage("bob@localhost")).count < COUNT) {
      if (Date.now() > deadline) throw new Error(`not all ${COUNT} stored in time`);
      await new Promise((r) => setTimeout(r, 5));
    }
    store.end();
  } finally {
    await alice.stop();
  }

  const bob = await connectClient({
    port: t.port,
    username: "bob",
    password: "bob-secret",
    presence: false,
  });
  try {
    flush.start();
    await bob.send(xml("presence"));
    await bob.waitFor((s) => s.is("message") && s.attrs.id === `m${COUNT}`, 120_000, "last");
    flush.end();
    const got = bob.inbox.filter((s) => s.is("message")).length + 1;
    if (got !== COUNT) throw new Error(`${got} of ${COUNT} delivered`);
  } finally {
    await bob.stop();
  }
}

Deno.bench({
  name: `store ${COUNT} offline messages (first send to last row committed)`,
  ...ROUNDS,
  // An async function, not an arrow returning a promise: deno bench awaits only the former.
  async fn(b) {
    await round(b, unmeasured);
  },
});

Deno.bench({
  name: `flush ${COUNT} offline messages (initial presence to last received)`,
  ...ROUNDS,
  async fn(b) {
    await round(unmeasured, b);
  },
});
