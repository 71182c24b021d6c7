import assert from "node:assert/strict";
import { acquireDataDirLock, DataDirLockedError, lockFileOf } from "./lock.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley-lock-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the data-dir lock holds this process's PID and is removed on release", async () => {
  await withDir(async (dir) => {
    const release = await acquireDataDirLock(`${dir}/data`);
    assert.equal((await Deno.readTextFile(lockFileOf(`${dir}/data`))).trim(), String(Deno.pid));
    await release();
    await release(); // idempotent
    await assert.rejects(() => Deno.stat(lockFileOf(`${dir}/data`)), Deno.errors.NotFound);
  });
});

Deno.test("a second acquire while the lock is held fails naming the holder's PID", async () => {
  await withDir(async (dir) => {
    const release = await acquireDataDirLock(dir);
    await assert.rejects(() => acquireDataDirLock(dir), (e: unknown) => {
      assert.ok(e instanceof DataDirLockedError);
      assert.equal(e.pid, Deno.pid);
      assert.match(e.message, new RegExp(`in use by process ${Deno.pid}`));
      assert.match(e.message, /pglite\.lock/);
      return true;
    });
    await release();
    const again = await acquireDataDirLock(dir);
    await again();
  });
});

Deno.test("a lock left by a process that no longer runs is taken over", async () => {
  await withDir(async (dir) => {
    // A child that has exited: its PID is free (reuse within this test is vanishingly unlikely).
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
    await child.status;
    await Deno.writeTextFile(lockFileOf(dir), `${child.pid}\n`);
    const release = await acquireDataDirLock(dir);
    assert.equal((await Deno.readTextFile(lockFileOf(dir))).trim(), String(Deno.pid));
    await release();
  });
});

Deno.test("an old lock file with no PID in it is stale; a fresh one is someone starting up", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(lockFileOf(dir), "");
    await assert.rejects(() => acquireDataDirLock(dir), DataDirLockedError);
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(lockFileOf(dir), old, old);
    const release = await acquireDataDirLock(dir);
    await release();
  });
});

Deno.test("release leaves a lock that another process has since taken", async () => {
  await withDir(async (dir) => {
    const release = await acquireDataDirLock(dir);
    await Deno.writeTextFile(lockFileOf(dir), "1\n");
    await release();
    assert.equal((await Deno.readTextFile(lockFileOf(dir))).trim(), "1");
  });
});
