/**
 * The XML writer for everything Parley sends. It runs once per outgoing stanza, so the common case
 * (nothing to escape) is one regex test and plain string concatenation.
 *
 * Characters XML 1.0 cannot carry are never written: C0 controls other than tab, LF and CR, and
 * U+FFFE/U+FFFF are dropped; a lone surrogate becomes U+FFFD. A peer's parser would otherwise fail
 * the whole stream on a single bad character that came from a database row or another client.
 */
import type { Attrs, Element } from "./element.ts";

// Anything that needs work in text; surrogates are checked separately with isWellFormed(), which
// is far cheaper than sending every emoji through the slow path.
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const TEXT_SPECIAL = /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const TEXT_SPECIAL_G = /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
// Quotes, > and whitespace controls are escaped in attributes too: either quote style stays safe,
// and tab/LF/CR survive the attribute-value normalization a reader applies.
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const ATTR_SPECIAL = /[&<>"'\u0000-\u001F\uFFFE\uFFFF]/;
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const ATTR_SPECIAL_G = /[&<>"'\u0000-\u001F\uFFFE\uFFFF]/g;

function replaceSpecial(ch: string): string {
  switch (ch) {
    case "&":
      return "&amp;";
    case "<":
      return "&lt;";
    case ">":
      return "&gt;";
    case '"':
      return "&quot;";
    case "'":
      return "&apos;";
    case "\t":
      return "&#9;";
    case "\n":
      return "&#10;";
    case "\r":
      return "&#13;";
    default:
      // Not representable in XML 1.0, not even as a character reference.
      return "";
  }
}

function wellFormed(s: string): string {
  return s.isWellFormed() ? s : s.toWellFormed();
}

/**
 * Escapes character data: `&`, `<` and `>`, and CR as `&#13;` so a reader's line-end
 * normalization does not turn it into LF; drops characters XML 1.0 cannot carry.
 */
export function escapeText(s: string): string {
  if (TEXT_SPECIAL.test(s)) s = s.replace(TEXT_SPECIAL_G, replaceSpecial);
  return wellFormed(s);
}

/**
 * Escapes an attribute value for either quote style: `& < > " '` as entities and tab, LF, CR as
 * character references; drops characters XML 1.0 cannot carry.
 */
export function escapeAttr(s: string): string {
  if (ATTR_SPECIAL.test(s)) s = s.replace(ATTR_SPECIAL_G, replaceSpecial);
  return wellFormed(s);
}

function writeAttrs(attrs: Attrs): string {
  let s = "";
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined) continue;
    s += " " + k + "='" + escapeAttr(v) + "'";
  }
  return s;
}

function write(el: Element): string {
  let s = "<" + el.name + writeAttrs(el.attrs);
  const children = el.children;
  if (children.length === 0) return s + "/>";
  s += ">";
  for (let i = 0; i < children.length; i++) {
    const c = children[i]!;
    s += typeof c === "string" ? escapeText(c) : write(c);
  }
  return s + "</" + el.name + ">";
}

/**
 * Serializes an element and its subtree. Names are written as they are and attributes in their
 * insertion order, so namespace declarations appear only where the tree has them: a stanza parsed
 * from a `jabber:client` stream comes out as `<message ...>`, inheriting the stream's default.
 */
export function serialize(el: Element): string {
  return write(el);
}

/**
 * The stream header, with the XML declaration in front. `attrs` must include the namespace
 * declarations (`xmlns`, `xmlns:stream`); they are written in the order given.
 */
export function streamOpen(attrs: Record<string, string>): string {
  return "<?xml version='1.0'?><stream:stream" + writeAttrs(attrs) + ">";
}

/** Closes a stream opened with {@link streamOpen}. */
export const STREAM_CLOSE = "</stream:stream>";
