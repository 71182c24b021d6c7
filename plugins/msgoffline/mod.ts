/**
 * msgoffline (XEP-0160): the mechanism of offline storage — quotas, storing, and pushing stored
 * messages with an XEP-0203 delay stamp. *Whether* a message is stored is the user actor's
 * decision (actors/user_machine.ts); this plugin only does what it is asked.
 */
import { definePlugin } from "../registry.ts";
import { type Element, x } from "../../xml/element.ts";

import { parseElement } from "../../xml/parse.ts";
import { NS } from "../../protocol/ns.ts";
import type { OfflineStrategy } from "../../actors/user_machine.ts";
import type { Session } from "../../router/session.ts";
import { ConfigError } from "../../config/load.ts";
import { checkOptions } from "../registry.ts";

export interface OfflineItem {
  /** full JID of the sender */
  from: string;
  fromBare: string;
  /** size in bytes, for the quota */
  bytes: number;
  prepare(): string;
}

export interface OfflineService {
  readonly strategy: OfflineStrategy;
  /**
   * Stores, in order, the messages that fit the owner's quotas, in one write. `prepare` runs for
   * each message that fits, just before it is written, and returns the XML to store. Resolves
   * with whether each message was stored.
   */
  storeBatch(owner: string, items: OfflineItem[]): Promise<boolean[]>;
  /** Pushes every stored message to the session, oldest first; deletes what was written. */
  flush(owner: string, session: Session): Promise<number>;
  readonly counters: { stored: number; flushed: number; overQuota: number };
}

const STRATEGIES: OfflineStrategy[] = [
  "store",
  "bounce",
  "drop",
  "store_and_bounce",
  "store_and_drop",
];

const defaults = {
  /** Openfire's xmpp.offline.type */
  strategy: "store_and_bounce" as string,
  /** per user: messages and bytes; 0 means no limit */
  max_messages: 1000,
  max_bytes: 4 * 1024 * 1024,
  /** per sender -> recipient pair (Tigase's msgoffline per-sender limit); 0 means no limit */
  max_messages_per_sender: 0,
  /** how many stored messages are read per batch while flushing */
  flush_batch: 500,
};

export default definePlugin({
  name: "msgoffline",
  description: "offline message storage with quotas and delayed delivery (XEP-0160, XEP-0203)",
  depends: ["sess-man"],
  defaults,
  parseOptions(raw, d) {
    const o = checkOptions("msgoffline", raw, d);
    if (!STRATEGIES.includes(o.strategy as OfflineStrategy)) {
      throw new ConfigError(
        `msgoffline.strategy: expected one of ${STRATEGIES.join(", ")}, got "${o.strategy}"`,
      );
    }
    for (const k of ["max_messages", "max_bytes", "max_messages_per_sender"] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 0) {
        throw new ConfigError(`msgoffline.${k}: expected a whole number >= 0`);
      }
    }
    // A batch of 0 would read nothing and never deliver what is stored.
    if (!Number.isInteger(o.flush_batch) || o.flush_batch < 1) {
      throw new ConfigError("msgoffline.flush_batch: expected a whole number >= 1");
    }
    return o;
  },
  setup(api) {
    const o = api.options;
    const store = api.db.offline;
    const counters = { stored: 0, flushed: 0, overQuota: 0 };
    const service: OfflineService = {
      strategy: o.strategy as OfflineStrategy,
      counters,
      async storeBatch(owner, items) {
        let { count, bytes } = o.max_messages > 0 || o.max_bytes > 0
          ? await store.usage(owner)
          : { count: 0, bytes: 0 };
        const perSender = new Map<string, number>();
        if (o.max_messages_per_sender > 0) {
          for (const b of new Set(items.map((i) => i.fromBare))) {
            perSender.set(b, (await store.usage(owner, b)).count);
          }
        }
        const rows: { from: string; xml: string }[] = [];
        const verdicts = items.map((item) => {
          const sent = perSender.get(item.fromBare) ?? 0;
          const fits = (o.max_messages === 0 || count + 1 <= o.max_messages) &&
            (o.max_bytes === 0 || bytes + item.bytes <= o.max_bytes) &&
            (o.max_messages_per_sender === 0 || sent + 1 <= o.max_messages_per_sender);
          if (!fits) {
            counters.overQuota++;
            return false;
          }
          count++;
          bytes += item.bytes;
          perSender.set(item.fromBare, sent + 1);
          rows.push({ from: item.from, xml: item.prepare() });
          return true;
        });
        await store.storeMany(owner, rows);
        counters.stored += rows.length;
        return verdicts;
      },
      async flush(owner, session) {
        let total = 0;
        for (;;) {
          const batch = await store.list(owner, o.flush_batch);
          if (batch.length === 0) return total;
          const written: number[] = [];
          for (const m of batch) {
            // A session that went away mid-flush keeps the rest stored for next time.
            if (session.open === false) break;
            session.send(withDelay(parseElement(m.xml), api.domain, m.stamp));
            written.push(m.id);
          }
          if (written.length) await store.delete(owner, written);
          total += written.length;
          counters.flushed += written.length;
          if (written.length < batch.length || batch.length < o.flush_batch) return total;
        }
      },
    };
    api.provide("offline", service);
  },
});

/** XEP-0203: when and where the message was stored. */
export function withDelay(stanza: Element, domain: string, stamp: Date): Element {
  stanza.append(x("delay", { xmlns: NS.delay, from: domain, stamp: stamp.toISOString() }));
  return stanza;
}
