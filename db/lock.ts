/**
 * One process per PGlite data directory. PGlite is PostgreSQL in WASM without the postmaster's own
 * lock: two processes opening the same files (the server and `deno task ctl`) would both write
 * and corrupt them. So whoever opens `${dataDir}/pglite` first takes `${dataDir}/pglite.lock`,
 * which holds its PID; a lock whose process is gone (kill -9, power loss) is stale and taken over.
 */
import process from "node:process";

/** The data directory is held by another live process. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  /** `pid` is null when the lock file was being written as we looked. */
  constructor(readonly lockFile: string, readonly pid: number | null) {
    super(
      `the data directory is in use by ${pid === null ? "another process" : `process ${pid}`} ` +
        `(lock file ${lockFile}). ` +
        `Stop that process first (the embedded database allows one process at a time), or ` +
        `use PostgreSQL (database_url). If no such process runs, delete the lock file.`,
    );
  }
}

export function lockFileOf(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, "")}/pglite.lock`;
}

function alive(pid: number): boolean {
  try {
    // Signal 0 checks existence without delivering anything.
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else, so it still holds the lock.
    return (e as { code?: string }).code === "EPERM";
  }
}

async function holder(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await Deno.readTextFile(path)).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Takes the data directory's lock, creating the directory if needed. Resolves to a release
 * function (idempotent); throws DataDirLockedError when a live process holds the lock. The lock
 * is held by this process, so a second acquire in the same process also fails.
 */
export async function acquireDataDirLock(dataDir: string): Promise<() => Promise<void>> {
  await Deno.mkdir(dataDir, { recursive: true });
  const path = lockFileOf(dataDir);
  const mine = `${Deno.pid}\n`;
  // Two rounds: the second follows the removal of a stale lock. `createNew` makes the take-over
  // race-free: if two processes both remove a stale lock, only one of them creates the new one.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(path, mine, { createNew: true });
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        // Only remove the file while it is still ours.
        if (await holder(path) === Deno.pid) await Deno.remove(path).catch(() => {});
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const pid = await holder(path);
    if (pid !== null && alive(pid)) throw new DataDirLockedError(path, pid);
    // An empty file may be one another process has created and not yet written: only an old one
    // is stale.
    if (pid === null && await youngerThan(path, 5_000)) throw new DataDirLockedError(path, null);
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  throw new DataDirLockedError(path, await holder(path));
}

async function youngerThan(path: string, ms: number): Promise<boolean> {
  try {
    const { mtime } = await Deno.stat(path);
    return mtime !== null && Date.now() - mtime.getTime() < ms;
  } catch {
    return false;
  }
}
