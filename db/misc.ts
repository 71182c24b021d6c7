import type { PrivateStore, VCardStore } from "./types.ts";
import type { Sql } from "./sql.ts";

/** vcard-temp (XEP-0054): one document per user. */
export class SqlVCardStore implements VCardStore {
  constructor(private readonly sql: Sql) {}

  async get(owner: string): Promise<string | null> {
    const [row] = await this.sql.query<{ xml: string }>(
      "SELECT xml FROM vcard WHERE owner = $1",
      [owner],
    );
    return row?.xml ?? null;
  }

  async set(owner: string, xml: string): Promise<void> {
    await this.sql.query(
      `INSERT INTO vcard (owner, xml) VALUES ($1, $2)
       ON CONFLICT (owner) DO UPDATE SET xml = EXCLUDED.xml, updated_at = now()`,
      [owner, xml],
    );
  }
}

/** Private XML storage (XEP-0049): one element per user and "<localName> <namespace>" key. */
export class SqlPrivateStore implements PrivateStore {
  constructor(private readonly sql: Sql) {}

  async get(owner: string, key: string): Promise<string | null> {
    const [row] = await this.sql.query<{ xml: string }>(
      "SELECT xml FROM private_storage WHERE owner = $1 AND key = $2",
      [owner, key],
    );
    return row?.xml ?? null;
  }

  async set(owner: string, key: string, xml: string): Promise<void> {
    await this.sql.query(
      `INSERT INTO private_storage (owner, key, xml) VALUES ($1, $2, $3)
       ON CONFLICT (owner, key) DO UPDATE SET xml = EXCLUDED.xml`,
      [owner, key, xml],
    );
  }
}
