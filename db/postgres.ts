import net from "node:net";
import { finished } from "node:stream/promises";
import postgres from "postgres";
import {
  ClosedError,
  copyStatement,
  type ListenHandlers,
  listenStatement,
  quoteIdent,
  type Sql,
  type Subscription,
} from "./sql.ts";

export interface PostgresOptions {
  /** e.g. postgres://user@host:5432/db */
  url: string;
  /** created when missing and put first on every connection's search_path */
  schema?: string;
  /** connection pool size; default 10 */
  max?: number;
}

// deno-lint-ignore no-explicit-any
type Driver = postgres.Sql<any>;
// deno-lint-ignore no-explicit-any
type TxDriver = postgres.TransactionSql<any>;

/**
 * `onnotify` is the driver's (undocumented, untyped) hook for NotificationResponse messages;
 * `socket` (documented, untyped) makes the connection the driver then speaks on.
 */
type ListenerOptions = Partial<postgres.Options<never>> & {
  onnotify?: (channel: string, payload: string) => void;
  socket?: typeof connectNoDelay;
};

/**
 * Connects the driver's sockets with Nagle's algorithm off, as libpq does. postgres.js leaves it
 * on, so a message written while an earlier one is unacknowledged waits for the peer's delayed ACK
 * (40 ms on Linux): a COPY's end message after its data always did, which made a 1,000-entry
 * archive COPY take ~46 ms instead of ~4 (bench/archive_write.ts). Connecting here is what the
 * driver does itself for one host (it reports the error), with the first host of a list.
 */
function connectNoDelay(o: { host: string[]; port: number[]; path?: string }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = o.path ? net.connect(o.path) : net.connect(o.port[0]!, o.host[0]!);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function makeDriver(
  url: string,
  max: number,
  schema?: string,
  extra: ListenerOptions = {},
  settings: Record<string, string> = {},
): Driver {
  const options: ListenerOptions = {
    max,
    // CREATE ... IF NOT EXISTS notices are expected and would otherwise be printed.
    onnotice: () => {},
    // An unset optional field must reach the database as NULL, not make the driver throw.
    transform: { undefined: null },
    // Connections are recycled by the pool's own idle timer rather than a lifetime timer, so
    // nothing keeps the process alive after end().
    idle_timeout: 30,
    max_lifetime: null,
    connection: { ...settings, ...(schema ? { search_path: `${quoteIdent(schema)},public` } : {}) },
    socket: connectNoDelay,
    ...extra,
  };
  return postgres(url, options);
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/**
 * LISTEN on a connection of its own, outside the pool (a pooled connection is shared by queries
 * and may be recycled). The driver's own `listen()` is not used: it re-listens after a drop without
 * saying the channel was lost meanwhile, and gives up for good if the first retry fails.
 */
class PgListener implements Subscription {
  readonly #driver: Driver;
  #closed = false;
  #listening = false;
  #retryMs = RETRY_MIN_MS;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    url: string,
    schema: string | undefined,
    private readonly channel: string,
    private readonly handlers: ListenHandlers,
    private readonly onClosed: () => void,
  ) {
    this.#driver = makeDriver(url, 1, undefined, {
      idle_timeout: 0, // never: an idle LISTEN connection is the point
      fetch_types: false,
      // Named so an administrator (or a test) can tell which server and schema it serves.
      connection: { application_name: `parley listen ${channel} ${schema ?? ""}`.trim() },
      onnotify: (ch: string, payload: string) => {
        if (ch === this.channel && this.#listening) this.handlers.onNotify(payload);
      },
      onclose: () => this.#lost(),
    });
    void this.#listen();
  }

  async #listen(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    try {
      // A query on a closed connection makes the driver reconnect first.
      await this.#driver.unsafe(listenStatement(this.channel));
    } catch {
      this.#lost();
      return;
    }
    if (this.#closed || this.#listening) return;
    this.#retryMs = RETRY_MIN_MS;
    this.#listening = true;
    this.handlers.onState(true);
  }

  #lost(): void {
    if (this.#listening) {
      this.#listening = false;
      this.handlers.onState(false);
    }
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => void this.#listen(), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#listening) {
        this.#listening = false;
        this.handlers.onState(false);
      }
      this.onClosed();
      // Not `timeout: 0`: closing while the LISTEN is still connecting destroyed a connection that
      // had no socket yet, and the socket then connected and stayed open (a process that opened and
      // closed a database at once did not exit). An idle connection ends at once either way; one
      // with the LISTEN in flight ends when the LISTEN has.
      await this.#driver.end({ timeout: 5 });
    })();
    return this.#closing;
  }
}

/**
 * Statements are prepared once per connection and reused (postgres.js's `unsafe()` does not
 * prepare unless asked). Every statement text Parley sends comes from a fixed set (the MAM query
 * builder combines a few filters), so each connection's cache stays small.
 */
const PREPARED = { prepare: true } as postgres.UnsafeQueryOptions;

/**
 * COPY ... FROM STDIN through the driver's writable stream, settled by the server's answer. The
 * driver never settles a COPY the server refused once its data was sent (postgres.js issue #1173,
 * open in 3.4.9): the stream waits for a CommandComplete that does not come. The refusal does reach
 * the query's `reject` (a plain property the driver calls), so that is where it is caught.
 */
async function copyIn(
  driver: Driver | TxDriver,
  table: string,
  columns: readonly string[],
  data: Uint8Array,
): Promise<void> {
  const query = driver.unsafe(copyStatement(table, columns, "STDIN")) as unknown as {
    reject: (err: unknown) => void;
    writable(): Promise<NodeJS.WritableStream & import("node:stream").Writable>;
  };
  const refused = new Promise<never>((_, reject) => {
    const driverReject = query.reject;
    query.reject = (err) => {
      reject(err);
      driverReject(err);
    };
  });
  refused.catch(() => {}); // a refusal before the stream is there rejects writable() as well
  const stream = await query.writable();
  stream.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  await Promise.race([finished(stream), refused]);
}

class PgTx implements Sql {
  constructor(private readonly tx: TxDriver) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    // deno-lint-ignore no-explicit-any
    const rows = await this.tx.unsafe(text, params as any[], PREPARED);
    return Array.from(rows) as T[];
  }

  copyIn(table: string, columns: readonly string[], data: Uint8Array<ArrayBuffer>): Promise<void> {
    return copyIn(this.tx, table, columns, data);
  }

  async exec(text: string): Promise<void> {
    await this.tx.unsafe(text, [], { simple: true } as postgres.UnsafeQueryOptions);
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return fn(this);
  }

  listen(): Subscription {
    throw new Error("listen() called inside a transaction");
  }

  close(): Promise<void> {
    return Promise.reject(new Error("close() called inside a transaction"));
  }
}

class PgSql implements Sql {
  #closed = false;
  readonly #listeners = new Set<PgListener>();
  constructor(
    private readonly driver: Driver,
    private readonly url: string,
    private readonly schema?: string,
  ) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) throw new ClosedError("postgres");
    // deno-lint-ignore no-explicit-any
    const rows = await this.driver.unsafe(text, params as any[], PREPARED);
    return Array.from(rows) as T[];
  }

  copyIn(table: string, columns: readonly string[], data: Uint8Array<ArrayBuffer>): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("postgres"));
    return copyIn(this.driver, table, columns, data);
  }

  async exec(text: string): Promise<void> {
    if (this.#closed) throw new ClosedError("postgres");
    // The simple protocol is the one that accepts several statements in one string.
    await this.driver.unsafe(text, [], { simple: true } as postgres.UnsafeQueryOptions);
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ClosedError("postgres");
    const result = await this.driver.begin((tx) => fn(new PgTx(tx)));
    return result as T;
  }

  listen(channel: string, handlers: ListenHandlers): Subscription {
    if (this.#closed) throw new ClosedError("postgres");
    listenStatement(channel); // a bad name fails here, not in the background
    const listener: PgListener = new PgListener(
      this.url,
      this.schema,
      channel,
      handlers,
      () => this.#listeners.delete(listener),
    );
    this.#listeners.add(listener);
    return listener;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#listeners].map((l) => l.close()));
    await this.driver.end({ timeout: 5 });
  }
}

/**
 * Session settings for the pool. Values too big for a row are compressed (TOAST): an archive
 * segment's peer, id and stamp columns, offline messages, vCards. With the default pglz that was
 * ~4% of PostgreSQL's CPU under message load; lz4 compresses as well for a fraction of the CPU
 * (~11% less PostgreSQL CPU per archive entry where the XML was compressed too). lz4 is a build
 * option of PostgreSQL, so it is asked for only where the server has it, and as a session setting
 * rather than a column's, so the schema stays the same on every server and on PGlite.
 */
async function sessionSettings(url: string): Promise<Record<string, string>> {
  const probe = makeDriver(url, 1);
  try {
    const [row] = await probe.unsafe(
      `SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings
       WHERE name = 'default_toast_compression'`,
    );
    return row?.lz4 ? { default_toast_compression: "lz4" } : {};
  } finally {
    await probe.end({ timeout: 5 });
  }
}

/** Opens a pooled PostgreSQL connection; with `schema`, the schema is created if missing. */
export async function openPostgres(opts: PostgresOptions): Promise<Sql> {
  const settings = await sessionSettings(opts.url);
  const driver = makeDriver(opts.url, opts.max ?? 10, opts.schema, {}, settings);
  const sql = new PgSql(driver, opts.url, opts.schema);
  try {
    if (opts.schema) await sql.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
    else await sql.query("SELECT 1");
  } catch (err) {
    await sql.close();
    throw err;
  }
  return sql;
}

/** Drops a schema and everything in it (test teardown). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const driver = makeDriver(url, 1);
  try {
    await driver.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  } finally {
    await driver.end({ timeout: 5 });
  }
}
