/**
 * The roster as a service other plugins use (the presence plugin updates subscription states
 * through it): reads, per-owner serialised updates, and roster pushes (RFC 6121 §2.1.6) to the
 * owner's interested resources with the new XEP-0237 version.
 */
import type { RosterItem, RosterStore } from "../../db/types.ts";
import type { Session } from "../../router/session.ts";
import { NS } from "../../protocol/ns.ts";
import { type Element, x } from "../../xml/element.ts";

/** Where the roster finds the owner's sessions (sess-man's SessionRegistry fits). */
export interface SessionLookup {
  ofUser(bare: string): Session[];
}

/**
 * Whether the owner sees the item in a roster get or push. A contact's unanswered request makes an
 * item ("None + Pending In") that is not part of the owner's roster until the owner acts on it
 * (as in ejabberd); an item the owner named or grouped stays visible.
 */
export function visible(item: RosterItem): boolean {
  return !(item.subscription === "none" && !item.askOut && item.pendingIn && !item.name &&
    item.groups.length === 0);
}

/** The `<item/>` of a roster result or push (RFC 6121 §2.1.2). */
export function itemElement(item: RosterItem): Element {
  return x(
    "item",
    {
      jid: item.jid,
      name: item.name,
      subscription: item.subscription,
      ask: item.askOut ? "subscribe" : undefined,
    },
    ...item.groups.map((g) => x("group", {}, g)),
  );
}

function sameItem(a: RosterItem | null, b: RosterItem | null): boolean {
  if (a === null || b === null) return a === b;
  return a.jid === b.jid && a.name === b.name && a.subscription === b.subscription &&
    a.askOut === b.askOut && a.pendingIn === b.pendingIn &&
    a.pendingInStanza === b.pendingInStanza && a.groups.length === b.groups.length &&
    a.groups.every((g, i) => g === b.groups[i]);
}

/** What the owner was shown of an item: its `<item/>` as text, or null when not shown. */
function shown(item: RosterItem | null): string | null {
  if (!item || !visible(item)) return null;
  const { name, subscription, askOut, groups } = item;
  return JSON.stringify([name ?? null, subscription, askOut, groups]);
}

export interface RosterChange {
  before: RosterItem | null;
  after: RosterItem | null;
}

let pushCounter = 0;

export class RosterService {
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(readonly store: RosterStore, readonly sessions: SessionLookup) {}

  /** The owner's roster and its version. */
  get(owner: string): Promise<{ version: string; items: RosterItem[] }> {
    return this.store.get(owner);
  }

  getItem(owner: string, contact: string): Promise<RosterItem | null> {
    return this.store.getItem(owner, contact);
  }

  /**
   * Reads the owner's item for the contact, lets `fn` decide its new value (an item, or null to
   * delete it) and writes and pushes it when it changed. Updates of one owner's roster run one at
   * a time, so two subscription stanzas crossing each other cannot lose a change.
   */
  update(
    owner: string,
    contact: string,
    fn: (item: RosterItem | null) => RosterItem | null | Promise<RosterItem | null>,
  ): Promise<RosterChange> {
    return this.#serial(owner, async () => {
      const before = await this.store.getItem(owner, contact);
      let after = await fn(before === null ? null : structuredClone(before));
      // An item nobody was shown and that holds no state is dropped rather than kept as "None".
      if (
        after && !after.askOut && !after.pendingIn && after.subscription === "none" &&
        before && !visible(before) && !after.name && after.groups.length === 0
      ) {
        after = null;
      }
      if (sameItem(before, after)) return { before, after };
      let version: string | null;
      if (after) version = await this.store.put(owner, after);
      else version = before ? await this.store.remove(owner, contact) : null;
      if (version !== null && shown(before) !== shown(after)) {
        this.push(owner, version, after && visible(after) ? after : { jid: contact, remove: true });
      }
      return { before, after };
    });
  }

  /** Sends a roster push of one item to each of the owner's interested resources. */
  push(owner: string, version: string, item: RosterItem | { jid: string; remove: true }): void {
    const el = "remove" in item
      ? x("item", { jid: item.jid, subscription: "remove" })
      : itemElement(item);
    for (const s of this.sessions.ofUser(owner)) {
      if (!s.interested || !s.jid) continue;
      s.send(
        x(
          "iq",
          { type: "set", id: `push-${++pushCounter}`, to: s.jid.full },
          x("query", { xmlns: NS.roster, ver: version }, el.clone()),
        ),
      );
    }
  }

  #serial<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(owner) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.#locks.set(owner, tail);
    void tail.then(() => {
      if (this.#locks.get(owner) === tail) this.#locks.delete(owner);
    });
    return run;
  }
}
