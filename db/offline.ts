import type { OfflineMessage, OfflineStore, OfflineUsage } from "./types.ts";
import type { Sql } from "./sql.ts";

interface OfflineRow {
  id: string | number;
  owner: string;
  from_jid: string;
  stamp: Date;
  xml: string;
  bytes: number;
}

function toMessage(row: OfflineRow): OfflineMessage {
  return {
    id: Number(row.id),
    owner: row.owner,
    from: row.from_jid,
    stamp: row.stamp,
    xml: row.xml,
    bytes: Number(row.bytes),
  };
}

/** A JID's bare part: a resource may itself contain "/", the local part and domain never do. */
export function bareOf(jid: string): string {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** Offline messages (XEP-0160) over SQL, one row per message. */
export class SqlOfflineStore implements OfflineStore {
  constructor(private readonly sql: Sql) {}

  async store(
    owner: string,
    from: string,
    xml: string,
    stamp = new Date(),
  ): Promise<OfflineMessage> {
    const [row] = await this.sql.query<OfflineRow>(
      `INSERT INTO offline (owner, from_jid, from_bare, stamp, xml, bytes)
       VALUES ($1, $2, $3, $4::timestamptz, $5, octet_length($5::text))
       RETURNING id, owner, from_jid, stamp, xml, bytes`,
      [owner, from, bareOf(from), stamp.toISOString(), xml],
    );
    return toMessage(row!);
  }

  async storeMany(
    owner: string,
    messages: { from: string; xml: string; stamp?: Date }[],
  ): Promise<void> {
    if (messages.length === 0) return;
    const now = new Date().toISOString();
    const rows = messages.map((m) => ({
      from_jid: m.from,
      from_bare: bareOf(m.from),
      stamp: m.stamp?.toISOString() ?? now,
      xml: m.xml,
    }));
    // One statement for a whole backlog; WITH ORDINALITY keeps the ids in arrival order.
    await this.sql.query(
      `INSERT INTO offline (owner, from_jid, from_bare, stamp, xml, bytes)
       SELECT $1, from_jid, from_bare, stamp, xml, octet_length(xml)
       FROM ROWS FROM (jsonb_to_recordset($2::text::jsonb)
         AS (from_jid text, from_bare text, stamp timestamptz, xml text))
         WITH ORDINALITY AS e(from_jid, from_bare, stamp, xml, ord)
       ORDER BY ord`,
      [owner, JSON.stringify(rows)],
    );
  }

  async list(owner: string, limit?: number): Promise<OfflineMessage[]> {
    const rows = await this.sql.query<OfflineRow>(
      `SELECT id, owner, from_jid, stamp, xml, bytes FROM offline
       WHERE owner = $1 ORDER BY id LIMIT $2::integer`,
      [owner, limit ?? null],
    );
    return rows.map(toMessage);
  }

  async usage(owner: string, fromBare?: string): Promise<OfflineUsage> {
    const [row] = await this.sql.query<{ count: number | string; bytes: number | string }>(
      `SELECT count(*) AS count, coalesce(sum(bytes), 0) AS bytes FROM offline
       WHERE owner = $1 AND ($2::text IS NULL OR from_bare = $2::text)`,
      [owner, fromBare ?? null],
    );
    return { count: Number(row!.count), bytes: Number(row!.bytes) };
  }

  async delete(owner: string, ids: number[]): Promise<number> {
    if (ids.length === 0) return 0;
    return countOf(
      await this.sql.query(
        `WITH gone AS (
           DELETE FROM offline WHERE owner = $1
             AND id IN (SELECT jsonb_array_elements_text($2::text::jsonb)::bigint)
           RETURNING 1)
         SELECT count(*) AS n FROM gone`,
        [owner, JSON.stringify(ids)],
      ),
    );
  }

  async deleteAll(owner: string): Promise<number> {
    return countOf(
      await this.sql.query(
        `WITH gone AS (DELETE FROM offline WHERE owner = $1 RETURNING 1)
         SELECT count(*) AS n FROM gone`,
        [owner],
      ),
    );
  }
}

function countOf(rows: unknown[]): number {
  return Number((rows[0] as { n: number | string } | undefined)?.n ?? 0);
}
