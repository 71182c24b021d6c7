/**
 * Minimal XMPP c2s client for load generation: raw TCP (node:net), optional STARTTLS (node:tls),
 * SASL PLAIN / SCRAM-SHA-1, XEP-0077 registration, bind, session. Stanzas are handled as raw text.
 */
import net from "node:net";
import tls from "node:tls";
import { attr, childText, elementName, escapeXml, Framer } from "./framer.ts";
import { type Mechanism, plain, type SaslStep, scramSha1 } from "./sasl.ts";

export type TlsMode = "none" | "starttls";

export interface ClientOptions {
  host: string;
  port: number;
  domain: string;
  tls: TlsMode;
  /** "auto" prefers SCRAM-SHA-1, then PLAIN */
  mechanism: Mechanism | "auto";
  timeoutMs: number;
}

export class XmppError extends Error {
  constructor(message: string, readonly condition?: string) {
    super(message);
  }
}

const NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";

export class XmppClient {
  /** Called for every stanza that is not a reply to `iq()`, once negotiation is done. */
  onStanza: (raw: string, name: string) => void = () => {};
  onClose: (err?: Error) => void = () => {};
  jid = "";
  closed = false;

  #socket: net.Socket;
  #framer: Framer;
  #out: string[] = [];
  #flushQueued = false;
  #negotiating = true;
  #queue: string[] = [];
  #waiter: ((raw: string | Error) => void) | undefined;
  #pending = new Map<string, (raw: string | Error) => void>();
  #headerWaiter: ((header: string | Error) => void) | undefined;
  #header: string | undefined;
  #nextId = 0;

  private constructor(socket: net.Socket, readonly opts: ClientOptions) {
    this.#socket = socket;
    this.#framer = new Framer({
      onStreamOpen: (h) => {
        this.#header = h;
        const w = this.#headerWaiter;
        this.#headerWaiter = undefined;
        w?.(h);
      },
      onStanza: (raw) => this.#dispatch(raw),
      onStreamClose: () => this.#shutdown(new XmppError("stream closed by server")),
    });
    this.#attach(socket);
  }

  static connect(opts: ClientOptions): Promise<XmppClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new XmppError("connect timeout"));
      }, opts.timeoutMs);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new XmppClient(socket, opts));
      });
    });
  }

  #attach(socket: net.Socket): void {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.#framer.push(chunk));
    socket.on("error", (e: Error) => this.#shutdown(e));
    socket.on("close", () => this.#shutdown(new XmppError("connection closed")));
  }

  #shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.#socket.destroy();
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.(err);
    const hw = this.#headerWaiter;
    this.#headerWaiter = undefined;
    hw?.(err);
    for (const p of this.#pending.values()) p(err);
    this.#pending.clear();
    this.onClose(err);
  }

  #dispatch(raw: string): void {
    const name = elementName(raw);
    if (name === "iq") {
      const id = attr(raw, "id");
      const type = attr(raw, "type");
      if (id !== undefined && (type === "result" || type === "error")) {
        const p = this.#pending.get(id);
        if (p) {
          this.#pending.delete(id);
          return p(raw);
        }
      }
    }
    if (this.#negotiating) {
      const w = this.#waiter;
      if (w) {
        this.#waiter = undefined;
        w(raw);
      } else this.#queue.push(raw);
      return;
    }
    this.onStanza(raw, name);
  }

  /** Queue bytes; everything sent in one tick leaves in one write. */
  send(xml: string): void {
    if (this.closed) return;
    this.#out.push(xml);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.closed || this.#out.length === 0) return;
    const data = this.#out.length === 1 ? this.#out[0]! : this.#out.join("");
    this.#out = [];
    this.#socket.write(data);
  }

  #withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new XmppError(`timeout waiting for ${what}`)),
        this.opts.timeoutMs,
      );
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  #next(what: string): Promise<string> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new XmppError(`closed while waiting for ${what}`));
    return this.#withTimeout(
      new Promise<string>((resolve, reject) => {
        this.#waiter = (r) => (r instanceof Error ? reject(r) : resolve(r));
      }),
      what,
    );
  }

  id(prefix = "q"): string {
    return `${prefix}${(this.#nextId++).toString(36)}`;
  }

  /** Send an iq (must carry the given id) and wait for its result or error. */
  iq(xml: string, id: string): Promise<string> {
    if (this.closed) return Promise.reject(new XmppError("closed"));
    const p = new Promise<string>((resolve, reject) => {
      this.#pending.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
    });
    this.send(xml);
    return this.#withTimeout(p, `iq ${id}`).catch((e) => {
      this.#pending.delete(id);
      throw e;
    });
  }

  /** Open (or restart) the stream and return the features element. */
  async openStream(): Promise<string> {
    this.#header = undefined;
    this.#framer.reset();
    this.send(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' to='${
          escapeXml(this.opts.domain)
        }' version='1.0'>`,
    );
    if (this.#header === undefined) {
      await this.#withTimeout(
        new Promise<string>((resolve, reject) => {
          this.#headerWaiter = (h) => (h instanceof Error ? reject(h) : resolve(h));
        }),
        "stream header",
      );
    }
    const features = await this.#next("stream features");
    if (!elementName(features).endsWith("features")) {
      throw new XmppError(`expected stream features, got ${features.slice(0, 200)}`);
    }
    return features;
  }

  /** Stream open plus STARTTLS when asked for; returns the features to continue with. */
  async start(): Promise<string> {
    let features = await this.openStream();
    if (this.opts.tls === "starttls") {
      if (!features.includes(NS_TLS)) throw new XmppError("server does not offer STARTTLS");
      this.send(`<starttls xmlns='${NS_TLS}'/>`);
      const r = await this.#next("starttls proceed");
      if (elementName(r) !== "proceed") throw new XmppError(`STARTTLS refused: ${r}`);
      await this.#upgradeTls();
      features = await this.openStream();
    }
    return features;
  }

  #upgradeTls(): Promise<void> {
    const raw = this.#socket;
    raw.removeAllListeners("data");
    raw.removeAllListeners("close");
    raw.removeAllListeners("error");
    return this.#withTimeout(
      new Promise<void>((resolve, reject) => {
        // Test servers use self-signed certificates; the bench measures cost, not trust.
        const secure = tls.connect({
          socket: raw,
          servername: this.opts.domain,
          rejectUnauthorized: false,
        });
        secure.once("secureConnect", () => {
          secure.removeListener("error", reject);
          this.#socket = secure;
          this.#attach(secure);
          resolve();
        });
        secure.once("error", reject);
      }),
      "TLS handshake",
    );
  }

  /** Full login: stream, [STARTTLS], SASL, restart, bind, session. */
  async login(user: string, password: string, resource: string): Promise<void> {
    let features = await this.start();
    await this.#authenticate(features, user, password);
    features = await this.openStream();
    const bindId = this.id("bind");
    const bound = await this.iq(
      `<iq type='set' id='${bindId}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` +
        `<resource>${escapeXml(resource)}</resource></bind></iq>`,
      bindId,
    );
    if (attr(bound, "type") !== "result") throw new XmppError(`bind failed: ${bound}`);
    this.jid = childText(bound, "jid") ?? `${user}@${this.opts.domain}/${resource}`;
    const session =
      /<session[^>]*urn:ietf:params:xml:ns:xmpp-session[^>]*?(\/>|>([\s\S]*?)<\/session>)/
        .exec(features);
    if (session && !(session[2] ?? "").includes("optional")) {
      const sid = this.id("sess");
      const r = await this.iq(
        `<iq type='set' id='${sid}'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`,
        sid,
      );
      if (attr(r, "type") !== "result") throw new XmppError(`session failed: ${r}`);
    }
    this.#negotiating = false;
    for (const raw of this.#queue.splice(0)) this.onStanza(raw, elementName(raw));
  }

  async #authenticate(features: string, user: string, password: string): Promise<void> {
    const offered = [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
    let mech: Mechanism;
    if (this.opts.mechanism !== "auto") mech = this.opts.mechanism;
    else if (offered.includes("SCRAM-SHA-1")) mech = "SCRAM-SHA-1";
    else if (offered.includes("PLAIN")) mech = "PLAIN";
    else throw new XmppError(`no usable SASL mechanism among ${offered.join(",")}`);
    if (!offered.includes(mech)) throw new XmppError(`server does not offer ${mech}`);
    const step: SaslStep = mech === "PLAIN" ? plain(user, password) : scramSha1(user, password);
    this.send(`<auth xmlns='${NS_SASL}' mechanism='${mech}'>${step.initial}</auth>`);
    let verified = false;
    for (let round = 0; round < 4; round++) {
      const r = await this.#next("SASL reply");
      const name = elementName(r);
      const body = /^<[^>]*>([^<]*)</.exec(r)?.[1]?.trim() ?? "";
      if (name === "challenge") {
        if (round > 0 && step.verifySuccess(body)) {
          // Some servers send the SCRAM server-final in a challenge and want an empty response.
          verified = true;
          this.send(`<response xmlns='${NS_SASL}'/>`);
          continue;
        }
        this.send(`<response xmlns='${NS_SASL}'>${await step.challenge(body)}</response>`);
        continue;
      }
      if (name === "success") {
        if (!verified && mech !== "PLAIN" && !step.verifySuccess(body)) {
          throw new XmppError("server signature mismatch");
        }
        return;
      }
      const cond = /<([a-z-]+)[\s/>]/.exec(r.slice(r.indexOf(">") + 1))?.[1];
      throw new XmppError(`SASL ${name}: ${cond ?? r}`, cond);
    }
    throw new XmppError("SASL did not finish");
  }

  /**
   * XEP-0077 in-band registration on a fresh stream. Resolves "created" or "exists"; an account
   * that already exists counts as provisioned because bench passwords are deterministic.
   */
  async register(user: string, password: string): Promise<"created" | "exists"> {
    await this.start();
    const id = this.id("reg");
    const r = await this.iq(
      `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'><username>${
        escapeXml(user)
      }</username><password>${escapeXml(password)}</password></query></iq>`,
      id,
    );
    if (attr(r, "type") === "result") return "created";
    if (r.includes("<conflict")) return "exists";
    throw new XmppError(`registration failed for ${user}: ${r.slice(0, 300)}`);
  }

  /** Polite close; the socket is destroyed shortly after regardless of the server's answer. */
  close(graceMs = 200): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.send("</stream:stream>");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#shutdown(new XmppError("closed by client"));
        resolve();
      }, graceMs);
      const prev = this.onClose;
      this.onClose = (e) => {
        clearTimeout(timer);
        prev(e);
        resolve();
      };
    });
  }

  destroy(): void {
    this.#shutdown(new XmppError("destroyed by client"));
  }
}
