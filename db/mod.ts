/**
 * Storage: one SQL implementation of every store, run on PostgreSQL (`url`) or embedded PGlite
 * (`dataDir`, or in memory). Migrations are applied on open.
 */
import { SqlAccountStore } from "./accounts.ts";
import { logger } from "../log/mod.ts";
import { SqlArchiveStore } from "./archive.ts";
import { migrate, SERVICE_TABLES, USER_TABLES } from "./migrations.ts";
import { SqlMucStore } from "./muc.ts";
import { SqlPrivateStore, SqlVCardStore } from "./misc.ts";
import { SqlOfflineStore } from "./offline.ts";
import { openPglite } from "./pglite.ts";
import { openPostgres } from "./postgres.ts";
import { SqlRosterStore } from "./roster.ts";
import type { Sql } from "./sql.ts";
import type { Database } from "./types.ts";

export type * from "./types.ts";
export { ItemNotFoundError } from "./archive.ts";
export { ClosedError, type Sql } from "./sql.ts";
export { type Migration, MIGRATIONS } from "./migrations.ts";
export { dropSchema } from "./postgres.ts";

/** Where and how to open the database. */
export interface OpenDatabaseOptions {
  /** PostgreSQL connection URL; when set, PostgreSQL is used. */
  url?: string;
  /** PostgreSQL schema (created if missing); tests use a fresh one per run. */
  schema?: string;
  /** PGlite keeps its files in `${dataDir}/pglite`. */
  dataDir?: string;
  /** PGlite's shared_buffers ("32MB" when unset). */
  sharedBuffers?: string;
  /** PGlite in memory, nothing persisted (tests). Also the case when neither url nor dataDir. */
  memory?: boolean;
  /** Told about each migration applied, e.g. "applying migration 001 accounts". */
  onProgress?: (msg: string) => void;
  /** PostgreSQL pool size; default 10. */
  poolSize?: number;
  /** Most archive entries per group-commit INSERT; default 500. */
  archiveBatchSize?: number;
}

/** Opens PostgreSQL or PGlite, applies pending migrations and returns the stores. */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  let kind: Database["kind"];
  let sql: Sql;
  if (opts.url) {
    kind = "postgres";
    sql = await openPostgres({ url: opts.url, schema: opts.schema, max: opts.poolSize });
  } else {
    kind = "pglite";
    let dir: string | undefined;
    if (!opts.memory && opts.dataDir !== undefined) {
      dir = `${opts.dataDir.replace(/\/+$/, "")}/pglite`;
      await Deno.mkdir(dir, { recursive: true });
    }
    sql = await openPglite(dir, { sharedBuffers: opts.sharedBuffers });
  }
  try {
    await migrate(sql, opts.onProgress);
  } catch (err) {
    await sql.close();
    throw err;
  }
  return new SqlDatabase(kind, sql, opts.archiveBatchSize);
}

const log = logger("db");

class SqlDatabase implements Database {
  readonly accounts: SqlAccountStore;
  readonly roster: SqlRosterStore;
  readonly offline: SqlOfflineStore;
  readonly archive: SqlArchiveStore;
  readonly vcard: SqlVCardStore;
  readonly private: SqlPrivateStore;
  readonly muc: SqlMucStore;
  #closing: Promise<void> | undefined;

  constructor(readonly kind: Database["kind"], readonly sql: Sql, batchSize?: number) {
    this.archive = new SqlArchiveStore(sql, {
      batchSize,
      onError: (err, entries) =>
        log.error("archiving {count} entries failed (first {id} of {owner}): {error}", {
          count: entries.length,
          id: entries[0]?.id,
          owner: entries[0]?.owner,
          error: String(err),
        }),
    });
    // Entries still queued for a user must be written before the user's archive is cleared.
    this.accounts = new SqlAccountStore(sql, () => this.archive.flush());
    this.roster = new SqlRosterStore(sql);
    this.offline = new SqlOfflineStore(sql);
    this.vcard = new SqlVCardStore(sql);
    this.private = new SqlPrivateStore(sql);
    this.muc = new SqlMucStore(sql);
  }

  async wipe(): Promise<void> {
    const tables = ["accounts", ...USER_TABLES.map((t) => t.table), ...SERVICE_TABLES];
    await this.sql.exec(`TRUNCATE ${tables.join(", ")}`);
    // The TRUNCATE's notice reaches PostgreSQL listeners later; the next login may come sooner.
    this.accounts.forgetCached();
    this.roster.forgetCached();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.archive.close();
      } finally {
        await this.sql.close();
      }
    })();
    return this.#closing;
  }
}

/**
 * The database's own SQL handle, for tests that write around the stores (as psql or another node
 * would). Refuses anything but a database opened by openDatabase.
 */
export function sqlOf(db: Database): Sql {
  return opened(db).sql;
}

function opened(db: Database): SqlDatabase {
  if (!(db instanceof SqlDatabase)) throw new TypeError("not an SQL database");
  return db;
}

/**
 * Empties every table of user data (tests share one embedded database across a file, because
 * opening PGlite takes seconds). Refuses anything but a database opened by openDatabase.
 */
export async function wipeDatabase(db: Database): Promise<void> {
  const sqlDb = opened(db);
  await sqlDb.archive.flush();
  await sqlDb.wipe();
}
