/**
 * The user actors (`user:<bareJid>`): spawned on demand when a session binds or a message
 * arrives, stopped by their machine when idle. This file is the adapter that carries out the
 * machine's decisions: writing to sessions, bouncing, and the offline store (msgoffline).
 */
import { type Actor, fromPromise } from "xstate";
import type { Element } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import type { JID } from "../../jid/mod.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError, type StanzaErrorCondition } from "../../protocol/errors.ts";
import type { MessageAccepted, StanzaEvent } from "../../router/hooks.ts";
import type { Session } from "../../router/session.ts";
import type { Core } from "../../server/core.ts";
import {
  type InboundMessage,
  type LiveAction,
  liveDecision,
  type StoreOutput,
  type UserContext,
  userMachine,
} from "../../actors/user_machine.ts";
import type { OfflineService } from "../msgoffline/mod.ts";
import { logger } from "../../log/mod.ts";
import { stopGuest, SystemPool } from "../../actors/system_pool.ts";
import { deliverable, highestPriority } from "./delivery.ts";
import type { SessionRegistry } from "./sessions.ts";

const log = logger("users");

/** What a user actor remembers of where a message came from, to bounce or notify. */
interface Envelope {
  from: JID;
  to: JID;
  origin: Session | null;
}

export interface UserCounters {
  delivered: number;
  bounced: number;
  dropped: number;
  stored: number;
}

export class UserManager {
  readonly #actors = new Map<string, Actor<typeof userMachine>>();
  /**
   * Online users at rest: their actor was stopped in `online.live` with nothing held, and this is
   * its context. An idle online user keeps ~100 bytes here instead of a ~2.6 KB actor; the next
   * event for the user restores the actor in the same state, and live messages are decided from
   * this context directly (the same `liveDecision` the running actor's fast path uses). Not used
   * while the inspector watches, so every user it could show stays an actor.
   */
  readonly #resting = new Map<string, UserContext>();
  readonly #envelopes = new WeakMap<Element, Envelope>();
  readonly #known = new Set<string>();
  /** users known to have nothing stored offline (bounded; forgetting only costs a query) */
  readonly #offlineEmpty = new BoundedSet<string>(100_000);
  readonly counters: UserCounters = { delivered: 0, bounced: 0, dropped: 0, stored: 0 };
  /** user actors share XState systems: one per actor was 40% of an idle user's actor */
  readonly #systems = new SystemPool(64);
  #seq = 0;

  constructor(
    readonly core: Core,
    readonly sessions: SessionRegistry,
    readonly idleTimeoutMs: number,
  ) {}

  /** users with an actor or at rest (online, idle) */
  get size(): number {
    return this.#actors.size + this.#resting.size;
  }

  /** online users at rest, without a running actor (for tests and metrics) */
  get resting(): number {
    return this.#resting.size;
  }

  #offline(): OfflineService | null {
    return this.core.hasService("offline") ? this.core.service<OfflineService>("offline") : null;
  }

  /** Whether a local account exists; positive answers are cached (accounts are rarely deleted). */
  async exists(bare: string): Promise<boolean> {
    if (this.#knownNow(bare)) return true;
    const yes = await this.core.db.accounts.exists(bare);
    if (yes) this.#known.add(bare);
    return yes;
  }

  /** Known to exist without asking the database: cached, or with an actor or at rest. */
  #knownNow(bare: string): boolean {
    return this.#known.has(bare) || this.#actors.has(bare) || this.#resting.has(bare);
  }

  forget(bare: string): void {
    this.#known.delete(bare);
  }

  /** The machine with this adapter's implementations, built once (provide() is costly). */
  #machine = this.#provide();

  #provide() {
    return userMachine.provide({
      actions: {
        deliverToResource: ({ context }, p) => this.#toResource(context.jid, p.message, p.resource),
        deliverToHighest: ({ context }, p) => this.#toHighest(context.jid, p.message),
        deliverToAll: ({ context }, p) => this.#toAll(context.jid, p.message),
        bounce: (_, p) => this.#bounce(p.message, p.condition),
        drop: ({ context }, p) => this.#drop(context.jid, p.message, p.reason),
        stored: () => {
          this.counters.stored++;
        },
      },
      guards: {
        // Nothing can be stored without msgoffline, and an owner in #offlineEmpty has nothing
        // stored (see flushOffline).
        nothingStored: ({ context }) => !this.#offline() || this.#offlineEmpty.has(context.jid),
      },
      actors: {
        storeOffline: fromPromise(({ input }) => this.#store(input.owner, input.messages)),
        flushOffline: fromPromise(async ({ input }) => {
          const offline = this.#offline();
          const session = this.sessions.byResource(input.owner, input.resource);
          if (!offline || !session) return { delivered: 0 };
          // Users whose store this process emptied and has not written to since need no query:
          // a user's offline messages are only ever written by the node that holds their actor.
          if (this.#offlineEmpty.has(input.owner)) return { delivered: 0 };
          const delivered = await offline.flush(input.owner, session);
          if (session.open !== false) this.#offlineEmpty.add(input.owner);
          return { delivered };
        }),
      },
    });
  }

  actor(bare: string): Actor<typeof userMachine> {
    const existing = this.#actors.get(bare);
    if (existing && existing.getSnapshot().status === "active") return existing;
    const actorId = `user:${bare}`;
    const rested = this.#resting.get(bare);
    this.#resting.delete(bare);
    const { actor: ref, release } = this.#systems.guest(this.#machine, {
      systemId: actorId,
      inspect: this.core.actors.inspectorFor(actorId),
      // A user at rest comes back exactly where it stopped (no entry actions run again).
      snapshot: rested
        ? this.#machine.resolveState({ value: { online: "live" }, context: rested })
        : undefined,
      input: {
        jid: bare,
        offline: this.#offline()?.strategy ?? null,
        idleTimeoutMs: this.idleTimeoutMs,
      },
    });
    ref.subscribe({
      next: () => this.#restLater(bare, ref),
      complete: () => {
        release();
        if (this.#actors.get(bare) === ref) this.#actors.delete(bare);
        this.core.actors.remove(actorId);
      },
      error: (e) => {
        release();
        log.error("user actor {user} failed: {e}", { user: bare, e: String(e) });
      },
    });
    this.#actors.set(bare, ref);
    this.core.actors.add(actorId, ref);
    ref.start();
    return ref;
  }

  readonly #restQueue = new Set<string>();

  /** After the actor's current step, puts it to rest if it has nothing to do (see #resting). */
  #restLater(bare: string, ref: Actor<typeof userMachine>): void {
    if (this.core.actors.inspecting || this.#restQueue.has(bare)) return;
    this.#restQueue.add(bare);
    queueMicrotask(() => {
      this.#restQueue.delete(bare);
      if (this.#actors.get(bare) !== ref || this.core.actors.inspecting) return;
      const snap = ref.getSnapshot();
      if (snap.status !== "active" || !snap.matches({ online: "live" })) return;
      if (snap.context.held.length > 0 || snap.context.pending.length > 0) return;
      this.#resting.set(bare, snap.context);
      this.#actors.delete(bare);
      this.core.actors.remove(`user:${bare}`);
      stopGuest(ref);
    });
  }

  /** A message for a local user (bare or full JID): the user's actor decides what happens. */
  message(ev: StanzaEvent): boolean | Promise<boolean> {
    const bare = ev.to.bare;
    if (this.#knownNow(bare)) return this.#dispatch(ev);
    return this.exists(bare).then((yes) => {
      if (!yes) throw new StanzaError("service-unavailable");
      return this.#dispatch(ev);
    });
  }

  #dispatch(ev: StanzaEvent): boolean {
    const bare = ev.to.bare;
    const stanza = ev.stanza;
    this.#envelopes.set(stanza, { from: ev.from, to: ev.to, origin: ev.origin });
    const message: InboundMessage = {
      seq: ++this.#seq,
      stanza,
      type: stanza.attrs.type ?? "normal",
      resource: ev.to.resource === "" ? null : ev.to.resource,
      storable: isStorable(stanza),
    };
    const rested = this.#resting.get(bare);
    if (rested && !this.core.actors.inspecting) {
      this.#runLive(bare, liveDecision(rested, message), message);
      return true;
    }
    const actor = this.actor(bare);
    // Hot path: a live user's decision needs no event, only a guard on the current state
    // (liveDecision mirrors the live state's transitions). With the inspector attached every
    // message takes the evented route so it can be traced.
    if (!this.core.actors.inspecting) {
      const snap = actor.getSnapshot();
      if (snap.context.held.length === 0 && snap.matches({ online: "live" })) {
        this.#runLive(bare, liveDecision(snap.context, message), message);
        return true;
      }
    }
    actor.send({ type: "MESSAGE", message });
    return true;
  }

  #runLive(bare: string, action: LiveAction, m: InboundMessage): void {
    switch (action) {
      case "deliverToResource":
        return this.#toResource(bare, m, m.resource ?? "");
      case "deliverToHighest":
        return this.#toHighest(bare, m);
      case "deliverToAll":
        return this.#toAll(bare, m);
      case "bounce":
        return this.#bounce(m, "service-unavailable");
      case "drop":
        return this.#drop(bare, m, "error to gone resource");
    }
  }

  #toResource(bare: string, m: InboundMessage, resource: string): void {
    const s = this.sessions.byResource(bare, resource);
    this.#deliver(m, s ? [s] : []);
  }

  #toHighest(bare: string, m: InboundMessage): void {
    this.#deliver(m, highestPriority(this.sessions.ofUser(bare)));
  }

  #toAll(bare: string, m: InboundMessage): void {
    this.#deliver(m, deliverable(this.sessions.ofUser(bare)));
  }

  #bounce(m: InboundMessage, condition: StanzaErrorCondition): void {
    this.counters.bounced++;
    this.core.router.bounce(m.stanza, new StanzaError(condition));
  }

  #drop(bare: string, _m: InboundMessage, reason: string): void {
    this.counters.dropped++;
    log.debug("message to {user} dropped: {reason}", { user: bare, reason });
  }

  sessionBound(session: Session): void {
    const jid = session.jid;
    if (!jid) return;
    this.#known.add(jid.bare);
    this.actor(jid.bare).send({ type: "SESSION_BOUND", resource: jid.resource });
  }

  presence(session: Session): void {
    const jid = session.jid;
    if (!jid) return;
    this.actor(jid.bare).send({
      type: "PRESENCE",
      resource: jid.resource,
      priority: session.available ? session.priority : null,
    });
  }

  sessionClosed(session: Session): void {
    const jid = session.jid;
    if (!jid) return;
    if (!this.#actors.has(jid.bare) && !this.#resting.has(jid.bare)) return;
    this.actor(jid.bare).send({ type: "SESSION_CLOSED", resource: jid.resource });
  }

  stopAll(): void {
    for (const a of [...this.#actors.values()]) stopGuest(a);
    this.#actors.clear();
    this.#resting.clear();
  }

  /** XState systems the user actors live in (for tests). */
  get systems(): number {
    return this.#systems.hosts;
  }

  #envelope(m: InboundMessage): Envelope {
    return this.#envelopes.get(m.stanza)!;
  }

  /**
   * Fires message/accepted for a message about to be delivered or stored; returns the stanza's
   * serialization when a handler made it (MessageAccepted.serialized).
   */
  #accept(
    m: InboundMessage,
    env: Envelope,
    outcome: MessageAccepted["outcome"],
  ): string | undefined {
    const accepted: MessageAccepted = {
      stanza: m.stanza,
      from: env.from,
      to: env.to,
      outcome,
      origin: env.origin,
    };
    this.core.hooks.fireSync("message/accepted", accepted);
    return accepted.serialized;
  }

  #deliver(m: InboundMessage, targets: Session[]): void {
    const env = this.#envelope(m);
    const hooks = this.core.hooks;
    if (targets.length === 0) {
      // The resource went away between decision and delivery: the sender hears of it.
      this.counters.bounced++;
      this.core.router.bounce(m.stanza, new StanzaError("service-unavailable"));
      return;
    }
    const serialized = m.storable ? this.#accept(m, env, "delivered") : undefined;
    for (const s of targets) s.send(m.stanza, serialized);
    this.counters.delivered++;
    hooks.fireSync("message/delivered", {
      stanza: m.stanza,
      from: env.from,
      to: env.to,
      sessions: targets,
    });
  }

  async #store(owner: string, messages: InboundMessage[]): Promise<StoreOutput[]> {
    this.#offlineEmpty.delete(owner);
    const offline = this.#offline();
    if (!offline) return messages.map(() => ({ stored: false, reason: "over-quota" }));
    const encoder = new TextEncoder();
    const stored = await offline.storeBatch(
      owner,
      messages.map((m) => {
        const env = this.#envelope(m);
        return {
          from: env.from.full,
          fromBare: env.from.bare,
          // The store counts octets (octet_length), so the quota check must too.
          bytes: encoder.encode(serialize(m.stanza)).byteLength,
          // Accepted before it is written, so the stored copy carries the archive's stamp.
          prepare: () => this.#accept(m, env, "stored") ?? serialize(m.stanza),
        };
      }),
    );
    return stored.map((ok) => ok ? { stored: true } : { stored: false, reason: "over-quota" });
  }
}

/**
 * XEP-0160 / XEP-0334: a message is stored when it has a body (chat states and receipts alone
 * are not worth keeping) and no no-store hint; an explicit store hint wins.
 */
function isStorable(stanza: Element): boolean {
  if (stanza.getChild("store", NS.hints)) return true;
  if (stanza.getChild("no-store", NS.hints) || stanza.getChild("no-permanent-store", NS.hints)) {
    return false;
  }
  return stanza.getChild("body") !== undefined;
}

/** A set that forgets its oldest entries past a size: for caches where forgetting is safe. */
class BoundedSet<T> {
  readonly #items = new Set<T>();
  constructor(readonly max: number) {}
  has(v: T): boolean {
    return this.#items.has(v);
  }
  add(v: T): void {
    this.#items.delete(v);
    this.#items.add(v);
    if (this.#items.size > this.max) {
      this.#items.delete(this.#items.values().next().value as T);
    }
  }
  delete(v: T): void {
    this.#items.delete(v);
  }
}
