/**
 * Shared XState systems for many small root actors. Each `createActor` without a parent builds a
 * system of its own: ~15 closures, three Maps/Sets and a WeakMap, ~2.2 KB of heap that an idle
 * user actor carries for nothing (measured with `bench/idle/probe.ts`: 40% of its size). An actor
 * created with `parent: host.ref` joins that host's system instead; the host is a do-nothing
 * actor that ignores the done and error events its guests send it, so owners keep watching their
 * actors through `subscribe`, exactly as with root actors.
 *
 * A host takes at most `capacity` guests: XState cancels a stopping actor's delayed events by
 * scanning every delayed event of its system (`scheduler.cancelAll`), so the size of a system is
 * a cost paid at each stop. An empty host is stopped and forgotten.
 *
 * Guests cannot be stopped with `stop()` (XState refuses it for actors with a parent): use
 * {@link stopGuest}. Inspection attaches to a system's root, so an inspected actor should be
 * created as a root of its own, as before.
 */
import {
  type Actor,
  type ActorOptions,
  type AnyActorLogic,
  type AnyActorRef,
  createActor,
  fromCallback,
} from "xstate";

const hostLogic = fromCallback(() => {});

/** One shared system: its root actor and how many guests it has. */
export interface Host {
  readonly ref: AnyActorRef;
  guests: number;
}

export class SystemPool {
  /** hosts with room for another guest, the oldest first */
  readonly #open = new Set<Host>();
  #hosts = 0;

  constructor(readonly capacity = 64) {
    if (!(capacity >= 1)) throw new RangeError("capacity must be at least 1");
  }

  /** Hosts alive (for tests and metrics). */
  get hosts(): number {
    return this.#hosts;
  }

  /** A host for one more guest; pass `host.ref` as `parent` and release it when the guest ends. */
  acquire(): Host {
    let host = this.#open.values().next().value as Host | undefined;
    if (!host) {
      host = { ref: createActor(hostLogic).start(), guests: 0 };
      this.#hosts++;
      this.#open.add(host);
    }
    if (++host.guests >= this.capacity) this.#open.delete(host);
    return host;
  }

  /**
   * Creates an actor in a shared system, or as a root of its own when `options.inspect` is set
   * (inspection attaches to a system's root). Call `release` when the actor has ended, whichever
   * way; calls after the first do nothing.
   */
  guest<T extends AnyActorLogic>(
    logic: T,
    options: ActorOptions<T>,
  ): { actor: Actor<T>; release: () => void } {
    let host: Host | null = options.inspect ? null : this.acquire();
    const actor = createActor(logic, { ...options, parent: host?.ref });
    const release = () => {
      if (host) this.release(host);
      host = null;
    };
    return { actor, release };
  }

  /** A guest of `host` has ended (call once per acquire). */
  release(host: Host): void {
    host.guests--;
    if (host.guests > 0) {
      this.#open.add(host);
      return;
    }
    this.#open.delete(host);
    this.#hosts--;
    host.ref.stop();
  }
}

/** Stops an actor whether it is a root or a guest of a pooled host. */
export function stopGuest(actor: AnyActorRef): void {
  if (!actor._parent) {
    actor.stop();
    return;
  }
  // What `stop()` does for a root actor, without its refusal for actors that have a parent.
  const internal = actor as unknown as { _stop?: () => void };
  if (typeof internal._stop !== "function") throw new Error("xstate: no _stop on this actor");
  internal._stop();
}
