/**
 * The wire side of XEP-0313 queries: reading the data form and RSM (XEP-0059) of a request into an
 * ArchiveQuery, and writing results, the `<fin/>` and the form that describes the query fields.
 */
import { Element, x } from "../../xml/element.ts";
import { Framer } from "../../xml/framer.ts";
import { tryParseJid } from "../../jid/mod.ts";
import { StanzaError } from "../../protocol/errors.ts";
import { NS } from "../../protocol/ns.ts";
import { forwarded } from "../../protocol/forward.ts";
import type { ArchiveEntry, ArchivePage, ArchivePrefs, ArchiveQuery } from "../../db/types.ts";

/** The extended query fields (after-id, before-id, ids) of XEP-0313 §4.1.3. */
export const NS_MAM_EXTENDED = `${NS.mam}#extended`;

export interface QueryLimits {
  /** page size when the client gives no RSM max */
  defaultMax: number;
  /** largest page served, whatever the client asks */
  maxMax: number;
}

/** The form a client fetches to learn the supported fields (XEP-0313 §4.1.1). */
export function queryForm(): Element {
  const field = (v: string, type: string, value?: string) =>
    x("field", { var: v, type }, value !== undefined ? x("value", {}, value) : null);
  return x(
    "query",
    { xmlns: NS.mam },
    x(
      "x",
      { xmlns: NS.dataForms, type: "form" },
      field("FORM_TYPE", "hidden", NS.mam),
      field("with", "jid-single"),
      field("start", "text-single"),
      field("end", "text-single"),
      field("after-id", "text-single"),
      field("before-id", "text-single"),
      field("ids", "list-multi"),
    ),
  );
}

function parseDate(field: string, s: string): Date {
  // XEP-0082 DateTime: require the date, time and zone; Date.parse alone accepts too much.
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(s.trim())) {
    throw new StanzaError("bad-request", `${field} is not an XEP-0082 date-time`);
  }
  const d = new Date(s.trim());
  if (Number.isNaN(d.getTime())) throw new StanzaError("bad-request", `${field} is not a date`);
  return d;
}

/**
 * Reads `<query xmlns='urn:xmpp:mam:2'>` into a store query for `owner`. Unknown form fields are
 * refused (XEP-0313 §4.1.1: bad-request) rather than ignored, so a client never gets a wider result
 * than it asked for. RSM `max` defaults to `limits.defaultMax` and is capped at `limits.maxMax`.
 */
export function parseQuery(payload: Element, owner: string, limits: QueryLimits): ArchiveQuery {
  const q: ArchiveQuery = { owner, max: limits.defaultMax };
  let afterId: string | undefined;
  let beforeId: string | undefined;
  const form = payload.getChild("x", NS.dataForms);
  if (form) {
    for (const f of form.getChildren("field")) {
      const name = f.attrs.var ?? "";
      const values = f.getChildren("value").map((v) => v.text());
      const value = values[0]?.trim() ?? "";
      switch (name) {
        case "FORM_TYPE":
          if (value !== NS.mam) {
            throw new StanzaError("bad-request", `FORM_TYPE must be ${NS.mam}`);
          }
          break;
        case "with": {
          const j = tryParseJid(value);
          if (!j) throw new StanzaError("jid-malformed", "with is not a JID");
          // Peers are archived by bare JID: a full JID narrows to its bare JID.
          q.with = j.bare;
          break;
        }
        case "start":
          q.start = parseDate("start", value);
          break;
        case "end":
          q.end = parseDate("end", value);
          break;
        case "after-id":
          afterId = value;
          break;
        case "before-id":
          beforeId = value;
          break;
        case "ids":
          q.ids = values.map((v) => v.trim()).filter((v) => v !== "");
          break;
        default:
          throw new StanzaError("bad-request", `unsupported field ${name}`);
      }
    }
  }
  const set = payload.getChild("set", NS.rsm);
  if (set) {
    const max = set.getChildText("max");
    if (max !== undefined) {
      const n = Number(max.trim());
      if (!Number.isInteger(n) || n < 0) {
        throw new StanzaError("bad-request", "RSM max is not a non-negative integer");
      }
      q.max = n;
    }
    const after = set.getChildText("after");
    if (after !== undefined) q.after = after.trim();
    const before = set.getChildText("before");
    if (before !== undefined) q.before = before.trim();
    if (set.getChild("index")) {
      throw new StanzaError("feature-not-implemented", "RSM index is not supported; page by id");
    }
  }
  q.max = Math.min(q.max, limits.maxMax);
  merge(q, afterId, beforeId);
  if (q.after !== undefined && q.before !== undefined) {
    throw new StanzaError("bad-request", "page either after or before an item, not both");
  }
  return q;
}

/**
 * The store bounds a page by at most one id in each direction. `after-id` becomes the RSM `after`
 * bound and `before-id` the `before` bound when RSM does not set them itself; asking for both an
 * id field and the RSM bound of the same direction is refused. A `before-id` alone pages backwards
 * (the newest items before that id), as RSM `before` does.
 */
function merge(q: ArchiveQuery, afterId?: string, beforeId?: string): void {
  if (afterId !== undefined) {
    if (q.after !== undefined) {
      throw new StanzaError("feature-not-implemented", "after-id together with RSM after");
    }
    q.after = afterId;
  }
  if (beforeId !== undefined) {
    if (q.before !== undefined && q.before !== "") {
      throw new StanzaError("feature-not-implemented", "before-id together with RSM before");
    }
    q.before = beforeId;
  }
}

/** Parses one archived message (serialized with its jabber:client namespace declared). */
export function parseStored(xml: string): Element | null {
  const framer = new Framer({ maxStanzaBytes: Math.max(262144, xml.length * 4) });
  const events = framer.push(
    `<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>${xml}`,
  );
  for (const ev of events) if (ev.kind === "element") return ev.element.cloneDetached();
  return null;
}

/** One `<message><result><forwarded>` for an archived entry (XEP-0313 §4.2). */
export function resultMessage(
  entry: ArchiveEntry,
  to: string,
  queryid: string | undefined,
): Element | null {
  const original = parseStored(entry.xml);
  if (!original) return null;
  return x(
    "message",
    { from: entry.owner, to, id: `mam-${entry.id}` },
    x(
      "result",
      { xmlns: NS.mam, queryid, id: entry.id },
      forwarded(original, entry.stamp),
    ),
  );
}

/** The `<fin/>` closing a query, with its RSM set (XEP-0313 §4.3). */
export function fin(page: ArchivePage): Element {
  const set = x("set", { xmlns: NS.rsm });
  const first = page.items[0];
  const last = page.items[page.items.length - 1];
  if (first && last) {
    set.append(x("first", { index: String(page.firstIndex) }, first.id));
    set.append(x("last", {}, last.id));
  }
  set.append(x("count", {}, String(page.count)));
  return x("fin", { xmlns: NS.mam, complete: page.complete ? "true" : "false" }, set);
}

/** `<prefs/>` as XEP-0313 §7 writes it. */
export function prefsElement(prefs: ArchivePrefs): Element {
  const list = (name: string, jids: string[]) => x(name, {}, ...jids.map((j) => x("jid", {}, j)));
  return x(
    "prefs",
    { xmlns: NS.mam, default: prefs.default },
    list("always", prefs.always),
    list("never", prefs.never),
  );
}

/** Reads a `<prefs/>` set request; JIDs are normalised to bare JIDs, as peers are archived. */
export function parsePrefs(el: Element): ArchivePrefs {
  const mode = el.attrs.default;
  if (mode !== "always" && mode !== "never" && mode !== "roster") {
    throw new StanzaError("bad-request", "default must be always, never or roster");
  }
  const list = (name: string): string[] => {
    const out = new Set<string>();
    for (const j of el.getChild(name)?.getChildren("jid") ?? []) {
      const parsed = tryParseJid(j.text().trim());
      if (!parsed) throw new StanzaError("jid-malformed", `${j.text()} is not a JID`);
      out.add(parsed.bare);
    }
    return [...out];
  };
  return { default: mode, always: list("always"), never: list("never") };
}
