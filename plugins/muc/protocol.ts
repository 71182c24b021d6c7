/**
 * The wire side of XEP-0045 that needs no room: namespaces, the `muc#roomconfig` form (read and
 * written), `<history/>` requests, and the `<x xmlns='…muc#user'>` of occupant presences.
 */
import { Element, x } from "../../xml/element.ts";
import { NS } from "../../protocol/ns.ts";
import { StanzaError } from "../../protocol/errors.ts";
import type { Affiliation, Role, RoomConfig } from "../../actors/room_machine.ts";

export const NS_MUC = NS.muc;
export const NS_MUC_USER = `${NS.muc}#user`;
export const NS_MUC_OWNER = `${NS.muc}#owner`;
export const NS_MUC_ADMIN = `${NS.muc}#admin`;
export const NS_ROOMCONFIG = `${NS.muc}#roomconfig`;
export const NS_ROOMINFO = `${NS.muc}#roominfo`;
/** XEP-0249 direct invitations */
export const NS_CONFERENCE = "jabber:x:conference";

/**
 * The history length field. XEP-0045 registers `muc#maxhistoryfetch`; Prosody and others use
 * `muc#roomconfig_historylength`. The form offers the former and both are accepted.
 */
export const HISTORY_FIELD = "muc#maxhistoryfetch";
export const HISTORY_FIELD_ALIAS = "muc#roomconfig_historylength";

/** Limits the service puts on what an owner may configure. */
export interface ConfigLimits {
  maxUsers: number;
  maxHistory: number;
}

function field(
  v: string,
  type: string,
  label: string,
  values: string[],
  options?: [string, string][],
): Element {
  return x(
    "field",
    { var: v, type, label },
    ...(options ?? []).map(([value, l]) => x("option", { label: l }, x("value", {}, value))),
    ...values.map((value) => x("value", {}, value)),
  );
}

const bool = (b: boolean) => (b ? "1" : "0");

/** The configuration form of XEP-0045 §10.2 with the room's current values. */
export function configForm(c: RoomConfig, room: string): Element {
  return x(
    "x",
    { xmlns: NS.dataForms, type: "form" },
    x("title", {}, `Configuration for ${room}`),
    field("FORM_TYPE", "hidden", "", [NS_ROOMCONFIG]),
    field("muc#roomconfig_roomname", "text-single", "Natural-Language Room Name", [c.name]),
    field("muc#roomconfig_roomdesc", "text-single", "Short Description of Room", [c.description]),
    field("muc#roomconfig_persistentroom", "boolean", "Make Room Persistent?", [
      bool(c.persistent),
    ]),
    field("muc#roomconfig_publicroom", "boolean", "Make Room Publicly Searchable?", [
      bool(c.public),
    ]),
    field("muc#roomconfig_membersonly", "boolean", "Make Room Members-Only?", [
      bool(c.membersOnly),
    ]),
    field("muc#roomconfig_moderatedroom", "boolean", "Make Room Moderated?", [bool(c.moderated)]),
    field("muc#roomconfig_passwordprotectedroom", "boolean", "Password Required to Enter?", [
      bool(c.passwordProtected),
    ]),
    field("muc#roomconfig_roomsecret", "text-private", "Password", [c.password]),
    field("muc#roomconfig_maxusers", "text-single", "Maximum Number of Occupants (0: none)", [
      String(c.maxUsers),
    ]),
    field(HISTORY_FIELD, "text-single", "Maximum Number of History Messages Returned by Room", [
      String(c.historyLength),
    ]),
    field("muc#roomconfig_whois", "list-single", "Who May Discover Real JIDs?", [c.whois], [
      ["moderators", "Moderators Only"],
      ["anyone", "Anyone"],
    ]),
    field("muc#roomconfig_changesubject", "boolean", "Allow Occupants to Change Subject?", [
      bool(c.changeSubject),
    ]),
    field("muc#roomconfig_enablelogging", "boolean", "Enable Public Logging (archive)?", [
      bool(c.logging),
    ]),
    field("muc#roomconfig_allowinvites", "boolean", "Allow Occupants to Invite Others?", [
      bool(c.allowInvites),
    ]),
  );
}

function parseBool(name: string, v: string): boolean {
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw new StanzaError("bad-request", `${name} is not a boolean`);
}

function parseCount(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new StanzaError("bad-request", `${name} is not a non-negative integer`);
  }
  return n;
}

/**
 * A submitted configuration form applied over the current configuration: fields left out keep
 * their value (an empty form accepts the defaults, which is how an instant room is made, §10.1.2).
 * Unknown fields are ignored, as XEP-0045 allows services with fewer options.
 */
export function parseConfigForm(
  form: Element,
  current: RoomConfig,
  limits: ConfigLimits,
): RoomConfig {
  const c = { ...current };
  for (const f of form.getChildren("field")) {
    const name = f.attrs.var ?? "";
    const v = (f.getChildText("value") ?? "").trim();
    switch (name) {
      case "FORM_TYPE":
        if (v !== NS_ROOMCONFIG) throw new StanzaError("bad-request", "wrong FORM_TYPE");
        break;
      case "muc#roomconfig_roomname":
        c.name = f.getChildText("value") ?? "";
        break;
      case "muc#roomconfig_roomdesc":
        c.description = f.getChildText("value") ?? "";
        break;
      case "muc#roomconfig_persistentroom":
        c.persistent = parseBool(name, v);
        break;
      case "muc#roomconfig_publicroom":
        c.public = parseBool(name, v);
        break;
      case "muc#roomconfig_membersonly":
        c.membersOnly = parseBool(name, v);
        break;
      case "muc#roomconfig_moderatedroom":
        c.moderated = parseBool(name, v);
        break;
      case "muc#roomconfig_passwordprotectedroom":
        c.passwordProtected = parseBool(name, v);
        break;
      case "muc#roomconfig_roomsecret":
        c.password = f.getChildText("value") ?? "";
        break;
      case "muc#roomconfig_maxusers":
        c.maxUsers = v === "" || v === "none" ? 0 : parseCount(name, v);
        break;
      case HISTORY_FIELD:
      case HISTORY_FIELD_ALIAS:
        c.historyLength = parseCount(name, v);
        break;
      case "muc#roomconfig_whois":
        if (v !== "anyone" && v !== "moderators") {
          throw new StanzaError("bad-request", "whois is anyone or moderators");
        }
        c.whois = v;
        break;
      case "muc#roomconfig_changesubject":
        c.changeSubject = parseBool(name, v);
        break;
      case "muc#roomconfig_enablelogging":
        c.logging = parseBool(name, v);
        break;
      case "muc#roomconfig_allowinvites":
        c.allowInvites = parseBool(name, v);
        break;
    }
  }
  // The service's ceilings hold whatever an owner asks.
  if (limits.maxUsers > 0 && (c.maxUsers === 0 || c.maxUsers > limits.maxUsers)) {
    c.maxUsers = limits.maxUsers;
  }
  c.historyLength = Math.min(c.historyLength, limits.maxHistory);
  if (c.passwordProtected && c.password === "") {
    throw new StanzaError("not-acceptable", "a password-protected room needs a roomsecret");
  }
  return c;
}

/** `<history/>` of a join (§7.2.15); absent fields are undefined. */
export interface HistoryRequest {
  maxchars?: number;
  maxstanzas?: number;
  seconds?: number;
  since?: Date;
}

export function parseHistoryRequest(el: Element | undefined): HistoryRequest {
  if (!el) return {};
  const n = (name: string) => {
    const v = el.attrs[name];
    if (v === undefined) return undefined;
    const num = Number(v);
    return Number.isFinite(num) && num >= 0 ? Math.floor(num) : undefined;
  };
  const sinceRaw = el.attrs.since;
  const since = sinceRaw !== undefined ? new Date(sinceRaw) : undefined;
  return {
    maxchars: n("maxchars"),
    maxstanzas: n("maxstanzas"),
    seconds: n("seconds"),
    since: since && !Number.isNaN(since.getTime()) ? since : undefined,
  };
}

/** One message of the discussion history. */
export interface HistoryEntry {
  /** the message as broadcast, without `to` */
  stanza: Element;
  stamp: Date;
  /** its serialized length, for maxchars */
  chars: number;
}

/**
 * The newest entries that satisfy every limit of the request, oldest first. `maxchars` counts the
 * serialized message (§7.2.15 leaves the exact measure to the service).
 */
export function selectHistory(
  entries: readonly HistoryEntry[],
  req: HistoryRequest,
  now = Date.now(),
): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let chars = 0;
  const oldest = Math.max(
    req.seconds !== undefined ? now - req.seconds * 1000 : -Infinity,
    req.since ? req.since.getTime() : -Infinity,
  );
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (req.maxstanzas !== undefined && out.length >= req.maxstanzas) break;
    if (e.stamp.getTime() < oldest) break;
    if (req.maxchars !== undefined && chars + e.chars > req.maxchars) break;
    chars += e.chars;
    out.push(e);
  }
  return out.reverse();
}

/** Status codes of §15.2 used here. */
export const STATUS = {
  nonAnonymous: 100,
  self: 110,
  configChanged: 104,
  logging: 170,
  loggingOff: 171,
  nowNonAnonymous: 172,
  nowSemiAnonymous: 173,
  created: 201,
  nickModified: 210,
  banned: 301,
  nickChange: 303,
  kicked: 307,
  affiliationChange: 321,
  membersOnly: 322,
  shutdown: 332,
} as const;

export interface ItemAttrs {
  affiliation: Affiliation;
  role: Role;
  jid?: string;
  nick?: string;
  actor?: string;
  reason?: string;
}

/** `<x xmlns='…muc#user'><item/><status/>…</x>` */
export function mucUserX(item: ItemAttrs, codes: number[], extra: Element[] = []): Element {
  return x(
    "x",
    { xmlns: NS_MUC_USER },
    x(
      "item",
      { affiliation: item.affiliation, role: item.role, jid: item.jid, nick: item.nick },
      item.actor !== undefined ? x("actor", { nick: item.actor }) : null,
      item.reason !== undefined ? x("reason", {}, item.reason) : null,
    ),
    ...extra,
    ...codes.map((code) => x("status", { code: String(code) })),
  );
}
