import type {
  ArchiveEntry,
  ArchivePage,
  ArchivePrefs,
  ArchiveQuery,
  ArchiveStore,
} from "./types.ts";
import { ClosedError, type Sql } from "./sql.ts";

/** An RSM `after`/`before` id that is not in the owner's archive (XEP-0313 item-not-found). */
export class ItemNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no archived item with id ${JSON.stringify(id)}`);
    this.name = "ItemNotFoundError";
  }
}

export interface ArchiveStoreOptions {
  /** most entries in one INSERT; a full queue is written at once. Default 500. */
  batchSize?: number;
}

interface Pending {
  entry: ArchiveEntry;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface ArchiveRow {
  id: string;
  owner: string;
  with_jid: string;
  direction: "in" | "out";
  stamp: Date;
  xml: string;
}

// Rows arrive as one jsonb parameter so every batch size shares one statement text (one prepared
// statement) and no batch comes near the 65535-parameter limit. Ordinality keeps queue order in seq.
const INSERT_BATCH = `
  INSERT INTO archive (id, owner, with_jid, direction, stamp, xml)
  SELECT id, owner, with_jid, direction, stamp, xml
  FROM ROWS FROM (jsonb_to_recordset($1::text::jsonb)
    AS (id text, owner text, with_jid text, direction text, stamp timestamptz, xml text))
    WITH ORDINALITY AS e(id, owner, with_jid, direction, stamp, xml, ord)
  ORDER BY ord
  ON CONFLICT (owner, id) DO NOTHING`;

const COLUMNS = "id, owner, with_jid, direction, stamp, xml";

/**
 * Message archive (XEP-0313) over SQL. Appends are group-committed: callers queue entries, and one
 * INSERT writes everything queued in the current macrotask (or every `batchSize` entries), with at
 * most one batch in flight; entries queued meanwhile form the next batch.
 */
export class SqlArchiveStore implements ArchiveStore {
  readonly #sql: Sql;
  readonly #batchSize: number;
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
  }

  append(entry: ArchiveEntry): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("archive"));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entry, resolve, reject });
      this.#enqueued++;
      if (this.#inFlight) return; // written as soon as the current batch settles
      if (this.#queue.length >= this.#batchSize) this.#writeNext();
      else this.#timer ??= setTimeout(() => this.#writeNext(), 0);
    });
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
        for (const p of batch) p.resolve();
      },
      (err) => {
        for (const p of batch) p.reject(err);
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

  async #write(batch: Pending[]): Promise<void> {
    const rows = batch.map(({ entry: e }) => ({
      id: e.id,
      owner: e.owner,
      with_jid: e.with,
      direction: e.direction,
      stamp: e.stamp.toISOString(),
      xml: e.xml,
    }));
    await this.#sql.query(INSERT_BATCH, [JSON.stringify(rows)]);
  }

  async query(q: ArchiveQuery): Promise<ArchivePage> {
    const params: unknown[] = [q.owner];
    const where = ["owner = $1"];
    const add = (list: unknown[], v: unknown) => `$${list.push(v)}`;
    if (q.with !== undefined) where.push(`with_jid = ${add(params, q.with)}`);
    if (q.start) where.push(`stamp >= ${add(params, q.start.toISOString())}::timestamptz`);
    if (q.end) where.push(`stamp <= ${add(params, q.end.toISOString())}::timestamptz`);
    if (q.ids) {
      where.push(
        `id IN (SELECT jsonb_array_elements_text(${
          add(params, JSON.stringify(q.ids))
        }::text::jsonb))`,
      );
    }
    const filter = where.join(" AND ");
    const afterSeq = q.after !== undefined ? await this.#seqOf(q.owner, q.after) : undefined;
    const beforeSeq = q.before ? await this.#seqOf(q.owner, q.before) : undefined;
    const backwards = q.before !== undefined;
    const max = Number.isFinite(q.max) ? Math.max(0, Math.floor(q.max)) : 0;

    // lead = matches ahead of the page's anchor: up to and including `after` going forwards,
    // strictly before `before` going backwards. Counted without the page bounds.
    const countParams = [...params];
    let lead = "0";
    if (backwards) {
      lead = beforeSeq === undefined
        ? "count(*)"
        : `count(*) FILTER (WHERE seq < ${add(countParams, beforeSeq)}::bigint)`;
    } else if (afterSeq !== undefined) {
      lead = `count(*) FILTER (WHERE seq <= ${add(countParams, afterSeq)}::bigint)`;
    }
    const [counts] = await this.#sql.query<{ total: string | number; lead: string | number }>(
      `SELECT count(*) AS total, ${lead} AS lead FROM archive WHERE ${filter}`,
      countParams,
    );

    const pageParams = [...params];
    const bounds = [filter];
    if (afterSeq !== undefined) bounds.push(`seq > ${add(pageParams, afterSeq)}::bigint`);
    if (beforeSeq !== undefined) bounds.push(`seq < ${add(pageParams, beforeSeq)}::bigint`);
    // One row beyond the page tells whether the page reaches the end.
    const rows = await this.#sql.query<ArchiveRow>(
      `SELECT ${COLUMNS} FROM archive WHERE ${bounds.join(" AND ")}
       ORDER BY seq ${backwards ? "DESC" : "ASC"} LIMIT ${add(pageParams, max + 1)}::integer`,
      pageParams,
    );
    const complete = rows.length <= max;
    const page = rows.slice(0, max);
    if (backwards) page.reverse();
    const ahead = Number(counts!.lead);
    return {
      items: page.map(toEntry),
      complete,
      count: Number(counts!.total),
      firstIndex: backwards ? ahead - page.length : ahead,
    };
  }

  async #seqOf(owner: string, id: string): Promise<string> {
    const [row] = await this.#sql.query<{ seq: string }>(
      "SELECT seq::text AS seq FROM archive WHERE owner = $1 AND id = $2",
      [owner, id],
    );
    if (!row) throw new ItemNotFoundError(id);
    return row.seq;
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
