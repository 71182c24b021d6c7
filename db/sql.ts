/**
 * The one seam between the stores and a database driver. Both backends speak PostgreSQL's dialect
 * with `$1`-style parameters, so every store is written once.
 */
export interface Sql {
  /** Runs one statement and returns its rows. */
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * Appends rows to `table` from data in PostgreSQL's binary COPY format (`CopyBinaryWriter`): all
   * rows or, on an error, none.
   */
  copyIn(table: string, columns: readonly string[], data: Uint8Array<ArrayBuffer>): Promise<void>;
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. A call on
   * the `tx` handed to `fn` joins the outer transaction rather than nesting.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * Subscribes to NOTIFY on `channel` (any writer: this process, another node, psql). Listening
   * starts in the background: `onState(true)` once LISTEN is in effect, `onState(false)` when it
   * is lost, and true again after it is back. Notifications sent while not listening are lost, so a
   * caller that mirrors the database must treat "not listening" as "know nothing". Re-listening
   * after a drop is the backend's job. `close()` of the subscription, or of this Sql, ends it.
   */
  listen(channel: string, handlers: ListenHandlers): Subscription;
  /** Ends every connection (listeners too); later calls fail. */
  close(): Promise<void>;
}

export interface ListenHandlers {
  /** One notification's payload ("" when the sender gave none). */
  onNotify(payload: string): void;
  /** Whether notifications are being received now. */
  onState(listening: boolean): void;
}

/** One `listen()`; closing it reports `onState(false)` if it was listening. */
export interface Subscription {
  close(): Promise<void>;
}

/** Thrown by a backend used after `close()`. */
export class ClosedError extends Error {
  constructor(what = "database") {
    super(`${what} is closed`);
    this.name = "ClosedError";
  }
}

/** The COPY statement for `copyIn`; table and column names are plain identifiers, quoted. */
export function copyStatement(table: string, columns: readonly string[], source: string): string {
  return `COPY ${quoteIdent(table)} (${columns.map(quoteIdent).join(", ")}) FROM ${source} ` +
    "(FORMAT binary)";
}

/** LISTEN takes an identifier, not a parameter; channels are plain names, quoted. */
export function listenStatement(channel: string): string {
  return `LISTEN ${quoteIdent(channel)}`;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Quotes a schema or table name; only plain identifiers are accepted, so no escaping is needed. */
export function quoteIdent(name: string): string {
  if (!IDENT.test(name)) throw new TypeError(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}
