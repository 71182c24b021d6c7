/// <reference lib="deno.worker" />
/** The probe's clients, in their own V8 heap: opens authenticated, available sessions on demand. */
import { closeAll, login, type Options } from "../load/common.ts";
import type { XmppClient } from "../load/client.ts";

const clients: XmppClient[] = [];

self.onmessage = async (e: MessageEvent) => {
  const m = e.data;
  try {
    if (m.cmd === "open") {
      const o = {
        host: "127.0.0.1",
        port: m.port,
        domain: m.domain,
        tls: "none",
        mechanism: "auto",
        timeoutMs: 30_000,
        prefix: m.prefix,
        password: "pw-",
      } as Options;
      let next = m.from;
      const end = m.from + m.count;
      await Promise.all(Array.from({ length: 50 }, async () => {
        while (next < end) {
          const c = await login(o, next++);
          clients.push(c);
          const id = c.id("ping");
          c.send("<presence/>");
          await c.iq(
            `<iq type='get' to='${m.domain}' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`,
            id,
          );
        }
      }));
    } else if (m.cmd === "close") {
      await closeAll(clients);
    }
    self.postMessage({ ok: true });
  } catch (err) {
    self.postMessage({ ok: false, error: String(err) });
  }
};
