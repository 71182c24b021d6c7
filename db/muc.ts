import type { MucAffiliation, MucRoomRecord, MucStore } from "./types.ts";
import type { Sql } from "./sql.ts";

interface RoomRow {
  jid: string;
  config: Record<string, unknown>;
  subject: string;
  subject_by: string;
}

/**
 * Persistent MUC rooms (XEP-0045): a room's configuration and subject in `muc_rooms`, its
 * affiliations in `muc_affiliations`. The configuration is opaque JSON here; the muc plugin owns
 * its shape. A save replaces the room's affiliations as a whole, in one transaction.
 */
export class SqlMucStore implements MucStore {
  constructor(private readonly sql: Sql) {}

  async get(jid: string): Promise<MucRoomRecord | null> {
    const [row] = await this.sql.query<RoomRow>(
      "SELECT jid, config, subject, subject_by FROM muc_rooms WHERE jid = $1",
      [jid],
    );
    if (!row) return null;
    return { ...toRecord(row), affiliations: await this.#affiliations(this.sql, jid) };
  }

  async list(host: string): Promise<MucRoomRecord[]> {
    const rows = await this.sql.query<RoomRow>(
      "SELECT jid, config, subject, subject_by FROM muc_rooms WHERE host = $1 ORDER BY jid",
      [host],
    );
    const out: MucRoomRecord[] = [];
    for (const row of rows) {
      out.push({ ...toRecord(row), affiliations: await this.#affiliations(this.sql, row.jid) });
    }
    return out;
  }

  async save(room: MucRoomRecord): Promise<void> {
    const host = room.jid.slice(room.jid.indexOf("@") + 1);
    await this.sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO muc_rooms (jid, host, config, subject, subject_by)
         VALUES ($1, $2, $3::text::jsonb, $4, $5)
         ON CONFLICT (jid) DO UPDATE SET config = EXCLUDED.config, subject = EXCLUDED.subject,
           subject_by = EXCLUDED.subject_by, updated_at = now()`,
        [room.jid, host, JSON.stringify(room.config), room.subject, room.subjectBy],
      );
      await tx.query("DELETE FROM muc_affiliations WHERE room = $1", [room.jid]);
      const rows = Object.entries(room.affiliations).map(([jid, affiliation]) => ({
        jid,
        affiliation,
      }));
      if (rows.length > 0) {
        await tx.query(
          `INSERT INTO muc_affiliations (room, jid, affiliation)
           SELECT $1, jid, affiliation
           FROM jsonb_to_recordset($2::text::jsonb) AS a(jid text, affiliation text)`,
          [room.jid, JSON.stringify(rows)],
        );
      }
    });
  }

  async delete(jid: string): Promise<boolean> {
    return await this.sql.transaction(async (tx) => {
      await tx.query("DELETE FROM muc_affiliations WHERE room = $1", [jid]);
      const rows = await tx.query("DELETE FROM muc_rooms WHERE jid = $1 RETURNING jid", [jid]);
      return rows.length > 0;
    });
  }

  async #affiliations(sql: Sql, room: string): Promise<Record<string, MucAffiliation>> {
    const rows = await sql.query<{ jid: string; affiliation: MucAffiliation }>(
      "SELECT jid, affiliation FROM muc_affiliations WHERE room = $1 ORDER BY jid",
      [room],
    );
    return Object.fromEntries(rows.map((r) => [r.jid, r.affiliation]));
  }
}

function toRecord(row: RoomRow): Omit<MucRoomRecord, "affiliations"> {
  return { jid: row.jid, config: row.config, subject: row.subject, subjectBy: row.subject_by };
}
