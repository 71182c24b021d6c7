import { connectClient } from "/work/main/tests/helpers/xmpp_client.ts";
const c = await connectClient({
  port: Number(Deno.args[0]),
  username: "bob",
  password: "bob-secret",
});
console.log("logged in", c.jid);
await c.stop();
