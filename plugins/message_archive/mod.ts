/**
 * message-archive: Message Archive Management (XEP-0313, urn:xmpp:mam:2) for one-to-one chat, with
 * XEP-0359 stanza ids.
 *
 * When the recipient's user actor accepts a chat/normal message with a body (`message/accepted`,
 * fired synchronously before delivery or offline storage), the recipient's copy is stamped with
 * `<stanza-id by='recipient@domain'/>` — a client-sent one with that `by` is removed first — and
 * archived (direction in); a local sender gets its own copy (direction out). Archive writes go
 * through the store's group commit and are never awaited by the hook.
 *
 * Preferences are cached per owner so the hook decides without waiting. On a cache miss the
 * message is still stamped at once, but the decision waits for the preferences to load (and, under
 * `roster`, for the roster lookup): writes of one owner are queued behind each other so the
 * archive keeps arrival order. The price: a message stamped with an id is not archived when the
 * preferences turn out to exclude it — its id then names nothing (a query for it answers
 * item-not-found). A query first waits for the owner's queued writes, so a client always reads
 * what it was delivered.
 */
import { definePlugin } from "../registry.ts";
import { ConfigError } from "../../config/load.ts";
import type { MessageAccepted } from "../../router/hooks.ts";
import type { IqRequest } from "../../router/iq.ts";
import type { Element } from "../../xml/element.ts";
import { x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { NS } from "../../protocol/ns.ts";
import { ItemNotFoundError } from "../../db/mod.ts";
import type { ArchiveEntry, ArchivePrefs } from "../../db/types.ts";
import { decide, PrefsCache } from "./policy.ts";
import { newStanzaId } from "../../db/stanza_id.ts";
import { serializeForwardable } from "../../protocol/forward.ts";
import {
  fin,
  NS_MAM_EXTENDED,
  parsePrefs,
  parseQuery,
  prefsElement,
  queryForm,
  resultMessage,
} from "./query.ts";

export { decide, PrefsCache } from "./policy.ts";
export { newStanzaId } from "../../db/stanza_id.ts";
export { parseQuery, parseStored, queryForm } from "./query.ts";

/** Options of the `[message-archive]` section. */
export interface MessageArchiveOptions {
  /** page size when a query names no RSM max */
  default_max: number;
  /** the largest page served */
  max_max: number;
  /** owners whose preferences are kept in memory */
  prefs_cache_size: number;
}

/** Is this a message XEP-0313 archives here: one-to-one chat (or normal) with a body, not hinted away. */
export function archivable(stanza: Element): boolean {
  const type = stanza.attrs.type ?? "normal";
  if (type !== "chat" && type !== "normal") return false;
  if (stanza.getChild("body") === undefined) return false;
  // XEP-0334 storage hints.
  if (stanza.getChild("no-store", NS.hints) || stanza.getChild("no-permanent-store", NS.hints)) {
    return false;
  }
  return true;
}

/** Removes `<stanza-id/>` elements claiming to come from `by` (XEP-0359 §3.1 spoofing rule). */
export function stripStanzaIds(stanza: Element, by: string): void {
  for (const el of stanza.getChildren("stanza-id", NS.sid)) {
    if (el.attrs.by === by) stanza.remove(el);
  }
}

/** Unprefixed and in jabber:client, declared or inherited (from a c2s stream, or unset). */
function inClientNamespace(stanza: Element): boolean {
  if (stanza.prefix !== null) return false;
  const ns = stanza.resolvePrefix(null);
  return ns === undefined || ns === NS.client;
}

export default definePlugin<MessageArchiveOptions>({
  name: "message-archive",
  description: "message archive management (XEP-0313) and stanza ids (XEP-0359)",
  defaults: { default_max: 50, max_max: 250, prefs_cache_size: 10_000 },
  parseOptions(raw, defaults) {
    const o = { ...defaults };
    for (const [k, v] of Object.entries(raw)) {
      if (!(k in defaults)) throw new ConfigError(`message-archive.${k}: unknown option`);
      if (!Number.isInteger(v) || (v as number) < 1) {
        throw new ConfigError(`message-archive.${k}: expected a positive integer`);
      }
      o[k as keyof MessageArchiveOptions] = v as number;
    }
    if (o.default_max > o.max_max) {
      throw new ConfigError("message-archive.default_max must not exceed max_max");
    }
    return o;
  },
  setup(api) {
    const store = api.db.archive;
    const log = api.log;
    const prefs = new PrefsCache((owner) => store.getPrefs(owner), api.options.prefs_cache_size);
    // Per owner, the tail of the writes waiting for a decision; absent when none wait.
    const queued = new Map<string, Promise<void>>();

    api.accountFeature(NS.mam);
    api.accountFeature(NS_MAM_EXTENDED);
    api.accountFeature(NS.sid);

    const inRoster = (owner: string, peer: string): Promise<boolean> =>
      api.db.roster.getItem(owner, peer).then((item) => item !== null);

    /**
     * Decides for one owner's copy and queues it, keeping the owner's archive in order. Writes are
     * never awaited (`enqueue`): a failed batch is logged by the store.
     */
    const archive = (entry: ArchiveEntry): void => {
      const cached = prefs.peek(entry.owner);
      const verdict = cached ? decide(cached, entry.with) : "load";
      if (verdict === "no" && !queued.has(entry.owner)) return;
      if (verdict === "yes" && !queued.has(entry.owner)) {
        store.enqueue(entry);
        return;
      }
      const before = queued.get(entry.owner) ?? Promise.resolve();
      const tail = before.then(async () => {
        const p: ArchivePrefs = await prefs.get(entry.owner);
        const v = decide(p, entry.with);
        const keep = v === "yes" || (v === "roster" && await inRoster(entry.owner, entry.with));
        // Queue the write (not its commit) before the next entry of this owner is decided.
        if (keep) store.enqueue(entry);
      }).catch((e) => {
        log.error("archive decision for {owner} failed: {error}", {
          owner: entry.owner,
          error: String(e),
        });
      }).finally(() => {
        if (queued.get(entry.owner) === tail) queued.delete(entry.owner);
      });
      queued.set(entry.owner, tail);
    };

    api.hook("message/accepted", (ev: MessageAccepted) => {
      const { stanza, from, to } = ev;
      if (to.domain !== api.domain || to.local === "") return;
      const owner = to.bare;
      // Spoofing protection comes first, whatever happens to the message next.
      stripStanzaIds(stanza, owner);
      if (!archivable(stanza)) return;
      const stamp = new Date();
      // Serialised once: the stamped stanza is the unstamped one with its stanza-id spliced in
      // before the closing tag, which is what serialising it again would give (a body means the
      // stanza has a closing tag). Delivery and the offline store take that string too, and the
      // archive keeps the same strings: a copy is read back in a jabber:client context
      // (parseStored), so one in that namespace needs no declaration of its own.
      const unstamped = serialize(stanza);
      const plain = inClientNamespace(stanza);
      const sentCopy = plain ? unstamped : serializeForwardable(stanza, unstamped);
      const id = newStanzaId(stamp.getTime());
      const sid = x("stanza-id", { xmlns: NS.sid, id, by: owner });
      stanza.append(sid);
      const close = unstamped.lastIndexOf("</");
      const stamped = unstamped.slice(0, close) + serialize(sid) + unstamped.slice(close);
      ev.serialized = stamped;
      archive({
        id,
        owner,
        with: from.bare,
        direction: "in",
        stamp,
        xml: plain ? stamped : serializeForwardable(stanza, stamped),
      });
      if (from.domain === api.domain && from.local !== "" && from.bare !== owner) {
        archive({
          id: newStanzaId(stamp.getTime()),
          owner: from.bare,
          with: owner,
          direction: "out",
          stamp,
          xml: sentCopy,
        });
      }
    });

    // Preferences are read while the user is online, so most decisions find them cached.
    api.hook("session/bound", ({ session }) => {
      if (session.jid) {
        prefs.get(session.jid.bare).catch((e) =>
          log.warning("loading archive prefs failed: {error}", { error: String(e) })
        );
      }
    });

    const limits = { defaultMax: api.options.default_max, maxMax: api.options.max_max };

    // Only the owner reads or configures its archive: requests to another user's bare JID are
    // refused the same way whether that account exists or not.
    const ownerOnly = (scope: string) => {
      if (scope !== "account") throw new StanzaError("forbidden", "not your archive");
    };

    const query = async (req: IqRequest): Promise<Element> => {
      const session = req.origin;
      if (!session?.jid) throw new StanzaError("bad-request", "queries come from a session");
      const owner = req.from.bare;
      const q = parseQuery(req.payload, owner, limits);
      // Read your own writes: what was delivered is in the archive before it is read.
      await queued.get(owner);
      await store.flush();
      let page;
      try {
        page = await store.query(q);
      } catch (e) {
        if (e instanceof ItemNotFoundError) throw new StanzaError("item-not-found", e.message);
        throw e;
      }
      const queryid = req.payload.attrs.queryid;
      for (const entry of page.items) {
        const msg = resultMessage(entry, session.jid.full, queryid);
        if (msg) session.send(msg);
        else log.warning("unreadable archived message {id} of {owner}", { id: entry.id, owner });
      }
      return fin(page);
    };

    const setPrefs = async (owner: string, el: Element): Promise<Element> => {
      const p = parsePrefs(el);
      prefs.invalidate(owner);
      await store.setPrefs(owner, p);
      prefs.set(owner, p);
      return prefsElement(p);
    };

    // <query/> and <prefs/> share the namespace: one handler per type, by element name.
    api.iq("set", NS.mam, (req) => {
      ownerOnly(req.scope);
      switch (req.payload.localName) {
        case "query":
          return query(req);
        case "prefs":
          return setPrefs(req.from.bare, req.payload);
        default:
          throw new StanzaError("feature-not-implemented");
      }
    }, ["account", "bare"]);

    api.iq("get", NS.mam, (req) => {
      ownerOnly(req.scope);
      switch (req.payload.localName) {
        case "query":
          return queryForm();
        case "prefs":
          return prefs.get(req.from.bare).then(prefsElement);
        default:
          throw new StanzaError("feature-not-implemented");
      }
    }, ["account", "bare"]);
  },
});
