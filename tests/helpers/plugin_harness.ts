/**
 * A core without sockets for plugin unit tests: set up the plugins under test, feed stanzas in as
 * if a bound session had sent them, and read the stanzas that come back (transcript style). The
 * database is an in-memory fake of only the stores a test names; integration tests in tests/ run
 * the same plugins on the real stores.
 */
import type { Element } from "../../xml/element.ts";
import type { Database, PrivateStore, VCardStore } from "../../db/types.ts";
import { validateConfig } from "../../config/mod.ts";
import { ActorDirectory } from "../../actors/directory.ts";
import { Core } from "../../server/core.ts";
import { type AnyPlugin, parseAllOptions, pluginApi } from "../../plugins/registry.ts";
import { type JID, parseJid } from "../../jid/mod.ts";
import type { Session } from "../../router/session.ts";

export interface Harness {
  core: Core;
  db: Database;
  /** A bound session of `full` (e.g. "alice@localhost/phone"); what it is sent lands in `outbox`. */
  session(full: string): FakeSession;
  /** Sends a stanza from the session and resolves with the reply to its id (result or error). */
  request(from: FakeSession, stanza: Element): Promise<Element>;
  stop(): Promise<void>;
}

export interface FakeSession extends Session {
  readonly jid: JID;
  outbox: Element[];
}

/** In-memory vCard and private stores, and accounts that exist when listed. */
export function memoryDatabase(accounts: string[] = []): Database {
  const vcards = new Map<string, string>();
  const priv = new Map<string, string>();
  const vcard: VCardStore = {
    get: (owner) => Promise.resolve(vcards.get(owner) ?? null),
    set: (owner, xml) => Promise.resolve(void vcards.set(owner, xml)),
  };
  const privateStore: PrivateStore = {
    get: (owner, key) => Promise.resolve(priv.get(`${owner}\n${key}`) ?? null),
    set: (owner, key, xml) => Promise.resolve(void priv.set(`${owner}\n${key}`, xml)),
  };
  const missing = () => {
    throw new Error("store not faked in this harness");
  };
  return {
    kind: "pglite",
    accounts: {
      exists: (jid: string) => Promise.resolve(accounts.includes(jid)),
      list: () => Promise.resolve([...accounts]),
    },
    vcard,
    private: privateStore,
    get roster() {
      return missing();
    },
    get offline() {
      return missing();
    },
    get archive() {
      return missing();
    },
    close: () => Promise.resolve(),
  } as unknown as Database;
}

export async function pluginHarness(
  plugins: AnyPlugin[],
  opts: { sections?: Record<string, Record<string, unknown>>; db?: Database } = {},
): Promise<Harness> {
  const config = validateConfig({
    domain: "localhost",
    components: plugins.map((p) => p.name),
    ...opts.sections,
  });
  const db = opts.db ?? memoryDatabase();
  const core = new Core(config, db, new ActorDirectory());
  const options = parseAllOptions(plugins, config);
  for (const p of plugins) await p.setup(pluginApi(core, p, options.get(p.name)));

  const sessions = new Map<string, FakeSession>();
  const waiting = new Map<string, (el: Element) => void>();
  // Stands in for sess-man: stanzas to a full JID go to that fake session's outbox.
  core.hooks.on(
    "iq/full",
    (ev) => {
      const s = sessions.get(ev.to.full);
      if (!s) return false;
      s.send(ev.stanza);
      return true;
    },
    0,
    "harness",
  );

  return {
    core,
    db,
    session(full) {
      const jid = parseJid(full);
      const s: FakeSession = {
        id: `fake-${sessions.size}`,
        transport: "tcp",
        remoteAddress: "127.0.0.1",
        jid,
        secure: true,
        available: true,
        priority: 0,
        presence: null,
        interested: false,
        data: new Map(),
        outbox: [],
        send(stanza) {
          s.outbox.push(stanza);
          const id = stanza.attrs.id;
          const w = id !== undefined ? waiting.get(`${jid.full} ${id}`) : undefined;
          if (w) w(stanza);
        },
        close() {},
      };
      sessions.set(jid.full, s);
      return s;
    },
    async request(from, stanza) {
      const id = stanza.attrs.id ?? `h${Math.random().toString(36).slice(2)}`;
      stanza.attrs.id = id;
      const key = `${from.jid.full} ${id}`;
      const reply = new Promise<Element>((resolve) => waiting.set(key, resolve));
      await core.router.fromSession(from, stanza);
      const timeout = new Promise<never>((_, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to ${id}`)), 2000);
        reply.finally(() => clearTimeout(t));
      });
      try {
        return await Promise.race([reply, timeout]);
      } finally {
        waiting.delete(key);
      }
    },
    stop: () => core.stop(),
  };
}
