/**
 * Parley's public API: start a server from a configuration, and write plugins for it.
 *
 * ```ts
 * import { definePlugin, startServer } from "./mod.ts";
 * const hello = definePlugin({
 *   name: "hello",
 *   description: "answers a custom iq",
 *   defaults: {},
 *   setup(api) {
 *     api.iq("get", "urn:example:hello", () => true);
 *   },
 * });
 * const server = await startServer({ components: ["c2s", "sess-man", "hello"] }, {
 *   plugins: [hello],
 * });
 * ```
 * @module
 */

/** Starts a server; resolves once every enabled component listens. */
export { startServer } from "./server/start.ts";
/** A running server (`stop()`, bound `ports`, the `core`) and start options. */
export type { Server, StartOptions } from "./server/start.ts";
/** Loads `parley.toml` plus PARLEY_* environment overrides, validated. */
export { ConfigError, loadConfig, validateConfig } from "./config/mod.ts";
/** The validated configuration and the raw input shape. */
export type { CoreConfigInput, ParleyConfig } from "./config/mod.ts";
/** Declares a plugin: name, dependencies, option defaults and validation, setup. */
export { checkOptions, definePlugin } from "./plugins/registry.ts";
/** What a plugin's setup receives, and a plugin's declaration. */
export type { AnyPlugin, PluginApi, PluginDefinition } from "./plugins/registry.ts";
/** Hook names and event shapes for stanza routes, interceptors and lifecycle events. */
export type {
  HookName,
  InterceptorEvent,
  InterceptorHook,
  LifecycleEvents,
  LifecycleHook,
  StanzaEvent,
  StanzaHook,
} from "./router/hooks.ts";
/** iq handler types and scopes. */
export type { IqHandler, IqRequest, IqScope } from "./router/iq.ts";
/** A component owning a domain (e.g. MUC). */
export type { Component } from "./router/router.ts";
/** A client session as plugins see it. */
export type { Session } from "./router/session.ts";
/** Errors a handler throws to answer with an RFC 6120 stanza or stream error. */
export { StanzaError, StreamError } from "./protocol/errors.ts";
/** RFC 6120 error conditions. */
export type { StanzaErrorCondition, StreamErrorCondition } from "./protocol/errors.ts";
/** The XML element model and builder. */
export { Element, x } from "./xml/element.ts";
/** XML namespaces. */
export { NS } from "./protocol/ns.ts";
/** JIDs (RFC 7622). */
export { JID, JidError, parseJid, tryParseJid } from "./jid/mod.ts";
