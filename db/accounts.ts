import type { AccountCredentials, AccountRecord, AccountStore } from "./types.ts";
import { USER_TABLES } from "./migrations.ts";
import type { Sql } from "./sql.ts";

interface AccountRow {
  jid: string;
  credentials: AccountCredentials;
  created_at: Date;
}

/** Accounts over SQL. `beforeDelete` lets queued writes for the user land before they are cleared. */
export class SqlAccountStore implements AccountStore {
  constructor(
    private readonly sql: Sql,
    private readonly beforeDelete: () => Promise<void> = async () => {},
  ) {}

  async create(jid: string, credentials: AccountCredentials): Promise<boolean> {
    const rows = await this.sql.query(
      `INSERT INTO accounts (jid, credentials) VALUES ($1, $2::text::jsonb)
       ON CONFLICT (jid) DO NOTHING RETURNING jid`,
      [jid, JSON.stringify(credentials)],
    );
    return rows.length > 0;
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

  async exists(jid: string): Promise<boolean> {
    return (await this.sql.query("SELECT 1 FROM accounts WHERE jid = $1", [jid])).length > 0;
  }

  async setCredentials(jid: string, credentials: AccountCredentials): Promise<boolean> {
    const rows = await this.sql.query(
      "UPDATE accounts SET credentials = $2::text::jsonb WHERE jid = $1 RETURNING jid",
      [jid, JSON.stringify(credentials)],
    );
    return rows.length > 0;
  }

  async delete(jid: string): Promise<boolean> {
    await this.beforeDelete();
    return await this.sql.transaction(async (tx) => {
      for (const { table, column } of USER_TABLES) {
        await tx.query(`DELETE FROM ${table} WHERE ${column} = $1`, [jid]);
      }
      const rows = await tx.query("DELETE FROM accounts WHERE jid = $1 RETURNING jid", [jid]);
      return rows.length > 0;
    });
  }

  async list(): Promise<string[]> {
    const rows = await this.sql.query<{ jid: string }>("SELECT jid FROM accounts ORDER BY jid");
    return rows.map((r) => r.jid);
  }
}
