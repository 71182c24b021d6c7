/**
 * One client stream: the connection actor (`c2s:<streamId>`) wired to its transport and to the
 * core. It implements the machine's actions (writing, TLS, closing, running SASL steps and binding
 * and answering with their results), and is the `Session` the router and plugins see.
 *
 * Ordering: RFC 6120 §10.1 wants a session's stanzas processed in order, so each stanza waits for
 * the previous one; frames that arrive while the machine waits on SASL, binding or TLS are held
 * and replayed, never dropped.
 */
import type { Actor } from "xstate";
import { Element, x } from "../xml/element.ts";
import type { FrameEvent } from "../xml/framer.ts";
import { type JID, tryParseJid } from "../jid/mod.ts";
import { NS } from "../protocol/ns.ts";
import { type StreamErrorCondition, streamErrorElement } from "../protocol/errors.ts";
import type {
  SaslCondition,
  SaslMechanismFactory,
  SaslSession,
  SaslStep,
} from "../protocol/sasl/mechanism.ts";
import { encodeBase64Payload } from "../protocol/sasl/mechanism.ts";
import type { AuthThrottle } from "../protocol/sasl/throttle.ts";
import {
  type BindOutput,
  classifyElement,
  connectionMachine,
  type MechanismOffer,
} from "../actors/connection_machine.ts";
import type { Session, TransportKind } from "../router/session.ts";
import type { Core } from "../server/core.ts";
import { logger } from "../log/mod.ts";
import { stopGuest, SystemPool } from "../actors/system_pool.ts";
import type { StreamTransport } from "./transport.ts";

const log = logger("c2s");

/** What sess-man offers streams: binding and unbinding resources. */
export interface SessionBinder {
  bind(session: StreamSession, username: string, resource: string | null): Promise<BindOutput>;
  unbind(session: StreamSession): void;
}

export interface StreamSessionOptions {
  core: Core;
  transport: StreamTransport;
  mechanisms: SaslMechanismFactory[];
  throttle: AuthThrottle;
  binder: SessionBinder;
  /** loopback and other exempt addresses skip the per-address auth throttle */
  throttleExempt: boolean;
}

/** The session behind each connection actor, for the machine's shared action implementations. */
const sessionsByActor = new WeakMap<object, StreamSession>();
/** Connection actors share XState systems, as user actors do: a system per actor cost ~2.3 KB. */
const systems = new SystemPool(64);

// What every connection actor of a server is told about SASL and pre-auth iqs is the same: built
// once and shared (frozen), not copied into each idle session (~300 bytes each).
const offers = new WeakMap<SaslMechanismFactory[], MechanismOffer[]>();
function offersOf(mechanisms: SaslMechanismFactory[]): MechanismOffer[] {
  let o = offers.get(mechanisms);
  if (!o) {
    o = Object.freeze(
      mechanisms.map((m) => Object.freeze({ name: m.name, requiresTls: m.requiresTls })),
    ) as MechanismOffer[];
    offers.set(mechanisms, o);
  }
  return o;
}
const preAuth = new WeakMap<Core, { size: number; namespaces: string[] }>();
function preAuthNamespacesOf(core: Core): string[] {
  const cached = preAuth.get(core);
  // Handlers are registered at start-up; a change in count means one was added since.
  if (cached && cached.size === core.preAuthIq.size) return cached.namespaces;
  const namespaces = Object.freeze([...core.preAuthIq.keys()]) as string[];
  preAuth.set(core, { size: core.preAuthIq.size, namespaces });
  return namespaces;
}

let counter = 0;
function newStreamId(): string {
  counter = (counter + 1) % 0x7fffffff;
  return crypto.randomUUID().slice(0, 18).replace(/-/g, "") + counter.toString(36);
}

/** States where the machine waits on something asynchronous: frames wait meanwhile. */
const BUSY = new Set(["authenticating", "startingTls", "bindingResource"]);

export class StreamSession implements Session {
  readonly id = newStreamId();
  readonly transport: TransportKind;
  readonly remoteAddress: string;
  readonly data = new Map<string, unknown>();
  available = false;
  priority = 0;
  presence: Element | null = null;
  interested = false;
  jid: JID | null = null;

  readonly #core: Core;
  readonly #io: StreamTransport;
  readonly #opts: StreamSessionOptions;
  readonly #actor: Actor<typeof connectionMachine>;
  #sasl: SaslSession | null = null;
  /** gives the actor's place in a shared system back (once, whichever way the actor ended) */
  readonly #releaseHost: () => void;
  #established = false;
  #ended = false;
  #held: FrameEvent[] = [];
  #chain: Promise<void> = Promise.resolve();

  /**
   * The machine with this adapter's implementations, built once: `provide()` builds a whole
   * StateMachine, too costly (time and memory) per connection. Each implementation finds its
   * session through the actor system it runs in.
   */
  static #machine = (() => {
    const on = <P>(fn: (s: StreamSession, p: P) => void) => ({ self }: { self: unknown }, p: P) =>
      fn(StreamSession.#of(self), p);
    return connectionMachine.provide({
      actions: {
        sendHeader: on((s) => s.#sendHeader()),
        sendFeatures: on((s, p: { stage: "pre-auth" | "post-auth" }) => s.#sendFeatures(p.stage)),
        sendTlsProceed: on((s) => s.#io.sendElement(x("proceed", { xmlns: NS.tls }))),
        sendTlsFailure: on((s) => s.#io.sendElement(x("failure", { xmlns: NS.tls }))),
        startTls: on((s) => s.#io.startTls()),
        resetParser: on((s) => s.#io.resetParser()),
        sendSaslChallenge: on((s, p: { data: Uint8Array }) =>
          s.#io.sendElement(x("challenge", { xmlns: NS.sasl }, encodeBase64Payload(p.data)))
        ),
        sendSaslSuccess: on((s, p: { data?: Uint8Array }) =>
          s.#io.sendElement(
            x("success", { xmlns: NS.sasl }, p.data ? encodeBase64Payload(p.data) : null),
          )
        ),
        sendSaslFailure: on((s, p: { condition: SaslCondition; text?: string }) =>
          s.#io.sendElement(
            x(
              "failure",
              { xmlns: NS.sasl },
              x(p.condition),
              p.text ? x("text", {}, p.text) : null,
            ),
          )
        ),
        sendBindResult: on((s, p: { id: string; jid: string }) =>
          s.#io.sendElement(
            x(
              "iq",
              { type: "result", id: p.id },
              x("bind", { xmlns: NS.bind }, x("jid", {}, p.jid)),
            ),
          )
        ),
        sendBindError: on((s, p: { id: string; condition: string }) =>
          s.#io.sendElement(
            x(
              "iq",
              { type: "error", id: p.id },
              x(
                "error",
                { type: p.condition === "conflict" ? "cancel" : "modify" },
                x(p.condition, { xmlns: NS.stanzas }),
              ),
            ),
          )
        ),
        routePreAuth: on((s, p: { element: Element }) => s.#preAuthIq(p.element)),
        deliver: on((s, p: { element: Element }) => s.#deliver(p.element)),
        sendStreamError: on((s, p: { condition: StreamErrorCondition; text?: string }) => {
          const errors = s.#core.router.counters.streamErrors;
          errors[p.condition] = (errors[p.condition] ?? 0) + 1;
          s.#io.sendElement(streamErrorElement(p.condition, p.text));
        }),
        sendClose: on((s) => s.#io.sendClose()),
        closeTransport: on((s) => s.#io.close()),
        sessionEstablished: on((s, p: { jid: string }) => {
          s.jid = tryParseJid(p.jid);
          s.#established = true;
          void s.#core.hooks.fire("session/bound", { session: s });
        }),
        sessionEnded: on((s) => s.#ended || s.#end()),
        authFailed: on((s, p: { condition: SaslCondition }) => {
          if (!s.#opts.throttleExempt) s.#opts.throttle.fail(s.remoteAddress);
          log.info("authentication failed from {remote}: {condition}", {
            remote: s.remoteAddress,
            condition: p.condition,
          });
        }),
        authSucceeded: on((s, p: { username: string }) => {
          s.#opts.throttle.succeed(s.remoteAddress);
          log.debug("authenticated {user} from {remote}", {
            user: p.username,
            remote: s.remoteAddress,
          });
        }),
        runSaslStep: on((s, p: { mechanism: string; data: Uint8Array | null }) => {
          s.#saslStep(p.mechanism, p.data).then(
            (step) => s.#actor.send({ type: "SASL_STEP", step }),
            (e) => {
              log.warning("SASL step failed: {e}", { e: String(e) });
              s.#actor.send({ type: "SASL_STEP_FAILED" });
            },
          );
        }),
        bindResource: on((s, p: { username: string; resource: string | null }) => {
          s.#opts.binder.bind(s, p.username, p.resource).then(
            (result) => s.#actor.send({ type: "BOUND", result }),
            (e) => {
              log.error("resource binding failed: {e}", { e: String(e) });
              s.#actor.send({ type: "BIND_FAILED" });
            },
          );
        }),
      },
    });
  })();

  static #of(actor: unknown): StreamSession {
    const s = sessionsByActor.get(actor as object);
    if (!s) throw new Error("no stream session for this actor");
    return s;
  }

  constructor(opts: StreamSessionOptions) {
    this.#core = opts.core;
    this.#io = opts.transport;
    this.#opts = opts;
    this.transport = opts.transport.kind;
    this.remoteAddress = opts.transport.remoteAddress;
    const cfg = opts.core.config;
    const actorId = `c2s:${this.id}`;
    const { actor, release } = systems.guest(StreamSession.#machine, {
      systemId: actorId,
      inspect: this.#core.actors.inspectorFor(actorId),
      input: {
        streamId: this.id,
        domain: cfg.domain,
        secure: this.#io.secure,
        tlsAvailable: this.#io.canStartTls,
        requireEncryption: cfg.c2s.require_encryption,
        mechanisms: offersOf(opts.mechanisms),
        preAuthIqNamespaces: preAuthNamespacesOf(this.#core),
        openTimeoutMs: cfg.c2s.stream_open_timeout_seconds * 1000,
        negotiationTimeoutMs: cfg.c2s.auth_timeout_seconds * 1000,
        maxSaslFailures: 5,
      },
    });
    this.#actor = actor;
    this.#releaseHost = release;
    this.#actor.subscribe({
      next: (snap) => {
        if (this.#held.length && !this.#busy()) this.#releaseHeld();
        if (snap.status === "done" && !this.#ended) this.#end();
      },
      error: (e) => {
        log.error("connection actor failed: {e}", { e: String(e) });
        this.#releaseHost();
      },
    });
    sessionsByActor.set(this.#actor, this);
    this.#core.actors.add(actorId, this.#actor, { transport: this.transport });
    this.#actor.start();
  }

  get secure(): boolean {
    return this.#io.secure;
  }

  get open(): boolean {
    return !this.#ended;
  }

  get state(): string {
    return JSON.stringify(this.#actor.getSnapshot().value);
  }

  /** Frames from the transport's framer. */
  onFrames(frames: FrameEvent[]): void {
    for (const f of frames) this.#onFrame(f);
  }

  onTransportClosed(): void {
    this.#actor.send({ type: "SOCKET_CLOSED" });
  }

  onTlsDone(ok: boolean): void {
    this.#actor.send({ type: ok ? "TLS_DONE" : "TLS_FAILED" });
  }

  send(stanza: Element, serialized?: string): void {
    if (this.#ended) return;
    const sent = this.#core.router.counters.sent;
    const kind = stanza.localName as keyof typeof sent;
    if (kind in sent) sent[kind]++;
    const hooks = this.#core.hooks;
    if (hooks.has("interceptor/outgoing/before") || hooks.has("interceptor/outgoing/after")) {
      // Interceptors may change the stanza: it is serialized after them.
      this.#chainOut(stanza);
      return;
    }
    this.#io.sendElement(stanza, serialized);
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    if (condition) this.#actor.send({ type: "STREAM_ERROR", condition, text });
    else this.#actor.send({ type: "END" });
  }

  /** Another session took this full JID (conflict policy: the newest wins). */
  replaced(): void {
    this.#actor.send({ type: "REPLACED" });
  }

  shutdown(): void {
    this.#actor.send({ type: "SHUTDOWN" });
  }

  #outChain: Promise<void> = Promise.resolve();
  #chainOut(stanza: Element): void {
    const hooks = this.#core.hooks;
    this.#outChain = this.#outChain.then(async () => {
      try {
        await hooks.fireInterceptors("interceptor/outgoing/before", {
          stanza,
          session: this,
          incoming: false,
          processed: false,
        });
      } catch {
        return; // an interceptor vetoed delivery of this stanza to this session
      }
      this.#io.sendElement(stanza);
      await hooks.fireInterceptors("interceptor/outgoing/after", {
        stanza,
        session: this,
        incoming: false,
        processed: true,
      });
    });
  }

  #busy(): boolean {
    const value = this.#actor.getSnapshot().value;
    if (typeof value === "string") return false;
    const inner = (value as Record<string, unknown>).negotiating;
    return typeof inner === "string" && BUSY.has(inner);
  }

  #onFrame(f: FrameEvent): void {
    if (this.#established && f.kind === "element") {
      this.#deliver(f.element);
      return;
    }
    if (this.#held.length || this.#busy()) {
      this.#held.push(f);
      return;
    }
    this.#dispatch(f);
  }

  #releaseHeld(): void {
    while (this.#held.length && !this.#busy()) {
      const f = this.#held.shift()!;
      if (this.#established && f.kind === "element") this.#deliver(f.element);
      else this.#dispatch(f);
    }
  }

  #dispatch(f: FrameEvent): void {
    switch (f.kind) {
      case "open":
        this.#actor.send({ type: "OPEN", attrs: f.attrs });
        break;
      case "element":
        this.#actor.send(classifyElement(f.element));
        break;
      case "close":
        this.#actor.send({ type: "CLOSE" });
        break;
      case "error":
        this.#actor.send({ type: "STREAM_ERROR", condition: f.condition, text: f.text });
        // Nothing after broken XML can be read, so there is no closing tag to wait for.
        this.#io.close();
        break;
    }
  }

  #deliver(el: Element): void {
    if (el.ns === NS.sasl || el.ns === NS.tls) {
      this.close("policy-violation", "stream already negotiated");
      return;
    }
    if (el.localName === "iq" && el.getChild("bind", NS.bind)) {
      this.#actor.send(classifyElement(el));
      return;
    }
    const router = this.#core.router;
    this.#chain = this.#chain.then(() => router.fromSession(this, el)).catch((e) => {
      log.error("stanza processing failed: {e}", { e: String(e) });
    });
  }

  async #saslStep(mechanism: string, data: Uint8Array | null): Promise<SaslStep> {
    if (!this.#opts.throttleExempt) {
      const verdict = this.#opts.throttle.check(this.remoteAddress);
      if (!verdict.allowed) {
        this.#sasl = null;
        return {
          type: "failure",
          condition: "temporary-auth-failure",
          text: `too many failed logins: retry in ${Math.ceil(verdict.retryAfterMs / 1000)} s`,
        };
      }
    }
    if (!this.#sasl) {
      const factory = this.#opts.mechanisms.find((m) => m.name === mechanism);
      if (!factory) return { type: "failure", condition: "invalid-mechanism" };
      const accounts = this.#core.db.accounts;
      const domain = this.#core.domain;
      this.#sasl = factory.create({
        secure: this.secure,
        domain,
        lookup: (username) => accounts.credentials(`${username}@${domain}`),
      });
    }
    const step = await this.#sasl.step(data);
    if (step.type !== "challenge") this.#sasl = null;
    return step;
  }

  #headersSent = 0;

  #sendHeader(): void {
    // RFC 6120 §5.4.3.3, §6.4.6: the header answering a restart (after STARTTLS, after SASL)
    // carries a new stream ID, never the old one. The first one is the session's own id.
    const id = this.#headersSent++ === 0 ? this.id : newStreamId();
    this.#io.sendHeader({
      xmlns: NS.client,
      "xmlns:stream": NS.stream,
      id,
      from: this.#core.domain,
      version: "1.0",
      "xml:lang": "en",
    });
  }

  #sendFeatures(stage: "pre-auth" | "post-auth"): void {
    const features = x("stream:features");
    const secure = this.secure;
    if (stage === "pre-auth") {
      const cfg = this.#core.config.c2s;
      if (this.#io.canStartTls) {
        features.append(
          x("starttls", { xmlns: NS.tls }, cfg.require_encryption ? x("required") : null),
        );
      }
      // With encryption required, SASL is offered only once the stream is encrypted.
      if (secure || !cfg.require_encryption) {
        const offered = this.#opts.mechanisms.filter((m) => !m.requiresTls || secure);
        if (offered.length) {
          features.append(
            x("mechanisms", { xmlns: NS.sasl }, ...offered.map((m) => x("mechanism", {}, m.name))),
          );
        }
      }
    }
    const ctx = { secure, authenticated: stage === "post-auth", session: this };
    for (const el of this.#core.features.build(stage, ctx)) features.append(el);
    this.#io.sendElement(features);
  }

  #preAuthIq(el: Element): void {
    const payload = el.elements()[0];
    const handler = payload ? this.#core.preAuthIq.get(payload.ns ?? "") : undefined;
    if (!handler) return;
    handler(el, {
      remoteAddress: this.remoteAddress,
      secure: this.secure,
      reply: (r) => this.#io.sendElement(r),
    }).catch((e) => log.error("pre-auth iq failed: {e}", { e: String(e) }));
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held = [];
    this.#core.actors.remove(`c2s:${this.id}`);
    if (this.#established) {
      this.#established = false;
      this.#opts.binder.unbind(this);
      void this.#core.hooks.fire("session/closed", { session: this });
    }
    if (this.#actor.getSnapshot().status === "active") stopGuest(this.#actor);
    this.#releaseHost();
    this.#io.close();
  }
}
