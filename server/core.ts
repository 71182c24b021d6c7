/**
 * The services every plugin and transport shares: configuration, storage, hooks, iq handlers,
 * the router, stream features, disco data and named services plugins offer each other.
 */
import type { Element } from "../xml/element.ts";
import type { Database } from "../db/types.ts";
import type { ParleyConfig } from "../config/schema.ts";
import { Hooks } from "../router/hooks.ts";
import { IqRegistry } from "../router/iq.ts";
import { Router } from "../router/router.ts";
import type { Session } from "../router/session.ts";
import type { ActorDirectory } from "../actors/directory.ts";
import {
  PLAIN,
  type SaslMechanismFactory,
  SCRAM_SHA_1,
  SCRAM_SHA_256,
} from "../protocol/sasl/mechanism.ts";
import { AuthThrottle } from "../protocol/sasl/throttle.ts";
import { ConnectionRateLimit } from "../net/rate_limit.ts";

/** What a stream feature provider is told about the stream it advertises to. */
export interface FeatureContext {
  secure: boolean;
  authenticated: boolean;
  session: Session | null;
}

export type FeatureProvider = (ctx: FeatureContext) => Element | null;

export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
}

export interface DiscoItem {
  jid: string;
  name?: string;
}

/** Server-level disco#info/#items data that plugins add to (XEP-0030). */
export class DiscoData {
  readonly identities: DiscoIdentity[] = [];
  readonly features = new Set<string>();
  readonly items: DiscoItem[] = [];
  /** features announced on every local account's bare JID (e.g. MAM) */
  readonly accountFeatures = new Set<string>();
}

export class StreamFeatures {
  readonly preAuth: FeatureProvider[] = [];
  readonly postAuth: FeatureProvider[] = [];

  build(stage: "pre-auth" | "post-auth", ctx: FeatureContext): Element[] {
    const out: Element[] = [];
    for (const p of stage === "pre-auth" ? this.preAuth : this.postAuth) {
      const el = p(ctx);
      if (el) out.push(el);
    }
    return out;
  }
}

/** Pre-auth iq handlers (XEP-0077 registration before login): namespace -> handler. */
export type PreAuthIqHandler = (
  stanza: Element,
  ctx: { remoteAddress: string; secure: boolean; reply: (el: Element) => void },
) => Promise<void>;

export class Core {
  readonly hooks = new Hooks();
  readonly iq = new IqRegistry();
  readonly router: Router;
  readonly features = new StreamFeatures();
  readonly disco = new DiscoData();
  readonly preAuthIq = new Map<string, PreAuthIqHandler>();
  /** SASL mechanisms in order of preference; PLAIN only over TLS */
  readonly mechanisms: SaslMechanismFactory[] = [SCRAM_SHA_256, SCRAM_SHA_1, PLAIN];
  /** failed logins per address, shared by every transport */
  readonly authThrottle: AuthThrottle;
  /** new connections per address per minute, shared by every transport */
  readonly connectionRate: ConnectionRateLimit;
  readonly #services = new Map<string, unknown>();
  readonly #stopping: (() => void | Promise<void>)[] = [];

  constructor(
    readonly config: ParleyConfig,
    readonly db: Database,
    readonly actors: ActorDirectory,
  ) {
    this.router = new Router(config.domain, this.hooks, this.iq);
    this.authThrottle = new AuthThrottle({
      maxFailures: config.limits.auth_failures_before_throttle,
      windowMs: config.limits.auth_throttle_seconds * 1000,
      lockoutMs: config.limits.auth_throttle_seconds * 1000,
    });
    this.connectionRate = new ConnectionRateLimit(config.limits.connections_per_ip_per_minute);
  }

  get domain(): string {
    return this.config.domain;
  }

  provide<T>(name: string, service: T): void {
    if (this.#services.has(name)) throw new Error(`service ${name} provided twice`);
    this.#services.set(name, service);
  }

  service<T>(name: string): T {
    if (!this.#services.has(name)) throw new Error(`service ${name} is not available`);
    return this.#services.get(name) as T;
  }

  hasService(name: string): boolean {
    return this.#services.has(name);
  }

  onStop(fn: () => void | Promise<void>): void {
    this.#stopping.push(fn);
  }

  /** Runs stop handlers in reverse registration order (last started, first stopped). */
  async stop(): Promise<void> {
    await this.hooks.fire("server/stopping", {});
    for (const fn of this.#stopping.reverse()) await fn();
    this.#stopping.length = 0;
    // Sessions that ended during the stop still have hooks (presence, archive) writing.
    await this.hooks.settle();
    this.iq.clear();
  }
}
