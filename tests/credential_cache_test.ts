/**
 * Logins are checked against credentials held in memory (db/notified_cache.ts). These tests warm
 * that cache with a real login, change or delete the account, and log in again over the wire: a
 * stale entry would let the old password in. The changes come from this server (in-band, XEP-0077)
 * and, on PostgreSQL, from `deno task ctl` running as a separate process.
 */
import assert from "node:assert/strict";
import { freshSchema } from "./helpers/schema.ts";
import { RawClient } from "./helpers/raw_client.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { freePort } from "./helpers/ports.ts";
import { openDatabase } from "../db/mod.ts";
import { dropSchema } from "../db/postgres.ts";
import type { SqlAccountStore } from "../db/accounts.ts";
import { startServer } from "../server/start.ts";
import { createAccount } from "../server/accounts.ts";
import { DEFAULT_COMPONENTS } from "../config/schema.ts";

const ALICE = "alice@localhost";

/** One SASL attempt on a fresh connection: "ok" or the failure condition. */
async function tryLogin(port: number, password: string, user = "alice"): Promise<string> {
  const c = await RawClient.connect({ port });
  try {
    await c.openStream();
    await c.startTls();
    await c.openStream();
    const r = await c.authenticate(user, password);
    return r.ok ? "ok" : r.condition;
  } finally {
    await c.close();
  }
}

function cacheOf(db: { accounts: unknown }) {
  return (db.accounts as SqlAccountStore).cache;
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function iq(c: RawClient, id: string, payload: string): Promise<string> {
  c.send(`<iq type='set' id='${id}'>${payload}</iq>`);
  return await c.readUntil(new RegExp(`<iq\\b[^>]*id='${id}'[^>]*?(/>|>[\\s\\S]*?</iq>)`));
}

Deno.test("a password changed in-band is refused at the next login though its credentials were cached", async () => {
  await using t: TestServer = await startTestServer({
    components: [...DEFAULT_COMPONENTS, "register"],
  });
  await t.addUser("alice", "first-secret");
  await waitFor("the accounts listener", () => cacheOf(t.db).live);
  assert.equal(await tryLogin(t.port, "first-secret"), "ok");
  assert.equal(cacheOf(t.db).has(ALICE), true, "the login left alice cached");

  {
    await using c = await RawClient.login({
      port: t.port,
      username: "alice",
      password: "first-secret",
    });
    const r = await iq(
      c,
      "pw",
      "<query xmlns='jabber:iq:register'><username>alice</username><password>second-secret</password></query>",
    );
    assert.match(r, /type='result'/, r);
  }
  assert.equal(await tryLogin(t.port, "first-secret"), "not-authorized");
  assert.equal(await tryLogin(t.port, "second-secret"), "ok");
  assert.equal(cacheOf(t.db).has(ALICE), true);

  {
    await using c = await RawClient.login({
      port: t.port,
      username: "alice",
      password: "second-secret",
    });
    const r = await iq(c, "rm", "<query xmlns='jabber:iq:register'><remove/></query>");
    assert.match(r, /type='result'/, r);
  }
  assert.equal(await tryLogin(t.port, "second-secret"), "not-authorized");
  assert.equal(cacheOf(t.db).has(ALICE), false);
  // The name is free again, and an unknown name still looks like a wrong password.
  assert.equal(await tryLogin(t.port, "whatever", "nobody"), "not-authorized");
  await t.addUser("alice", "third-secret");
  assert.equal(await tryLogin(t.port, "third-secret"), "ok");
});

const url = Deno.env.get("DATABASE_URL");
const CTL = new URL("../ctl.ts", import.meta.url).pathname;

Deno.test({
  name:
    "a password changed and an account deleted by ctl in another process are refused at the next login (PostgreSQL)",
  ignore: !url,
  async fn() {
    const schema = freshSchema();
    const dir = await Deno.makeTempDir({ prefix: "parley-cache-" });
    const db = await openDatabase({ url, schema, poolSize: 4 });
    const port = freePort();
    let tlsPort = freePort();
    while (tlsPort === port) tlsPort = freePort();
    const server = await startServer({
      domain: "localhost",
      data_dir: `${dir}/server`,
      c2s: { host: "127.0.0.1", port, tls_port: tlsPort },
    }, { db });
    const ctl = async (...args: string[]) => {
      await Deno.writeTextFile(`${dir}/parley.toml`, "");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CTL, ...args],
        env: {
          PARLEY_CONFIG: `${dir}/parley.toml`,
          PARLEY_DATA_DIR: `${dir}/ctl`,
          PARLEY_DOMAIN: "localhost",
          // Its own connections to the server's schema: nothing shared with the server but data.
          PARLEY_DATABASE_URL: `${url}${url!.includes("?") ? "&" : "?"}search_path=${schema}`,
          NO_COLOR: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder();
      assert.equal(out.code, 0, text.decode(out.stderr));
      return text.decode(out.stdout).trim();
    };
    try {
      const r = await createAccount(db, "localhost", "alice", "first-secret");
      assert.ok(r.ok);
      await waitFor("the accounts listener", () => cacheOf(db).live);
      assert.equal(await tryLogin(port, "first-secret"), "ok");
      assert.equal(cacheOf(db).has(ALICE), true, "the login left alice cached");

      assert.equal(
        await ctl("passwd", ALICE, "-p", "second-secret"),
        `password changed for ${ALICE}`,
      );
      // The notice travels on its own connection; ctl's exit does not wait for it to arrive.
      await waitFor("the passwd notice", () => !cacheOf(db).has(ALICE));
      assert.equal(await tryLogin(port, "first-secret"), "not-authorized");
      assert.equal(await tryLogin(port, "second-secret"), "ok");
      assert.equal(cacheOf(db).has(ALICE), true, "cached again");

      assert.match(await ctl("deluser", ALICE), /alice@localhost/);
      await waitFor("the deluser notice", () => !cacheOf(db).has(ALICE));
      assert.equal(await tryLogin(port, "second-secret"), "not-authorized");
    } finally {
      await server.stop();
      await db.close();
      await dropSchema(url!, schema);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
