import { PGlite, type Transaction } from "@electric-sql/pglite";
import { ClosedError, type Sql } from "./sql.ts";

/**
 * PGlite is one backend process behind one connection, so work is run strictly one item at a time:
 * a statement issued while another caller's transaction is open must wait for it to end, or it
 * would run inside that transaction.
 */
class Queue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(job);
    // The queue keeps going whether or not this job failed; the caller sees the failure.
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  idle(): Promise<unknown> {
    return this.#tail;
  }
}

class PgliteTx implements Sql {
  constructor(private readonly tx: Transaction) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.tx.query<T>(text, params)).rows;
  }

  async exec(text: string): Promise<void> {
    await this.tx.exec(text);
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return fn(this);
  }

  close(): Promise<void> {
    return Promise.reject(new Error("close() called inside a transaction"));
  }
}

class PgliteSql implements Sql {
  readonly #queue = new Queue();
  #closed = false;

  constructor(private readonly pg: PGlite) {}

  query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) return Promise.reject(new ClosedError("pglite"));
    return this.#queue.run(async () => (await this.pg.query<T>(text, params)).rows);
  }

  exec(text: string): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("pglite"));
    return this.#queue.run(async () => {
      await this.pg.exec(text);
    });
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError("pglite"));
    return this.#queue.run(() => this.pg.transaction((tx) => fn(new PgliteTx(tx))));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.idle();
    await this.pg.close();
  }
}

/** Opens embedded PostgreSQL: persisted in `dataDir`, or in memory when it is undefined. */
export async function openPglite(dataDir?: string): Promise<Sql> {
  const pg = dataDir === undefined ? new PGlite() : new PGlite(dataDir);
  await pg.waitReady;
  return new PgliteSql(pg);
}
