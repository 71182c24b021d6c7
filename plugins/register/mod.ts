/**
 * register (XEP-0077): in-band registration, password change and account removal. Off unless
 * enabled; new accounts only when `open` (PARLEY_REGISTRATION=open), limited per remote address
 * per hour with loopback exempt by default (as Prosody does), and never over an unencrypted
 * stream when encryption is required.
 */
import { definePlugin } from "../registry.ts";
import { type Element, x } from "../../xml/element.ts";
import { NS } from "../../protocol/ns.ts";
import { errorReply, StanzaError } from "../../protocol/errors.ts";
import { isLoopback } from "../../net/rate_limit.ts";
import { changePassword, createAccount, deleteAccount } from "../../server/accounts.ts";
import type { SessionRegistry } from "../sess_man/sessions.ts";

export default definePlugin({
  name: "register",
  description: "in-band registration, password change and cancellation (XEP-0077)",
  depends: ["sess-man"],
  defaults: { open: false, registrations_per_ip_per_hour: 5, exempt_loopback: true },
  setup(api) {
    const { open, registrations_per_ip_per_hour: perHour, exempt_loopback } = api.options;
    const recent = new Map<string, number[]>();
    const allowFrom = (addr: string): boolean => {
      if (exempt_loopback && isLoopback(addr)) return true;
      const now = Date.now();
      const times = (recent.get(addr) ?? []).filter((t) => now - t < 3600_000);
      if (times.length >= perHour) return false;
      times.push(now);
      recent.set(addr, times);
      return true;
    };

    api.discoFeature(NS.register);
    if (open) {
      api.streamFeature("pre-auth", () => x("register", { xmlns: NS.registerFeature }));
    }

    const form = () =>
      x(
        "query",
        { xmlns: NS.register },
        x("instructions", {}, "Choose a username and password."),
        x("username"),
        x("password"),
      );

    api.preAuthIq(NS.register, async (stanza, ctx) => {
      const reply = (payload: Element | null) =>
        ctx.reply(x("iq", { type: "result", id: stanza.attrs.id }, payload));
      const fail = (e: StanzaError) => ctx.reply(errorReply(stanza, e));
      if (!open) return fail(new StanzaError("not-allowed", "registration is closed"));
      if (api.config.c2s.require_encryption && !ctx.secure) {
        return fail(new StanzaError("policy-violation", "use TLS before registering"));
      }
      const type = stanza.attrs.type;
      const q = stanza.getChild("query", NS.register)!;
      if (type === "get") return reply(form());
      if (type !== "set") return fail(new StanzaError("bad-request"));
      const username = q.getChildText("username")?.trim() ?? "";
      const password = q.getChildText("password") ?? "";
      if (!username || !password) {
        return fail(new StanzaError("not-acceptable", "username and password are required"));
      }
      if (!allowFrom(ctx.remoteAddress)) {
        return fail(new StanzaError("resource-constraint", "too many registrations, retry later"));
      }
      const r = await createAccount(api.db, api.domain, username, password);
      if (r.ok) {
        api.log.info("registered {jid}", { jid: r.jid });
        return reply(null);
      }
      if (r.reason === "exists") return fail(new StanzaError("conflict", "username taken"));
      if (r.reason === "invalid-username") return fail(new StanzaError("jid-malformed"));
      return fail(new StanzaError("not-acceptable", "password too short or invalid"));
    });

    api.iq("get", NS.register, (req) =>
      x(
        "query",
        { xmlns: NS.register },
        x("registered"),
        x("username", {}, req.from.local),
      ), ["account", "host"]);

    api.iq("set", NS.register, async (req): Promise<true> => {
      const q = req.payload;
      const user = req.from.bare;
      if (q.getChild("remove")) {
        await deleteAccount(api.db, api.domain, user);
        api.log.info("account {jid} removed by its owner", { jid: user });
        // The result goes out first; then every session of the gone account ends.
        const sessions = api.service<SessionRegistry>("sessions").ofUser(user);
        setTimeout(() => {
          for (const s of sessions) s.close("not-authorized", "account removed");
        }, 0);
        return true;
      }
      const username = q.getChildText("username")?.trim();
      const password = q.getChildText("password");
      if (!password) throw new StanzaError("bad-request", "password required");
      if (username && username.toLowerCase() !== req.from.local) {
        throw new StanzaError("not-allowed", "you can only change your own password");
      }
      const r = await changePassword(api.db, api.domain, user, password);
      if (!r.ok) throw new StanzaError("not-acceptable", "password too short or invalid");
      return true;
    }, ["account", "host"]);
  },
});
