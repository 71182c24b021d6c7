/**
 * Every live actor by its id (`c2s:<streamId>`, `user:<bareJid>`, `room:<roomJid>`), so the
 * inspector and admin tools can list them. Inspection itself goes through `inspect` here, the one
 * adapter: off unless a listener is attached, because it costs ~20% per event (DESIGN.md).
 */
import type { AnyActorRef, InspectionEvent } from "xstate";

export interface ActorEntry {
  id: string;
  kind: "c2s" | "user" | "room" | string;
  ref: AnyActorRef;
  startedAt: number;
  /** facts for listings and metrics, e.g. `{ transport: "tcp" }` for a connection */
  meta?: Record<string, string>;
}

export type InspectListener = (actorId: string, ev: InspectionEvent) => void;

export class ActorDirectory {
  readonly #entries = new Map<string, ActorEntry>();
  readonly #listeners = new Set<InspectListener>();

  add(id: string, ref: AnyActorRef, meta?: Record<string, string>): void {
    const kind = id.slice(0, id.indexOf(":"));
    this.#entries.set(id, { id, kind, ref, startedAt: Date.now(), meta });
  }

  remove(id: string): void {
    this.#entries.delete(id);
  }

  get(id: string): ActorEntry | undefined {
    return this.#entries.get(id);
  }

  list(kind?: string): ActorEntry[] {
    const all = [...this.#entries.values()];
    return kind ? all.filter((e) => e.kind === kind) : all;
  }

  count(kind?: string): number {
    if (!kind) return this.#entries.size;
    let n = 0;
    for (const e of this.#entries.values()) if (e.kind === kind) n++;
    return n;
  }

  /** Someone (the inspector) is watching: hot paths then take the traced, evented route. */
  get inspecting(): boolean {
    return this.#listeners.size > 0;
  }

  /** The `inspect` option for createActor, or undefined when nobody is watching. */
  inspectorFor(id: string): ((ev: InspectionEvent) => void) | undefined {
    if (this.#listeners.size === 0) return undefined;
    return (ev) => {
      for (const l of this.#listeners) l(id, ev);
    };
  }

  /** Attaches a listener (the inspector); actors created from now on report to it. */
  listen(fn: InspectListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}
