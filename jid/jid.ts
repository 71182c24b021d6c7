/**
 * JIDs per RFC 7622. Parsing runs for every stanza, so the common case (plain ASCII) never calls
 * `normalize()` or allocates more than the three parts.
 *
 * PRECIS is approximated with what the JavaScript runtime offers (no ICU PRECIS tables):
 * - localpart (UsernameCaseMapped, RFC 8265 §3.3): fullwidth/halfwidth forms are width-mapped,
 *   then `toLowerCase()` stands in for Unicode default case folding, then NFC. Non-ASCII code
 *   points must be letters, combining marks or decimal digits (IdentifierClass "LetterDigits") and
 *   must not change under NFKC ("HasCompat"); ASCII follows RFC 7622 §3.3.1 minus `"&'/:<>@`.
 * - domainpart: lowercase, one trailing dot stripped, ideographic full stops read as dots; IDN
 *   labels are kept as Unicode (NFC, lowercase) and A-labels (`xn--`) are turned into U-labels so
 *   both spellings compare equal. Label length is checked on the A-label form.
 * - resourcepart (OpaqueString, RFC 8265 §4.2): non-ASCII spaces become U+0020, then NFC; control
 *   characters are refused. No case mapping.
 */
import { domainToASCII, domainToUnicode } from "node:url";

/** A string that is not a valid JID, or a part that is not a valid JID part. */
export class JidError extends Error {
  override name = "JidError";
}

const MAX_PART_BYTES = 1023;
// Three parts of 1023 bytes plus two separators; UTF-8 never has fewer bytes than UTF-16 units.
const MAX_JID_UNITS = 3 * MAX_PART_BYTES + 2;

const TRUSTED: unique symbol = Symbol("trusted-jid-parts");

/** An immutable, normalised JID. Build one with {@link parseJid} or {@link jid}. */
export class JID {
  /** Normalised localpart; "" when absent. */
  readonly local: string;
  /** Normalised domainpart. */
  readonly domain: string;
  /** Normalised resourcepart; "" when absent. */
  readonly resource: string;
  #bare: string | undefined;
  #full: string | undefined;

  /**
   * Validates and normalises the parts ("" means absent for local and resource).
   * @throws {JidError}
   */
  constructor(local: string, domain: string, resource = "", trusted?: typeof TRUSTED) {
    if (trusted === TRUSTED) {
      this.local = local;
      this.domain = domain;
      this.resource = resource;
    } else {
      this.local = local === "" ? "" : normalizeLocalpart(local);
      this.domain = normalizeDomainpart(domain);
      this.resource = resource === "" ? "" : normalizeResourcepart(resource);
    }
  }

  /** "local@domain", or "domain" when there is no localpart. */
  get bare(): string {
    return this.#bare ??= this.local === "" ? this.domain : `${this.local}@${this.domain}`;
  }

  /** The whole JID as a string; the same as {@link JID.toString}. */
  get full(): string {
    return this.#full ??= this.resource === "" ? this.bare : `${this.bare}/${this.resource}`;
  }

  toString(): string {
    return this.full;
  }

  /** This JID without its resource (itself when already bare). */
  bareJid(): JID {
    return this.resource === "" ? this : new JID(this.local, this.domain, "", TRUSTED);
  }

  /** The same bare JID with another resource; "" gives the bare JID. @throws {JidError} */
  withResource(resource: string): JID {
    if (resource === "") return this.bareJid();
    return new JID(this.local, this.domain, normalizeResourcepart(resource), TRUSTED);
  }

  equals(other: JID): boolean {
    return this === other ||
      (this.domain === other.domain && this.local === other.local &&
        this.resource === other.resource);
  }

  isBare(): boolean {
    return this.resource === "";
  }
}

// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
// deno-lint-ignore no-control-regex
const LOCAL_ASCII_FORBIDDEN = /[\x00-\x20"&'/:<>@\x7f]/;
const UPPER_ASCII = /[A-Z]/;
const FULL_HALF_WIDTH = /[\uff01-\uffef]/g;
const LOCAL_UNICODE_ALLOWED = /^[\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Mn}\p{Mc}\p{Nd}]$/u;
// deno-lint-ignore no-control-regex
const RESOURCE_ASCII_FORBIDDEN = /[\x00-\x1f\x7f]/;
const RESOURCE_UNICODE_FORBIDDEN = /\p{Cc}/u;
const NON_ASCII_SPACE = /[\p{Zs}]/gu;
const DOMAIN_DOTS = /[\u3002\uff0e\uff61]/g;
const ASCII_HOSTNAME =
  /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const ASCII_LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
// deno-lint-ignore no-control-regex
const DOMAIN_UNICODE_FORBIDDEN = /[\x00-\x2c./:-@[-^`{-\x7f\p{Cc}\p{Z}]/u;
const NUMERIC_DOMAIN = /^[0-9.]+$/;
const IPV4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
// deno-lint-ignore no-control-regex
const FIRST_BAD = /[\x00-\x20"&'/:<>@\x7f]|[^\x00-\x7f]/u;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/** Parses and normalises a JID string. @throws {JidError} saying what is wrong. */
export function parseJid(s: string): JID {
  if (s.length > MAX_JID_UNITS) throw new JidError("JID is longer than 3071 bytes");
  // RFC 7622 §3.1: the resource is everything after the first '/', so an '@' in it is not a
  // separator.
  const slash = s.indexOf("/");
  let at = s.indexOf("@");
  if (slash >= 0 && at > slash) at = -1;
  const domainEnd = slash >= 0 ? slash : s.length;
  const rawLocal = at >= 0 ? s.slice(0, at) : "";
  const rawDomain = s.slice(at + 1, domainEnd);
  const rawResource = slash >= 0 ? s.slice(slash + 1) : "";
  if (at >= 0 && rawLocal === "") throw new JidError("localpart is empty");
  if (slash >= 0 && rawResource === "") throw new JidError("resourcepart is empty");
  const local = at >= 0 ? normalizeLocalpart(rawLocal) : "";
  const domain = normalizeDomainpart(rawDomain);
  const resource = slash >= 0 ? normalizeResourcepart(rawResource) : "";
  return new JID(local, domain, resource, TRUSTED);
}

/** {@link parseJid}, with null instead of an exception for an invalid JID. */
export function tryParseJid(s: string): JID | null {
  try {
    return parseJid(s);
  } catch (e) {
    if (e instanceof JidError) return null;
    throw e;
  }
}

/**
 * Builds a JID from unescaped parts, validating and normalising each; "" means absent for local and
 * resource. @throws {JidError}
 */
export function jid(local: string, domain: string, resource = ""): JID {
  return new JID(local, domain, resource);
}

/** Normalises a localpart (RFC 7622 §3.3). @throws {JidError} */
export function normalizeLocalpart(s: string): string {
  if (s === "") throw new JidError("localpart is empty");
  if (!NON_ASCII.test(s)) {
    if (s.length > MAX_PART_BYTES) throw new JidError("localpart is longer than 1023 bytes");
    if (LOCAL_ASCII_FORBIDDEN.test(s)) {
      throw new JidError(`localpart contains a forbidden character: ${describeBad(s)}`);
    }
    return UPPER_ASCII.test(s) ? s.toLowerCase() : s;
  }
  if (s.length > MAX_PART_BYTES) throw new JidError("localpart is longer than 1023 bytes");
  requireWellFormed(s, "localpart");
  const mapped = s.replace(FULL_HALF_WIDTH, (c) => c.normalize("NFKC"))
    .toLowerCase().normalize("NFC");
  for (const c of mapped) {
    if (c.charCodeAt(0) < 0x80) {
      if (LOCAL_ASCII_FORBIDDEN.test(c)) {
        throw new JidError(`localpart contains a forbidden character: ${describeBad(c)}`);
      }
    } else if (!LOCAL_UNICODE_ALLOWED.test(c) || c.normalize("NFKC") !== c) {
      throw new JidError(`localpart contains a disallowed character: ${describeBad(c)}`);
    }
  }
  if (utf8Length(mapped) > MAX_PART_BYTES) {
    throw new JidError("localpart is longer than 1023 bytes");
  }
  return mapped;
}

/** Normalises a resourcepart (RFC 7622 §3.4). @throws {JidError} */
export function normalizeResourcepart(s: string): string {
  if (s === "") throw new JidError("resourcepart is empty");
  if (s.length > MAX_PART_BYTES) throw new JidError("resourcepart is longer than 1023 bytes");
  if (!NON_ASCII.test(s)) {
    if (RESOURCE_ASCII_FORBIDDEN.test(s)) {
      throw new JidError("resourcepart contains a control character");
    }
    return s;
  }
  requireWellFormed(s, "resourcepart");
  const mapped = s.replace(NON_ASCII_SPACE, " ").normalize("NFC");
  if (RESOURCE_UNICODE_FORBIDDEN.test(mapped)) {
    throw new JidError("resourcepart contains a control character");
  }
  if (utf8Length(mapped) > MAX_PART_BYTES) {
    throw new JidError("resourcepart is longer than 1023 bytes");
  }
  return mapped;
}

/** Normalises a domainpart (RFC 7622 §3.2). @throws {JidError} */
export function normalizeDomainpart(s: string): string {
  if (s === "") throw new JidError("domainpart is empty");
  if (s.length > MAX_PART_BYTES + 1) throw new JidError("domainpart is longer than 1023 bytes");
  let d = s;
  if (NON_ASCII.test(d)) {
    requireWellFormed(d, "domainpart");
    d = d.normalize("NFC").toLowerCase().normalize("NFC").replace(DOMAIN_DOTS, ".");
  } else if (UPPER_ASCII.test(d)) {
    d = d.toLowerCase();
  }
  if (d.endsWith(".")) d = d.slice(0, -1);
  if (d === "") throw new JidError("domainpart is empty");
  // Nearly every domain is an ASCII host name: one regex test instead of a split per label.
  if (ASCII_HOSTNAME.test(d) && !d.includes("xn--") && !NUMERIC_DOMAIN.test(d)) return d;
  if (d.charCodeAt(0) === 0x5b /* [ */) return checkIpv6Literal(d);
  if (NUMERIC_DOMAIN.test(d)) return checkIpv4(d);
  const labels = d.split(".");
  let changed = false;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label === "") throw new JidError("domainpart has an empty label");
    if (!NON_ASCII.test(label)) {
      if (label.length > 63) throw new JidError("domainpart has a label longer than 63 bytes");
      if (!ASCII_LABEL.test(label)) {
        throw new JidError(`domainpart label is not valid: ${JSON.stringify(label)}`);
      }
      if (label.startsWith("xn--")) {
        const u = domainToUnicode(label);
        if (u === "" || u.includes("\ufffd") || u === label) {
          throw new JidError(`domainpart has an invalid A-label: ${label}`);
        }
        labels[i] = u.normalize("NFC");
        changed = true;
      }
    } else {
      if (DOMAIN_UNICODE_FORBIDDEN.test(label)) {
        throw new JidError(`domainpart contains a forbidden character: ${describeBad(label)}`);
      }
      const a = domainToASCII(label);
      if (a === "" || a.includes(".")) {
        throw new JidError(`domainpart label is not a valid IDN label: ${label}`);
      }
      if (a.length > 63) throw new JidError("domainpart has a label longer than 63 bytes");
    }
  }
  if (changed) d = labels.join(".");
  if (utf8Length(d) > MAX_PART_BYTES) throw new JidError("domainpart is longer than 1023 bytes");
  return d;
}

function checkIpv4(d: string): string {
  const octets = d.split(".");
  if (octets.length !== 4) throw new JidError(`domainpart is not a valid IPv4 address: ${d}`);
  for (const o of octets) {
    if (!IPV4_OCTET.test(o) || Number(o) > 255) {
      throw new JidError(`domainpart is not a valid IPv4 address: ${d}`);
    }
  }
  return d;
}

function checkIpv6Literal(d: string): string {
  const bad = () => new JidError(`domainpart is not a valid IPv6 literal: ${d}`);
  if (!d.endsWith("]") || d.length < 4) throw bad();
  const inner = d.slice(1, -1);
  const halves = inner.split("::");
  if (halves.length > 2) throw bad();
  const groups = halves.map((h) => h === "" ? [] : h.split(":"));
  let count = 0;
  for (let h = 0; h < groups.length; h++) {
    const gs = groups[h]!;
    for (let i = 0; i < gs.length; i++) {
      const g = gs[i]!;
      const lastOverall = h === groups.length - 1 && i === gs.length - 1;
      if (lastOverall && g.includes(".")) {
        checkIpv4(g);
        count += 2;
      } else if (HEX_GROUP.test(g)) {
        count += 1;
      } else {
        throw bad();
      }
    }
  }
  if (halves.length === 2 ? count > 7 : count !== 8) throw bad();
  return d;
}

const ESCAPES: Record<string, string> = {
  " ": "\\20",
  '"': "\\22",
  "&": "\\26",
  "'": "\\27",
  "/": "\\2f",
  ":": "\\3a",
  "<": "\\3c",
  ">": "\\3e",
  "@": "\\40",
  "\\": "\\5c",
};
const UNESCAPES: Record<string, string> = Object.fromEntries(
  Object.entries(ESCAPES).map(([c, e]) => [e.slice(1), c]),
);
const ESCAPE_TARGET = /[ "&'/:<>@]|\\(?=(?:20|22|26|27|2f|3a|3c|3e|40|5c))/gi;
const ESCAPE_SEQUENCE = /\\(20|22|26|27|2f|3a|3c|3e|40|5c)/gi;

/**
 * XEP-0106 escaping of a would-be localpart. A backslash is escaped only where it would otherwise
 * start an escape sequence, as the XEP requires. @throws {JidError} on leading or trailing spaces,
 * which the XEP forbids.
 */
export function escapeLocal(s: string): string {
  if (s.startsWith(" ") || s.endsWith(" ")) {
    throw new JidError("a localpart to escape must not start or end with a space");
  }
  return s.replace(ESCAPE_TARGET, (c) => ESCAPES[c]!);
}

/** XEP-0106 unescaping: the ten escape sequences become their characters; all else is kept. */
export function unescapeLocal(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(ESCAPE_SEQUENCE, (_, hex: string) => UNESCAPES[hex.toLowerCase()]!);
}

function requireWellFormed(s: string, part: string): void {
  if (!s.isWellFormed()) throw new JidError(`${part} contains an unpaired surrogate`);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function describeBad(s: string): string {
  const m = s.match(FIRST_BAD) ?? [s];
  const c = m[0];
  const cp = c.codePointAt(0) ?? 0;
  return cp <= 0x20 || cp === 0x7f
    ? `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`
    : JSON.stringify(c);
}
