import type { RosterItem, RosterStore, Subscription } from "./types.ts";
import type { Sql } from "./sql.ts";

interface RosterRow {
  contact: string;
  name: string | null;
  subscription: Subscription;
  ask_out: boolean;
  pending_in: boolean;
  pending_in_stanza: string | null;
  groups: string[];
}

const COLUMNS = "contact, name, subscription, ask_out, pending_in, pending_in_stanza, groups";

const GET_ROSTER = `
  SELECT v.version, ${COLUMNS.split(", ").map((c) => `r.${c}`).join(", ")}
  FROM (SELECT (SELECT version::text FROM roster_versions WHERE owner = $1) AS version) v
  LEFT JOIN roster r ON r.owner = $1
  ORDER BY r.contact`;

function toItem(row: RosterRow): RosterItem {
  const item: RosterItem = {
    jid: row.contact,
    subscription: row.subscription,
    askOut: row.ask_out,
    pendingIn: row.pending_in,
    groups: row.groups,
  };
  if (row.name !== null) item.name = row.name;
  if (row.pending_in_stanza !== null) item.pendingInStanza = row.pending_in_stanza;
  return item;
}

/** Rosters over SQL; the XEP-0237 version is a per-owner counter bumped with every change. */
export class SqlRosterStore implements RosterStore {
  constructor(private readonly sql: Sql) {}

  async get(owner: string): Promise<{ version: string; items: RosterItem[] }> {
    // One statement, so one snapshot: the version always matches the items (and every login's
    // initial presence costs one round trip, not two). The one-row subquery keeps the version
    // when there are no items.
    const rows = await this.sql.query<{ version: string | null } & RosterRow>(GET_ROSTER, [
      owner,
    ]);
    const version = rows[0]?.version ?? "0";
    return { version, items: rows.filter((r) => r.contact !== null).map(toItem) };
  }

  async getItem(owner: string, contact: string): Promise<RosterItem | null> {
    const [row] = await this.sql.query<RosterRow>(
      `SELECT ${COLUMNS} FROM roster WHERE owner = $1 AND contact = $2`,
      [owner, contact],
    );
    return row ? toItem(row) : null;
  }

  put(owner: string, item: RosterItem): Promise<string> {
    return this.sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO roster (owner, ${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)
         ON CONFLICT (owner, contact) DO UPDATE SET
           name = EXCLUDED.name, subscription = EXCLUDED.subscription, ask_out = EXCLUDED.ask_out,
           pending_in = EXCLUDED.pending_in, pending_in_stanza = EXCLUDED.pending_in_stanza,
           groups = EXCLUDED.groups`,
        [
          owner,
          item.jid,
          item.name ?? null,
          item.subscription,
          item.askOut,
          item.pendingIn,
          item.pendingInStanza ?? null,
          JSON.stringify(item.groups),
        ],
      );
      return await bump(tx, owner);
    });
  }

  remove(owner: string, contact: string): Promise<string | null> {
    return this.sql.transaction(async (tx) => {
      const gone = await tx.query(
        "DELETE FROM roster WHERE owner = $1 AND contact = $2 RETURNING contact",
        [owner, contact],
      );
      return gone.length > 0 ? await bump(tx, owner) : null;
    });
  }
}

async function bump(tx: Sql, owner: string): Promise<string> {
  const [row] = await tx.query<{ version: string }>(
    `INSERT INTO roster_versions (owner, version) VALUES ($1, 1)
     ON CONFLICT (owner) DO UPDATE SET version = roster_versions.version + 1
     RETURNING version::text AS version`,
    [owner],
  );
  return row!.version;
}
