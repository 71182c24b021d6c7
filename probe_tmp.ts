import { connectClient } from "./tests/helpers/xmpp_client.ts";
const port = Number(Deno.args[0]);
for (let i = 0; i < 2; i++) {
  const t0 = Date.now();
  try {
    const c = await connectClient({ port, username: "alice", password: "alice-secret" });
    console.log("ok", c.jid, Date.now() - t0);
    await c.stop();
  } catch (e) { console.log("err", Date.now() - t0, String(e)); }
  if (i == 0) { console.log("now restart"); await new Promise((r) => setTimeout(r, 15000)); }
}
Deno.exit(0);
