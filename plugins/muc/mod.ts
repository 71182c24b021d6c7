/**
 * muc: multi-user chat (XEP-0045) as a component on `conference.<domain>` (option `host`).
 *
 * One XState actor per room (`room:<roomJid>`, machine in `actors/room_machine.ts`, adapter in
 * `rooms.ts`). Rooms are created by joining them; a new room is locked until its owner submits
 * the configuration form (an empty form makes an instant room, §10.1.2). Persistent rooms, their
 * configuration and affiliations are stored through `db.muc` and restored lazily, on the first
 * stanza to the room. The room archive (MAM, XEP-0313, queried at the room's JID) is the shared
 * archive store with owner = the room's bare JID; discussion history on join comes from memory,
 * seeded from that archive when a persistent room is restored.
 *
 * Configuration form fields: the `muc#roomconfig_*` fields of §15.5.3 (roomname, roomdesc,
 * persistentroom, publicroom, membersonly, moderatedroom, passwordprotectedroom, roomsecret,
 * maxusers, whois, changesubject, enablelogging, allowinvites) and `muc#maxhistoryfetch` for the
 * history length (`muc#roomconfig_historylength` accepted too).
 *
 * Who may read a room's archive: its occupants and its members (admins, owners).
 */
import { definePlugin } from "../registry.ts";
import { ConfigError } from "../../config/load.ts";
import { checkOptions } from "../registry.ts";
import { Element, x } from "../../xml/element.ts";
import { type JID, tryParseJid } from "../../jid/mod.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { ItemNotFoundError } from "../../db/mod.ts";
import {
  type AdminItem,
  type Affiliation,
  affiliationOf,
  DEFAULT_ROOM_CONFIG,
  occupantByJid,
  type Role,
  type RoomConfig,
} from "../../actors/room_machine.ts";
import { fin, parseQuery, resultMessage } from "../message_archive/query.ts";
import {
  configForm,
  NS_MUC_ADMIN,
  NS_MUC_OWNER,
  NS_ROOMINFO,
  parseConfigForm,
} from "./protocol.ts";
import { type MucOptions, type Room, RoomManager } from "./rooms.ts";

export { type MucOptions, RoomManager } from "./rooms.ts";

const AFFILIATIONS = new Set<Affiliation>(["owner", "admin", "member", "outcast", "none"]);
const ROLES = new Set<Role>(["moderator", "participant", "visitor", "none"]);

/** The muc#... feature vars of a room, per its configuration (XEP-0045 §6.4, §15.4). */
export function roomFeatures(c: RoomConfig): string[] {
  return [
    NS.muc,
    c.persistent ? "muc_persistent" : "muc_temporary",
    c.public ? "muc_public" : "muc_hidden",
    c.membersOnly ? "muc_membersonly" : "muc_open",
    c.moderated ? "muc_moderated" : "muc_unmoderated",
    c.passwordProtected ? "muc_passwordprotected" : "muc_unsecured",
    c.whois === "anyone" ? "muc_nonanonymous" : "muc_semianonymous",
    NS.discoInfo,
    NS.sid,
    ...(c.logging ? [NS.mam] : []),
    NS.ping,
  ];
}

export default definePlugin<MucOptions>({
  name: "muc",
  description: "multi-user chat (XEP-0045) with room archives (XEP-0313) and self-ping (XEP-0410)",
  defaults: {
    host: "",
    lock_new_rooms: true,
    max_users: 1000,
    default_history: 20,
    max_history: 200,
    mam_default_max: 50,
    mam_max_max: 250,
  },
  parseOptions(raw, defaults) {
    const o = checkOptions("muc", raw, defaults);
    if (o.host !== "" && !tryParseJid(o.host)?.isBare()) {
      throw new ConfigError(`muc.host: "${o.host}" is not a domain`);
    }
    for (const k of ["max_users", "default_history", "max_history"] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 0) {
        throw new ConfigError(`muc.${k}: expected a non-negative integer`);
      }
    }
    for (const k of ["mam_default_max", "mam_max_max"] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) {
        throw new ConfigError(`muc.${k}: expected a positive integer`);
      }
    }
    return o;
  },
  setup(api) {
    const host = api.options.host || `conference.${api.domain}`;
    const rooms = new RoomManager(api, host);
    const limits = { maxUsers: api.options.max_users, maxHistory: api.options.max_history };
    const mamLimits = { defaultMax: api.options.mam_default_max, maxMax: api.options.mam_max_max };

    api.discoItem({ jid: host, name: "Chatrooms" });
    api.provide("muc", rooms);

    // ---- the service itself

    const serviceIq = async (stanza: Element, from: JID): Promise<Element | true> => {
      const payload = stanza.elements()[0];
      if (stanza.attrs.type === "get" && payload?.is("query", NS.discoInfo)) {
        if (payload.attrs.node !== undefined) throw new StanzaError("item-not-found");
        return x(
          "query",
          { xmlns: NS.discoInfo },
          x("identity", { category: "conference", type: "text", name: "Chatrooms" }),
          ...[NS.muc, NS.discoInfo, NS.discoItems, NS.ping].map((v) => x("feature", { var: v })),
        );
      }
      if (stanza.attrs.type === "get" && payload?.is("query", NS.discoItems)) {
        if (payload.attrs.node !== undefined) throw new StanzaError("item-not-found");
        return x(
          "query",
          { xmlns: NS.discoItems },
          ...(await publicRooms()).map((r) =>
            x("item", { jid: r.jid, name: r.name || r.jid.slice(0, r.jid.indexOf("@")) })
          ),
        );
      }
      if (stanza.attrs.type === "get" && payload?.is("ping", NS.ping)) return true;
      void from;
      throw new StanzaError("service-unavailable");
    };

    const publicRooms = async (): Promise<{ jid: string; name: string }[]> => {
      const out = new Map<string, string>();
      for (const rec of (await api.db.muc?.list(host)) ?? []) {
        const c = { ...DEFAULT_ROOM_CONFIG, ...(rec.config as Partial<RoomConfig>) };
        if (c.public) out.set(rec.jid, c.name);
      }
      for (const room of rooms.live()) {
        const snap = room.actor.getSnapshot();
        if (snap.matches("open") && snap.context.config.public) {
          out.set(room.jid, snap.context.config.name);
        } else out.delete(room.jid);
      }
      return [...out].sort(([a], [b]) => a.localeCompare(b)).map(([jid, name]) => ({ jid, name }));
    };

    // ---- iqs to a room's bare JID

    const roomIq = async (
      stanza: Element,
      from: JID,
      room: Room,
    ): Promise<Element | true | null> => {
      const payload = stanza.elements()[0];
      const type = stanza.attrs.type;
      if (!payload) throw new StanzaError("bad-request");
      const ctx = room.context;
      const aff = affiliationOf(ctx, from.full);
      const ns = payload.ns;
      if (type === "get" && payload.is("query", NS.discoInfo)) {
        if (payload.attrs.node !== undefined) throw new StanzaError("item-not-found");
        const c = ctx.config;
        return x(
          "query",
          { xmlns: NS.discoInfo },
          x("identity", {
            category: "conference",
            type: "text",
            name: c.name || room.jid.slice(0, room.jid.indexOf("@")),
          }),
          ...roomFeatures(c).map((v) => x("feature", { var: v })),
          x(
            "x",
            { xmlns: NS.dataForms, type: "result" },
            x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", {}, NS_ROOMINFO)),
            x("field", { var: "muc#roominfo_description" }, x("value", {}, c.description)),
            x("field", { var: "muc#roominfo_subject" }, x("value", {}, ctx.subject.text)),
            x(
              "field",
              { var: "muc#roominfo_occupants" },
              x("value", {}, String(Object.keys(ctx.occupants).length)),
            ),
          ),
        );
      }
      if (type === "get" && payload.is("query", NS.discoItems)) {
        // Occupants are not listed: that would unmask semi-anonymous rooms (§6.5).
        return x("query", { xmlns: NS.discoItems });
      }
      if (type === "get" && payload.is("ping", NS.ping)) return true;
      if (ns === NS_MUC_OWNER && payload.localName === "query") {
        if (type === "get") {
          if (aff !== "owner") throw new StanzaError("forbidden", "owners only");
          return x("query", { xmlns: NS_MUC_OWNER }, configForm(ctx.config, room.jid));
        }
        const destroy = payload.getChild("destroy");
        if (destroy) {
          const alt = destroy.attrs.jid;
          room.actor.send({
            type: "DESTROY",
            by: from.full,
            reason: destroy.getChildText("reason"),
            alternate: alt !== undefined ? tryParseJid(alt)?.full : undefined,
            stanza,
          });
          return null;
        }
        const form = payload.getChild("x", NS.dataForms);
        if (!form) throw new StanzaError("bad-request", "a data form or <destroy/>");
        if (form.attrs.type === "cancel") {
          room.actor.send({ type: "CANCEL", by: from.full, stanza });
          return null;
        }
        if (form.attrs.type !== "submit") throw new StanzaError("bad-request", "submit the form");
        if (aff !== "owner") throw new StanzaError("forbidden", "owners only");
        const config = parseConfigForm(form, ctx.config, limits);
        room.actor.send({ type: "CONFIGURE", by: from.full, config, stanza });
        return null;
      }
      if (ns === NS_MUC_ADMIN && payload.localName === "query") {
        return type === "get"
          ? adminList(payload, from, room)
          : adminSet(payload, from, room, stanza);
      }
      if (type === "set" && payload.is("query", NS.mam)) {
        await mamQuery(stanza, payload, from, room);
        return null;
      }
      if (type === "get" && payload.is("query", NS.mam)) {
        return x("query", { xmlns: NS.mam }, x("x", { xmlns: NS.dataForms, type: "form" }));
      }
      throw new StanzaError("service-unavailable");
    };

    const adminList = (payload: Element, from: JID, room: Room): Element => {
      const ctx = room.context;
      const aff = affiliationOf(ctx, from.full);
      const me = occupantByJid(ctx, from.full);
      const item = payload.getChild("item");
      const q = x("query", { xmlns: NS_MUC_ADMIN });
      const wantAff = item?.attrs.affiliation as Affiliation | undefined;
      const wantRole = item?.attrs.role as Role | undefined;
      if (wantAff !== undefined) {
        if (!AFFILIATIONS.has(wantAff) || wantAff === "none") throw new StanzaError("bad-request");
        // Admins and owners read the lists (§9.5, §10.8).
        if (aff !== "owner" && aff !== "admin") throw new StanzaError("forbidden");
        for (const [jid, a] of Object.entries(ctx.affiliations)) {
          if (a === wantAff) q.append(x("item", { affiliation: a, jid }));
        }
        return q;
      }
      if (wantRole !== undefined) {
        if (!ROLES.has(wantRole) || wantRole === "none") throw new StanzaError("bad-request");
        if (me?.role !== "moderator") throw new StanzaError("forbidden");
        for (const o of Object.values(ctx.occupants)) {
          if (o.role === wantRole) {
            q.append(
              x("item", {
                nick: o.nick,
                role: o.role,
                affiliation: affiliationOf(ctx, o.jid),
                jid: o.jid,
              }),
            );
          }
        }
        return q;
      }
      throw new StanzaError("bad-request", "ask for an affiliation or a role");
    };

    const adminSet = (payload: Element, from: JID, room: Room, stanza: Element): null => {
      const items: AdminItem[] = [];
      room.reasons = new Map();
      for (const it of payload.getChildren("item")) {
        const reason = it.getChildText("reason");
        if (it.attrs.affiliation !== undefined) {
          const a = it.attrs.affiliation as Affiliation;
          if (!AFFILIATIONS.has(a)) throw new StanzaError("bad-request", "unknown affiliation");
          let target = it.attrs.jid !== undefined ? tryParseJid(it.attrs.jid) : null;
          if (!target && it.attrs.nick !== undefined) {
            const o = room.context.occupants[it.attrs.nick];
            target = o ? tryParseJid(o.bare) : null;
          }
          if (!target) throw new StanzaError("bad-request", "an affiliation item needs a jid");
          items.push({ kind: "affiliation", jid: target.bare, affiliation: a, reason });
          if (reason !== undefined) room.reasons.set(target.bare, reason);
        } else if (it.attrs.role !== undefined && it.attrs.nick !== undefined) {
          const r = it.attrs.role as Role;
          if (!ROLES.has(r)) throw new StanzaError("bad-request", "unknown role");
          items.push({ kind: "role", nick: it.attrs.nick, role: r, reason });
          if (reason !== undefined) room.reasons.set(it.attrs.nick, reason);
        } else {throw new StanzaError(
            "bad-request",
            "an item has a role and nick, or an affiliation",
          );}
      }
      if (items.length === 0) throw new StanzaError("bad-request", "no items");
      room.adminActor = occupantByJid(room.context, from.full)?.nick;
      try {
        room.actor.send({ type: "ADMIN", by: from.full, items, stanza });
      } finally {
        room.reasons = new Map();
        room.adminActor = undefined;
      }
      return null;
    };

    const mamQuery = async (stanza: Element, payload: Element, from: JID, room: Room) => {
      const ctx = room.context;
      const aff = affiliationOf(ctx, from.full);
      const member = aff === "member" || aff === "admin" || aff === "owner";
      if (!member && !occupantByJid(ctx, from.full)) {
        throw new StanzaError("forbidden", "only occupants and members read the archive");
      }
      const q = parseQuery(payload, room.jid, mamLimits);
      await api.db.archive.flush();
      let page;
      try {
        page = await api.db.archive.query(q);
      } catch (e) {
        if (e instanceof ItemNotFoundError) throw new StanzaError("item-not-found");
        throw e;
      }
      const queryid = payload.attrs.queryid;
      for (const entry of page.items) {
        const m = resultMessage(entry, from.full, queryid);
        if (m) await api.route(m);
      }
      await api.route(
        x("iq", { type: "result", id: stanza.attrs.id, from: room.jid, to: from.full }, fin(page)),
      );
    };

    const reply = (stanza: Element, result: Element | true) =>
      api.route(
        x(
          "iq",
          { type: "result", id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from },
          result === true ? null : result,
        ),
      );

    api.component({
      domain: host,
      async handle(stanza, from, to) {
        try {
          const kind = stanza.localName;
          const type = stanza.attrs.type;
          if (to.local === "") {
            if (kind === "iq" && (type === "get" || type === "set")) {
              await reply(stanza, await serviceIq(stanza, from));
            } else if (kind === "message" && type !== "error") {
              throw new StanzaError("service-unavailable");
            }
            return;
          }
          if (kind === "presence") return await rooms.presence(stanza, from, to);
          const room = await rooms.get(to.bare);
          if (!room) {
            if (kind !== "iq" || type === "get" || type === "set") {
              throw new StanzaError("item-not-found", "no such room");
            }
            return;
          }
          // A locked room is only there for its owner (§10.1.1).
          if (
            room.actor.getSnapshot().matches("locked") &&
            affiliationOf(room.context, from.full) !== "owner"
          ) {
            throw new StanzaError("item-not-found", "no such room");
          }
          if (kind === "message") {
            if (to.resource === "") rooms.message(stanza, from, room);
            else rooms.privateMessage(stanza, from, to, room);
            return;
          }
          if (kind !== "iq") return;
          if (to.resource !== "") return rooms.occupantIq(stanza, from, to, room);
          if (type !== "get" && type !== "set") return;
          const result = await roomIq(stanza, from, room);
          if (result !== null) await reply(stanza, result);
        } catch (e) {
          if (e instanceof StanzaError) api.bounce(stanza, e);
          else {
            api.log.error("muc: {error}", { error: String(e) });
            api.bounce(stanza, new StanzaError("internal-server-error"));
          }
        }
      },
    });

    // An occupant whose session ends, or goes unavailable, leaves every room (§7.14).
    api.hook("session/closed", ({ session }) => {
      if (session.jid) rooms.sessionGone(session.jid.full);
    });
    api.hook("session/unavailable", ({ session }) => {
      if (session.jid) rooms.sessionGone(session.jid.full);
    });
    api.onStop(() => rooms.stopAll());
  },
});
