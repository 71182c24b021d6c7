/**
 * Plugins as data (ejabberd's gen_mod): a plugin declares its name (Tigase spelling), what it
 * depends on, its option defaults and how to validate them, and a `setup(api)` that registers
 * hooks, iq handlers, stream and disco features. Options are checked at start-up, never at first
 * use. A plugin that is not enabled is never set up, so it leaves no trace.
 */
import type { Element } from "../xml/element.ts";
import type { Database } from "../db/types.ts";
import type { ParleyConfig } from "../config/schema.ts";
import { ConfigError } from "../config/load.ts";
import { type Logger, logger } from "../log/mod.ts";
import type { HandlerFor, HookName } from "../router/hooks.ts";
import type { IqHandler, IqScope } from "../router/iq.ts";
import type { Component, Router } from "../router/router.ts";
import type { StanzaError } from "../protocol/errors.ts";
import type {
  Core,
  DiscoIdentity,
  DiscoItem,
  FeatureProvider,
  PreAuthIqHandler,
} from "../server/core.ts";

export interface PluginApi<O> {
  readonly name: string;
  readonly options: O;
  readonly domain: string;
  readonly config: ParleyConfig;
  readonly db: Database;
  readonly log: Logger;
  readonly router: Router;
  /** the shared core, for components that need more than this API (c2s, bosh, ws) */
  readonly core: Core;
  hook<N extends HookName>(name: N, fn: HandlerFor<N>, priority?: number): void;
  iq(type: "get" | "set", ns: string, handler: IqHandler, scopes?: IqScope[]): void;
  preAuthIq(ns: string, handler: PreAuthIqHandler): void;
  streamFeature(stage: "pre-auth" | "post-auth", provider: FeatureProvider): void;
  discoFeature(ns: string): void;
  discoIdentity(identity: DiscoIdentity): void;
  discoItem(item: DiscoItem): void;
  accountFeature(ns: string): void;
  component(component: Component): void;
  route(stanza: Element): Promise<void>;
  bounce(stanza: Element, error: StanzaError): void;
  provide<T>(name: string, service: T): void;
  service<T>(name: string): T;
  onStop(fn: () => void | Promise<void>): void;
}

export interface PluginDefinition<O extends object = Record<string, never>> {
  /** Tigase's name: "c2s", "sess-man", "msgoffline", "message-archive", "muc"... */
  name: string;
  description: string;
  depends?: string[];
  defaults: O;
  /** Validates the plugin's config section; throws with a clear message. */
  parseOptions?: (raw: Record<string, unknown>, defaults: O) => O;
  setup(api: PluginApi<O>): void | Promise<void>;
}

/** Declares a plugin; the identity function exists for type inference of options. */
export function definePlugin<O extends object = Record<string, never>>(
  def: PluginDefinition<O>,
): PluginDefinition<O> {
  return def;
}

// deno-lint-ignore no-explicit-any
export type AnyPlugin = PluginDefinition<any>;

/**
 * The default option check: every key must exist in the defaults and have the same JSON type.
 * Plugins with richer options supply parseOptions.
 */
export function checkOptions<O extends object>(
  plugin: string,
  raw: Record<string, unknown>,
  defaults: O,
): O {
  const out = { ...defaults } as Record<string, unknown>;
  const problems: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in defaults)) {
      problems.push(`${plugin}.${k}: unknown option (known: ${Object.keys(defaults).join(", ")})`);
      continue;
    }
    const d = (defaults as Record<string, unknown>)[k];
    const want = Array.isArray(d) ? "array" : d === null ? "null" : typeof d;
    const got = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
    if (d !== undefined && want !== got) {
      problems.push(`${plugin}.${k}: expected ${want}, got ${got}`);
      continue;
    }
    out[k] = v;
  }
  if (problems.length) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
  return out as O;
}

/** Orders the enabled plugins so that each comes after what it depends on. */
export function resolvePlugins(
  enabled: string[],
  available: Map<string, AnyPlugin>,
): AnyPlugin[] {
  const unknown = enabled.filter((n) => !available.has(n));
  if (unknown.length) {
    throw new ConfigError(
      `unknown component or plugin: ${unknown.join(", ")} (available: ${
        [...available.keys()].sort().join(", ")
      })`,
    );
  }
  const order: AnyPlugin[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, via: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      throw new ConfigError(`plugin dependency cycle: ${[...via, name].join(" -> ")}`);
    }
    const plugin = available.get(name)!;
    state.set(name, "visiting");
    for (const dep of plugin.depends ?? []) {
      if (!enabled.includes(dep)) {
        throw new ConfigError(`"${name}" needs "${dep}": add "${dep}" to components`);
      }
      visit(dep, [...via, name]);
    }
    state.set(name, "done");
    order.push(plugin);
  };
  for (const name of enabled) visit(name, []);
  return order;
}

/** Validates every enabled plugin's options before anything starts. */
export function parseAllOptions(
  plugins: AnyPlugin[],
  config: ParleyConfig,
): Map<string, object> {
  const out = new Map<string, object>();
  for (const p of plugins) {
    const raw = config.sections[p.name] ?? {};
    out.set(
      p.name,
      p.parseOptions ? p.parseOptions(raw, p.defaults) : checkOptions(p.name, raw, p.defaults),
    );
  }
  return out;
}

export function pluginApi<O>(core: Core, plugin: AnyPlugin, options: O): PluginApi<O> {
  const owner = plugin.name;
  const remove: (() => void)[] = [];
  core.onStop(() => {
    for (const r of remove) r();
  });
  return {
    name: owner,
    options,
    domain: core.domain,
    config: core.config,
    db: core.db,
    log: logger(owner),
    router: core.router,
    core,
    hook(name, fn, priority = 0) {
      remove.push(core.hooks.on(name, fn, priority, owner));
    },
    iq(type, ns, handler, scopes = ["host"]) {
      remove.push(core.iq.register(scopes, type, ns, handler, owner));
    },
    preAuthIq(ns, handler) {
      core.preAuthIq.set(ns, handler);
    },
    streamFeature(stage, provider) {
      (stage === "pre-auth" ? core.features.preAuth : core.features.postAuth).push(provider);
    },
    discoFeature(ns) {
      core.disco.features.add(ns);
    },
    discoIdentity(identity) {
      core.disco.identities.push(identity);
    },
    discoItem(item) {
      core.disco.items.push(item);
    },
    accountFeature(ns) {
      core.disco.accountFeatures.add(ns);
    },
    component(component) {
      core.router.components.set(component.domain, component);
      remove.push(() => core.router.components.delete(component.domain));
    },
    route: (stanza) => core.router.route(stanza),
    bounce: (stanza, error) => core.router.bounce(stanza, error),
    provide: (name, service) => core.provide(name, service),
    service: (name) => core.service(name),
    onStop: (fn) => core.onStop(fn),
  };
}
