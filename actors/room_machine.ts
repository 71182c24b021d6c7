/**
 * One multi-user chat room (XEP-0045) as an XState v5 machine (`room:<roomJid>`). No I/O here:
 * the machine owns the room's life and who is in it, with which role and affiliation; the muc
 * plugin's adapter (`plugins/muc/rooms.ts`) carries out its decisions (presence broadcasts,
 * errors, storage).
 *
 * Life: `boot` -> `locked` (a new room waits for its owner's configuration, §10.1.1) or `open`
 * (an instant room, a restored persistent room) -> `destroyed` (an owner destroyed it, §10.9) or
 * `stopped` (the last occupant left a temporary room). Both ends are final: the adapter forgets
 * the actor.
 *
 * Groupchat messages are deliberately *not* events: fan-out is the hot path, and whether a message
 * may go out is a guard on the current state the adapter reads from the snapshot
 * (`matches("open")`, the sender's role). See `mayPostGroupchat` below.
 */
import { assign, enqueueActions, setup } from "xstate";
import type { Element } from "../xml/element.ts";
import type { StanzaErrorCondition } from "../protocol/errors.ts";

export type Affiliation = "owner" | "admin" | "member" | "outcast" | "none";
export type Role = "moderator" | "participant" | "visitor" | "none";
export type Whois = "anyone" | "moderators";

/** `muc#roomconfig` (XEP-0045 §15.5.3), as the room uses it. */
export interface RoomConfig {
  name: string;
  description: string;
  persistent: boolean;
  public: boolean;
  membersOnly: boolean;
  moderated: boolean;
  passwordProtected: boolean;
  password: string;
  /** 0: no limit */
  maxUsers: number;
  /** messages kept for discussion history on join */
  historyLength: number;
  /** who may see occupants' real JIDs */
  whois: Whois;
  /** whether participants (not only moderators) may change the subject */
  changeSubject: boolean;
  /** the room is archived (MAM) and says so on join (status 170) */
  logging: boolean;
  /** whether participants may send mediated invitations (members-only rooms add the invitee) */
  allowInvites: boolean;
}

export const DEFAULT_ROOM_CONFIG: RoomConfig = {
  name: "",
  description: "",
  persistent: false,
  public: true,
  membersOnly: false,
  moderated: false,
  passwordProtected: false,
  password: "",
  maxUsers: 0,
  historyLength: 20,
  whois: "moderators",
  changeSubject: false,
  logging: true,
  allowInvites: true,
};

export interface Occupant {
  nick: string;
  /** the occupant's real full JID */
  jid: string;
  bare: string;
  role: Role;
}

export interface Subject {
  text: string;
  /** the nick that set it ("" for none) */
  by: string;
}

export interface RoomInput {
  jid: string;
  config: RoomConfig;
  affiliations?: Record<string, Affiliation>;
  subject?: Subject;
  /** a new room stays locked until configured; restored and instant rooms open at once */
  locked: boolean;
  /** the room is being created by the join that spawned it (status 201 to its first occupant) */
  created: boolean;
}

export interface RoomContext {
  jid: string;
  config: RoomConfig;
  /** bare JID -> affiliation; "none" is never stored */
  affiliations: Record<string, Affiliation>;
  /** by nick */
  occupants: Record<string, Occupant>;
  subject: Subject;
  locked: boolean;
  /** no one has joined yet since the room was created */
  fresh: boolean;
}

/** One change of an admin (§9) or moderator (§8) request; a request is applied all or nothing. */
export type AdminItem =
  | { kind: "role"; nick: string; role: Role; reason?: string }
  | { kind: "affiliation"; jid: string; affiliation: Affiliation; reason?: string };

/** Why an occupant leaves: its own presence, or what the room did to it (status codes §15.2). */
export type LeaveCause =
  | "leave"
  | "kicked" // 307
  | "banned" // 301
  | "affiliation" // 321: no longer allowed by its affiliation
  | "members-only" // 322: the room became members-only
  | "shutdown"; // 332

export interface JoinRequest {
  /** the real full JID */
  jid: string;
  nick: string;
  password?: string;
  /** the join presence, handed back to the adapter's actions */
  stanza: Element;
}

/** What the adapter is told, in the order it happened, after an admin request. */
export type AdminEffect =
  | { kind: "left"; occupant: Occupant; affiliation: Affiliation; cause: LeaveCause }
  | { kind: "changed"; nick: string };

export type RoomEvent =
  | { type: "JOIN"; request: JoinRequest }
  | { type: "LEAVE"; jid: string; cause?: LeaveCause; stanza?: Element }
  | { type: "NICK_CHANGE"; jid: string; nick: string; stanza: Element }
  | { type: "SUBJECT"; jid: string; text: string; stanza: Element }
  | { type: "CONFIGURE"; by: string; config: RoomConfig; stanza: Element }
  /** the owner cancels the initial configuration of a locked room (§10.1.2) */
  | { type: "CANCEL"; by: string; stanza: Element }
  | { type: "ADMIN"; by: string; items: AdminItem[]; stanza: Element }
  | { type: "DESTROY"; by: string; reason?: string; alternate?: string; stanza: Element }
  /** a mediated invitation adds the invitee to the member list of a members-only room (§7.8.2) */
  | { type: "INVITE"; by: string; invitee: string; stanza: Element };

// ---------------------------------------------------------------------------------------------
// Pure helpers: the rules, readable and testable on their own.

const RANK: Record<Affiliation, number> = { outcast: -1, none: 0, member: 1, admin: 2, owner: 3 };

export function bareOf(jid: string): string {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
}

export function affiliationOf(ctx: RoomContext, jid: string): Affiliation {
  return ctx.affiliations[bareOf(jid)] ?? "none";
}

export function occupantByJid(ctx: RoomContext, jid: string): Occupant | undefined {
  for (const o of Object.values(ctx.occupants)) if (o.jid === jid) return o;
  return undefined;
}

/** The role an occupant has by default, from its affiliation (§5.1.2). */
export function defaultRole(config: RoomConfig, affiliation: Affiliation): Role {
  if (affiliation === "owner" || affiliation === "admin") return "moderator";
  if (affiliation === "outcast") return "none";
  if (config.moderated && affiliation === "none") return "visitor";
  return "participant";
}

/** Why a join is refused (§7.2), or null to admit. Checks run in the order ejabberd uses. */
export function joinRefusal(ctx: RoomContext, req: JoinRequest): StanzaErrorCondition | null {
  const aff = affiliationOf(ctx, req.jid);
  if (aff === "outcast") return "forbidden"; // 403, §7.2.8
  // A locked room exists for its owner only (§10.1.1).
  if (ctx.locked && aff !== "owner") return "item-not-found";
  if (ctx.config.membersOnly && RANK[aff] < RANK.member) return "registration-required"; // 407
  if (
    ctx.config.passwordProtected && aff !== "owner" && (req.password ?? "") !== ctx.config.password
  ) return "not-authorized"; // 401
  const holder = ctx.occupants[req.nick];
  if (holder && holder.jid !== req.jid) return "conflict"; // 409
  const count = Object.keys(ctx.occupants).length;
  if (ctx.config.maxUsers > 0 && count >= ctx.config.maxUsers && RANK[aff] < RANK.admin) {
    return "service-unavailable"; // 503, §7.2.10
  }
  return null;
}

/** The hot-path guard: may this occupant's groupchat message go out now? (§7.4, §8.5) */
export function mayPostGroupchat(occupant: Occupant | undefined): StanzaErrorCondition | null {
  if (!occupant) return "not-acceptable";
  if (occupant.role === "visitor" || occupant.role === "none") return "forbidden";
  return null;
}

export function mayChangeSubject(ctx: RoomContext, occupant: Occupant | undefined): boolean {
  if (!occupant) return false;
  if (occupant.role === "moderator") return true;
  return ctx.config.changeSubject && occupant.role === "participant";
}

/** Whether `by` may carry out every item of an admin request (§8, §9, §10); null when so. */
export function adminRefusal(
  ctx: RoomContext,
  by: string,
  items: AdminItem[],
): StanzaErrorCondition | null {
  const byAff = affiliationOf(ctx, by);
  const byOccupant = occupantByJid(ctx, by);
  const affs = { ...ctx.affiliations };
  for (const item of items) {
    if (item.kind === "role") {
      // Roles are changed by moderators in the room (§8).
      if (byOccupant?.role !== "moderator") return "forbidden";
      const target = ctx.occupants[item.nick];
      if (!target) return "item-not-found";
      const targetAff = affiliationOf(ctx, target.jid);
      if (item.role === "none" || item.role === "visitor") {
        // Nobody kicks or silences an admin or owner (§8.2), nor someone of higher affiliation.
        if (RANK[targetAff] >= RANK.admin || RANK[targetAff] > RANK[byAff]) return "not-allowed";
      }
      if (item.role === "moderator" || target.role === "moderator") {
        // Granting or revoking moderator is for admins and owners (§9.6, §9.7).
        if (RANK[byAff] < RANK.admin) return "not-allowed";
        if (target.role === "moderator" && RANK[targetAff] >= RANK.admin) return "not-allowed";
      }
    } else {
      if (RANK[byAff] < RANK.admin) return "forbidden";
      const current = affs[item.jid] ?? "none";
      const touchesAdmins = item.affiliation === "owner" || item.affiliation === "admin" ||
        current === "owner" || current === "admin";
      // Admins manage members and outcasts; owners manage admins and owners (§9, §10).
      if (touchesAdmins && byAff !== "owner") return "not-allowed";
      if (item.affiliation === "none") delete affs[item.jid];
      else affs[item.jid] = item.affiliation;
    }
  }
  // A room always keeps an owner (§10.5).
  if (!Object.values(affs).includes("owner")) return "conflict";
  return null;
}

/** Applies an admin request already checked by adminRefusal; returns the new context parts. */
export function applyAdmin(
  ctx: RoomContext,
  items: AdminItem[],
): Pick<RoomContext, "affiliations" | "occupants"> & { effects: AdminEffect[] } {
  const affiliations = { ...ctx.affiliations };
  const occupants = { ...ctx.occupants };
  const effects: AdminEffect[] = [];
  const remove = (o: Occupant, cause: LeaveCause) => {
    delete occupants[o.nick];
    effects.push({
      kind: "left",
      occupant: { ...o, role: "none" },
      affiliation: affiliations[o.bare] ?? "none",
      cause,
    });
  };
  for (const item of items) {
    if (item.kind === "role") {
      const target = occupants[item.nick];
      if (!target) continue;
      if (item.role === "none") remove(target, "kicked");
      else {
        occupants[item.nick] = { ...target, role: item.role };
        effects.push({ kind: "changed", nick: item.nick });
      }
      continue;
    }
    if (item.affiliation === "none") delete affiliations[item.jid];
    else affiliations[item.jid] = item.affiliation;
    for (const o of Object.values(occupants)) {
      if (o.bare !== item.jid) continue;
      if (item.affiliation === "outcast") remove(o, "banned");
      else if (ctx.config.membersOnly && item.affiliation === "none") remove(o, "affiliation");
      else {
        occupants[o.nick] = { ...o, role: defaultRole(ctx.config, item.affiliation) };
        effects.push({ kind: "changed", nick: o.nick });
      }
    }
  }
  return { affiliations, occupants, effects };
}

/** Who must go when the room becomes members-only: occupants without an affiliation (§10.2.1). */
export function evictions(ctx: RoomContext, config: RoomConfig): Occupant[] {
  if (!config.membersOnly) return [];
  return Object.values(ctx.occupants).filter((o) => RANK[affiliationOf(ctx, o.jid)] < RANK.member);
}

/** A members-only configuration removes non-members: who is left, and what each one hears. */
function evictedBy(ctx: RoomContext, config: RoomConfig) {
  const gone = evictions(ctx, config);
  const occupants = { ...ctx.occupants };
  for (const o of gone) delete occupants[o.nick];
  const left = gone.map((o) => ({
    occupant: { ...o, role: "none" as const },
    affiliation: "none" as const,
    cause: "members-only" as const,
  }));
  return { occupants, left };
}

function isOwner(ctx: RoomContext, jid: string): boolean {
  return affiliationOf(ctx, jid) === "owner";
}

function isEmpty(ctx: RoomContext): boolean {
  for (const _ in ctx.occupants) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------

export const roomMachine = setup({
  types: {
    context: {} as RoomContext,
    events: {} as RoomEvent,
    input: {} as RoomInput,
  },
  actions: {
    /** answer the stanza with this error (a join presence, an iq, a subject message) */
    refuse: (_, _p: { stanza: Element; condition: StanzaErrorCondition; text?: string }) => {},
    /** the request was carried out: answer an iq with an empty result */
    done: (_, _p: { stanza: Element }) => {},
    /** presences of the others to the newcomer, its own to everyone, history, subject (§7.2.2) */
    joined: (_, _p: { nick: string; stanza: Element; created: boolean }) => {},
    /** unavailable presence to the one who left and to the others, with status codes */
    left: (_, _p: { occupant: Occupant; affiliation: Affiliation; cause: LeaveCause }) => {},
    /** unavailable with the new nick and 303, then available under the new nick (§7.6) */
    nickChanged: (_, _p: { from: string; to: string; stanza: Element }) => {},
    /** an occupant's role or affiliation changed: its presence again, to everyone (§8, §9) */
    occupantChanged: (_, _p: { nick: string }) => {},
    subjectChanged: (_, _p: { stanza: Element }) => {},
    /** configuration changed: status 104 and friends to the occupants (§10.2.1) */
    configured: (_, _p: { previous: RoomConfig }) => {},
    /** the room's persistent state (config, affiliations, subject) changed */
    persist: () => {},
    /** every occupant gets unavailable with <destroy/>; stored state goes (§10.9) */
    destroyed: (_, _p: { reason?: string; alternate?: string; occupants: Occupant[] }) => {},
    /** the invitation goes out from the room to the invitee (§7.8.2) */
    invited: (_, _p: { by: string; invitee: string; stanza: Element }) => {},
    admitMember: assign({
      affiliations: ({ context, event }) => {
        if (event.type !== "INVITE" || !context.config.membersOnly) return context.affiliations;
        const bare = bareOf(event.invitee);
        if ((context.affiliations[bare] ?? "none") !== "none") return context.affiliations;
        return { ...context.affiliations, [bare]: "member" as Affiliation };
      },
    }),
  },
  guards: {
    isLocked: ({ context }) => context.locked,
    joinRefused: ({ context, event }) =>
      event.type === "JOIN" && joinRefusal(context, event.request) !== null,
    isOccupant: ({ context, event }) =>
      "jid" in event && occupantByJid(context, event.jid) !== undefined,
    nickTaken: ({ context, event }) =>
      event.type === "NICK_CHANGE" && event.nick in context.occupants &&
      context.occupants[event.nick]!.jid !== event.jid,
    mayChangeSubject: ({ context, event }) =>
      event.type === "SUBJECT" && mayChangeSubject(context, occupantByJid(context, event.jid)),
    byOwner: ({ context, event }) => "by" in event && isOwner(context, event.by),
    adminAllowed: ({ context, event }) =>
      event.type === "ADMIN" && adminRefusal(context, event.by, event.items) === null,
    mayInvite: ({ context, event }) => {
      if (event.type !== "INVITE") return false;
      const aff = affiliationOf(context, event.by);
      const occupant = occupantByJid(context, event.by);
      if (!occupant) return false;
      if (RANK[aff] >= RANK.admin) return true;
      return context.config.allowInvites;
    },
    isPersistent: ({ context }) => context.config.persistent,
    // A room being created is empty until its creator's join is processed.
    emptyAndTemporary: ({ context }) =>
      !context.fresh && isEmpty(context) && !context.config.persistent,
  },
}).createMachine({
  id: "room",
  context: ({ input }) => ({
    jid: input.jid,
    config: input.config,
    affiliations: input.affiliations ?? {},
    occupants: {},
    subject: input.subject ?? { text: "", by: "" },
    locked: input.locked,
    fresh: input.created,
  }),
  initial: "boot",
  on: {
    JOIN: [
      {
        guard: "joinRefused",
        actions: {
          type: "refuse",
          params: ({ context, event }) => ({
            stanza: event.request.stanza,
            condition: joinRefusal(context, event.request)!,
          }),
        },
      },
      {
        actions: enqueueActions(({ context, event, enqueue }) => {
          const { request } = event;
          const occupant: Occupant = {
            nick: request.nick,
            jid: request.jid,
            bare: bareOf(request.jid),
            role: defaultRole(context.config, affiliationOf(context, request.jid)),
          };
          enqueue.assign({
            occupants: { ...context.occupants, [request.nick]: occupant },
            fresh: false,
          });
          enqueue({
            type: "joined",
            params: { nick: request.nick, stanza: request.stanza, created: context.fresh },
          });
        }),
      },
    ],
    LEAVE: {
      guard: "isOccupant",
      actions: enqueueActions(({ context, event, enqueue }) => {
        const o = occupantByJid(context, event.jid)!;
        const { [o.nick]: _gone, ...rest } = context.occupants;
        enqueue.assign({ occupants: rest });
        enqueue({
          type: "left",
          params: {
            occupant: { ...o, role: "none" },
            affiliation: affiliationOf(context, o.jid),
            cause: event.cause ?? "leave",
          },
        });
      }),
    },
    NICK_CHANGE: [
      {
        guard: "nickTaken",
        actions: {
          type: "refuse",
          params: ({ event }) => ({ stanza: event.stanza, condition: "conflict" }),
        },
      },
      {
        guard: "isOccupant",
        actions: enqueueActions(({ context, event, enqueue }) => {
          const o = occupantByJid(context, event.jid)!;
          const { [o.nick]: _old, ...rest } = context.occupants;
          enqueue.assign({ occupants: { ...rest, [event.nick]: { ...o, nick: event.nick } } });
          enqueue({
            type: "nickChanged",
            params: { from: o.nick, to: event.nick, stanza: event.stanza },
          });
        }),
      },
    ],
    SUBJECT: [
      {
        guard: "mayChangeSubject",
        actions: [
          assign({
            subject: ({ context, event }) => ({
              text: event.text,
              by: occupantByJid(context, event.jid)?.nick ?? "",
            }),
          }),
          { type: "subjectChanged", params: ({ event }) => ({ stanza: event.stanza }) },
          { type: "persist" },
        ],
      },
      {
        actions: {
          type: "refuse",
          params: ({ event }) => ({
            stanza: event.stanza,
            condition: "forbidden",
            text: "you may not change the subject",
          }),
        },
      },
    ],
    ADMIN: [
      {
        guard: "adminAllowed",
        actions: [
          enqueueActions(({ context, event, enqueue }) => {
            const { affiliations, occupants, effects } = applyAdmin(context, event.items);
            enqueue.assign({ affiliations, occupants });
            for (const e of effects) {
              if (e.kind === "changed") {
                enqueue({ type: "occupantChanged", params: { nick: e.nick } });
              } else {
                const { occupant, affiliation, cause } = e;
                enqueue({ type: "left", params: { occupant, affiliation, cause } });
              }
            }
          }),
          { type: "persist" },
          { type: "done", params: ({ event }) => ({ stanza: event.stanza }) },
        ],
      },
      {
        actions: {
          type: "refuse",
          params: ({ context, event }) => ({
            stanza: event.stanza,
            condition: adminRefusal(context, event.by, event.items)!,
          }),
        },
      },
    ],
    INVITE: [
      {
        guard: "mayInvite",
        actions: [
          "admitMember",
          { type: "persist" },
          {
            type: "invited",
            params: ({ event }) => ({ by: event.by, invitee: event.invitee, stanza: event.stanza }),
          },
        ],
      },
      {
        actions: {
          type: "refuse",
          params: ({ event }) => ({
            stanza: event.stanza,
            condition: "forbidden",
            text: "you may not invite",
          }),
        },
      },
    ],
    DESTROY: [
      {
        guard: "byOwner",
        target: ".destroyed",
        actions: [
          {
            type: "destroyed",
            params: ({ context, event }) => ({
              reason: event.reason,
              alternate: event.alternate,
              occupants: Object.values(context.occupants),
            }),
          },
          assign({ occupants: {} }),
          { type: "done", params: ({ event }) => ({ stanza: event.stanza }) },
        ],
      },
      {
        actions: {
          type: "refuse",
          params: ({ event }) => ({ stanza: event.stanza, condition: "forbidden" }),
        },
      },
    ],
  },
  states: {
    boot: {
      always: [{ guard: "isLocked", target: "locked" }, { target: "open" }],
    },
    locked: {
      // A room nobody configured disappears with its last occupant (its owner).
      always: { guard: "emptyAndTemporary", target: "stopped" },
      on: {
        CONFIGURE: [
          {
            guard: "byOwner",
            target: "open",
            actions: [
              enqueueActions(({ context, event, enqueue }) => {
                enqueue.assign({ config: event.config, locked: false });
                const { occupants, left } = evictedBy(context, event.config);
                if (left.length > 0) enqueue.assign({ occupants });
                for (const params of left) enqueue({ type: "left", params });
              }),
              { type: "persist" },
              { type: "done", params: ({ event }) => ({ stanza: event.stanza }) },
            ],
          },
          {
            actions: {
              type: "refuse",
              params: ({ event }) => ({ stanza: event.stanza, condition: "forbidden" }),
            },
          },
        ],
        CANCEL: [
          {
            guard: "byOwner",
            target: "destroyed",
            actions: [
              {
                type: "destroyed",
                params: ({ context }) => ({ occupants: Object.values(context.occupants) }),
              },
              assign({ occupants: {} }),
              { type: "done", params: ({ event }) => ({ stanza: event.stanza }) },
            ],
          },
          {
            actions: {
              type: "refuse",
              params: ({ event }) => ({ stanza: event.stanza, condition: "forbidden" }),
            },
          },
        ],
      },
    },
    open: {
      always: { guard: "emptyAndTemporary", target: "stopped" },
      on: {
        CONFIGURE: [
          {
            guard: "byOwner",
            actions: [
              enqueueActions(({ context, event, enqueue }) => {
                const previous = context.config;
                enqueue.assign({ config: event.config });
                enqueue({ type: "configured", params: { previous } });
                const { occupants, left } = evictedBy(context, event.config);
                if (left.length > 0) enqueue.assign({ occupants });
                for (const params of left) enqueue({ type: "left", params });
              }),
              { type: "persist" },
              { type: "done", params: ({ event }) => ({ stanza: event.stanza }) },
            ],
          },
          {
            actions: {
              type: "refuse",
              params: ({ event }) => ({ stanza: event.stanza, condition: "forbidden" }),
            },
          },
        ],
        // Cancelling is only meaningful for the initial configuration.
        CANCEL: {
          actions: { type: "done", params: ({ event }) => ({ stanza: event.stanza }) },
        },
      },
    },
    destroyed: { type: "final" },
    stopped: { type: "final" },
  },
});

export type RoomMachine = typeof roomMachine;
