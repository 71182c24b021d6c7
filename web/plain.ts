/**
 * Turns actor events, context values and action params into plain JSON for the inspector. Stanza
 * Elements carry parent pointers (cycles) and are written as XML with the serializer; binary
 * payloads (SASL data: PLAIN carries a password) are never shown, only their length.
 */
import { Element } from "../xml/element.ts";
import { serialize } from "../xml/serialize.ts";

export type Plain = string | number | boolean | null | Plain[] | { [k: string]: Plain };

const MAX_XML = 4000;
const MAX_DEPTH = 6;
const MAX_ITEMS = 50;

/** XML of a stanza, cut to a size a browser shows comfortably. */
export function xmlOf(el: Element): string {
  const s = serialize(el);
  return s.length > MAX_XML ? `${s.slice(0, MAX_XML)}… (${s.length} chars)` : s;
}

export function toPlain(v: unknown, depth = 0): Plain {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v.length > MAX_XML ? `${v.slice(0, MAX_XML)}…` : v;
  if (typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "function" || typeof v === "symbol") return null;
  if (v instanceof Element) return xmlOf(v);
  if (v instanceof Uint8Array) return `[${v.length} bytes hidden]`;
  if (v instanceof Date) return v.toISOString();
  if (depth >= MAX_DEPTH) return "…";
  if (Array.isArray(v)) {
    const out = v.slice(0, MAX_ITEMS).map((x) => toPlain(x, depth + 1));
    if (v.length > MAX_ITEMS) out.push(`… ${v.length - MAX_ITEMS} more`);
    return out;
  }
  if (v instanceof Map) return toPlain(Object.fromEntries(v), depth);
  if (v instanceof Set) return toPlain([...v], depth);
  if (typeof v === "object") {
    // Actor refs and other live objects: their id, not their insides.
    const o = v as Record<string, unknown>;
    if ("sessionId" in o && "send" in o) return `[actor ${String(o.id ?? o.sessionId)}]`;
    const out: Record<string, Plain> = {};
    let n = 0;
    for (const [k, x] of Object.entries(o)) {
      if (n++ >= MAX_ITEMS) break;
      out[k] = toPlain(x, depth + 1);
    }
    return out;
  }
  return String(v);
}

/** `{ negotiating: "binding" }` -> "negotiating.binding" (parallel regions joined with ", "). */
export function stateString(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => {
      const inner = stateString(v);
      return inner ? `${k}.${inner}` : k;
    }).join(", ");
  }
  return "";
}

/** The `id` attribute of a stanza found in an event or action params, for message tracing. */
export function stanzaIn(v: unknown): Element | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  if (o.stanza instanceof Element) return o.stanza;
  if (o.element instanceof Element) return o.element;
  const m = o.message as Record<string, unknown> | undefined;
  if (m && m.stanza instanceof Element) return m.stanza;
  return null;
}
