/**
 * Offline messages survive a crash: the real server (`main.ts`) runs as a subprocess on embedded
 * PGlite in a data directory, is killed with SIGKILL after storing, restarted on the same
 * directory, and the recipient then receives everything, in order, with delay stamps.
 */
import assert from "node:assert/strict";
import { freePort } from "./helpers/ports.ts";
import { connectClient, type Stanza, type TestClient, xml } from "./helpers/xmpp_client.ts";
import { openDatabase } from "../db/mod.ts";
import { createAccount } from "../server/accounts.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** First start of PGlite on disk (WASM compile, initdb, migrations) can take a while under load. */
const START_TIMEOUT_MS = 60_000;

interface Proc {
  child: Deno.ChildProcess;
  output(): string;
  /** resolves when the output so far contains `needle` */
  waitFor(needle: string, ms: number): Promise<void>;
  /** SIGKILL (or the given signal) and wait for the process and its pipes to end */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

function ports() {
  const taken = new Set<number>();
  const pick = () => {
    let p = freePort();
    while (taken.has(p)) p = freePort();
    taken.add(p);
    return p;
  };
  return { c2s: pick(), tls: pick(), http: pick() };
}

/** The environment without any PARLEY_* or DATABASE_URL of the caller: PGlite on disk. */
function serverEnv(dataDir: string, config: string, p: ReturnType<typeof ports>) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("PARLEY_") && k !== "DATABASE_URL") env[k] = v;
  }
  return {
    ...env,
    NO_COLOR: "1",
    PARLEY_CONFIG: config,
    PARLEY_DATA_DIR: dataDir,
    PARLEY_C2S_PORT: String(p.c2s),
    PARLEY_C2S_TLS_PORT: String(p.tls),
    PARLEY_HTTP_PORT: String(p.http),
    PARLEY_COMPONENTS: "c2s,sess-man,msgoffline",
    PARLEY_LOG_LEVEL: "info",
  };
}

function spawn(args: string[], env: Record<string, string>): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env,
    clearEnv: true,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const watchers = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const w of watchers) w();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let ended = false;
  const status = child.status.then((s) => {
    ended = true;
    for (const w of watchers) w();
    return s;
  });
  return {
    child,
    output: () => text,
    waitFor(needle, ms) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (text.includes(needle)) done(resolve);
          else if (ended) {
            done(() => reject(new Error(`process ended before "${needle}":\n${text}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no "${needle}" within ${ms} ms:\n${text}`))),
          ms,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          watchers.delete(check);
          f();
        };
        watchers.add(check);
        check();
      });
    },
    async stop(signal = "SIGKILL") {
      if (!ended) {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      }
      const s = await status;
      await pumps;
      return s;
    },
  };
}

async function addUsers(dataDir: string, env: Record<string, string>, users: string[]) {
  const ctl = await Deno.stat(`${ROOT}ctl.ts`).then(() => true, () => false);
  if (ctl) {
    for (const u of users) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "ctl.ts", "adduser", `${u}@localhost`, "--password", `${u}-secret`],
        env,
        clearEnv: true,
        cwd: ROOT,
        stdin: "null",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `ctl adduser ${u}:\n${text}`);
    }
    return;
  }
  const db = await openDatabase({ dataDir });
  try {
    for (const u of users) {
      const r = await createAccount(db, "localhost", u, `${u}-secret`);
      assert.ok(r.ok, `createAccount ${u}`);
    }
  } finally {
    await db.close();
  }
}

async function startServer(env: Record<string, string>): Promise<Proc> {
  const p = spawn(["run", "-A", "main.ts"], env);
  try {
    await p.waitFor("listening for clients", START_TIMEOUT_MS);
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p;
}

function login(port: number, username: string): Promise<TestClient> {
  return connectClient({ port, username, password: `${username}-secret` });
}

Deno.test({
  name: "offline messages stored before a SIGKILL are delivered after restart, in order, stamped",
  sanitizeResources: true,
  sanitizeOps: true,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "parley-durability-" });
    const config = `${dataDir}/parley.toml`;
    // A quota of 3 lets alice prove her 3 messages are stored (see sendAndProveStored).
    await Deno.writeTextFile(
      config,
      `[c2s]\nauth_timeout_seconds = 10\n[msgoffline]\nstrategy = "store_and_bounce"\nmax_messages = 3\n`,
    );
    const p = ports();
    const env = serverEnv(dataDir, config, p);
    let server: Proc | undefined;
    const logs: Proc[] = [];
    try {
      await addUsers(dataDir, env, ["alice", "bob"]);

      server = await startServer(env);
      logs.push(server);
      // Each client runs in its own process: see `client` below.
      assert.match(await client("--send", p.c2s), /stored 3, bounced d4/);

      const killed = await server.stop("SIGKILL");
      assert.equal(killed.signal, "SIGKILL");
      server = undefined;

      server = await startServer(env);
      logs.push(server);
      const got = JSON.parse(await receiveWithOneRetry(p.c2s)) as Received[];
      assert.deepEqual(got.map((m) => m.body), ["durable 1", "durable 2", "durable 3"]);
      let last = 0;
      for (const m of got) {
        assert.ok(m.delayStamp, "delay stamp");
        assert.equal(m.delayFrom, "localhost");
        const stamp = Date.parse(m.delayStamp);
        assert.ok(stamp >= last, "stamps in storage order");
        last = stamp;
        assert.match(m.from, /^alice@localhost\//);
      }
      const s = await server.stop("SIGTERM");
      server = undefined;
      assert.equal(s.code, 0, "clean shutdown after the restart");
    } catch (e) {
      // The servers' logs are the first thing to read when this fails.
      const out = logs.map((l, i) => `--- server run ${i + 1} ---\n${l.output()}`).join("\n");
      throw new Error(`${(e as Error).message}\n${out}`, { cause: e });
    } finally {
      await server?.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * Runs `deno run -A tests/durability_test.ts MODE PORT` (Deno.test is a no-op under `deno run`)
 * and returns its stdout. The XMPP clients run in child processes because Deno's node:tls client
 * keeps one TLS session cache per process and offers cached sessions to other servers; a
 * server that cannot resume them (here: the restarted one) stalls the handshake until it times
 * out (denoland/deno#36228, fixed upstream by #36592). A fresh process has an empty cache.
 */
async function client(mode: "--send" | "--receive", port: number): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tests/durability_test.ts", mode, String(port)],
    cwd: ROOT,
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${mode} failed:\n${stdout}${new TextDecoder().decode(out.stderr)}`);
  return stdout;
}

/**
 * Under load, a client's TLS handshake with the just-restarted server has been seen to stall until
 * the server's negotiation timeout (2 of ~10 runs, never reproduced by hand or with debug logs);
 * what this test proves is durability, so a stalled handshake gets one more try, logged.
 */
async function receiveWithOneRetry(port: number): Promise<string> {
  try {
    return await client("--receive", port);
  } catch (e) {
    if (!/secure TLS connection/.test(String(e))) throw e;
    console.warn("durability_test: TLS handshake stalled; retrying the login once");
    return await client("--receive", port);
  }
}

interface Received {
  id: string;
  body: string | null;
  from: string;
  delayFrom: string | undefined;
  delayStamp: string | undefined;
}

/**
 * Alice sends 4 messages to offline bob with a quota of 3: the 4th's resource-constraint bounce is
 * sent only once the write holding the 3rd has committed (a user's stores are written one batch
 * at a time), so it proves the 3 rows are in the database.
 */
async function sendAndProveStored(port: number): Promise<void> {
  const alice = await login(port, "alice");
  try {
    for (let i = 1; i <= 4; i++) {
      await alice.send(
        xml(
          "message",
          { to: "bob@localhost", type: "chat", id: `d${i}` },
          xml("body", {}, `durable ${i}`),
        ),
      );
    }
    const bounce = await alice.waitFor(
      (s) => s.is("message") && s.attrs.type === "error",
      10_000,
      "the over-quota bounce",
    );
    assert.equal(bounce.attrs.id, "d4", "the first three were accepted");
    assert.ok(
      bounce.getChild("error")?.getChild(
        "resource-constraint",
        "urn:ietf:params:xml:ns:xmpp-stanzas",
      ),
    );
    console.log("stored 3, bounced d4");
  } finally {
    await alice.stop();
  }
}

/** Bob logs in and prints, as JSON, the messages d1..d3 in the order received; nothing else. */
async function receiveStored(port: number): Promise<void> {
  const bob = await login(port, "bob");
  try {
    const got: Stanza[] = [];
    for (let i = 1; i <= 3; i++) {
      got.push(
        await bob.waitFor((s) => s.is("message") && s.attrs.id === `d${i}`, 10_000, `d${i}`),
      );
    }
    assert.deepEqual(bob.inbox.filter((s) => s.is("message")), [], "nothing else");
    const out: Received[] = got.map((m) => {
      const delay = m.getChild("delay", "urn:xmpp:delay");
      return {
        id: m.attrs.id,
        body: m.getChildText("body"),
        from: m.attrs.from,
        delayFrom: delay?.attrs.from,
        delayStamp: delay?.attrs.stamp,
      };
    });
    console.log(JSON.stringify(out));
  } finally {
    await bob.stop();
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[1]);
  if (Deno.args[0] === "--send") await sendAndProveStored(port);
  else if (Deno.args[0] === "--receive") await receiveStored(port);
  Deno.exit(0);
}
