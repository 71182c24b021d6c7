import type { Sql } from "./sql.ts";

/** NOTIFY channel of migration 9: payload = jid of a changed or deleted account, "" = all. */
export const ACCOUNTS_CHANNEL = "parley_accounts";
export const ROSTER_CHANNEL = "parley_roster";

/** One schema change; `id`s are applied in ascending order, each once, in its own transaction. */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/**
 * A trigger function that tells `channel`'s listeners about a change: `rowKey` (an SQL expression
 * over OLD/NEW) for a row, "" ("all") for TRUNCATE. The text is part of applied migrations, so it
 * must not change.
 */
function notifyFunction(name: string, channel: string, rowKey: string): string {
  return `
      CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_LEVEL = 'ROW' THEN
          PERFORM pg_notify('${channel}', ${rowKey});
        ELSE
          PERFORM pg_notify('${channel}', '');
        END IF;
        RETURN NULL;
      END
      $$;`;
}

/**
 * Append only: a migration that has shipped is never edited, a change is a new entry. Later
 * features (MUC rooms, pubsub) add theirs at the end.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: "accounts",
    sql: `
      CREATE TABLE accounts (
        jid text PRIMARY KEY,
        credentials jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    id: 2,
    name: "roster",
    sql: `
      CREATE TABLE roster (
        owner text NOT NULL,
        contact text NOT NULL,
        name text,
        subscription text NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
        ask_out boolean NOT NULL DEFAULT false,
        pending_in boolean NOT NULL DEFAULT false,
        pending_in_stanza text,
        groups jsonb NOT NULL DEFAULT '[]',
        PRIMARY KEY (owner, contact)
      );
      CREATE TABLE roster_versions (
        owner text PRIMARY KEY,
        version bigint NOT NULL
      );`,
  },
  {
    id: 3,
    name: "offline",
    sql: `
      CREATE TABLE offline (
        id bigserial PRIMARY KEY,
        owner text NOT NULL,
        from_jid text NOT NULL,
        from_bare text NOT NULL,
        stamp timestamptz NOT NULL,
        xml text NOT NULL,
        bytes integer NOT NULL
      );
      CREATE INDEX offline_owner_id ON offline (owner, id);`,
  },
  {
    id: 4,
    name: "archive",
    // seq orders the archive (commit order); the stanza-id is unique within one owner's archive
    // only, so a message between two local users may carry the same id in both archives.
    sql: `
      CREATE TABLE archive (
        seq bigserial PRIMARY KEY,
        id text NOT NULL,
        owner text NOT NULL,
        with_jid text NOT NULL,
        direction text NOT NULL CHECK (direction IN ('in', 'out')),
        stamp timestamptz NOT NULL,
        xml text NOT NULL,
        UNIQUE (owner, id)
      );
      CREATE INDEX archive_owner_seq ON archive (owner, seq);
      CREATE INDEX archive_owner_with_seq ON archive (owner, with_jid, seq);
      CREATE TABLE archive_prefs (
        owner text PRIMARY KEY,
        default_mode text NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
        always_jids jsonb NOT NULL DEFAULT '[]',
        never_jids jsonb NOT NULL DEFAULT '[]'
      );`,
  },
  {
    id: 5,
    name: "vcard",
    sql: `
      CREATE TABLE vcard (
        owner text PRIMARY KEY,
        xml text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    id: 6,
    name: "private_storage",
    sql: `
      CREATE TABLE private_storage (
        owner text NOT NULL,
        key text NOT NULL,
        xml text NOT NULL,
        PRIMARY KEY (owner, key)
      );`,
  },
  {
    id: 7,
    name: "muc",
    // Persistent MUC rooms (XEP-0045). The room archive lives in `archive` with owner = room JID.
    sql: `
      CREATE TABLE muc_rooms (
        jid text PRIMARY KEY,
        host text NOT NULL,
        config jsonb NOT NULL,
        subject text NOT NULL DEFAULT '',
        subject_by text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX muc_rooms_host ON muc_rooms (host, jid);
      CREATE TABLE muc_affiliations (
        room text NOT NULL,
        jid text NOT NULL,
        affiliation text NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
        PRIMARY KEY (room, jid)
      );
      CREATE INDEX muc_affiliations_jid ON muc_affiliations (jid);`,
  },
  {
    id: 8,
    name: "archive_primary_key",
    // Archive rows are always read by owner in seq order: keying the table by (owner, seq) serves
    // that directly and saves the separate index every insert had to maintain (~10% faster batched
    // inserts measured on PostgreSQL; see docs/performance.md).
    sql: `
      ALTER TABLE archive DROP CONSTRAINT archive_pkey;
      ALTER TABLE archive ADD PRIMARY KEY (owner, seq);
      DROP INDEX archive_owner_seq;`,
  },
  {
    id: 9,
    name: "accounts_notify",
    // Servers keep SASL credentials in memory (db/notified_cache.ts). Whoever changes or removes
    // an account (ctl, another node, psql) tells every listener, in the database itself, so no
    // writer can forget to. The payload is the jid; "" means "all" (TRUNCATE). Inserts need no
    // notice: a server never caches a missing account.
    sql: `${notifyFunction("accounts_notify", ACCOUNTS_CHANNEL, "OLD.jid")}
      CREATE TRIGGER accounts_changed AFTER UPDATE OR DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION accounts_notify();
      CREATE TRIGGER accounts_truncated AFTER TRUNCATE ON accounts
        FOR EACH STATEMENT EXECUTE FUNCTION accounts_notify();`,
  },
  {
    id: 10,
    name: "archive_segments",
    // The archive moves to segments: one row per owner per group commit, entries stored column by
    // column in arrays (db/archive.ts says why). GIN indexes on ids and peers find a stanza-id or
    // a conversation without unpacking. The XML is stored uncompressed: pglz on every write cost
    // more CPU than the disk it saves is worth. Existing rows become one-entry segments in order.
    sql: `
      CREATE TABLE archive_segment (
        owner text NOT NULL,
        seq bigserial NOT NULL,
        n integer NOT NULL CHECK (n > 0),
        first_stamp timestamptz NOT NULL,
        last_stamp timestamptz NOT NULL,
        ids text[] NOT NULL,
        withs text[] NOT NULL,
        dirs text[] NOT NULL,
        stamps timestamptz[] NOT NULL,
        xmls text[] NOT NULL,
        PRIMARY KEY (owner, seq)
      );
      ALTER TABLE archive_segment ALTER COLUMN xmls SET STORAGE EXTERNAL;
      CREATE INDEX archive_segment_ids ON archive_segment USING gin (ids) WITH (fastupdate = off);
      CREATE INDEX archive_segment_withs ON archive_segment USING gin (withs) WITH (fastupdate = off);
      INSERT INTO archive_segment
          (owner, seq, n, first_stamp, last_stamp, ids, withs, dirs, stamps, xmls)
        SELECT owner, seq, 1, stamp, stamp, ARRAY[id], ARRAY[with_jid], ARRAY[direction],
          ARRAY[stamp], ARRAY[xml]
        FROM archive ORDER BY seq;
      SELECT setval(pg_get_serial_sequence('archive_segment', 'seq'),
        (SELECT coalesce(max(seq), 0) + 1 FROM archive_segment), false);
      DROP TABLE archive;`,
  },
  {
    id: 11,
    name: "roster_notify",
    // Servers keep rosters of recent logins in memory (db/roster.ts), as they keep credentials:
    // any change to a user's roster or its version, from any writer, tells every listener. The
    // payload is the owner; "" means "all" (TRUNCATE).
    sql: `${notifyFunction("roster_notify", ROSTER_CHANNEL, "COALESCE(NEW.owner, OLD.owner)")}
      CREATE TRIGGER roster_changed AFTER INSERT OR UPDATE OR DELETE ON roster
        FOR EACH ROW EXECUTE FUNCTION roster_notify();
      CREATE TRIGGER roster_truncated AFTER TRUNCATE ON roster
        FOR EACH STATEMENT EXECUTE FUNCTION roster_notify();
      CREATE TRIGGER roster_version_changed AFTER INSERT OR UPDATE OR DELETE ON roster_versions
        FOR EACH ROW EXECUTE FUNCTION roster_notify();
      CREATE TRIGGER roster_versions_truncated AFTER TRUNCATE ON roster_versions
        FOR EACH STATEMENT EXECUTE FUNCTION roster_notify();`,
  },
  {
    id: 12,
    name: "archive_ids_by_stamp",
    // A stanza-id is found through its entry's stamp, which the id carries (db/stanza_id.ts): a
    // b-tree entry per segment instead of a GIN key per archived message, which was ~20% of
    // PostgreSQL's CPU per archive write. Ids of other shapes are found by reading the owner's
    // segments. A segment's columns are built from slices of a batch's parameters (db/archive.ts),
    // so a row whose arrays disagree with its count is refused rather than stored with entries
    // lost (NOT VALID: rows already written are not rescanned).
    sql: `
      DROP INDEX archive_segment_ids;
      CREATE INDEX archive_segment_owner_last ON archive_segment (owner, last_stamp);
      ALTER TABLE archive_segment ADD CONSTRAINT archive_segment_columns_match CHECK (
        cardinality(ids) = n AND cardinality(withs) = n AND cardinality(dirs) = n
        AND cardinality(stamps) = n AND cardinality(xmls) = n) NOT VALID;`,
  },
  {
    id: 13,
    name: "archive_xml_compressed",
    // The XML goes back to being compressed (migration 010 stored it plain): since batches arrive
    // by binary COPY, writing a segment's XML out uncompressed, in TOAST chunks with their index
    // entries and WAL, costs more than compressing it first, with lz4 on PostgreSQL (~1/3 less of
    // its CPU per entry) and with pglz on PGlite (~1/4 less of the process's), measured with
    // bench/archive_write.ts. Rows already written stay as they are.
    sql: `ALTER TABLE archive_segment ALTER COLUMN xmls SET STORAGE EXTENDED;`,
  },
];

/**
 * Every table holding data of one user, by the column naming that user. Deleting an account clears
 * all of them; a migration that adds per-user data adds its table here.
 */
export const USER_TABLES: readonly { table: string; column: string }[] = [
  { table: "roster", column: "owner" },
  { table: "roster_versions", column: "owner" },
  { table: "offline", column: "owner" },
  { table: "archive_segment", column: "owner" },
  { table: "archive_prefs", column: "owner" },
  { table: "vcard", column: "owner" },
  { table: "private_storage", column: "owner" },
  // A deleted account loses its room affiliations (owner, admin, member, outcast).
  { table: "muc_affiliations", column: "jid" },
];

/** Tables of server-side services (not of one user): emptied with the user data in tests. */
export const SERVICE_TABLES: readonly string[] = ["muc_rooms"];

// Serialises migration runs of several processes sharing one PostgreSQL database.
const LOCK_KEY = 0x7061726c; // "parl"

/** Applies the migrations not yet recorded in `schema_migrations`; returns how many ran. */
export async function migrate(
  sql: Sql,
  onProgress: (msg: string) => void = () => {},
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number> {
  checkOrder(migrations);
  await sql.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
  });
  const done = new Set(
    (await sql.query<{ id: number }>("SELECT id FROM schema_migrations")).map((r) => r.id),
  );
  let applied = 0;
  for (const m of migrations) {
    if (done.has(m.id)) continue;
    const ran = await sql.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`);
      // Another process may have applied it while this one waited for the lock.
      const again = await tx.query("SELECT 1 FROM schema_migrations WHERE id = $1", [m.id]);
      if (again.length > 0) return false;
      onProgress(`applying migration ${String(m.id).padStart(3, "0")} ${m.name}`);
      await tx.exec(m.sql);
      await tx.query("INSERT INTO schema_migrations (id, name) VALUES ($1, $2)", [m.id, m.name]);
      return true;
    });
    if (ran) applied++;
  }
  return applied;
}

function checkOrder(migrations: readonly Migration[]): void {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.id) || m.id <= last) {
      throw new Error(`migration ids must be ascending integers: ${m.id} after ${last}`);
    }
    last = m.id;
  }
}
