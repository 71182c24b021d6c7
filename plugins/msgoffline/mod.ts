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

export interface OfflineService {
  readonly strategy: OfflineStrategy;
  /** true when one more message of `bytes` from `fromBare` fits the owner's quotas */
  fits(owner: string, fromBare: string, bytes: number): Promise<boolean>;
  store(owner: string, from: string, xml: string): Promise<void>;
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
    for (
      const k of ["max_messages", "max_bytes", "max_messages_per_sender", "flush_batch"] as const
    ) {
      if (!Number.isInteger(o[k]) || o[k] < 0) {
        throw new ConfigError(`msgoffline.${k}: expected a whole number >= 0`);
      }
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
      async fits(owner, fromBare, bytes) {
        if (o.max_messages > 0 || o.max_bytes > 0) {
          const u = await store.usage(owner);
          if (o.max_messages > 0 && u.count + 1 > o.max_messages) return over();
          if (o.max_bytes > 0 && u.bytes + bytes > o.max_bytes) return over();
        }
        if (o.max_messages_per_sender > 0) {
          const u = await store.usage(owner, fromBare);
          if (u.count + 1 > o.max_messages_per_sender) return over();
        }
        return true;
      },
      async store(owner, from, xml) {
        await store.store(owner, from, xml);
        counters.stored++;
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
    function over(): boolean {
      counters.overQuota++;
      return false;
    }
    api.provide("offline", service);
  },
});

/** XEP-0203: when and where the message was stored. */
export function withDelay(stanza: Element, domain: string, stamp: Date): Element {
  stanza.append(x("delay", { xmlns: NS.delay, from: domain, stamp: stamp.toISOString() }));
  return stanza;
}
