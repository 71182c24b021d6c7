/**
 * MUC fan-out: one room, 100 occupants on raw TCP (plaintext c2s), groupchat messages sent round
 * robin by the occupants with a window in flight; measures deliveries per second (messages x
 * occupants) and prints them. A message leaves the window when its sender gets the echo, which the
 * room sends after every other occupant's copy.
 *
 *   deno bench -A bench/muc_fanout_bench.ts          (one run, figures printed)
 *   deno run -A bench/muc_fanout_bench.ts [occupants] [messages] [window]
 */
import { XmppClient } from "./load/client.ts";
import { startTestServer } from "../tests/helpers/server.ts";

const ROOM = "fanout@conference.localhost";
const BODY_RE = /<body>(\d+):(\d+)<\/body>/;

export interface FanoutResult {
  occupants: number;
  messages: number;
  window: number;
  seconds: number;
  deliveries: number;
  deliveriesPerSec: number;
  joinMs: number;
}

export async function fanout(occupants = 100, messages = 500, window = 20): Promise<FanoutResult> {
  await using t = await startTestServer({
    components: ["c2s", "sess-man", "muc"],
    c2s: { require_encryption: false },
    muc: { lock_new_rooms: false, max_users: 10_000 },
  });
  const clients: XmppClient[] = [];
  try {
    await Promise.all(
      Array.from({ length: occupants }, (_, i) => t.addUser(`u${i}`, "bench-secret")),
    );
    for (let i = 0; i < occupants; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, occupants - i) }, async (_, k) => {
          const c = await XmppClient.connect({
            host: "127.0.0.1",
            port: t.port,
            domain: "localhost",
            tls: "none",
            mechanism: "auto",
            timeoutMs: 10_000,
          });
          await c.login(`u${i + k}`, "bench-secret", "bench");
          return c;
        }),
      );
      clients.push(...batch);
    }
    const t0 = performance.now();
    for (let i = 0; i < occupants; i++) {
      const c = clients[i]!;
      const self = new Promise<void>((resolve) => {
        c.onStanza = (raw, name) => {
          if (name === "presence" && raw.includes(`from='${ROOM}/n${i}'`) && raw.includes("110")) {
            resolve();
          }
        };
      });
      c.send(
        `<presence to='${ROOM}/n${i}'><x xmlns='http://jabber.org/protocol/muc'>` +
          `<history maxstanzas='0'/></x></presence>`,
      );
      await self;
    }
    const joinMs = performance.now() - t0;

    let received = 0, nextSeq = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const total = occupants * messages;
    const sendNext = () => {
      if (nextSeq >= messages) return;
      const seq = nextSeq++;
      const s = seq % occupants;
      clients[s]!.send(
        `<message to='${ROOM}' type='groupchat'><body>${s}:${seq}</body></message>`,
      );
    };
    clients.forEach((c, k) => {
      c.onStanza = (raw, name) => {
        if (name !== "message") return;
        const m = BODY_RE.exec(raw);
        if (!m) return;
        received++;
        if (Number(m[1]) === k) sendNext();
        if (received === total) done();
      };
    });
    const start = performance.now();
    for (let k = 0; k < Math.min(window, messages); k++) sendNext();
    await finished;
    const seconds = (performance.now() - start) / 1000;
    return {
      occupants,
      messages,
      window,
      seconds,
      deliveries: received,
      deliveriesPerSec: Math.round(received / seconds),
      joinMs: Math.round(joinMs),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close(50).catch(() => {})));
  }
}

if (import.meta.main) {
  const [n, m, w] = Deno.args.map(Number);
  console.log(JSON.stringify(await fanout(n || 100, m || 500, w || 20)));
} else {
  Deno.bench({
    name: "muc fan-out: 100 occupants, 500 groupchat messages (deliveries/s printed)",
    n: 1,
    warmup: 0,
    async fn() {
      console.log(JSON.stringify(await fanout()));
    },
  });
}
