/**
 * `deno task ctl` end to end: each command runs as its own process (`deno run -A ctl.ts ...`) on a
 * temporary data directory, as an administrator would run it, and the accounts it leaves are then
 * read back from the database directly.
 */
import assert from "node:assert/strict";
import { openDatabase } from "../db/mod.ts";
import { acquireDataDirLock } from "../db/lock.ts";
import { deriveCredential } from "../protocol/sasl/scram.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CTL = new URL("../ctl.ts", import.meta.url).pathname;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

interface Env {
  dataDir: string;
  config: string;
}

async function makeEnv(): Promise<Env & { cleanup(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "parley-ctl-" });
  // An explicit (empty) config file, so a parley.toml in the working directory is not read.
  const config = `${dir}/parley.toml`;
  await Deno.writeTextFile(config, "");
  return {
    dataDir: `${dir}/data`,
    config,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

async function ctl(
  env: Env,
  args: string[],
  opts: { stdin?: string; extraEnv?: Record<string, string> } = {},
): Promise<Result> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CTL, ...args],
    cwd: ROOT,
    env: {
      PARLEY_CONFIG: env.config,
      PARLEY_DATA_DIR: env.dataDir,
      // Outer settings must not leak in: empty values are ignored by the loader.
      PARLEY_DATABASE_URL: "",
      PARLEY_DOMAIN: "",
      NO_COLOR: "1",
      ...opts.extraEnv,
    },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(opts.stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Whether `password` is the account's password, checked against its stored SCRAM-SHA-256 key. */
async function passwordIs(dataDir: string, jid: string, password: string): Promise<boolean> {
  const db = await openDatabase({ dataDir });
  try {
    const record = await db.accounts.get(jid);
    assert.ok(record, `${jid} not found`);
    const stored = record.credentials["SHA-256"];
    const salt = Uint8Array.from(atob(stored.salt), (c) => c.charCodeAt(0));
    const again = await deriveCredential(password, "SHA-256", stored.iterations, salt);
    return again.storedKey === stored.storedKey;
  } finally {
    await db.close();
  }
}

Deno.test("ctl manages accounts end to end: adduser, users, passwd, deluser", async (t) => {
  const env = await makeEnv();
  try {
    await t.step("adduser with --password creates the account", async () => {
      const r = await ctl(env, ["adduser", "alice@localhost", "--password", "first secret"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "created alice@localhost");
    });

    await t.step("adduser of an existing account fails with a clear message", async () => {
      const r = await ctl(env, ["adduser", "alice@localhost", "--password", "whatever"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /alice@localhost: the account already exists/);
      assert.equal(r.stdout, "");
    });

    await t.step("adduser reads the password as one line of stdin when none is given", async () => {
      const r = await ctl(env, ["adduser", "Bob@LOCALHOST"], { stdin: "piped pass\r\nignored\n" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "created bob@localhost", "the JID is normalised");
    });

    await t.step("users lists every account, one per line, sorted", async () => {
      const r = await ctl(env, ["users"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), ["alice@localhost", "bob@localhost"]);
    });

    await t.step("the stored credentials match the passwords given", async () => {
      assert.equal(await passwordIs(env.dataDir, "alice@localhost", "first secret"), true);
      assert.equal(await passwordIs(env.dataDir, "bob@localhost", "piped pass"), true);
      assert.equal(await passwordIs(env.dataDir, "bob@localhost", "piped pass ignored"), false);
    });

    await t.step("passwd changes the password", async () => {
      const r = await ctl(env, ["passwd", "alice@localhost", "-p", "second secret"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "password changed for alice@localhost");
      assert.equal(await passwordIs(env.dataDir, "alice@localhost", "second secret"), true);
      assert.equal(await passwordIs(env.dataDir, "alice@localhost", "first secret"), false);
    });

    await t.step("passwd reads the new password from stdin too", async () => {
      const r = await ctl(env, ["passwd", "alice@localhost"], { stdin: "third secret\n" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await passwordIs(env.dataDir, "alice@localhost", "third secret"), true);
    });

    await t.step("passwd of an unknown account fails", async () => {
      const r = await ctl(env, ["passwd", "carol@localhost", "-p", "secret"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /carol@localhost: no such account/);
    });

    await t.step("a too short password is refused with the rule", async () => {
      const r = await ctl(env, ["adduser", "dave@localhost", "-p", "abc"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /at least 4 characters/);
    });

    await t.step("an empty stdin gives no password and creates nothing", async () => {
      const r = await ctl(env, ["adduser", "erin@localhost"], { stdin: "" });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no password given/);
    });

    await t.step("deluser deletes the account", async () => {
      const r = await ctl(env, ["deluser", "bob@localhost"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "deleted bob@localhost");
      const users = await ctl(env, ["users"]);
      assert.deepEqual(users.stdout.trim().split("\n"), ["alice@localhost"]);
    });

    await t.step("deluser of an unknown account fails", async () => {
      const r = await ctl(env, ["deluser", "bob@localhost"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bob@localhost: no such account/);
    });
  } finally {
    await env.cleanup();
  }
});

Deno.test("ctl refuses a data directory another live process holds, and changes nothing", async () => {
  const env = await makeEnv();
  // This test process plays the running server.
  const release = await acquireDataDirLock(env.dataDir);
  try {
    const r = await ctl(env, ["adduser", "alice@localhost", "-p", "secret"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, new RegExp(`in use by process ${Deno.pid}`));
    assert.match(r.stderr, /pglite\.lock/);
    // The database was never opened.
    await assert.rejects(() => Deno.stat(`${env.dataDir}/pglite`), Deno.errors.NotFound);
  } finally {
    await release();
    await env.cleanup();
  }
});

Deno.test("ctl rejects an account on another domain before touching the database", async () => {
  const env = await makeEnv();
  try {
    const r = await ctl(env, ["adduser", "alice@elsewhere.example", "-p", "secret"], {
      extraEnv: { PARLEY_DOMAIN: "chat.example" },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a valid account on this server's domain \(chat\.example\)/);
    await assert.rejects(() => Deno.stat(env.dataDir), Deno.errors.NotFound);
  } finally {
    await env.cleanup();
  }
});

Deno.test("ctl usage errors exit 2 with the usage text; help exits 0", async () => {
  const env = await makeEnv();
  try {
    for (
      const [args, message] of [
        [["frobnicate"], /unknown command "frobnicate"/],
        [["adduser"], /adduser takes one USER@DOMAIN/],
        [["users", "extra"], /users takes no arguments/],
        [["deluser", "a@localhost", "--password", "x"], /deluser takes no --password/],
        [["adduser", "a@localhost", "--pasword", "x"], /pasword/],
      ] as [string[], RegExp][]
    ) {
      const r = await ctl(env, args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, message);
      assert.match(r.stderr, /Usage: deno task ctl/);
    }
    for (const args of [[], ["help"], ["--help"]]) {
      const r = await ctl(env, args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /adduser USER@DOMAIN/);
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("ctl reports a bad configuration naming the setting and exits 2", async () => {
  const env = await makeEnv();
  try {
    const r = await ctl(env, ["users"], { extraEnv: { PARLEY_C2S_PORT: "abc" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PARLEY_C2S_PORT/);
  } finally {
    await env.cleanup();
  }
});
