import type { RosterItem, RosterStore, Subscription } from "./types.ts";
import type { Sql } from "./sql.ts";
import { ROSTER_CHANNEL } from "./migrations.ts";
import { NotifiedCache, type NotifiedCacheOptions } from "./notified_cache.ts";

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

interface Roster {
  version: string;
  items: RosterItem[];
}

/** Callers may change what they get; the cached roster must not change with it. */
function copy(r: Roster): Roster {
  return { version: r.version, items: r.items.map((i) => ({ ...i, groups: [...i.groups] })) };
}

/**
 * Rosters over SQL; the XEP-0237 version is a per-owner counter bumped with every change. Every
 * login's initial presence reads the roster, so whole rosters are cached while the roster channel
 * (migration 11) is heard, like credentials (db/accounts.ts); this store's own writes drop the
 * entry at once, without waiting for their notice.
 */
export class SqlRosterStore implements RosterStore {
  readonly #cache: NotifiedCache<Roster>;

  constructor(private readonly sql: Sql, cache: NotifiedCacheOptions = {}) {
    this.#cache = NotifiedCache.listening(sql, ROSTER_CHANNEL, cache);
  }

  /** The cache, for tests and metrics. */
  get cache(): NotifiedCache<Roster> {
    return this.#cache;
  }

  /** Forgets every cached roster (after the tables were emptied, e.g. by TRUNCATE). */
  forgetCached(): void {
    this.#cache.clear();
  }

  async get(owner: string): Promise<Roster> {
    const hit = this.#cache.get(owner);
    if (hit) return copy(hit);
    const ticket = this.#cache.ticket();
    let found: Roster | null = null;
    try {
      // One statement, so one snapshot: the version always matches the items. The one-row
      // subquery keeps the version when there are no items.
      const rows = await this.sql.query<{ version: string | null } & RosterRow>(GET_ROSTER, [
        owner,
      ]);
      const version = rows[0]?.version ?? "0";
      found = { version, items: rows.filter((r) => r.contact !== null).map(toItem) };
      return copy(found);
    } finally {
      this.#cache.fill(owner, found, ticket);
    }
  }

  async getItem(owner: string, contact: string): Promise<RosterItem | null> {
    const [row] = await this.sql.query<RosterRow>(
      `SELECT ${COLUMNS} FROM roster WHERE owner = $1 AND contact = $2`,
      [owner, contact],
    );
    return row ? toItem(row) : null;
  }

  put(owner: string, item: RosterItem): Promise<string> {
    return this.#changing(owner, async (tx) => {
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
    return this.#changing(owner, async (tx) => {
      const gone = await tx.query(
        "DELETE FROM roster WHERE owner = $1 AND contact = $2 RETURNING contact",
        [owner, contact],
      );
      return gone.length > 0 ? await bump(tx, owner) : null;
    });
  }

  /**
   * Runs a transaction changing `owner`'s roster with its cached copy dropped before, and again
   * after the commit: a read that started before the commit may have cached the old roster.
   */
  #changing<T>(owner: string, fn: (tx: Sql) => Promise<T>): Promise<T> {
    this.#cache.invalidate(owner);
    return this.sql.transaction(fn).finally(() => this.#cache.invalidate(owner));
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
