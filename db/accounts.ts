import type { AccountCredentials, AccountRecord, AccountStore } from "./types.ts";
import { ACCOUNTS_CHANNEL, USER_TABLES } from "./migrations.ts";
import type { Sql } from "./sql.ts";
import { NotifiedCache, type NotifiedCacheOptions } from "./notified_cache.ts";

interface AccountRow {
  jid: string;
  credentials: AccountCredentials;
  created_at: Date;
}

/**
 * Accounts over SQL. `beforeDelete` lets queued writes for the user land before they are cleared.
 * Credentials for logins are cached in memory while the accounts channel (migration 9) is heard;
 * this store's own writes also drop the entry at once, without waiting for their notice.
 */
export class SqlAccountStore implements AccountStore {
  readonly #cache: NotifiedCache<AccountCredentials>;

  constructor(
    private readonly sql: Sql,
    private readonly beforeDelete: () => Promise<void> = async () => {},
    cache: NotifiedCacheOptions = {},
  ) {
    this.#cache = NotifiedCache.listening(sql, ACCOUNTS_CHANNEL, cache);
  }

  /** The cache, for tests and metrics. */
  get cache(): NotifiedCache<AccountCredentials> {
    return this.#cache;
  }

  async create(jid: string, credentials: AccountCredentials): Promise<boolean> {
    this.#cache.invalidate(jid);
    const ticket = this.#cache.ticket();
    let created = false;
    try {
      const rows = await this.sql.query(
        `INSERT INTO accounts (jid, credentials) VALUES ($1, $2::text::jsonb)
         ON CONFLICT (jid) DO NOTHING RETURNING jid`,
        [jid, JSON.stringify(credentials)],
      );
      created = rows.length > 0;
      return created;
    } finally {
      // A new account usually logs in next (in-band registration): it starts out cached.
      this.#cache.fill(jid, created ? credentials : null, ticket);
    }
  }

  async get(jid: string): Promise<AccountRecord | null> {
    const [row] = await this.sql.query<AccountRow>(
      "SELECT jid, credentials, created_at FROM accounts WHERE jid = $1",
      [jid],
    );
    if (!row) return null;
    return {
      jid: row.jid,
      credentials: row.credentials,
      createdAt: row.created_at,
    };
  }

  async credentials(jid: string): Promise<AccountCredentials | null> {
    const hit = this.#cache.get(jid);
    if (hit) return hit;
    const ticket = this.#cache.ticket();
    let found: AccountCredentials | null = null;
    try {
      const [row] = await this.sql.query<{ credentials: AccountCredentials }>(
        "SELECT credentials FROM accounts WHERE jid = $1",
        [jid],
      );
      found = row?.credentials ?? null;
      return found;
    } finally {
      // A miss is not kept: registration would have to announce inserts to keep it true.
      this.#cache.fill(jid, found, ticket);
    }
  }

  async exists(jid: string): Promise<boolean> {
    if (this.#cache.get(jid)) return true;
    return (await this.sql.query("SELECT 1 FROM accounts WHERE jid = $1", [jid])).length > 0;
  }

  async setCredentials(jid: string, credentials: AccountCredentials): Promise<boolean> {
    this.#cache.invalidate(jid);
    try {
      const rows = await this.sql.query(
        "UPDATE accounts SET credentials = $2::text::jsonb WHERE jid = $1 RETURNING jid",
        [jid, JSON.stringify(credentials)],
      );
      return rows.length > 0;
    } finally {
      // A login between the two may have read and kept the old credentials.
      this.#cache.invalidate(jid);
    }
  }

  async delete(jid: string): Promise<boolean> {
    await this.beforeDelete();
    this.#cache.invalidate(jid);
    try {
      return await this.sql.transaction(async (tx) => {
        for (const { table, column } of USER_TABLES) {
          await tx.query(`DELETE FROM ${table} WHERE ${column} = $1`, [jid]);
        }
        const rows = await tx.query("DELETE FROM accounts WHERE jid = $1 RETURNING jid", [jid]);
        return rows.length > 0;
      });
    } finally {
      this.#cache.invalidate(jid);
    }
  }

  /** Forgets every cached credential (after the table was emptied, e.g. by TRUNCATE). */
  forgetCached(): void {
    this.#cache.clear();
  }

  async list(): Promise<string[]> {
    const rows = await this.sql.query<{ jid: string }>("SELECT jid FROM accounts ORDER BY jid");
    return rows.map((r) => r.jid);
  }
}
