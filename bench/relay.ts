/**
 * Raw relay reference: the floor of what Deno allows for c2s message routing on this machine.
 * It fakes just enough of a server for bench/load.ts (PLAIN accepting anyone, XEP-0077 "ok", bind,
 * a result for every other iq) and forwards each <message/> verbatim to the connection bound to its
 * `to` bare JID: no XML parsing beyond top-level framing, no stamping, storage, rosters or presence.
 *
 *   deno run -A bench/relay.ts [--port 15422] [--duration 600]
 *   deno task bench:load --scenario throughput --port 15422 --domain localhost
 *
 * Only login, idle and throughput make sense against it.
 */
import { attr, elementName, Framer } from "./load/framer.ts";

const args = new Map<string, string>();
for (let i = 0; i + 1 < Deno.args.length; i += 2) {
  args.set(Deno.args[i]!.replace(/^--/, ""), Deno.args[i + 1]!);
}
const port = Number(args.get("port") ?? 15422);
const durationS = Math.min(3600, Number(args.get("duration") ?? 600));
if (!(port > 0 && port < 32768)) throw new Error("--port must be below 32768");

const enc = new TextEncoder();
const routes = new Map<string, Session>();
const stats = { connections: 0, routed: 0, unroutable: 0, iqs: 0 };

const FEATURES_AUTH = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
  "<mechanism>PLAIN</mechanism></mechanisms>" +
  "<register xmlns='http://jabber.org/features/iq-register'/></stream:features>";
const FEATURES_BIND =
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";

class Session {
  user = "";
  domain = "localhost";
  bare = "";
  #out: string[] = [];
  #writing = false;
  #flushQueued = false;
  closed = false;
  readonly framer: Framer;

  constructor(readonly conn: Deno.TcpConn) {
    this.framer = new Framer({
      onStreamOpen: (h) => this.#open(h),
      onStanza: (raw) => this.#stanza(raw),
      onStreamClose: () => this.close(),
    });
  }

  #open(header: string): void {
    this.domain = attr(header, "to") ?? this.domain;
    const id = crypto.randomUUID();
    this.send(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' from='${this.domain}' id='${id}' ` +
        `version='1.0'>${this.user ? FEATURES_BIND : FEATURES_AUTH}`,
    );
  }

  #stanza(raw: string): void {
    const name = elementName(raw);
    if (name === "message") {
      const to = attr(raw, "to");
      const slash = to ? to.indexOf("/") : -1;
      const target = to ? routes.get(slash < 0 ? to : to.slice(0, slash)) : undefined;
      if (target) {
        target.send(raw);
        stats.routed++;
      } else stats.unroutable++;
      return;
    }
    if (name === "iq") {
      stats.iqs++;
      const id = attr(raw, "id") ?? "";
      if (raw.includes("urn:ietf:params:xml:ns:xmpp-bind")) {
        const resource = /<resource>([^<]*)<\/resource>/.exec(raw)?.[1] ?? "relay";
        this.bare = `${this.user}@${this.domain}`;
        routes.set(this.bare, this);
        this.send(
          `<iq type='result' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` +
            `<jid>${this.bare}/${resource}</jid></bind></iq>`,
        );
      } else this.send(`<iq type='result' id='${id}'/>`);
      return;
    }
    if (name === "auth") {
      const b64 = /^<[^>]*>([^<]*)</.exec(raw)?.[1] ?? "";
      const parts = atob(b64).split("\0");
      this.user = parts[1] ?? "anon";
      this.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
      // The client answers <success/> with a new stream header.
      this.framer.reset();
    }
    // presence and anything else: dropped, the relay has no presence semantics.
  }

  send(s: string): void {
    if (this.closed) return;
    this.#out.push(s);
    if (!this.#flushQueued && !this.#writing) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    this.#flushQueued = false;
    this.#writing = true;
    try {
      // Bounded: each pass drains what was queued; the queue only grows while the peer reads.
      for (let pass = 0; this.#out.length > 0 && !this.closed && pass < 1_000_000; pass++) {
        const data = enc.encode(this.#out.join(""));
        this.#out = [];
        let off = 0;
        while (off < data.length) off += await this.conn.write(data.subarray(off));
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.bare && routes.get(this.bare) === this) routes.delete(this.bare);
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
  }
}

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  stats.connections++;
  const s = new Session(conn);
  // A read loop into one reused buffer: measured ~4x faster than readable.pipeTo chains.
  const buf = new Uint8Array(64 * 1024);
  const dec = new TextDecoder();
  try {
    while (!s.closed) {
      const n = await conn.read(buf);
      if (n === null) break;
      s.framer.push(dec.decode(buf.subarray(0, n), { stream: true }));
    }
  } catch {
    // reset by peer
  }
  s.close();
}

const listener = Deno.listen({ hostname: "127.0.0.1", port, transport: "tcp" });
console.log(`relay listening on 127.0.0.1:${port} for at most ${durationS}s`);
const stop = () => {
  console.log(`relay stats ${JSON.stringify(stats)}`);
  Deno.exit(0);
};
setTimeout(stop, durationS * 1000);
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
for await (const conn of listener) serve(conn);
