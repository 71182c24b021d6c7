/**
 * A tiny raw-XML client for wire tests: it writes exactly the bytes a test gives it and reads the
 * server's output as text, so tests can send what no well-behaved client library would (malformed
 * XML, DOCTYPEs, stanzas before login, spoofed addresses) and assert the XML that comes back.
 * It knows just enough XMPP to get a stream to where a test wants it: STARTTLS, SASL (SCRAM-SHA-1
 * via Parley's test SCRAM client, or PLAIN) and resource binding.
 */
import net from "node:net";
import tls from "node:tls";
import {
  scramClientFinal,
  scramClientFirst,
  scramVerifyServerFinal,
} from "../../protocol/sasl/scram_client.ts";
import { decodeBase64Payload, encodeBase64Payload } from "../../protocol/sasl/util.ts";

const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";

export type AuthResult = { ok: true } | { ok: false; condition: string; xml: string };

export interface RawConnectOptions {
  port: number;
  /** connect with TLS from the first byte (XEP-0368 port) */
  directTls?: boolean;
}

/** The opening tag a client sends; `to` defaults to the test domain. */
export function streamHeader(to = "localhost"): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' ` +
    `xmlns:stream='http://etherx.jabber.org/streams' to='${to}' version='1.0'>`;
}

export class RawClient {
  #socket: net.Socket;
  #decoder = new TextDecoder();
  #buf = "";
  #closed = false;
  #wake = new Set<() => void>();
  /** resolves when the server (or we) closed the connection */
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  /** everything received, for failure messages */
  transcript = "";
  jid = "";

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#attach(socket);
  }

  static connect(opts: RawConnectOptions): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = opts.directTls
        ? tls.connect({
          host: "127.0.0.1",
          port: opts.port,
          servername: "localhost",
          rejectUnauthorized: false,
        })
        : net.connect({ host: "127.0.0.1", port: opts.port });
      const ready = opts.directTls ? "secureConnect" : "connect";
      socket.once("error", reject);
      socket.once(ready, () => {
        socket.off("error", reject);
        resolve(new RawClient(socket));
      });
    });
  }

  /** Connects, STARTTLS (unless direct TLS), logs in and binds: a session ready for stanzas. */
  static async login(
    opts: RawConnectOptions & {
      username: string;
      password: string;
      mechanism?: "SCRAM-SHA-1" | "PLAIN";
      resource?: string;
    },
  ): Promise<RawClient> {
    const c = await RawClient.connect(opts);
    try {
      await c.openStream();
      if (!opts.directTls) {
        await c.startTls();
        await c.openStream();
      }
      const r = await c.authenticate(opts.username, opts.password, opts.mechanism);
      if (!r.ok) throw new Error(`login of ${opts.username} failed: ${r.condition}`);
      await c.openStream();
      await c.bind(opts.resource);
      return c;
    } catch (e) {
      await c.close();
      throw e;
    }
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(s: string): void {
    if (!this.#closed) this.#socket.write(s);
  }

  /**
   * Waits until the received text matches, then consumes it up to the end of the match and returns
   * the consumed text. Rejects on timeout, or when the connection closes without a match.
   */
  readUntil(re: RegExp, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.#buf);
        if (m) {
          const end = m.index + m[0].length;
          const out = this.#buf.slice(0, end);
          this.#buf = this.#buf.slice(end);
          return done(() => resolve(out));
        }
        if (this.#closed) {
          done(() =>
            reject(new Error(`connection closed before ${re}; received:\n${this.transcript}`))
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(new Error(`no ${re} within ${timeoutMs} ms; received:\n${this.transcript}`))
          ),
        timeoutMs,
      );
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.#wake.delete(check);
        f();
      };
      this.#wake.add(check);
      check();
    });
  }

  /** Resolves true when the connection closes within the time, false otherwise. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([this.closed.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a stream header and reads the server's header and features; returns the features. */
  async openStream(to = "localhost"): Promise<string> {
    this.send(streamHeader(to));
    await this.readUntil(/<stream:stream\b[^>]*>/);
    return await this.readUntil(/<stream:features\b[^>]*?(\/>|>[\s\S]*?<\/stream:features>)/);
  }

  /** `<starttls/>`, `<proceed/>`, then the TLS handshake on the same socket. */
  async startTls(): Promise<void> {
    this.send(`<starttls xmlns='${NS_TLS}'/>`);
    await this.readUntil(/<proceed\b[^>]*\/>/);
    const raw = this.#socket;
    raw.removeAllListeners("data");
    raw.removeAllListeners("close");
    const secure = tls.connect({ socket: raw, servername: "localhost", rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => {
        secure.off("error", reject);
        resolve();
      });
      secure.once("error", reject);
    });
    this.#socket = secure;
    this.#attach(secure);
  }

  /** One SASL exchange; the stream must then be reopened on success. */
  async authenticate(
    username: string,
    password: string,
    mechanism: "SCRAM-SHA-1" | "PLAIN" = "SCRAM-SHA-1",
  ): Promise<AuthResult> {
    const end =
      /<success\b[^>]*(\/>|>[\s\S]*?<\/success>)|<failure\b[^>]*>[\s\S]*?<\/failure>|<failure\b[^>]*\/>/;
    if (mechanism === "PLAIN") {
      this.send(
        `<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${
          encodeBase64Payload(`\0${username}\0${password}`)
        }</auth>`,
      );
      return saslOutcome(await this.readUntil(end));
    }
    const state = scramClientFirst(username, "SHA-1");
    this.send(
      `<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${
        encodeBase64Payload(state.message)
      }</auth>`,
    );
    const first = await this.readUntil(
      /<challenge\b[^>]*>[\s\S]*?<\/challenge>|<failure\b[^>]*>[\s\S]*?<\/failure>|<failure\b[^>]*\/>/,
    );
    if (!first.includes("<challenge")) return saslOutcome(first);
    const serverFirst = decodeText(first.replace(/^[\s\S]*<challenge[^>]*>|<\/challenge>$/g, ""));
    const final = await scramClientFinal(state, serverFirst, password);
    this.send(`<response xmlns='${NS_SASL}'>${encodeBase64Payload(final)}</response>`);
    const outcome = await this.readUntil(end);
    const result = saslOutcome(outcome);
    if (result.ok) {
      const m = /<success\b[^>]*>([\s\S]*?)<\/success>/.exec(outcome);
      if (!m || !scramVerifyServerFinal(state, decodeText(m[1]!))) {
        throw new Error(`server signature did not verify: ${outcome}`);
      }
    }
    return result;
  }

  /** Binds a resource; returns (and remembers) the full JID. */
  async bind(resource?: string): Promise<string> {
    const res = resource ? `<resource>${resource}</resource>` : "";
    this.send(`<iq type='set' id='bind-1'><bind xmlns='${NS_BIND}'>${res}</bind></iq>`);
    const reply = await this.readUntil(/<iq\b[^>]*\bid='bind-1'[^>]*>[\s\S]*?<\/iq>/);
    const m = /<jid>([^<]+)<\/jid>/.exec(reply);
    if (!m) throw new Error(`bind failed: ${reply}`);
    this.jid = m[1]!;
    return this.jid;
  }

  /** Ends the connection (without a closing handshake) and waits for the socket to go. */
  async close(): Promise<void> {
    if (!this.#closed) this.#socket.destroy();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #attach(socket: net.Socket): void {
    socket.on("data", (chunk: Uint8Array) => {
      const text = this.#decoder.decode(chunk, { stream: true });
      this.#buf += text;
      this.transcript += text;
      this.#notify();
    });
    socket.on("error", () => {});
    socket.once("close", () => {
      this.#closed = true;
      this.#resolveClosed();
      this.#notify();
    });
  }

  #notify(): void {
    for (const w of [...this.#wake]) w();
  }
}

function decodeText(b64: string): string {
  const bytes = decodeBase64Payload(b64.trim());
  if (bytes === null) throw new Error(`bad base64 from the server: ${b64}`);
  return new TextDecoder().decode(bytes);
}

function saslOutcome(xml: string): AuthResult {
  if (/^[\s\S]*<success\b/.test(xml)) return { ok: true };
  const m = /<failure\b[^>]*>\s*<([a-z-]+)/.exec(xml);
  return { ok: false, condition: m?.[1] ?? "unknown", xml };
}

/** The condition of a stream error in the text, or null. */
export function streamErrorCondition(xml: string): string | null {
  const m = /<stream:error>\s*<([a-z-]+)\s+xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(
    xml,
  );
  return m?.[1] ?? null;
}
