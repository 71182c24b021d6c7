import postgres from "postgres";
import { ClosedError, quoteIdent, type Sql } from "./sql.ts";

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

function makeDriver(url: string, max: number, schema?: string): Driver {
  return postgres(url, {
    max,
    // CREATE ... IF NOT EXISTS notices are expected and would otherwise be printed.
    onnotice: () => {},
    // An unset optional field must reach the database as NULL, not make the driver throw.
    transform: { undefined: null },
    // Connections are recycled by the pool's own idle timer rather than a lifetime timer, so
    // nothing keeps the process alive after end().
    idle_timeout: 30,
    max_lifetime: null,
    connection: schema ? { search_path: `${quoteIdent(schema)},public` } : {},
  });
}

class PgTx implements Sql {
  constructor(private readonly tx: TxDriver) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    // deno-lint-ignore no-explicit-any
    const rows = await this.tx.unsafe(text, params as any[]);
    return Array.from(rows) as T[];
  }

  async exec(text: string): Promise<void> {
    await this.tx.unsafe(text, [], { simple: true } as postgres.UnsafeQueryOptions);
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return fn(this);
  }

  close(): Promise<void> {
    return Promise.reject(new Error("close() called inside a transaction"));
  }
}

class PgSql implements Sql {
  #closed = false;
  constructor(private readonly driver: Driver) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) throw new ClosedError("postgres");
    // deno-lint-ignore no-explicit-any
    const rows = await this.driver.unsafe(text, params as any[]);
    return Array.from(rows) as T[];
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.driver.end({ timeout: 5 });
  }
}

/** Opens a pooled PostgreSQL connection; with `schema`, the schema is created if missing. */
export async function openPostgres(opts: PostgresOptions): Promise<Sql> {
  const driver = makeDriver(opts.url, opts.max ?? 10, opts.schema);
  const sql = new PgSql(driver);
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
