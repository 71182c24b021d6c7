/**
 * Initial presence reads the user's roster from memory once it was read (db/roster.ts). These tests
 * warm that cache with a real login, change the roster behind the server's back (SQL, as psql or
 * another node would) or in-band, and log in again over the wire: a stale roster would send the
 * presence to the wrong people.
 */
import assert from "node:assert/strict";
import { RawClient } from "./helpers/raw_client.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { sqlOf } from "../db/mod.ts";
import type { SqlRosterStore } from "../db/roster.ts";

const ALICE = "alice@localhost";

function cacheOf(t: TestServer) {
  return (t.db.roster as SqlRosterStore).cache;
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const login = (t: TestServer, username: string) =>
  RawClient.login({ port: t.port, username, password: "secret", resource: "r" });

/** A server with alice and bob whose roster cache holds alice's roster, read by a real login. */
async function serverWithAliceCached(): Promise<TestServer> {
  const t = await startTestServer();
  try {
    await t.addUser("alice", "secret");
    await t.addUser("bob", "secret");
    await waitFor("the roster listener", () => cacheOf(t).live);
    {
      await using alice = await login(t, "alice");
      alice.send("<presence/>");
      await alice.readUntil(/<presence\b[^>]*from='alice@localhost\/r'/);
    }
    assert.equal(cacheOf(t).has(ALICE), true, "the login left alice's roster cached");
    return t;
  } catch (e) {
    await t[Symbol.asyncDispose]();
    throw e;
  }
}

Deno.test("a roster changed in SQL behind the server is used at the next login though it was cached", async () => {
  await using t = await serverWithAliceCached();

  // Bob becomes subscribed to alice's presence without the server's stores knowing.
  const sql = sqlOf(t.db);
  await sql.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO roster (owner, contact, subscription, ask_out, pending_in, groups)
       VALUES ($1, $2, 'from', false, false, '[]'::jsonb)`,
      [ALICE, "bob@localhost"],
    );
    await tx.query(
      `INSERT INTO roster_versions (owner, version) VALUES ($1, 1)
       ON CONFLICT (owner) DO UPDATE SET version = roster_versions.version + 1`,
      [ALICE],
    );
  });
  await waitFor("the change's notice", () => !cacheOf(t).has(ALICE));

  await using bob = await login(t, "bob");
  bob.send("<presence/>");
  await bob.readUntil(/<presence\b[^>]*from='bob@localhost\/r'/);
  await using alice = await login(t, "alice");
  alice.send("<presence/>");
  const heard = await bob.readUntil(/<presence\b[^>]*from='alice@localhost\/r'[^>]*>/);
  assert.match(heard, /from='alice@localhost\/r'/);
});

Deno.test("a roster item added in-band is in the next roster get and the next login's audience", async () => {
  await using t = await serverWithAliceCached();
  {
    await using alice = await login(t, "alice");
    alice.send(
      "<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'/></query></iq>",
    );
    await alice.readUntil(
      /<iq\b[^>]*id='add'[^>]*type='result'|<iq\b[^>]*type='result'[^>]*id='add'/,
    );
    alice.send("<iq type='get' id='get'><query xmlns='jabber:iq:roster'/></iq>");
    const got = await alice.readUntil(/<iq\b[^>]*id='get'[\s\S]*?<\/iq>/);
    assert.match(got, /jid='bob@localhost'/, got);
    assert.match(got, /name='Bob'/, got);
  }
  // The cached copy is not the caller's: what a caller changes does not reach the next login.
  const first = await t.db.roster.get(ALICE);
  first.items.length = 0;
  const again = await t.db.roster.get(ALICE);
  assert.equal(again.items.length, 1);
  assert.equal(again.items[0]?.jid, "bob@localhost");
});
