/**
 * A small BOSH client (XEP-0124/0206) over fetch for the tests: raw requests with explicit rids for
 * the protocol tests, and a polling loop that keeps one request open, as real clients do, for the
 * end-to-end ones. Logs in with SCRAM-SHA-1 (Parley's SCRAM client, RFC 5802).
 */
import type { Element } from "../../xml/element.ts";
import { parseElement } from "../../xml/parse.ts";
import { escapeAttr } from "../../xml/serialize.ts";
import {
  scramClientFinal,
  scramClientFirst,
  scramVerifyServerFinal,
} from "../../protocol/sasl/scram_client.ts";
import { decodeBase64Payload, encodeBase64Payload } from "../../protocol/sasl/util.ts";

export const NS_HTTPBIND = "http://jabber.org/protocol/httpbind";
const NS_XBOSH = "urn:xmpp:xbosh";
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";

export interface BoshResponse {
  status: number;
  body: Element;
  text: string;
}

/** Builds a request body; `attrs` may use the `xmpp:` prefix (declared here). */
export function requestBody(attrs: Record<string, string>, payload: string[] = []): string {
  let s = `<body xmlns='${NS_HTTPBIND}' xmlns:xmpp='${NS_XBOSH}'`;
  for (const [k, v] of Object.entries(attrs)) s += ` ${k}='${escapeAttr(v)}'`;
  return payload.length ? `${s}>${payload.join("")}</body>` : `${s}/>`;
}

/** POSTs one body and parses the response body. */
export async function postBody(url: string, text: string): Promise<BoshResponse> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "text/xml; charset=utf-8" },
    body: text,
  });
  const body = await res.text();
  return { status: res.status, body: parseElement(body), text: body };
}

export class BoshClient {
  readonly url: string;
  sid = "";
  /** the rid of the last request sent */
  rid: number;
  /** what the session creation response said */
  created: Element | null = null;
  /** stanzas received and not yet taken by waitFor */
  readonly inbox: Element[] = [];
  /** the terminating response, once the session ended */
  terminated: Element | null = null;
  jid = "";
  #waiters = new Set<{ pred: (el: Element) => boolean; resolve: (el: Element) => void }>();
  #polling = false;
  #sending = false;
  #queue: { attrs: Record<string, string>; payload: string[] }[] = [];
  #outstanding = 0;
  #idle: PromiseWithResolvers<void> | null = null;

  constructor(url: string) {
    this.url = url;
    this.rid = 1000 + Math.floor(Math.random() * 1_000_000);
  }

  /** Creates the session (XEP-0206 §5); the response's children go to the inbox. */
  async create(attrs: Record<string, string> = {}): Promise<BoshResponse> {
    const r = await postBody(
      this.url,
      requestBody({
        rid: String(this.rid),
        to: "localhost",
        wait: "10",
        hold: "1",
        ver: "1.11",
        "xml:lang": "en",
        "xmpp:version": "1.0",
        ...attrs,
      }),
    );
    this.created = r.body;
    this.sid = r.body.attrs.sid ?? "";
    this.#take(r.body);
    return r;
  }

  /** One request with the next rid (or the one given); its response's children go to the inbox. */
  async request(
    attrs: Record<string, string> = {},
    payload: string[] = [],
    rid?: number,
  ): Promise<BoshResponse> {
    if (rid === undefined) rid = ++this.rid;
    this.#outstanding++;
    try {
      const r = await postBody(
        this.url,
        requestBody({ rid: String(rid), sid: this.sid, ...attrs }, payload),
      );
      this.#take(r.body);
      return r;
    } finally {
      this.#outstanding--;
      if (this.#outstanding === 0) this.#idle?.resolve();
    }
  }

  /** Keeps one empty request open (long polling) until the session ends or stop() is called. */
  startPolling(): void {
    if (this.#polling) return;
    this.#polling = true;
    const loop = async () => {
      while (this.#polling && !this.terminated) {
        try {
          await this.request();
        } catch {
          break;
        }
      }
      this.#polling = false;
    };
    void loop();
  }

  /**
   * Sends stanzas (serialized) in a request of their own; answers come through the inbox. Like a
   * real client, it keeps at most one such request open and batches what is sent meanwhile.
   */
  send(...payload: string[]): void {
    this.#enqueue({}, payload);
  }

  /** Asks for a stream restart (XEP-0206 §5) through the same queue. */
  restart(): void {
    this.#enqueue({ "xmpp:restart": "true", to: "localhost" }, []);
  }

  #enqueue(attrs: Record<string, string>, payload: string[]): void {
    const last = this.#queue.at(-1);
    if (last && Object.keys(attrs).length === 0 && Object.keys(last.attrs).length === 0) {
      last.payload.push(...payload);
    } else this.#queue.push({ attrs, payload });
    if (!this.#sending) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#sending = true;
    while (this.#queue.length && !this.terminated) {
      const next = this.#queue.shift()!;
      await this.request(next.attrs, next.payload).catch(() => {});
    }
    this.#sending = false;
  }

  /** Stops polling and leaves no request open (one round trip with a disco#info query). */
  async quiesce(): Promise<void> {
    this.#polling = false;
    if (this.#outstanding > 0) {
      const id = `quiesce${this.rid}`;
      await this.request({}, [
        `<iq xmlns='jabber:client' type='get' to='localhost' id='${id}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
      ]);
      await this.waitFor((el) => el.attrs.id === id, 5000, "quiesce reply");
    }
    await this.settled();
  }

  waitFor(pred: (el: Element) => boolean, timeoutMs = 5000, what = "stanza"): Promise<Element> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (el: Element) => {
          clearTimeout(timer);
          resolve(el);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`timed out waiting for ${what} over BOSH`));
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Creates the session and logs in with SCRAM-SHA-1, restarts, binds; polling from here on. */
  async login(username: string, password: string, resource = "bosh"): Promise<string> {
    await this.create();
    this.startPolling();
    await this.waitFor((el) => el.is("features"), 5000, "stream features");
    const scram = scramClientFirst(username, "SHA-1");
    this.send(
      `<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${
        encodeBase64Payload(scram.message)
      }</auth>`,
    );
    const challenge = await this.waitFor((el) => el.is("challenge", NS_SASL), 5000, "challenge");
    const serverFirst = new TextDecoder().decode(decodeBase64Payload(challenge.text())!);
    const final = await scramClientFinal(scram, serverFirst, password);
    this.send(`<response xmlns='${NS_SASL}'>${encodeBase64Payload(final)}</response>`);
    const outcome = await this.waitFor(
      (el) => el.ns === NS_SASL && (el.is("success") || el.is("failure")),
      5000,
      "SASL outcome",
    );
    if (!outcome.is("success")) throw new Error("BOSH login failed");
    const serverFinal = new TextDecoder().decode(decodeBase64Payload(outcome.text())!);
    if (!scramVerifyServerFinal(scram, serverFinal)) throw new Error("bad server signature");
    this.restart();
    await this.waitFor((el) => el.is("features") && !!el.getChild("bind", NS_BIND), 5000, "bind");
    this.send(
      `<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='${NS_BIND}'><resource>${resource}</resource></bind></iq>`,
    );
    const bound = await this.waitFor((el) => el.is("iq") && el.attrs.id === "bind1");
    this.jid = bound.getChild("bind", NS_BIND)?.getChildText("jid", NS_BIND) ?? "";
    if (!this.jid) throw new Error("BOSH bind failed");
    return this.jid;
  }

  /** Ends the session with type='terminate' (optionally with stanzas) and waits for quiet. */
  async terminate(...payload: string[]): Promise<BoshResponse> {
    this.#polling = false;
    const r = await this.request({ type: "terminate" }, payload);
    await this.settled();
    return r;
  }

  /** Resolves when no request is outstanding. */
  settled(): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    const p = this.#idle.promise;
    return p.then(() => {
      this.#idle = null;
    });
  }

  /** Stops polling and ends the session if it is still there. */
  async stop(): Promise<void> {
    this.#polling = false;
    for (const w of this.#waiters) this.#waiters.delete(w);
    if (!this.terminated && this.sid) await this.terminate().catch(() => {});
    await this.settled();
  }

  #take(body: Element): void {
    if (body.attrs.type === "terminate") this.terminated = body;
    for (const el of body.elements()) {
      let taken = false;
      for (const w of this.#waiters) {
        if (w.pred(el)) {
          this.#waiters.delete(w);
          w.resolve(el);
          taken = true;
          break;
        }
      }
      if (!taken) this.inbox.push(el);
    }
  }
}
