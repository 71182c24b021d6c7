/**
 * @xmpp/client (npm), the real third-party client the tests log in with, plus a small inbox to
 * wait for stanzas. @xmpp/client ships SCRAM-SHA-1 and PLAIN; SCRAM-SHA-256 is added here as a
 * saslmechanisms plugin written from RFC 7677, independent of Parley's server code.
 */
import { client, xml } from "@xmpp/client";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
type XElement = ReturnType<typeof xml>;

// The server's certificate is self-signed for the test domain.
Deno.env.set("NODE_TLS_REJECT_UNAUTHORIZED", "0");

export { xml };
export type Stanza = XElement;

class ScramSha256 {
  name = "SCRAM-SHA-256";
  clientFirst = true;
  #stage = 0;
  #nonce = "";
  #first = "";
  #serverSignature = "";
  #challenge = "";

  response(cred: { username: string; password: string }): string {
    if (this.#stage === 0) {
      this.#stage = 1;
      this.#nonce = randomBytes(18).toString("base64");
      this.#first = `n=${cred.username.replace(/=/g, "=3D").replace(/,/g, "=2C")},r=${this.#nonce}`;
      return `n,,${this.#first}`;
    }
    const attrs = Object.fromEntries(
      this.#challenge.split(",").map((p) => [p.slice(0, 1), p.slice(2)]),
    );
    const salted = pbkdf2Sync(
      cred.password,
      Buffer.from(attrs.s!, "base64"),
      Number(attrs.i),
      32,
      "sha256",
    );
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    const storedKey = createHash("sha256").update(clientKey).digest();
    const finalNoProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${this.#first},${this.#challenge},${finalNoProof}`;
    const signature = createHmac("sha256", storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    const serverKey = createHmac("sha256", salted).update("Server Key").digest();
    this.#serverSignature = createHmac("sha256", serverKey).update(authMessage).digest("base64");
    return `${finalNoProof},p=${proof.toString("base64")}`;
  }

  challenge(chal: string): void {
    this.#challenge = chal;
  }

  get serverSignature(): string {
    return this.#serverSignature;
  }
}

export interface TestClient {
  jid: string;
  xmpp: ReturnType<typeof client>;
  inbox: Stanza[];
  /** Resolves with the first stanza (already received or arriving) matching; rejects on timeout. */
  waitFor(pred: (s: Stanza) => boolean, timeoutMs?: number, what?: string): Promise<Stanza>;
  send(el: Stanza): Promise<void>;
  /** iq request: resolves with the result element, rejects on error. */
  iq(el: Stanza): Promise<Stanza>;
  stop(): Promise<void>;
}

export interface ConnectOptions {
  port: number;
  username: string;
  password: string;
  resource?: string;
  mechanism?: "SCRAM-SHA-1" | "SCRAM-SHA-256" | "PLAIN";
  domain?: string;
  /** send initial presence after login (default true) */
  presence?: boolean;
  /** connect elsewhere than TCP on `port`, e.g. `ws://127.0.0.1:PORT/xmpp-websocket` */
  service?: string;
}

export async function connectClient(opts: ConnectOptions): Promise<TestClient> {
  const xmpp = client({
    service: opts.service ?? `xmpp://127.0.0.1:${opts.port}`,
    domain: opts.domain ?? "localhost",
    username: opts.username,
    password: opts.password,
    resource: opts.resource,
  });
  xmpp.reconnect.stop();
  const factory = xmpp.saslFactory as unknown as {
    _mechs: { name: string }[];
    use(name: string, m: unknown): void;
  };
  if (opts.mechanism === "SCRAM-SHA-256") factory.use("SCRAM-SHA-256", ScramSha256);
  if (opts.mechanism) factory._mechs = factory._mechs.filter((m) => m.name === opts.mechanism);

  const inbox: Stanza[] = [];
  const waiters = new Set<{ pred: (s: Stanza) => boolean; resolve: (s: Stanza) => void }>();
  xmpp.on("stanza", (s: Stanza) => {
    for (const w of waiters) {
      if (w.pred(s)) {
        waiters.delete(w);
        w.resolve(s);
        return;
      }
    }
    inbox.push(s);
  });
  xmpp.on("error", () => {});
  const address = await xmpp.start();
  if (opts.presence !== false) await xmpp.send(xml("presence"));
  return {
    jid: address.toString(),
    xmpp,
    inbox,
    waitFor(pred, timeoutMs = 5000, what = "stanza") {
      const i = inbox.findIndex(pred);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (s: Stanza) => {
            clearTimeout(timer);
            resolve(s);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`timed out waiting for ${what} at ${opts.username}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    send: (el) => xmpp.send(el),
    iq: (el) => xmpp.iqCaller.request(el, 5000),
    async stop() {
      for (const w of waiters) waiters.delete(w);
      await xmpp.stop().catch(() => {});
    },
  };
}
