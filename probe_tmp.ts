import { connectClient } from "./tests/helpers/xmpp_client.ts";
for (const port of Deno.args.map(Number)) {
  const t0 = Date.now();
  try {
    const c = await connectClient({ port, username: "alice", password: "alice-secret" });
    console.log("ok", port, Date.now() - t0);
    await c.stop();
  } catch (e) { console.log("err", Date.now() - t0, String(e)); }
}
Deno.exit(0);
