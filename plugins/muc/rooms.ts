/**
 * The room actors (`room:<roomJid>`) and the adapter that carries out their decisions: presence
 * broadcasts with status codes, errors, invitations, storage of persistent rooms. The rules live in
 * `actors/room_machine.ts`; this file writes stanzas.
 *
 * Persistent rooms are restored lazily: the actor is spawned from the stored record on the first
 * stanza addressed to the room, its discussion history seeded from the room's archive.
 */
import { type Actor, createActor } from "xstate";
import { Element, x } from "../../xml/element.ts";
import { serialize } from "../../xml/serialize.ts";
import { type JID, tryParseJid } from "../../jid/mod.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { forwardable } from "../../protocol/forward.ts";
import type { MucAffiliation, MucRoomRecord } from "../../db/types.ts";
import type { PluginApi } from "../registry.ts";
import { parseStored } from "../message_archive/query.ts";
import {
  type Affiliation,
  affiliationOf,
  DEFAULT_ROOM_CONFIG,
  type LeaveCause,
  mayPostGroupchat,
  type Occupant,
  occupantByJid,
  type RoomConfig,
  type RoomContext,
  type RoomInput,
  roomMachine,
} from "../../actors/room_machine.ts";
import {
  type HistoryEntry,
  mucUserX,
  NS_MUC,
  NS_MUC_USER,
  parseHistoryRequest,
  selectHistory,
  STATUS,
} from "./protocol.ts";
import { newStanzaId } from "../../db/stanza_id.ts";

/** Options of the `[muc]` section. */
export interface MucOptions {
  /** the service's domain; "" means conference.<domain> */
  host: string;
  /** new rooms stay locked until their owner configures them (XEP-0045 §10.1.1) */
  lock_new_rooms: boolean;
  /** ceiling for a room's maxusers (0: none) */
  max_users: number;
  /** history length of a new room */
  default_history: number;
  /** ceiling for a room's history length */
  max_history: number;
  /** MAM page size when a query names no RSM max, and the largest page served */
  mam_default_max: number;
  mam_max_max: number;
}

const CAUSE_CODES: Record<LeaveCause, number[]> = {
  leave: [],
  kicked: [STATUS.kicked],
  banned: [STATUS.banned],
  affiliation: [STATUS.affiliationChange],
  "members-only": [STATUS.membersOnly],
  shutdown: [STATUS.shutdown],
};

type RoomActor = Actor<typeof roomMachine>;

/** One live room: its actor plus what is not lifecycle state (presence payloads, history). */
export class Room {
  actor!: RoomActor;
  /** the last presence payload (show, status, caps...) of each occupant, by nick */
  readonly presences = new Map<string, Element[]>();
  history: HistoryEntry[] = [];
  /** reasons given with the admin request being applied, by nick or bare JID */
  reasons = new Map<string, string>();
  /** the actor (nick) of the admin request being applied */
  adminActor: string | undefined;
  /** whether a record of this room is stored */
  stored: boolean;

  constructor(readonly jid: string, stored: boolean) {
    this.stored = stored;
  }

  get context(): RoomContext {
    return this.actor.getSnapshot().context;
  }

  isOpen(): boolean {
    return this.actor.getSnapshot().matches("open");
  }
}

export class RoomManager {
  readonly #rooms = new Map<string, Room>();
  readonly #loading = new Map<string, Promise<Room | null>>();
  /** occupant full JID -> the rooms it is in */
  readonly #byOccupant = new Map<string, Set<string>>();
  #stopping = false;

  constructor(readonly api: PluginApi<MucOptions>, readonly host: string) {}

  get size(): number {
    return this.#rooms.size;
  }

  live(): Room[] {
    return [...this.#rooms.values()];
  }

  /** The live room, restoring a stored one; null when there is no such room. */
  async get(jid: string): Promise<Room | null> {
    const live = this.#rooms.get(jid);
    if (live) return live;
    let loading = this.#loading.get(jid);
    if (!loading) {
      loading = this.#restore(jid).finally(() => this.#loading.delete(jid));
      this.#loading.set(jid, loading);
    }
    return await loading;
  }

  async #restore(jid: string): Promise<Room | null> {
    const store = this.api.db.muc;
    if (!store || this.#stopping) return null;
    const rec = await store.get(jid);
    if (!rec) return null;
    const existing = this.#rooms.get(jid);
    if (existing) return existing;
    const room = new Room(jid, true);
    const config: RoomConfig = { ...DEFAULT_ROOM_CONFIG, ...(rec.config as Partial<RoomConfig>) };
    room.history = await this.#seedHistory(jid, config.historyLength);
    this.#spawn(room, {
      jid,
      config,
      affiliations: rec.affiliations,
      subject: { text: rec.subject, by: rec.subjectBy },
      locked: false,
      created: false,
    });
    return room;
  }

  async #seedHistory(jid: string, n: number): Promise<HistoryEntry[]> {
    if (n === 0) return [];
    const page = await this.api.db.archive.query({ owner: jid, before: "", max: n });
    const out: HistoryEntry[] = [];
    for (const e of page.items) {
      const stanza = parseStored(e.xml);
      if (stanza) out.push({ stanza, stamp: e.stamp, chars: e.xml.length });
    }
    return out;
  }

  /** A new room, created by the join of `owner` (§10.1.1: the creator owns it). */
  create(jid: string, locked: boolean, owner: string): Room {
    const room = new Room(jid, false);
    this.#spawn(room, {
      jid,
      config: {
        ...DEFAULT_ROOM_CONFIG,
        historyLength: Math.min(this.api.options.default_history, this.api.options.max_history),
        maxUsers: this.api.options.max_users,
      },
      affiliations: { [owner]: "owner" },
      locked,
      created: true,
    });
    return room;
  }

  #spawn(room: Room, input: RoomInput): void {
    const actorId = `room:${room.jid}`;
    const machine = roomMachine.provide({
      actions: {
        refuse: (_, p) => this.api.bounce(p.stanza, new StanzaError(p.condition, p.text)),
        done: (_, p) => this.#result(p.stanza),
        joined: ({ context }, p) => this.#joined(room, context, p.nick, p.stanza, p.created),
        left: ({ context }, p) => this.#left(room, context, p.occupant, p.affiliation, p.cause),
        nickChanged: ({ context }, p) => this.#nickChanged(room, context, p.from, p.to, p.stanza),
        occupantChanged: ({ context }, p) => {
          const o = context.occupants[p.nick];
          if (o) this.#broadcastPresence(room, context, o, []);
        },
        subjectChanged: ({ context }, p) => this.#subjectChanged(room, context, p.stanza),
        configured: ({ context }, p) => this.#configured(room, context, p.previous),
        persist: ({ context }) => this.#persist(room, context),
        destroyed: ({ context }, p) =>
          this.#destroyed(room, context, p.occupants, p.reason, p.alternate),
        invited: ({ context }, p) => this.#invite(room, context, p.by, p.invitee, p.stanza),
      },
    });
    const ref = createActor(machine, {
      systemId: actorId,
      inspect: this.api.core.actors.inspectorFor(actorId),
      input,
    });
    room.actor = ref;
    ref.subscribe({
      complete: () => {
        if (this.#rooms.get(room.jid) === room) this.#rooms.delete(room.jid);
        this.api.core.actors.remove(actorId);
      },
      error: (e) => this.api.log.error("room {room} failed: {e}", { room: room.jid, e: String(e) }),
    });
    this.#rooms.set(room.jid, room);
    this.api.core.actors.add(actorId, ref);
    ref.start();
  }

  stopAll(): void {
    this.#stopping = true;
    for (const r of this.#rooms.values()) r.actor.stop();
    this.#rooms.clear();
    this.#byOccupant.clear();
  }

  // ------------------------------------------------------------------------------------------
  // Stanzas from occupants

  /** Presence to room/nick: join, presence update, nick change, leave (§7.2, §7.6, §7.14). */
  async presence(stanza: Element, from: JID, to: JID): Promise<void> {
    const type = stanza.attrs.type;
    if (to.resource === "") {
      if (type === undefined) {
        throw new StanzaError("jid-malformed", "join with room@service/nick");
      }
      return;
    }
    if (type === "unavailable" || type === "error") {
      const room = this.#rooms.get(to.bare);
      if (room && occupantByJid(room.context, from.full)) {
        room.presences.set(
          occupantByJid(room.context, from.full)!.nick,
          payloadOf(stanza),
        );
        room.actor.send({ type: "LEAVE", jid: from.full, stanza });
      }
      return;
    }
    if (type !== undefined) return; // subscriptions and probes mean nothing to a room
    let room = await this.get(to.bare);
    const muc = stanza.getChild("x", NS_MUC);
    if (!room) {
      if (this.#stopping) throw new StanzaError("service-unavailable");
      // Without <x xmlns='…muc'/> (groupchat 1.0) the room is created instant (§10.1.1).
      room = this.create(to.bare, this.api.options.lock_new_rooms && muc !== undefined, from.bare);
    }
    const ctx = room.context;
    const current = occupantByJid(ctx, from.full);
    if (current) {
      room.presences.set(current.nick, payloadOf(stanza));
      if (current.nick === to.resource) {
        this.#broadcastPresence(room, ctx, current, []);
      } else {
        room.actor.send({ type: "NICK_CHANGE", jid: from.full, nick: to.resource, stanza });
      }
      return;
    }
    room.presences.set(to.resource, payloadOf(stanza));
    room.actor.send({
      type: "JOIN",
      request: {
        jid: from.full,
        nick: to.resource,
        password: muc?.getChildText("password") ?? undefined,
        stanza,
      },
    });
    if (!occupantByJid(room.context, from.full)) room.presences.delete(to.resource);
  }

  /** A message to the room's bare JID: groupchat, subject, invitations (§7.4, §7.8, §8.1). */
  message(stanza: Element, from: JID, room: Room): void {
    const type = stanza.attrs.type;
    if (type === "groupchat") return this.groupchat(stanza, from, room);
    if (type === "error") return;
    const userX = stanza.getChild("x", NS_MUC_USER);
    const invites = userX?.getChildren("invite") ?? [];
    const decline = userX?.getChild("decline");
    if (invites.length > 0) {
      for (const inv of invites) {
        const to = tryParseJid(inv.attrs.to ?? "");
        if (!to) throw new StanzaError("jid-malformed", "invite to whom?");
        room.actor.send({ type: "INVITE", by: from.full, invitee: to.full, stanza });
      }
      return;
    }
    if (decline) {
      const to = tryParseJid(decline.attrs.to ?? "");
      if (!to) throw new StanzaError("jid-malformed", "decline to whom?");
      this.#send(x(
        "message",
        { from: room.jid, to: to.full },
        x(
          "x",
          { xmlns: NS_MUC_USER },
          x(
            "decline",
            { from: from.bare },
            decline.getChild("reason")?.clone() ?? null,
          ),
        ),
      ));
      return;
    }
    throw new StanzaError("bad-request", "send groupchat to the room, or an invitation");
  }

  /**
   * The hot path. Whether a groupchat message may go out is a guard on the room's current state,
   * read from the snapshot (`matches("open")`, the sender's role): no XState event per message,
   * which would cost ~8 µs each (DESIGN.md) for nothing the machine needs to remember. History
   * and archive are mechanism, kept beside the actor. Subject changes, which the machine does
   * decide, go to it as events.
   */
  groupchat(stanza: Element, from: JID, room: Room): void {
    const snap = room.actor.getSnapshot();
    const ctx = snap.context;
    const sender = occupantByJid(ctx, from.full);
    if (!snap.matches("open")) throw new StanzaError("not-acceptable", "the room is locked");
    const refusal = mayPostGroupchat(sender);
    if (refusal) throw new StanzaError(refusal);
    const subject = stanza.getChild("subject");
    if (subject && !stanza.getChild("body")) {
      room.actor.send({ type: "SUBJECT", jid: from.full, text: subject.text(), stanza });
      return;
    }
    const msg = x("message", {
      type: "groupchat",
      from: `${room.jid}/${sender!.nick}`,
      id: stanza.attrs.id,
    });
    for (const c of stanza.children) {
      if (typeof c === "string") continue;
      // XEP-0359 §3.1: ids claiming to be the room's are the client's invention.
      if (c.is("stanza-id", NS.sid) && c.attrs.by === room.jid) continue;
      msg.append(c.clone());
    }
    const stamp = new Date();
    if (ctx.config.logging && stanza.getChild("body")) {
      const id = newStanzaId(stamp.getTime());
      msg.append(x("stanza-id", { xmlns: NS.sid, id, by: room.jid }));
      const xml = serialize(forwardable(msg));
      this.api.db.archive.append({
        id,
        owner: room.jid,
        with: msg.attrs.from!,
        direction: "in",
        stamp,
        xml,
      }).catch((e) =>
        this.api.log.error("archiving in {room} failed: {e}", { room: room.jid, e: String(e) })
      );
    }
    if (stanza.getChild("body") && ctx.config.historyLength > 0) {
      room.history.push({ stanza: msg, stamp, chars: serialize(msg).length });
      if (room.history.length > ctx.config.historyLength) {
        room.history.splice(0, room.history.length - ctx.config.historyLength);
      }
    }
    // The sender's echo goes last: once it has it, every occupant has been handed the message.
    for (const o of Object.values(ctx.occupants)) {
      if (o !== sender) this.#sendTo(msg, o.jid);
    }
    this.#sendTo(msg, sender!.jid);
  }

  /** A message to room/nick: a private message between occupants (§7.5). */
  privateMessage(stanza: Element, from: JID, to: JID, room: Room): void {
    const type = stanza.attrs.type;
    if (type === "error") return;
    if (type === "groupchat") throw new StanzaError("bad-request", "groupchat goes to the room");
    const ctx = room.context;
    const sender = occupantByJid(ctx, from.full);
    if (!sender) throw new StanzaError("not-acceptable", "you are not in the room");
    const target = ctx.occupants[to.resource];
    if (!target) throw new StanzaError("item-not-found", "no such occupant");
    const copy = stanza.clone();
    copy.attrs.from = `${room.jid}/${sender.nick}`;
    copy.attrs.to = target.jid;
    if (!copy.getChild("x", NS_MUC_USER)) copy.append(x("x", { xmlns: NS_MUC_USER }));
    this.#send(copy);
  }

  /** An iq to room/nick: XEP-0410 self-ping, else proxied to the occupant (§7.7 style). */
  occupantIq(stanza: Element, from: JID, to: JID, room: Room): void {
    const type = stanza.attrs.type;
    const ctx = room.context;
    const sender = occupantByJid(ctx, from.full);
    if (type === "result" || type === "error") {
      const target = ctx.occupants[to.resource];
      if (sender && target) {
        const copy = stanza.clone();
        copy.attrs.from = `${room.jid}/${sender.nick}`;
        copy.attrs.to = target.jid;
        this.#send(copy);
      }
      return;
    }
    // XEP-0410: a client checks it is still joined by pinging itself.
    if (!sender) throw new StanzaError("not-acceptable", "you are not in the room");
    const payload = stanza.elements()[0];
    if (sender.nick === to.resource && payload?.is("ping", NS.ping)) {
      this.#result(stanza);
      return;
    }
    const target = ctx.occupants[to.resource];
    if (!target) throw new StanzaError("item-not-found", "no such occupant");
    const copy = stanza.clone();
    copy.attrs.from = `${room.jid}/${sender.nick}`;
    copy.attrs.to = target.jid;
    this.#send(copy);
  }

  /** The session ended or went unavailable: it leaves every room it is in. */
  sessionGone(jid: string): void {
    const rooms = this.#byOccupant.get(jid);
    if (!rooms) return;
    for (const r of [...rooms]) {
      this.#rooms.get(r)?.actor.send({ type: "LEAVE", jid });
    }
    this.#byOccupant.delete(jid);
  }

  // ------------------------------------------------------------------------------------------
  // What the machine decided

  #joined(room: Room, ctx: RoomContext, nick: string, stanza: Element, created: boolean): void {
    const me = ctx.occupants[nick]!;
    let set = this.#byOccupant.get(me.jid);
    if (!set) this.#byOccupant.set(me.jid, set = new Set());
    set.add(room.jid);
    // 1. everyone already there, to the newcomer
    for (const o of Object.values(ctx.occupants)) {
      if (o.nick !== nick) this.#send(this.#presence(room, ctx, o, me, []));
    }
    // 2. the newcomer to everyone, itself last with its status codes (§7.2.2, §7.2.3)
    for (const o of Object.values(ctx.occupants)) {
      if (o.nick !== nick) this.#send(this.#presence(room, ctx, me, o, []));
    }
    const codes: number[] = [];
    if (ctx.config.whois === "anyone") codes.push(STATUS.nonAnonymous);
    if (ctx.config.logging) codes.push(STATUS.logging);
    if (created) codes.push(STATUS.created);
    this.#send(this.#presence(room, ctx, me, me, codes));
    // 3. discussion history, with delay stamps from the room (§7.2.15)
    const req = parseHistoryRequest(stanza.getChild("x", NS_MUC)?.getChild("history"));
    if (req.maxstanzas === undefined) req.maxstanzas = ctx.config.historyLength;
    for (const h of selectHistory(room.history, req)) {
      const m = h.stanza.clone();
      m.attrs.to = me.jid;
      m.append(x("delay", { xmlns: NS.delay, from: room.jid, stamp: h.stamp.toISOString() }));
      this.#send(m);
    }
    // 4. the subject, always, empty when there is none (§7.2.16)
    this.#send(x(
      "message",
      {
        type: "groupchat",
        from: ctx.subject.by ? `${room.jid}/${ctx.subject.by}` : room.jid,
        to: me.jid,
      },
      x("subject", {}, ctx.subject.text),
    ));
  }

  #left(
    room: Room,
    ctx: RoomContext,
    gone: Occupant,
    affiliation: Affiliation,
    cause: LeaveCause,
  ): void {
    const rooms = this.#byOccupant.get(gone.jid);
    rooms?.delete(room.jid);
    if (rooms?.size === 0) this.#byOccupant.delete(gone.jid);
    const payload = cause === "leave" ? room.presences.get(gone.nick) ?? [] : [];
    room.presences.delete(gone.nick);
    const reason = room.reasons.get(gone.nick) ?? room.reasons.get(gone.bare);
    const codes = CAUSE_CODES[cause];
    const build = (to: Occupant, self: boolean) =>
      x(
        "presence",
        { type: "unavailable", from: `${room.jid}/${gone.nick}`, to: to.jid },
        ...payload.map((p) => p.clone()),
        mucUserX(
          {
            affiliation,
            role: "none",
            jid: this.#showJid(ctx, to) || self ? gone.jid : undefined,
            actor: cause !== "leave" ? room.adminActor : undefined,
            reason,
          },
          self ? [...codes, STATUS.self] : codes,
        ),
      );
    for (const o of Object.values(ctx.occupants)) this.#send(build(o, false));
    this.#send(build(gone, true));
  }

  #nickChanged(room: Room, ctx: RoomContext, oldNick: string, newNick: string, stanza: Element) {
    const me = ctx.occupants[newNick]!;
    room.presences.delete(oldNick);
    room.presences.set(newNick, payloadOf(stanza));
    const aff = affiliationOf(ctx, me.jid);
    for (const o of Object.values(ctx.occupants)) {
      const self = o.nick === newNick;
      this.#send(x(
        "presence",
        { type: "unavailable", from: `${room.jid}/${oldNick}`, to: o.jid },
        mucUserX(
          {
            affiliation: aff,
            role: me.role,
            jid: this.#showJid(ctx, o) || self ? me.jid : undefined,
            nick: newNick,
          },
          self ? [STATUS.nickChange, STATUS.self] : [STATUS.nickChange],
        ),
      ));
    }
    this.#broadcastPresence(room, ctx, me, []);
  }

  #subjectChanged(room: Room, ctx: RoomContext, stanza: Element): void {
    const by = ctx.subject.by;
    const msg = x("message", { type: "groupchat", from: `${room.jid}/${by}`, id: stanza.attrs.id });
    msg.append(x("subject", {}, ctx.subject.text));
    for (const o of Object.values(ctx.occupants)) this.#sendTo(msg, o.jid);
  }

  #configured(room: Room, ctx: RoomContext, previous: RoomConfig): void {
    const codes: number[] = [STATUS.configChanged];
    if (previous.logging !== ctx.config.logging) {
      codes.push(ctx.config.logging ? STATUS.logging : STATUS.loggingOff);
    }
    if (previous.whois !== ctx.config.whois) {
      codes.push(ctx.config.whois === "anyone" ? STATUS.nowNonAnonymous : STATUS.nowSemiAnonymous);
    }
    const msg = x(
      "message",
      { type: "groupchat", from: room.jid },
      x("x", { xmlns: NS_MUC_USER }, ...codes.map((c) => x("status", { code: String(c) }))),
    );
    for (const o of Object.values(ctx.occupants)) this.#sendTo(msg, o.jid);
    if (room.history.length > ctx.config.historyLength) {
      room.history.splice(0, room.history.length - ctx.config.historyLength);
    }
  }

  #persist(room: Room, ctx: RoomContext): void {
    const store = this.api.db.muc;
    if (!store) return;
    const work = ctx.config.persistent
      ? store.save(recordOf(ctx)).then(() => void (room.stored = true))
      : room.stored
      ? store.delete(room.jid).then(() => void (room.stored = false))
      : null;
    work?.catch((e) =>
      this.api.log.error("storing room {room} failed: {e}", { room: room.jid, e: String(e) })
    );
  }

  #destroyed(
    room: Room,
    ctx: RoomContext,
    occupants: Occupant[],
    reason?: string,
    alternate?: string,
  ): void {
    const destroy = x(
      "destroy",
      { jid: alternate },
      reason !== undefined ? x("reason", {}, reason) : null,
    );
    for (const o of occupants) {
      this.#send(x(
        "presence",
        { type: "unavailable", from: `${room.jid}/${o.nick}`, to: o.jid },
        mucUserX({ affiliation: "none", role: "none" }, [STATUS.self], [destroy.clone()]),
      ));
      const rooms = this.#byOccupant.get(o.jid);
      rooms?.delete(room.jid);
      if (rooms?.size === 0) this.#byOccupant.delete(o.jid);
    }
    room.presences.clear();
    room.history = [];
    if (room.stored || ctx.config.persistent) {
      this.api.db.muc?.delete(room.jid).catch((e) =>
        this.api.log.error("deleting room {room} failed: {e}", { room: room.jid, e: String(e) })
      );
    }
  }

  #invite(room: Room, ctx: RoomContext, by: string, invitee: string, stanza: Element): void {
    const inv = stanza.getChild("x", NS_MUC_USER)?.getChildren("invite")
      .find((i) => tryParseJid(i.attrs.to ?? "")?.full === invitee);
    const reason = inv?.getChildText("reason");
    const byBare = by.slice(0, by.indexOf("/") < 0 ? by.length : by.indexOf("/"));
    this.#send(x(
      "message",
      { from: room.jid, to: invitee, id: stanza.attrs.id },
      x(
        "x",
        { xmlns: NS_MUC_USER },
        x("invite", { from: byBare }, reason !== undefined ? x("reason", {}, reason) : null),
        ctx.config.passwordProtected ? x("password", {}, ctx.config.password) : null,
      ),
      x("body", {}, `${byBare} invites you to the room ${room.jid}${reason ? `: ${reason}` : ""}`),
    ));
  }

  // ------------------------------------------------------------------------------------------

  /** Whether `to` sees real JIDs: non-anonymous rooms, or moderators (§5.1.1, §7.2.3). */
  #showJid(ctx: RoomContext, to: Occupant): boolean {
    return ctx.config.whois === "anyone" || to.role === "moderator";
  }

  /** The presence of occupant `of` as `to` sees it. */
  #presence(room: Room, ctx: RoomContext, of: Occupant, to: Occupant, codes: number[]): Element {
    const self = of.nick === to.nick;
    return x(
      "presence",
      { from: `${room.jid}/${of.nick}`, to: to.jid },
      ...(room.presences.get(of.nick) ?? []).map((p) => p.clone()),
      mucUserX(
        {
          affiliation: affiliationOf(ctx, of.jid),
          role: of.role,
          jid: this.#showJid(ctx, to) || self ? of.jid : undefined,
        },
        self ? [...codes, STATUS.self] : codes,
      ),
    );
  }

  #broadcastPresence(room: Room, ctx: RoomContext, of: Occupant, codes: number[]): void {
    for (const o of Object.values(ctx.occupants)) {
      this.#send(this.#presence(room, ctx, of, o, codes));
    }
  }

  #result(stanza: Element): void {
    this.#send(
      x("iq", {
        type: "result",
        id: stanza.attrs.id,
        from: stanza.attrs.to,
        to: stanza.attrs.from,
      }),
    );
  }

  #sendTo(msg: Element, to: string): void {
    const copy = msg.clone();
    copy.attrs.to = to;
    this.#send(copy);
  }

  #send(stanza: Element): void {
    void this.api.route(stanza);
  }
}

/** What an occupant's presence carries besides the MUC elements: show, status, caps... */
function payloadOf(stanza: Element): Element[] {
  const out: Element[] = [];
  for (const c of stanza.elements()) {
    const ns = c.ns;
    if (ns === NS_MUC || ns === NS_MUC_USER) continue;
    if (c.localName === "error") continue;
    out.push(c.clone());
  }
  return out;
}

export function recordOf(ctx: RoomContext): MucRoomRecord {
  const affiliations: Record<string, MucAffiliation> = {};
  for (const [jid, a] of Object.entries(ctx.affiliations)) {
    if (a !== "none") affiliations[jid] = a;
  }
  return {
    jid: ctx.jid,
    config: { ...ctx.config },
    affiliations,
    subject: ctx.subject.text,
    subjectBy: ctx.subject.by,
  };
}
