import { PGlite, type Transaction } from "@electric-sql/pglite";
import {
  ClosedError,
  copyStatement,
  type ListenHandlers,
  listenStatement,
  type Sql,
  type Subscription,
} from "./sql.ts";

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

/** PGlite's COPY reads its data from this file name, given the query's `blob`. */
const DEV_BLOB = "'/dev/blob'";

class PgliteTx implements Sql {
  constructor(private readonly tx: Transaction) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.tx.query<T>(text, params)).rows;
  }

  async copyIn(
    table: string,
    columns: readonly string[],
    data: Uint8Array<ArrayBuffer>,
  ): Promise<void> {
    await this.tx.query(copyStatement(table, columns, DEV_BLOB), [], { blob: new Blob([data]) });
  }

  async exec(text: string): Promise<void> {
    await this.tx.exec(text);
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return fn(this);
  }

  listen(): Subscription {
    throw new Error("listen() called inside a transaction");
  }

  close(): Promise<void> {
    return Promise.reject(new Error("close() called inside a transaction"));
  }
}

class PgliteSql implements Sql {
  readonly #queue = new Queue();
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(private readonly pg: PGlite) {}

  query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) return Promise.reject(new ClosedError("pglite"));
    return this.#queue.run(async () => (await this.pg.query<T>(text, params)).rows);
  }

  copyIn(table: string, columns: readonly string[], data: Uint8Array<ArrayBuffer>): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("pglite"));
    const blob = new Blob([data]);
    return this.#queue.run(async () => {
      await this.pg.query(copyStatement(table, columns, DEV_BLOB), [], { blob });
    });
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

  /**
   * The one backend is this process, so the channel can only be lost by closing it. A session
   * hears its own NOTIFYs, and PGlite hands them out before the statement that sent them resolves.
   */
  listen(channel: string, handlers: ListenHandlers): Subscription {
    if (this.#closed) throw new ClosedError("pglite");
    const statement = listenStatement(channel);
    let active = true;
    let listening = false;
    let stop: (() => void) | undefined;
    const subscription: Subscription = {
      close: async () => {
        if (!active) return;
        active = false;
        this.#subscriptions.delete(subscription);
        stop?.();
        if (listening) {
          listening = false;
          handlers.onState(false);
        }
        // Closing the database ends every LISTEN: UNLISTEN only when it stays open.
        if (!this.#closed) await this.#queue.run(() => this.pg.exec(`UN${statement}`));
      },
    };
    this.#subscriptions.add(subscription);
    // In the queue, so LISTEN never lands inside another caller's open transaction.
    this.#queue.run(async () => {
      if (!active) return;
      stop = this.pg.onNotification((ch, payload) => {
        if (ch === channel && listening) handlers.onNotify(payload);
      });
      await this.pg.exec(statement);
      if (!active) return;
      listening = true;
      handlers.onState(true);
    }).catch(() => subscription.close().catch(() => {}));
    return subscription;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#subscriptions]) await s.close();
    await this.#queue.idle();
    await this.pg.close();
  }
}

/** PostgreSQL's shared_buffers for the embedded database unless configured. */
export const DEFAULT_EMBEDDED_SHARED_BUFFERS = "32MB";

export interface PgliteOptions {
  /** PostgreSQL's shared_buffers (`"32MB"`, `"128MB"`, ...): the page cache inside the process. */
  sharedBuffers?: string;
}

/**
 * Opens embedded PostgreSQL: persisted in `dataDir`, or in memory when it is undefined.
 *
 * Memory, measured with `deno run -A bench/pglite_rss.ts`: PGlite's own default shared_buffers
 * (160 MB) is all touched at start and stays resident, and a first start that ran initdb in this
 * process kept ~650 MB resident for the server's lifetime. So shared_buffers defaults to 32 MB
 * (table files are also in the OS page cache: this is a second cache, not the only one), and
 * initdb runs in a worker that exits with its WebAssembly memory.
 */
export async function openPglite(dataDir?: string, opts: PgliteOptions = {}): Promise<Sql> {
  if (dataDir !== undefined && !(await hasCluster(dataDir))) await initInWorker(dataDir);
  const sharedBuffers = opts.sharedBuffers ?? DEFAULT_EMBEDDED_SHARED_BUFFERS;
  const pg = new PGlite({
    dataDir,
    startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${sharedBuffers}`],
  });
  await pg.waitReady;
  return new PgliteSql(pg);
}

async function hasCluster(dataDir: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${dataDir}/PG_VERSION`)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Runs initdb for `dataDir` in a worker (`pglite_init_worker.ts`) and waits for it to end. */
async function initInWorker(dataDir: string): Promise<void> {
  const worker = new Worker(new URL("./pglite_init_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const answer = await new Promise<{ ok: boolean; error?: string }>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ ok: boolean; error?: string }>) => resolve(e.data);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        reject(new Error(`initdb worker failed: ${e.message}`));
      };
      worker.postMessage({ dataDir });
    });
    if (!answer.ok) throw new Error(`initdb in ${dataDir} failed: ${answer.error}`);
  } finally {
    worker.terminate();
  }
}
