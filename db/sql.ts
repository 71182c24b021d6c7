/**
 * The one seam between the stores and a database driver. Both backends speak PostgreSQL's dialect
 * with `$1`-style parameters, so every store is written once.
 */
export interface Sql {
  /** Runs one statement and returns its rows. */
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. A call on
   * the `tx` handed to `fn` joins the outer transaction rather than nesting.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Ends every connection; later calls fail. */
  close(): Promise<void>;
}

/** Thrown by a backend used after `close()`. */
export class ClosedError extends Error {
  constructor(what = "database") {
    super(`${what} is closed`);
    this.name = "ClosedError";
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Quotes a schema or table name; only plain identifiers are accepted, so no escaping is needed. */
export function quoteIdent(name: string): string {
  if (!IDENT.test(name)) throw new TypeError(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}
