/**
 * A Parley server for one test: its own ports (< 32768), its own data directory, and storage on
 * PostgreSQL in a fresh schema when DATABASE_URL is set (CI), else embedded PGlite in memory.
 */
import { type Server, type StartOptions, startServer } from "../../server/start.ts";
import { openDatabase } from "../../db/mod.ts";
import { dropSchema, wipeDatabase } from "../../db/mod.ts";
import type { Database } from "../../db/types.ts";
import { setupLogging } from "../../log/mod.ts";
import { createAccount } from "../../server/accounts.ts";
import { freePort } from "./ports.ts";
import { freshSchema } from "./schema.ts";
import { DEFAULT_COMPONENTS } from "../../config/schema.ts";

export interface TestServer {
  server: Server;
  port: number;
  tlsPort: number;
  /** the http plugin's plain port (0 when http is off) */
  readonly httpPort: number;
  /** the http plugin's TLS port (null when off) */
  readonly httpsPort: number | null;
  domain: string;
  dataDir: string;
  db: Database;
  addUser(name: string, password: string): Promise<void>;
  /** Stops the server only (the database stays open, for restart tests). */
  stopServer(): Promise<void>;
  /** Starts it again on the same ports and storage. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

let logging = false;

export async function testDatabase(): Promise<{ db: Database; drop: () => Promise<void> }> {
  const url = Deno.env.get("DATABASE_URL");
  if (url) {
    const schema = freshSchema();
    const db = await openDatabase({ url, schema, poolSize: 4 });
    return {
      db,
      drop: async () => {
        await db.close();
        await dropSchema(url, schema);
      },
    };
  }
  // Opening embedded PGlite takes seconds, so a test file shares one and empties it per test.
  sharedPglite ??= openDatabase({ memory: true });
  const db = await sharedPglite;
  return { db, drop: () => wipeDatabase(db) };
}

let sharedPglite: Promise<Database> | undefined;

export async function startTestServer(
  config: Record<string, unknown> = {},
  opts: StartOptions = {},
): Promise<TestServer> {
  if (!logging) {
    await setupLogging({
      level: (Deno.env.get("PARLEY_TEST_LOG") as "debug" | undefined) ?? "error",
      format: "text",
    });
    logging = true;
  }
  const dataDir = await Deno.makeTempDir({ prefix: "parley-test-" });
  const { db, drop } = await testDatabase();
  const port = freePort();
  let tlsPort = freePort();
  while (tlsPort === port) tlsPort = freePort();
  const c2s = (config.c2s ?? {}) as Record<string, unknown>;
  const full: Record<string, unknown> = {
    domain: "localhost",
    data_dir: dataDir,
    ...config,
    c2s: { host: "127.0.0.1", port, tls_port: tlsPort, ...c2s },
  };
  // The http plugin gets its own free port and no TLS port unless the test says otherwise.
  if (((config.components ?? DEFAULT_COMPONENTS) as readonly string[]).includes("http")) {
    let httpPort = freePort();
    while (httpPort === port || httpPort === tlsPort) httpPort = freePort();
    full.http = { host: "127.0.0.1", port: httpPort, tls_port: -1, ...(config.http ?? {}) };
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(full, { ...opts, db });
  } catch (e) {
    // A test that expects the start to fail still leaves no schema or directory behind.
    await drop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw e;
  }
  let running = true;
  const t: TestServer = {
    get server() {
      return server;
    },
    port,
    tlsPort,
    get httpPort() {
      return server.core.hasService("http.ports")
        ? server.core.service<{ http: number }>("http.ports").http
        : 0;
    },
    get httpsPort() {
      return server.core.hasService("http.ports")
        ? server.core.service<{ https: number | null }>("http.ports").https
        : null;
    },
    domain: "localhost",
    dataDir,
    db,
    async addUser(name, password) {
      const r = await createAccount(db, "localhost", name, password);
      if (!r.ok) throw new Error(`addUser ${name}: ${r.reason}`);
    },
    async stopServer() {
      if (running) await server.stop();
      running = false;
    },
    async restart() {
      if (running) await server.stop();
      server = await startServer(full, { ...opts, db });
      running = true;
    },
    async [Symbol.asyncDispose]() {
      if (running) await server.stop();
      running = false;
      await drop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
  return t;
}
