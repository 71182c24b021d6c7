import assert from "node:assert/strict";
import { startTestServer } from "../../tests/helpers/server.ts";
import { freePort } from "../../tests/helpers/ports.ts";

Deno.test("inspector refuses a non-loopback host without admins at start-up", async () => {
  await assert.rejects(
    startTestServer({
      components: ["c2s", "sess-man", "inspector"],
      inspector: { host: "0.0.0.0" },
    }),
    /inspector.admins/,
  );
});

Deno.test("inspector off loopback asks for a login and lets in only listed admins", async () => {
  const port = freePort();
  await using t = await startTestServer({
    components: ["c2s", "sess-man", "inspector"],
    inspector: { host: "0.0.0.0", port, admins: ["admin"] },
  });
  await t.addUser("admin", "pw-admin");
  await t.addUser("eve", "pw-eve");
  const status = async (login?: string) => {
    const r = await fetch(`http://127.0.0.1:${port}/inspector/api/actors`, {
      headers: login ? { authorization: `Basic ${btoa(login)}` } : {},
    });
    await r.body?.cancel();
    return r.status;
  };
  assert.equal(await status(), 401);
  assert.equal(await status("admin:wrong"), 401);
  assert.equal(await status("eve:pw-eve"), 403);
  assert.equal(await status("admin:pw-admin"), 200);
  assert.equal(await status("admin@localhost:pw-admin"), 200);
});

Deno.test("inspector serves each machine's statechart as SVG with one group per state", async () => {
  const port = freePort();
  await using _t = await startTestServer({
    components: ["c2s", "sess-man", "inspector"],
    inspector: { port },
  });
  const r = await fetch(`http://127.0.0.1:${port}/inspector/api/machines/user.svg`);
  assert.equal(r.status, 200);
  const svg = await r.text();
  for (const id of ["user.offline.idle", "user.offline.storing", "user.online.flushing"]) {
    assert.ok(svg.includes(`data-state="${id}"`), id);
  }
});
