/**
 * Worker for `openPglite`: creates an embedded cluster's files (initdb) and closes it. initdb's
 * WebAssembly memory is never given back to the system by the process that ran it; a worker's is,
 * when the worker ends.
 */
import { PGlite } from "@electric-sql/pglite";

interface InitRequest {
  dataDir: string;
}

// Typed here: the project is checked with the window's lib, not the worker's.
const scope = self as unknown as {
  onmessage: (e: MessageEvent<InitRequest>) => void;
  postMessage(message: { ok: boolean; error?: string }): void;
};

scope.onmessage = async (e: MessageEvent<InitRequest>) => {
  try {
    const pg = new PGlite({ dataDir: e.data.dataDir });
    await pg.waitReady;
    await pg.close();
    scope.postMessage({ ok: true });
  } catch (err) {
    scope.postMessage({ ok: false, error: describe(err) });
  }
};

/** PGlite's file system throws plain objects (`{ name: "ErrnoError", errno }`), not Errors. */
function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "object" && err !== null && "errno" in err) {
    const { name, errno } = err as { name?: unknown; errno: unknown };
    return `${String(name ?? "file system error")} (Emscripten errno ${String(errno)})`;
  }
  return String(err);
}
