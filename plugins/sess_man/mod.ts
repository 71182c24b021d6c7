/**
 * sess-man (Tigase's session manager): binds resources, keeps each session's presence state
 * (Tigase `presence-state`), and delivers stanzas to local sessions following RFC 6121 §8.5.
 * Richer policy (offline storage, roster-driven presence) hooks in at higher priority.
 */
import { definePlugin } from "../registry.ts";
import type { StanzaEvent } from "../../router/hooks.ts";
import type { Session } from "../../router/session.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { NS } from "../../protocol/ns.ts";
import { x } from "../../xml/element.ts";
import type { SessionBinder, StreamSession } from "../../net/stream_session.ts";
import { SessionRegistry } from "./sessions.ts";

export { SessionRegistry };

/** Available resources that may receive a bare-JID message (non-negative priority). */
export function deliverable(sessions: Session[]): Session[] {
  return sessions.filter((s) => s.available && s.priority >= 0);
}

/** The highest-priority available resources (RFC 6121 §8.5.2.1.1); ties all receive it. */
export function highestPriority(sessions: Session[]): Session[] {
  const ok = deliverable(sessions);
  if (ok.length <= 1) return ok;
  const top = Math.max(...ok.map((s) => s.priority));
  return ok.filter((s) => s.priority === top);
}

export default definePlugin({
  name: "sess-man",
  description: "resource binding, session presence state and local delivery (RFC 6120/6121)",
  defaults: { max_resources: 16 },
  setup(api) {
    const registry = new SessionRegistry(api.domain, api.options.max_resources);
    const binder: SessionBinder = {
      bind: (session: StreamSession, username, resource) =>
        Promise.resolve(registry.bind(session, username, resource)),
      unbind: (session) => registry.unbind(session),
    };
    api.provide("sessions", registry);
    api.provide("binder", binder);

    api.streamFeature("post-auth", () => x("bind", { xmlns: NS.bind }));
    // RFC 3921 sessions are a no-op today; old clients still ask for them (RFC 6121 Appendix E).
    api.streamFeature("post-auth", () => x("session", { xmlns: NS.session }, x("optional")));
    api.iq("set", NS.session, () => true, ["host", "account"]);

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
      } else if (type === "unavailable") {
        origin.available = false;
        origin.presence = null;
      }
    }, 1000);

    api.hook("message/full", (ev) => {
      const session = registry.get(ev.to);
      if (session) {
        session.send(ev.stanza);
        return true;
      }
      const type = ev.stanza.attrs.type ?? "normal";
      // RFC 6121 §8.5.3.2.1: chat and normal fall back to the bare JID rules.
      if (type === "chat" || type === "normal") return deliverToBare(ev);
      if (type === "groupchat") throw new StanzaError("service-unavailable");
      return true; // headline and error to a gone resource are dropped silently
    }, -100);

    const deliverToBare = (ev: StanzaEvent): boolean => {
      const type = ev.stanza.attrs.type ?? "normal";
      const sessions = registry.ofUser(ev.to.bare);
      if (type === "groupchat") throw new StanzaError("service-unavailable");
      if (type === "error") return true;
      const targets = type === "headline" ? deliverable(sessions) : highestPriority(sessions);
      if (targets.length === 0) return false;
      for (const s of targets) s.send(ev.stanza);
      return true;
    };
    api.hook("message/bare", deliverToBare, -100);

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
  },
});
