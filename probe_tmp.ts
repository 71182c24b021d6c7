import { connectClient } from "./tests/helpers/xmpp_client.ts";
const t0 = Date.now();
try {
  const c = await connectClient({ port: 25222, username: "alice", password: "alice-secret" });
  console.log("ok", c.jid);
  await c.stop();
} catch (e) { console.log("err", Date.now() - t0, e); }
