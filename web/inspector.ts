/**
 * The inspector's memory: the live actors with their current state, a ring buffer of recent
 * events per actor, and message traces (what happened to a message, by its `id` attribute). It is
 * fed by the ActorDirectory's inspection adapter (attached only while the inspector plugin runs)
 * and by `note()` calls from the plugin's hooks; subscribers (the SSE stream) get batched changes.
 */
import type { InspectionEvent } from "xstate";
import type { ActorDirectory, ActorEntry } from "../actors/directory.ts";
import { type Plain, stanzaIn, stateString, toPlain, xmlOf } from "./plain.ts";
import { activeStateIds } from "./statechart.ts";

export interface ActorView {
  id: string;
  kind: string;
  /** "negotiating.binding" */
  state: string;
  /** active state node ids, for highlighting the chart */
  active: string[];
  status: string;
  startedAt: number;
  /** a short description: the JID of a connection, user or room */
  detail: string;
  closed: boolean;
}

export interface EventRecord {
  seq: number;
  t: number;
  actor: string;
  type: string;
  event: Plain;
  from: string;
  to: string;
  actions: string[];
}

export interface TraceRecord {
  t: number;
  stage: string;
  actor: string | null;
  detail: string;
  xml: string | null;
}

export interface InspectorBatch {
  upsert: ActorView[];
  removed: string[];
  events: EventRecord[];
  traces: string[];
}

export interface InspectorOptions {
  /** recent events kept per actor */
  ringSize: number;
  /** message ids traced at once (oldest forgotten first) */
  traceLimit: number;
  /** closed actors still shown (with their events) */
  keepClosed: number;
  /** how often subscribers get a batch, ms */
  tickMs: number;
}

interface Tracked {
  ring: EventRecord[];
  state: string;
  actions: string[];
  closed: ActorView | null;
}

const INTERNAL_ACTIONS = new Set([
  "xstate.assign",
  "xstate.raise",
  "xstate.cancel",
  "xstate.spawnChild",
  "xstate.stopChild",
]);

export class Inspector {
  readonly #dir: ActorDirectory;
  readonly #opts: InspectorOptions;
  readonly #tracked = new Map<string, Tracked>();
  readonly #closed: string[] = [];
  readonly #traces = new Map<string, TraceRecord[]>();
  readonly #subs = new Set<(b: InspectorBatch) => void>();
  #seq = 0;
  #known = new Map<string, string>();
  #dirty = new Set<string>();
  #newEvents: EventRecord[] = [];
  #touched = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #detach: (() => void) | null = null;

  constructor(directory: ActorDirectory, opts: Partial<InspectorOptions> = {}) {
    this.#dir = directory;
    this.#opts = { ringSize: 200, traceLimit: 1000, keepClosed: 50, tickMs: 200, ...opts };
  }

  /** Starts listening: actors created from now on report their events. */
  attach(): void {
    this.#detach ??= this.#dir.listen((id, ev) => this.#onInspect(id, ev));
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#opts.tickMs);
      Deno.unrefTimer(this.#timer);
    }
  }

  detach(): void {
    this.#detach?.();
    this.#detach = null;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#subs.clear();
  }

  actors(): ActorView[] {
    const live = this.#dir.list().map((e) => viewOf(e));
    const closed = this.#closed.map((id) => this.#tracked.get(id)?.closed).filter((v) =>
      v !== undefined && v !== null
    ) as ActorView[];
    return [...live, ...closed];
  }

  actor(id: string): ActorView | null {
    const e = this.#dir.get(id);
    if (e) return viewOf(e);
    return this.#tracked.get(id)?.closed ?? null;
  }

  context(id: string): Plain {
    const e = this.#dir.get(id);
    if (!e) return null;
    return toPlain((e.ref.getSnapshot() as { context?: unknown }).context);
  }

  events(id: string): EventRecord[] {
    return [...(this.#tracked.get(id)?.ring ?? [])];
  }

  trace(messageId: string): TraceRecord[] {
    return [...(this.#traces.get(messageId) ?? [])];
  }

  /** Traced message ids, newest first. */
  traceIds(limit = 100): string[] {
    return [...this.#traces.keys()].reverse().slice(0, limit);
  }

  /** Records a step in a message's life (from the plugin's hooks). */
  note(
    messageId: string,
    stage: string,
    detail: string,
    actor: string | null = null,
    xml: string | null = null,
  ): void {
    let list = this.#traces.get(messageId);
    if (!list) {
      list = [];
      this.#traces.set(messageId, list);
      if (this.#traces.size > this.#opts.traceLimit) {
        this.#traces.delete(this.#traces.keys().next().value!);
      }
    }
    if (list.length < 200) list.push({ t: Date.now(), stage, actor, detail, xml });
    this.#touched.add(messageId);
  }

  /** Subscribes to the batched changes of every tick. */
  subscribe(fn: (b: InspectorBatch) => void): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }

  #track(id: string): Tracked {
    let t = this.#tracked.get(id);
    if (!t) {
      t = { ring: [], state: "", actions: [], closed: null };
      this.#tracked.set(id, t);
    }
    return t;
  }

  #onInspect(actorId: string, ev: InspectionEvent): void {
    // Only the actor itself, not the promise actors it invokes (offline stores and flushes).
    if (ev.actorRef.sessionId !== ev.rootId) return;
    if (ev.type === "@xstate.action") {
      const action = ev.action as { type: string; params?: unknown };
      if (INTERNAL_ACTIONS.has(action.type)) return;
      this.#track(actorId).actions.push(action.type);
      const stanza = stanzaIn(action.params);
      const id = stanza?.localName === "message" ? stanza.attrs.id : undefined;
      if (id !== undefined) {
        const p = action.params as Record<string, unknown>;
        const extra = typeof p.reason === "string"
          ? `: ${p.reason}`
          : typeof p.condition === "string"
          ? `: ${p.condition}`
          : typeof p.resource === "string"
          ? ` to ${p.resource}`
          : "";
        this.note(id, `action ${action.type}`, `${actorId} ran ${action.type}${extra}`, actorId);
      }
      return;
    }
    if (ev.type !== "@xstate.snapshot") return;
    const t = this.#track(actorId);
    const snap = ev.snapshot as { value?: unknown; status?: string };
    const to = stateString(snap.value);
    const event = ev.event as { type: string };
    const rec: EventRecord = {
      seq: ++this.#seq,
      t: Date.now(),
      actor: actorId,
      type: event.type,
      event: toPlain(event),
      from: t.state,
      to,
      actions: t.actions,
    };
    t.actions = [];
    t.state = to;
    t.ring.push(rec);
    if (t.ring.length > this.#opts.ringSize) t.ring.shift();
    this.#dirty.add(actorId);
    if (this.#subs.size) {
      this.#newEvents.push(rec);
      if (this.#newEvents.length > 500) this.#newEvents.shift();
    }
    const stanza = stanzaIn(event);
    const msgId = stanza?.localName === "message" ? stanza.attrs.id : undefined;
    if (msgId !== undefined) {
      this.note(
        msgId,
        `event ${event.type}`,
        `${actorId} got ${event.type} in ${rec.from || "(start)"} -> ${to}`,
        actorId,
        xmlOf(stanza!),
      );
    }
  }

  #tick(): void {
    const upsert: ActorView[] = [];
    const removed: string[] = [];
    const seen = new Set<string>();
    for (const e of this.#dir.list()) {
      seen.add(e.id);
      const before = this.#known.get(e.id);
      if (before !== undefined && !this.#dirty.has(e.id)) continue;
      const v = viewOf(e);
      if (before !== v.state || this.#dirty.has(e.id)) upsert.push(v);
      this.#known.set(e.id, v.state);
    }
    for (const id of this.#known.keys()) {
      if (seen.has(id)) continue;
      this.#known.delete(id);
      removed.push(id);
    }
    // Also actors that came and went between two ticks.
    for (const [id, t] of this.#tracked) if (t.closed === null && !seen.has(id)) this.#retire(id);
    this.#dirty.clear();
    const events = this.#newEvents;
    this.#newEvents = [];
    const traces = [...this.#touched];
    this.#touched.clear();
    if (!this.#subs.size) return;
    if (!upsert.length && !removed.length && !events.length && !traces.length) return;
    const batch = { upsert, removed, events, traces };
    for (const fn of this.#subs) fn(batch);
  }

  /** Keeps the last few closed actors (their final state and events) for a post-mortem. */
  #retire(id: string): void {
    const t = this.#tracked.get(id);
    if (!t) return;
    t.closed = {
      id,
      kind: id.slice(0, id.indexOf(":")),
      state: t.state,
      active: [],
      status: "closed",
      startedAt: 0,
      detail: "",
      closed: true,
    };
    this.#closed.unshift(id);
    while (this.#closed.length > this.#opts.keepClosed) this.#tracked.delete(this.#closed.pop()!);
  }
}

function viewOf(e: ActorEntry): ActorView {
  const snap = e.ref.getSnapshot() as {
    value?: unknown;
    status?: string;
    context?: Record<string, unknown>;
    machine?: { id?: string };
  };
  const machineId = (e.ref as { logic?: { id?: string } }).logic?.id ?? e.kind;
  const ctx = snap.context ?? {};
  const jid = typeof ctx.jid === "string" ? ctx.jid : null;
  const username = typeof ctx.username === "string" ? ctx.username : null;
  const transport = e.meta?.transport ? ` (${e.meta.transport})` : "";
  return {
    id: e.id,
    kind: e.kind,
    state: stateString(snap.value),
    active: activeStateIds(machineId, snap.value),
    status: snap.status ?? "unknown",
    startedAt: e.startedAt,
    detail: (jid ?? username ?? "") + transport,
    closed: false,
  };
}
