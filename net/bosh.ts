/**
 * BOSH (XEP-0124) carrying XMPP (XEP-0206): HTTP request/response pairs stand in for a stream.
 *
 * One {@link BoshSession} per `sid` owns the request bookkeeping: `rid` ordering (a request ahead
 * of a gap waits for it, within the window of `requests`), replay of recent responses for a
 * repeated `rid`, held requests answered as soon as output is ready or empty at `wait`, and the
 * inactivity timer that runs while the client holds no request. Its {@link BoshTransport} is the
 * StreamTransport of one StreamSession: the same connection machine as c2s, fed with synthesized
 * frames (the stream header at creation and at `xmpp:restart`, `close` at `type='terminate'`).
 *
 * Every timer belongs to a session and is cleared when it terminates; {@link BoshManager.stop}
 * terminates them all, so held HTTP requests are answered before the listener shuts down.
 */
import type { Element } from "../xml/element.ts";
import type { FrameEvent } from "../xml/framer.ts";
import { NS } from "../protocol/ns.ts";
import type { StreamTransport } from "./transport.ts";
import type { FrameSink } from "./tcp.ts";
import { serializeStandalone } from "./websocket.ts";
import {
  type BoshCondition,
  NS_XBOSH,
  parseBody,
  responseBody,
  terminateBody,
  xboshAttr,
} from "./bosh_body.ts";

/** What the HTTP layer writes back. */
export interface BoshReply {
  status: number;
  body: string;
}

export interface BoshSettings {
  domain: string;
  /** longest `wait` granted, seconds */
  maxWait: number;
  /** most requests held at once (XEP-0124 says 1 is enough) */
  maxHold: number;
  /** seconds without a request before the session ends */
  inactivity: number;
  /** shortest polling interval for polling sessions (hold = 0), seconds */
  polling: number;
  /** longest `pause` granted, seconds */
  maxPause: number;
  maxBodyBytes: number;
  maxDepth: number;
  /** most bytes of output queued for a client that stopped asking; then the session ends */
  maxQueuedBytes: number;
}

/** The stream side of a session: what the manager drives. StreamSession implements it. */
export interface BoshStream extends FrameSink {
  /** false once the stream has ended */
  readonly open?: boolean;
  shutdown(): void;
}

export interface BoshRequestInfo {
  remoteAddress: string;
  secure: boolean;
}

export interface BoshHooks {
  /** false when session creation from this address is over its rate */
  admit(remoteAddress: string): boolean;
  /** makes the stream session for a new BOSH session */
  createStream(transport: BoshTransport): BoshStream;
}

// XEP-0124 §17: HTTP codes for clients that did not say which version they speak.
const LEGACY_STATUS: Partial<Record<BoshCondition, number>> = {
  "bad-request": 400,
  "item-not-found": 404,
  "policy-violation": 403,
};

const VERSION = "1.11";

function newSid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function parseRid(v: string | undefined): number | null {
  if (v === undefined || !/^[0-9]{1,16}$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function intAttr(v: string | undefined, fallback: number): number {
  return v !== undefined && /^[0-9]{1,9}$/.test(v) ? Number(v) : fallback;
}

/** Compares version strings "major.minor" numerically; returns the lower. */
function lowerVersion(a: string, b: string): string {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am < bm || (am === bm && an < bn) ? a : b;
}

export class BoshManager {
  readonly #settings: BoshSettings;
  readonly #hooks: BoshHooks;
  readonly #sessions = new Map<string, BoshSession>();
  #stopped = false;

  constructor(settings: BoshSettings, hooks: BoshHooks) {
    this.#settings = settings;
    this.#hooks = hooks;
  }

  /** live sessions (terminated ones kept briefly to answer their last requests included) */
  get size(): number {
    return this.#sessions.size;
  }

  /** A session by sid (tests and diagnostics). */
  get(sid: string): BoshSession | undefined {
    return this.#sessions.get(sid);
  }

  /** Handles one request body; resolves when its response is due (possibly after `wait`). */
  handle(text: string, info: BoshRequestInfo): Promise<BoshReply> {
    const s = this.#settings;
    const parsed = parseBody(text, s.maxBodyBytes, s.maxDepth);
    if (!parsed.ok) return Promise.resolve(reply("bad-request", false));
    const body = parsed.body;
    const rid = parseRid(body.attrs.rid);
    const sid = body.attrs.sid;
    if (sid === undefined) {
      const legacy = body.attrs.ver === undefined;
      if (rid === null) return Promise.resolve(reply("bad-request", legacy));
      return this.#create(body, rid, info);
    }
    const session = this.#sessions.get(sid);
    if (!session) return Promise.resolve(reply("item-not-found", false));
    if (rid === null) {
      session.terminate("bad-request");
      return Promise.resolve(reply("bad-request", session.legacy));
    }
    return session.request(rid, body);
  }

  /** Ends every session, answering their held requests; clears every timer. */
  stop(): void {
    this.#stopped = true;
    for (const session of [...this.#sessions.values()]) session.shutdown();
    for (const session of [...this.#sessions.values()]) session.dispose();
    this.#sessions.clear();
  }

  #create(body: Element, rid: number, info: BoshRequestInfo): Promise<BoshReply> {
    const s = this.#settings;
    const legacy = body.attrs.ver === undefined;
    if (this.#stopped) return Promise.resolve(reply("system-shutdown", legacy));
    const to = body.attrs.to;
    if (to !== undefined && to.toLowerCase().replace(/\.$/, "") !== s.domain) {
      return Promise.resolve(reply("host-unknown", legacy));
    }
    if (!this.#hooks.admit(info.remoteAddress)) {
      return Promise.resolve(reply("policy-violation", legacy));
    }
    const hold = Math.min(intAttr(body.attrs.hold, 1), s.maxHold);
    const session = new BoshSession({
      sid: newSid(),
      rid,
      wait: Math.min(intAttr(body.attrs.wait, s.maxWait), s.maxWait),
      hold,
      requests: hold + 1,
      legacy,
      ver: body.attrs.ver === undefined ? VERSION : lowerVersion(body.attrs.ver, VERSION),
      lang: body.attrs["xml:lang"],
      settings: s,
      info,
      onGone: (sess) => {
        if (this.#sessions.get(sess.sid) === sess) this.#sessions.delete(sess.sid);
      },
    });
    this.#sessions.set(session.sid, session);
    return session.start(this.#hooks, xboshAttr(body, "version") ?? "1.0");
  }
}

function reply(condition: BoshCondition, legacy: boolean, payload: string[] = []): BoshReply {
  return {
    status: legacy ? LEGACY_STATUS[condition] ?? 200 : 200,
    body: terminateBody(condition, payload),
  };
}

interface Held {
  rid: number;
  resolve: (r: BoshReply) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** extra attributes for this response (the session creation response) */
  attrs: Record<string, string> | null;
  /** an empty request of a polling session, for the polling-interval rule */
  poll: boolean;
}

interface Waiting {
  rid: number;
  body: Element;
  resolve: (r: BoshReply) => void;
}

interface SessionInit {
  sid: string;
  rid: number;
  wait: number;
  hold: number;
  requests: number;
  legacy: boolean;
  ver: string;
  lang: string | undefined;
  settings: BoshSettings;
  info: BoshRequestInfo;
  onGone(session: BoshSession): void;
}

export class BoshSession {
  readonly sid: string;
  readonly wait: number;
  readonly hold: number;
  readonly requests: number;
  readonly legacy: boolean;
  readonly #init: SessionInit;
  readonly #settings: BoshSettings;
  readonly transport: BoshTransport;
  #stream: BoshStream | null = null;
  /** the highest rid processed in order */
  #rid: number;
  #held: Held[] = [];
  #waiting = new Map<number, Waiting>();
  /** responses by rid: pending ones, and the last `requests` answered ones for replay */
  #responses = new Map<number, Promise<BoshReply>>();
  #answered: number[] = [];
  #out: string[] = [];
  #outBytes = 0;
  #streamError = false;
  #flushScheduled = false;
  #inactivityTimer: ReturnType<typeof setTimeout> | undefined;
  #gapTimer: ReturnType<typeof setTimeout> | undefined;
  #tombstoneTimer: ReturnType<typeof setTimeout> | undefined;
  /** seconds of inactivity allowed next time, when the client asked to pause */
  #pause: number | null = null;
  /** the previous request was an empty poll answered with nothing, at this time */
  #lastEmptyPoll: number | null = null;
  /** after termination: what any further request is answered with */
  #final: BoshReply | null = null;

  constructor(init: SessionInit) {
    this.#init = init;
    this.sid = init.sid;
    this.wait = init.wait;
    this.hold = init.hold;
    this.requests = init.requests;
    this.legacy = init.legacy;
    this.#settings = init.settings;
    this.#rid = init.rid;
    this.transport = new BoshTransport(this, init.info);
  }

  get terminated(): boolean {
    return this.#final !== null;
  }

  /** requests not answered yet: held, or waiting for a gap in the rids */
  get unanswered(): number {
    return this.#held.length + this.#waiting.size;
  }

  /** Session creation: opens the stream; the response carries the session attributes. */
  start(hooks: BoshHooks, version: string): Promise<BoshReply> {
    const s = this.#settings;
    const attrs: Record<string, string> = {
      sid: this.sid,
      wait: String(this.wait),
      hold: String(this.hold),
      requests: String(this.requests),
      inactivity: String(s.inactivity),
      polling: String(s.polling),
      maxpause: String(s.maxPause),
      ver: this.#init.ver,
      from: s.domain,
      secure: "true",
      "xmlns:xmpp": NS_XBOSH,
      "xmpp:version": "1.0",
      "xmpp:restartlogic": "true",
    };
    const promise = this.#hold(this.#rid, attrs, false);
    this.#stream = hooks.createStream(this.transport);
    this.#stream.onFrames([this.#openFrame(version)]);
    // The header the machine wrote gave the stream id; the response carries it (attrs is shared
    // with the held request, which is answered later).
    if (this.transport.streamId) attrs.authid = this.transport.streamId;
    this.#scheduleFlush();
    return promise;
  }

  /** A request for this session, in whatever order it arrived. */
  request(rid: number, body: Element): Promise<BoshReply> {
    if (this.#final) return Promise.resolve(this.#final);
    // §14.3: a repeated rid gets the response the original got (or will get).
    const earlier = this.#responses.get(rid);
    if (earlier) return earlier;
    if (rid <= this.#rid || rid > this.#rid + this.requests) {
      return Promise.resolve(this.terminate("item-not-found"));
    }
    clearTimeout(this.#inactivityTimer);
    this.#inactivityTimer = undefined;
    // §11: more unanswered requests than `requests` is overactivity (pause and terminate aside).
    const special = body.attrs.type === "terminate" || body.attrs.pause !== undefined;
    if (!special && this.#held.length + this.#waiting.size + 1 > this.requests) {
      return Promise.resolve(this.terminate("policy-violation"));
    }
    if (rid !== this.#rid + 1) {
      const { promise, resolve } = Promise.withResolvers<BoshReply>();
      this.#responses.set(rid, promise);
      this.#waiting.set(rid, { rid, body, resolve });
      // A gap that never fills must not keep the request (and the session) forever.
      this.#gapTimer ??= setTimeout(() => {
        this.#gapTimer = undefined;
        this.terminate("item-not-found");
      }, this.wait * 1000);
      return promise;
    }
    const promise = this.#process(rid, body, null);
    for (
      let next = this.#waiting.get(this.#rid + 1);
      next;
      next = this.#waiting.get(this.#rid + 1)
    ) {
      this.#waiting.delete(next.rid);
      this.#process(next.rid, next.body, next.resolve);
    }
    if (this.#waiting.size === 0) {
      clearTimeout(this.#gapTimer);
      this.#gapTimer = undefined;
    }
    return promise;
  }

  /**
   * Ends the session with a terminal response. Held requests are answered (the oldest with any
   * queued output), later requests get the same response for a while, the stream hears that its
   * transport is gone. Returns the terminal response.
   */
  terminate(condition?: BoshCondition): BoshReply {
    if (this.#final) return this.#final;
    const payload = this.#takeOut();
    const cond = condition ?? (this.#streamError ? "remote-stream-error" : undefined);
    const status = this.legacy && cond ? LEGACY_STATUS[cond] ?? 200 : 200;
    const first = this.#held.shift();
    // The output goes to the oldest held request, or, with none held, to the next one to come.
    const final: BoshReply = { status, body: terminateBody(cond, first ? [] : payload) };
    this.#final = final;
    this.#clearTimers();
    if (first) this.#settle(first, { status, body: terminateBody(cond, payload) });
    for (const h of this.#held) this.#settle(h, final);
    this.#held = [];
    for (const w of this.#waiting.values()) w.resolve(final);
    this.#waiting.clear();
    // Keep answering this sid with its end for a while, so a client that was not holding a
    // request when the server ended the session still learns why.
    this.#tombstoneTimer = setTimeout(() => this.dispose(), this.#settings.inactivity * 1000);
    queueMicrotask(() => {
      if (this.#stream && this.#stream.open !== false) this.#stream.onTransportClosed();
    });
    return final;
  }

  /** Server shutdown: the stream says goodbye (system-shutdown), then the session ends. */
  shutdown(): void {
    if (!this.#final) this.#stream?.shutdown();
    // The machine answers SHUTDOWN synchronously; whatever it did not end ends here.
    this.#flush();
    this.terminate("system-shutdown");
  }

  /** Forgets the session: no timers left, no request left unanswered. */
  dispose(): void {
    if (!this.#final) this.terminate();
    this.#clearTimers();
    this.#init.onGone(this);
  }

  // ---- called by the transport ----

  enqueue(xml: string, streamError: boolean): void {
    if (this.#final) return;
    if (streamError) this.#streamError = true;
    this.#out.push(xml);
    this.#outBytes += xml.length;
    if (this.#outBytes > this.#settings.maxQueuedBytes) {
      // The client stopped collecting its output: end rather than buffer without bound.
      this.#out = [];
      this.#outBytes = 0;
      this.terminate("policy-violation");
      return;
    }
    this.#scheduleFlush();
  }

  // ---- internals ----

  #openFrame(version: string): FrameEvent {
    const attrs: Record<string, string> = {
      xmlns: NS.client,
      "xmlns:stream": NS.stream,
      to: this.#settings.domain,
      version,
    };
    if (this.#init.lang) attrs["xml:lang"] = this.#init.lang;
    return { kind: "open", name: "stream:stream", attrs };
  }

  /** Processes a request in rid order; `resolve` is set for one that waited for a gap. */
  #process(
    rid: number,
    body: Element,
    resolve: ((r: BoshReply) => void) | null,
  ): Promise<BoshReply> {
    this.#rid = rid;
    // §11: a new request while holding `hold` releases the oldest. A request that waited for a
    // gap counts from when it is processed, so until then the held one stays held.
    while (this.#held.length > 0 && this.#held.length >= this.hold) this.#answer(this.#held[0]!);
    const payload = body.elements();
    const restart = xboshAttr(body, "restart") === "true";
    const terminating = body.attrs.type === "terminate";
    const pause = body.attrs.pause;
    const emptyPoll = this.hold === 0 && payload.length === 0 && !restart && !terminating &&
      pause === undefined;
    if (emptyPoll && this.#lastEmptyPoll !== null) {
      // §12: two empty polls closer than `polling` seconds, the first answered with nothing.
      if (Date.now() - this.#lastEmptyPoll < this.#settings.polling * 1000) {
        const final = this.terminate("policy-violation");
        resolve?.(final);
        return Promise.resolve(final);
      }
    }
    this.#lastEmptyPoll = null;
    let promise: Promise<BoshReply>;
    if (resolve) {
      promise = this.#responses.get(rid)!;
      this.#hold(rid, null, emptyPoll, resolve);
    } else promise = this.#hold(rid, null, emptyPoll);
    const stream = this.#stream!;
    if (restart) stream.onFrames([this.#openFrame("1.0")]);
    if (payload.length) {
      stream.onFrames(payload.map((element) => ({ kind: "element", element, bytes: 0 })));
    }
    if (terminating) {
      // The payload (typically unavailable presence) goes first, then the stream ends; the
      // machine's close answers this request with type='terminate'.
      stream.onFrames([{ kind: "close" }]);
      if (!this.#final) this.terminate();
    } else if (pause !== undefined) {
      // §10: the client will be away; answer everything now and allow the longer silence.
      const seconds = intAttr(pause, 0);
      if (seconds > this.#settings.maxPause) {
        const final = this.terminate("policy-violation");
        return Promise.resolve(final);
      }
      this.#pause = seconds;
      this.#flush();
      while (this.#held.length) this.#answer(this.#held[0]!);
    }
    this.#scheduleFlush();
    return promise;
  }

  #hold(
    rid: number,
    attrs: Record<string, string> | null,
    poll: boolean,
    existing?: (r: BoshReply) => void,
  ): Promise<BoshReply> {
    let promise: Promise<BoshReply> | undefined;
    let resolve = existing;
    if (!resolve) {
      const d = Promise.withResolvers<BoshReply>();
      promise = d.promise;
      resolve = d.resolve;
      this.#responses.set(rid, promise);
    }
    const held: Held = { rid, resolve, attrs, poll, timer: undefined };
    held.timer = setTimeout(() => this.#answer(held), this.wait * 1000);
    this.#held.push(held);
    return promise ?? this.#responses.get(rid)!;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#final) return;
    this.#flushScheduled = true;
    // Output written in the same tick goes out in one response.
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#final) return;
    if (this.#out.length && this.#held.length) this.#answer(this.#held[0]!);
    // Polling sessions (hold = 0) are answered at once, with or without output.
    while (this.#held.length > this.hold) this.#answer(this.#held[0]!);
  }

  #takeOut(): string[] {
    const out = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    return out;
  }

  #answer(held: Held): void {
    const i = this.#held.indexOf(held);
    if (i < 0) return;
    this.#held.splice(i, 1);
    const payload = this.#takeOut();
    if (held.poll && payload.length === 0) this.#lastEmptyPoll = Date.now();
    this.#settle(held, { status: 200, body: responseBody(held.attrs ?? {}, payload) });
    if (this.#held.length === 0 && this.#waiting.size === 0 && !this.#final) {
      const seconds = this.#pause ?? this.#settings.inactivity;
      this.#pause = null;
      clearTimeout(this.#inactivityTimer);
      this.#inactivityTimer = setTimeout(() => {
        this.#inactivityTimer = undefined;
        this.terminate();
      }, seconds * 1000);
    }
  }

  #settle(held: Held, r: BoshReply): void {
    clearTimeout(held.timer);
    held.resolve(r);
    this.#answered.push(held.rid);
    while (this.#answered.length > this.requests) {
      this.#responses.delete(this.#answered.shift()!);
    }
  }

  #clearTimers(): void {
    clearTimeout(this.#inactivityTimer);
    clearTimeout(this.#gapTimer);
    clearTimeout(this.#tombstoneTimer);
    this.#inactivityTimer = this.#gapTimer = this.#tombstoneTimer = undefined;
    for (const h of this.#held) clearTimeout(h.timer);
  }
}

/** The StreamTransport side of a BOSH session: what the connection machine writes lands here. */
export class BoshTransport implements StreamTransport {
  readonly kind = "bosh" as const;
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly canStartTls = false;
  /** the stream id from the first header, sent as `authid` */
  streamId = "";
  readonly #session: BoshSession;

  constructor(session: BoshSession, info: BoshRequestInfo) {
    this.#session = session;
    this.remoteAddress = info.remoteAddress;
    this.secure = info.secure;
  }

  get sid(): string {
    return this.#session.sid;
  }

  /** The session creation response (or nothing, at a restart) stands for the header. */
  sendHeader(attrs: Record<string, string>): void {
    if (!this.streamId && attrs.id) this.streamId = attrs.id;
  }

  sendElement(el: Element): void {
    const streamError = el.localName === "error" &&
      (el.ns ?? (el.prefix === "stream" ? NS.stream : undefined)) === NS.stream;
    this.#session.enqueue(serializeStandalone(el), streamError);
  }

  /** The stream ends: the session ends with it (type='terminate'). */
  sendClose(): void {
    this.#session.terminate();
  }

  resetParser(): void {}

  startTls(): void {
    // Never offered (canStartTls is false); HTTPS is the encryption.
  }

  close(): void {
    this.#session.terminate();
  }
}
