/**
 * sess-man (Tigase's session manager): binds resources, keeps each session's presence state
 * (Tigase `presence-state`), and hands every message for a local user to that user's actor,
 * which decides delivery (RFC 6121 §8.5) and offline storage. iq and presence to a full JID are
 * delivered directly.
 */
import { definePlugin } from "../registry.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { NS } from "../../protocol/ns.ts";
import { x } from "../../xml/element.ts";
import type { SessionBinder, StreamSession } from "../../net/stream_session.ts";
import { SessionRegistry } from "./sessions.ts";
import { UserManager } from "./users.ts";

export { SessionRegistry, UserManager };
export { deliverable, highestPriority } from "./delivery.ts";

export default definePlugin({
  name: "sess-man",
  description: "resource binding, presence state, and per-user delivery actors (RFC 6120/6121)",
  defaults: { max_resources: 16, user_idle_seconds: 60 },
  setup(api) {
    const registry = new SessionRegistry(api.domain, api.options.max_resources);
    const users = new UserManager(api.core, registry, api.options.user_idle_seconds * 1000);
    const binder: SessionBinder = {
      bind: (session: StreamSession, username, resource) =>
        Promise.resolve(registry.bind(session, username, resource)),
      unbind: (session) => registry.unbind(session),
    };
    api.provide("sessions", registry);
    api.provide("users", users);
    api.provide("binder", binder);

    api.streamFeature("post-auth", () => x("bind", { xmlns: NS.bind }));
    // RFC 3921 sessions are a no-op today; old clients still ask for them (RFC 6121 Appendix E).
    api.streamFeature("post-auth", () => x("session", { xmlns: NS.session }, x("optional")));
    api.iq("set", NS.session, () => true, ["host", "account"]);

    api.hook("session/bound", ({ session }) => users.sessionBound(session));
    api.hook("session/closed", ({ session }) => users.sessionClosed(session));

    // Presence state of the sender's own session: available/unavailable and priority.
    api.hook("pre-presence/bare", (ev) => {
      const { stanza, origin } = ev;
      if (!origin || stanza.attrs.to !== undefined) return;
      const type = stanza.attrs.type;
      if (type === undefined) {
        const p = Number.parseInt(stanza.getChildText("priority") ?? "0", 10);
        origin.available = true;
        origin.priority = Number.isFinite(p) ? Math.max(-128, Math.min(127, p)) : 0;
        origin.presence = stanza;
        users.presence(origin);
        void api.core.hooks.fire("session/available", { session: origin });
      } else if (type === "unavailable") {
        origin.available = false;
        origin.presence = null;
        users.presence(origin);
        void api.core.hooks.fire("session/unavailable", { session: origin });
      }
    }, 1000);

    api.hook("message/full", (ev) => users.message(ev), -100);
    api.hook("message/bare", (ev) => users.message(ev), -100);

    api.hook("iq/full", (ev) => {
      const session = registry.get(ev.to);
      if (session) {
        session.send(ev.stanza);
        return true;
      }
      const type = ev.stanza.attrs.type;
      if (type === "get" || type === "set") throw new StanzaError("service-unavailable");
      return true;
    }, -100);

    api.hook("presence/full", (ev) => {
      registry.get(ev.to)?.send(ev.stanza);
      return true;
    }, -100);

    api.hook("presence/bare", (ev) => {
      for (const s of registry.ofUser(ev.to.bare)) if (s.available) s.send(ev.stanza);
      return true;
    }, -100);

    api.hook("server/stopping", () => {
      for (const s of registry.all()) (s as StreamSession).shutdown();
    });
    api.onStop(() => users.stopAll());
  },
});
