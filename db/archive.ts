import type {
  ArchiveEntry,
  ArchivePage,
  ArchivePrefs,
  ArchiveQuery,
  ArchiveStore,
} from "./types.ts";
import { ClosedError, type Sql } from "./sql.ts";
import { stanzaIdTime } from "./stanza_id.ts";
import { CopyBinaryWriter, TEXT_OID, TIMESTAMPTZ_OID } from "./copy_binary.ts";

/** An RSM `after`/`before` id that is not in the owner's archive (XEP-0313 item-not-found). */
export class ItemNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no archived item with id ${JSON.stringify(id)}`);
    this.name = "ItemNotFoundError";
  }
}

export interface ArchiveStoreOptions {
  /** most entries in one COPY; a full queue is written at once. Default 500. */
  batchSize?: number;
  /** told about `enqueue`d entries whose batch failed */
  onError?: (err: unknown, entries: readonly ArchiveEntry[]) => void;
}

/** A queued entry; `enqueue`d ones have no promise and report failures to `onError`. */
interface Pending {
  entry: ArchiveEntry;
  resolve?: () => void;
  reject?: (err: unknown) => void;
}

interface ArchiveRow {
  id: string;
  owner: string;
  with_jid: string;
  direction: "in" | "out";
  stamp: Date;
  xml: string;
}

/** Where an entry sits: its segment's seq and its 1-based place in that segment. */
interface Key {
  seq: string;
  ord: number;
}

/**
 * Most entries in one segment. A page query unpacks whole segments around its anchor, so segments
 * stay small enough to unpack in well under a millisecond; under load a batch holds a few hundred
 * entries per owner, which still makes one row out of what used to be hundreds.
 */
const SEGMENT_MAX = 128;

/**
 * Segments read for an id from its millisecond on (`#keyOf`): more than one owner's batch can
 * span (a burst of 8 x 500 entries for one owner is 32 segments), fewer than the fallback's scan.
 */
const SPANNING_SEGMENTS = 64;

// A batch is written with COPY in binary form (db/copy_binary.ts), one row per segment in queue
// order, so seq keeps that order. It used to be one INSERT with the short columns as JSON and the
// XML joined by U+0001 and split in SQL: PostgreSQL then parsed JSON, split text and read every
// stamp from ISO text, ~60% of its CPU per entry, where binary rows are taken as they come.
const SEGMENT_COLUMNS = [
  "owner",
  "n",
  "first_stamp",
  "last_stamp",
  "ids",
  "withs",
  "dirs",
  "stamps",
  "xmls",
] as const;

// A segment's entries unpacked into rows; `x.ord` counts from 1 like array_position. Counting
// unpacks the short columns only, so the stored XML is not even read.
const UNPACKED = `archive_segment s CROSS JOIN LATERAL
  unnest(s.ids, s.withs, s.dirs, s.stamps, s.xmls) WITH ORDINALITY
    AS x(id, with_jid, direction, stamp, xml, ord)`;
const UNPACKED_KEYS = `archive_segment s CROSS JOIN LATERAL
  unnest(s.ids, s.withs, s.stamps) WITH ORDINALITY AS x(id, with_jid, stamp, ord)`;

const ENTRY_COLUMNS = "x.id, s.owner, x.with_jid, x.direction, x.stamp, x.xml";

/**
 * Message archive (XEP-0313) over SQL, stored in segments: each group commit writes one row per
 * owner (per `SEGMENT_MAX` entries) holding that owner's new entries column by column (arrays of
 * ids, peers, directions, stamps and XML, in order); a GIN index on the peers finds a
 * conversation without unpacking, and a stanza-id is found through the stamp it carries (an index
 * on owner and last stamp; `#keyOf`). An archive written one row per message needs
 * every message to go through the table's indexes, which capped archiving at ~25-30k messages/s
 * on PostgreSQL here and made the archive the limit of the whole server (docs/performance.md);
 * segments cut the rows written under load by two orders of magnitude. Queries unpack only the
 * segments they reach: counts without filters add up `n`, filtered counts unpack ids, peers and
 * stamps but not the XML, pages walk segments in order from their anchor and stop when full.
 *
 * Appends are group-committed: callers queue entries, and one COPY writes everything queued in
 * the current macrotask (or every `batchSize` entries), with at most one batch in flight; entries
 * queued meanwhile form the next batch. Stanza ids are the caller's and are taken as unique per
 * owner (they are random server-side ids): the store does not look them up on write.
 */
export class SqlArchiveStore implements ArchiveStore {
  readonly #sql: Sql;
  readonly #batchSize: number;
  readonly #onError: (err: unknown, entries: readonly ArchiveEntry[]) => void;
  #queue: Pending[] = [];
  #inFlight = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #enqueued = 0;
  #settled = 0;
  #waiters: { target: number; resolve: () => void }[] = [];
  #batches = 0;
  #entries = 0;
  #closed = false;

  constructor(sql: Sql, opts: ArchiveStoreOptions = {}) {
    this.#sql = sql;
    this.#batchSize = Math.max(1, opts.batchSize ?? 500);
    this.#onError = opts.onError ?? (() => {});
  }

  append(entry: ArchiveEntry): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("archive"));
    return new Promise<void>((resolve, reject) => this.#push({ entry, resolve, reject }));
  }

  /**
   * Queues an entry like `append` without a promise per entry: the hot path archives two entries
   * per message and never waits for them. A failed batch goes to `onError`.
   */
  enqueue(entry: ArchiveEntry): void {
    if (this.#closed) this.#onError(new ClosedError("archive"), [entry]);
    else this.#push({ entry });
  }

  #push(p: Pending): void {
    if (p.entry.xml.includes("\0")) {
      // PostgreSQL's text cannot hold U+0000 (nor can XML): refused alone rather than failing the
      // batch it would have joined.
      const err = new Error("archived XML contains U+0000, which PostgreSQL's text cannot hold");
      if (p.reject) p.reject(err);
      else this.#onError(err, [p.entry]);
      return;
    }
    this.#queue.push(p);
    this.#enqueued++;
    if (this.#inFlight) return; // written as soon as the current batch settles
    if (this.#queue.length >= this.#batchSize) this.#writeNext();
    else this.#timer ??= setTimeout(() => this.#writeNext(), 0);
  }

  flush(): Promise<void> {
    const target = this.#enqueued;
    if (this.#settled >= target) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push({ target, resolve }));
    if (!this.#inFlight) this.#writeNext();
    return done;
  }

  stats(): { batches: number; entries: number } {
    return { batches: this.#batches, entries: this.#entries };
  }

  /** Writes what is queued, then refuses further appends. Leaves no timer behind. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  #writeNext(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#queue.length === 0) return;
    // A backlog is written in bigger batches: per-row cost falls with batch size, so a burst
    // above the steady rate is absorbed instead of queueing without end.
    const take = Math.min(this.#queue.length, Math.max(this.#batchSize, this.#batchSize * 8));
    const batch = this.#queue.splice(0, take);
    this.#inFlight = true;
    this.#write(batch).then(
      () => {
        this.#batches++;
        this.#entries += batch.length;
        for (const p of batch) p.resolve?.();
      },
      (err) => {
        const unwatched: ArchiveEntry[] = [];
        for (const p of batch) {
          if (p.reject) p.reject(err);
          else unwatched.push(p.entry);
        }
        if (unwatched.length > 0) this.#onError(err, unwatched);
      },
    ).finally(() => {
      this.#inFlight = false;
      this.#settled += batch.length;
      this.#waiters = this.#waiters.filter((w) => {
        if (w.target > this.#settled) return true;
        w.resolve();
        return false;
      });
      if (this.#queue.length > 0) this.#writeNext();
    });
  }

  #write(batch: Pending[]): Promise<void> {
    return this.#sql.copyIn("archive_segment", SEGMENT_COLUMNS, encodeSegments(batch));
  }

  async query(q: ArchiveQuery): Promise<ArchivePage> {
    const params: unknown[] = [q.owner];
    const add = (v: unknown) => `$${params.push(v)}`;
    // Conditions on a segment (served by its indexes) and on each unpacked entry.
    const seg = ["s.owner = $1"];
    const ent: string[] = [];
    if (q.with !== undefined) {
      const p = add(q.with);
      seg.push(`s.withs @> ARRAY[${p}::text]`);
      ent.push(`x.with_jid = ${p}`);
    }
    if (q.start) {
      const p = add(q.start.toISOString());
      seg.push(`s.last_stamp >= ${p}::timestamptz`);
      ent.push(`x.stamp >= ${p}::timestamptz`);
    }
    if (q.end) {
      const p = add(q.end.toISOString());
      seg.push(`s.first_stamp <= ${p}::timestamptz`);
      ent.push(`x.stamp <= ${p}::timestamptz`);
    }
    if (q.ids) {
      const p = add(JSON.stringify(q.ids));
      seg.push(`s.ids && ARRAY(SELECT json_array_elements_text(${p}::text::json))`);
      ent.push(`x.id IN (SELECT json_array_elements_text(${p}::text::json))`);
    }
    const after = q.after !== undefined ? await this.#keyOf(q.owner, q.after) : undefined;
    const before = q.before ? await this.#keyOf(q.owner, q.before) : undefined;
    const backwards = q.before !== undefined;
    const max = Number.isFinite(q.max) ? Math.max(0, Math.floor(q.max)) : 0;

    // lead = matches ahead of the page's anchor: up to and including `after` going forwards,
    // strictly before `before` going backwards. Counted without the page bounds.
    const anchor = backwards ? before : after;
    const { total, lead } = ent.length === 0
      ? await this.#countWhole(q.owner, anchor, backwards)
      : await this.#countFiltered(seg, ent, params, anchor, backwards);

    const pageParams = [...params];
    const addPage = (v: unknown) => `$${pageParams.push(v)}`;
    const bounds = [...seg, ...ent];
    if (after) {
      const s = addPage(after.seq), o = addPage(after.ord);
      bounds.push(`s.seq >= ${s}::bigint`, `(s.seq, x.ord) > (${s}::bigint, ${o}::bigint)`);
    }
    if (before) {
      const s = addPage(before.seq), o = addPage(before.ord);
      bounds.push(`s.seq <= ${s}::bigint`, `(s.seq, x.ord) < (${s}::bigint, ${o}::bigint)`);
    }
    const dir = backwards ? "DESC" : "ASC";
    // One row beyond the page tells whether the page reaches the end.
    const rows = await this.#sql.query<ArchiveRow>(
      `SELECT ${ENTRY_COLUMNS} FROM ${UNPACKED} WHERE ${bounds.join(" AND ")}
       ORDER BY s.seq ${dir}, x.ord ${dir} LIMIT ${addPage(max + 1)}::integer`,
      pageParams,
    );
    const complete = rows.length <= max;
    const page = rows.slice(0, max);
    if (backwards) page.reverse();
    return {
      items: page.map(toEntry),
      complete,
      count: total,
      firstIndex: backwards ? lead - page.length : lead,
    };
  }

  /** Counts without filters: whole segments add their `n`, the anchor adds its place. */
  async #countWhole(
    owner: string,
    anchor: Key | undefined,
    backwards: boolean,
  ): Promise<{ total: number; lead: number }> {
    const params: unknown[] = [owner];
    const ahead = anchor
      ? `coalesce(sum(n) FILTER (WHERE seq < $${params.push(anchor.seq)}::bigint), 0)`
      : "0";
    const [row] = await this.#sql.query<{ total: string | number; ahead: string | number }>(
      `SELECT coalesce(sum(n), 0) AS total, ${ahead} AS ahead FROM archive_segment
       WHERE owner = $1`,
      params,
    );
    const total = Number(row!.total);
    if (!anchor) return { total, lead: backwards ? total : 0 };
    return { total, lead: Number(row!.ahead) + (backwards ? anchor.ord - 1 : anchor.ord) };
  }

  /** Counts with filters: the segments the filters reach are unpacked and their entries tested. */
  async #countFiltered(
    seg: string[],
    ent: string[],
    params: unknown[],
    anchor: Key | undefined,
    backwards: boolean,
  ): Promise<{ total: number; lead: number }> {
    const countParams = [...params];
    const add = (v: unknown) => `$${countParams.push(v)}`;
    let lead = "0";
    if (anchor) {
      const op = backwards ? "<" : "<=";
      lead = `count(*) FILTER (WHERE (s.seq, x.ord) ${op} (${add(anchor.seq)}::bigint, ${
        add(anchor.ord)
      }::bigint))`;
    } else if (backwards) lead = "count(*)";
    const [row] = await this.#sql.query<{ total: string | number; lead: string | number }>(
      `SELECT count(*) AS total, ${lead} AS lead FROM ${UNPACKED_KEYS}
       WHERE ${[...seg, ...ent].join(" AND ")}`,
      countParams,
    );
    return { total: Number(row!.total), lead: Number(row!.lead) };
  }

  /**
   * Where an id sits. An id made by `newStanzaId` carries its entry's stamp, so the owner's
   * segments are read in last-stamp order from that millisecond (the index on owner and last
   * stamp), and the first few hold it: the segments spanning one millisecond, a handful even when a
   * burst splits one owner's batch. An id of another shape, or one its time did not lead to, is
   * looked for in all of the owner's segments.
   */
  async #keyOf(owner: string, id: string): Promise<Key> {
    const ms = stanzaIdTime(id);
    let row: { seq: string; ord: number } | undefined;
    if (ms !== undefined) {
      // The inner LIMIT keeps the plan an ordered index scan that stops early; without it the
      // planner sorts every later segment of the owner.
      [row] = await this.#sql.query<{ seq: string; ord: number }>(
        `SELECT c.seq::text AS seq, array_position(c.ids, $2) AS ord
         FROM (SELECT seq, ids, first_stamp FROM archive_segment
               WHERE owner = $1 AND last_stamp >= $3::timestamptz
               ORDER BY last_stamp LIMIT ${SPANNING_SEGMENTS}) AS c
         WHERE c.first_stamp <= $3::timestamptz AND c.ids @> ARRAY[$2::text]
         LIMIT 1`,
        [owner, id, new Date(ms).toISOString()],
      );
    }
    row ??= (await this.#sql.query<{ seq: string; ord: number }>(
      `SELECT s.seq::text AS seq, array_position(s.ids, $2) AS ord FROM archive_segment s
       WHERE s.owner = $1 AND s.ids @> ARRAY[$2::text] ORDER BY s.seq LIMIT 1`,
      [owner, id],
    ))[0];
    if (!row) throw new ItemNotFoundError(id);
    return { seq: row.seq, ord: Number(row.ord) };
  }

  async getPrefs(owner: string): Promise<ArchivePrefs> {
    const [row] = await this.#sql.query<{
      default_mode: ArchivePrefs["default"];
      always_jids: string[];
      never_jids: string[];
    }>("SELECT default_mode, always_jids, never_jids FROM archive_prefs WHERE owner = $1", [owner]);
    if (!row) return { default: "always", always: [], never: [] };
    return {
      default: row.default_mode,
      always: row.always_jids,
      never: row.never_jids,
    };
  }

  async setPrefs(owner: string, prefs: ArchivePrefs): Promise<void> {
    await this.#sql.query(
      `INSERT INTO archive_prefs (owner, default_mode, always_jids, never_jids)
       VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb)
       ON CONFLICT (owner) DO UPDATE SET default_mode = EXCLUDED.default_mode,
         always_jids = EXCLUDED.always_jids, never_jids = EXCLUDED.never_jids`,
      [owner, prefs.default, JSON.stringify(prefs.always), JSON.stringify(prefs.never)],
    );
  }
}

function toEntry(row: ArchiveRow): ArchiveEntry {
  return {
    id: row.id,
    owner: row.owner,
    with: row.with_jid,
    direction: row.direction,
    stamp: row.stamp,
    xml: row.xml,
  };
}

/**
 * A batch as COPY rows: per owner, in queue order, segments of at most `SEGMENT_MAX` entries, each
 * row holding its entries column by column.
 */
function encodeSegments(batch: readonly { entry: ArchiveEntry }[]): Uint8Array<ArrayBuffer> {
  const byOwner = new Map<string, ArchiveEntry[]>();
  let chars = 0;
  for (const { entry } of batch) {
    chars += entry.xml.length + entry.id.length + entry.with.length;
    const list = byOwner.get(entry.owner);
    if (list) list.push(entry);
    else byOwner.set(entry.owner, [entry]);
  }
  // Mostly ASCII: a little over one byte per character, plus each entry's lengths and stamp.
  const w = new CopyBinaryWriter(chars + chars / 4 + batch.length * 40 + 4096);
  for (const [owner, list] of byOwner) {
    for (let from = 0; from < list.length; from += SEGMENT_MAX) {
      const to = Math.min(list.length, from + SEGMENT_MAX), n = to - from;
      let first = Infinity, last = -Infinity;
      for (let i = from; i < to; i++) {
        const t = list[i]!.stamp.getTime();
        if (t < first) first = t;
        if (t > last) last = t;
      }
      w.row(SEGMENT_COLUMNS.length);
      w.text(owner);
      w.int4(n);
      w.timestamptz(first);
      w.timestamptz(last);
      w.startArray(TEXT_OID, n);
      for (let i = from; i < to; i++) w.text(list[i]!.id);
      w.endArray();
      w.startArray(TEXT_OID, n);
      for (let i = from; i < to; i++) w.text(list[i]!.with);
      w.endArray();
      w.startArray(TEXT_OID, n);
      for (let i = from; i < to; i++) w.text(list[i]!.direction);
      w.endArray();
      w.startArray(TIMESTAMPTZ_OID, n);
      for (let i = from; i < to; i++) w.timestamptz(list[i]!.stamp.getTime());
      w.endArray();
      w.startArray(TEXT_OID, n);
      for (let i = from; i < to; i++) w.text(list[i]!.xml);
      w.endArray();
    }
  }
  return w.finish();
}
