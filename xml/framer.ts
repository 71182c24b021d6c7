/**
 * The framer: every byte a client sends passes through here before anything else looks at it.
 *
 * It is an incremental, hand-written tokenizer with its state kept between pushes, so input may be
 * cut anywhere (inside a tag, an attribute value, an entity reference or a UTF-8 sequence) and
 * nothing is ever rescanned: feeding a stanza one byte at a time costs the same as feeding it whole,
 * which matters because a slow sender must not be able to make the server do quadratic work.
 *
 * It enforces XML well-formedness (with namespaces), the RFC 6120 §11.1 restrictions (no comments,
 * processing instructions, DTDs or entity references beyond the five predefined ones) and the
 * server's limits (stanza size counted in bytes as they arrive, nesting depth, attribute count),
 * and builds each top-level element as an {@link Element} tree.
 *
 * CDATA sections are accepted: RFC 6120 §11.1 does not list them among the restricted features and
 * they are ordinary XML 1.0; their content becomes text like any other.
 */
import { Element } from "./element.ts";

export type FramerErrorCondition =
  | "not-well-formed"
  | "restricted-xml"
  | "policy-violation"
  | "invalid-namespace"
  | "bad-format"
  | "unsupported-encoding"
  | "invalid-xml";

export type FrameEvent =
  /** The stream header (`<stream:stream ...>`, or `<open/>` over WebSocket), attrs as written. */
  | { kind: "open"; name: string; attrs: Record<string, string> }
  /** One complete top-level child of the stream; `bytes` is its size in UTF-8 as received. */
  | { kind: "element"; element: Element; bytes: number }
  /** `</stream:stream>`, or `<close/>` over WebSocket. */
  | { kind: "close" }
  /** The stream is unusable; the framer emits nothing more until {@link Framer.reset}. */
  | { kind: "error"; condition: FramerErrorCondition; text: string };

export interface FramerOptions {
  /** Largest top-level element (and stream header) in bytes; default 262144. */
  maxStanzaBytes?: number;
  /** Deepest nesting inside the stream, the stanza itself being depth 1; default 64. */
  maxDepth?: number;
  /** Most attributes (namespace declarations included) on one element; default 64. */
  maxAttributes?: number;
  /** `stream` (TCP, one long document) or `websocket` (RFC 7395, one element per push). */
  mode?: "stream" | "websocket";
}

export const NS_STREAMS = "http://etherx.jabber.org/streams";
export const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const NS_XML = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS = "http://www.w3.org/2000/xmlns/";

// Tokenizer states.
const TEXT = 0;
const LT = 1; // after "<"
const START_NAME = 2;
const TAG = 3; // inside a start tag, after whitespace
const ATTR_NAME = 4;
const ATTR_EQ = 5; // after an attribute name, expecting "="
const ATTR_QUOTE = 6; // after "=", expecting a quote
const ATTR_VALUE = 7;
const AFTER_VALUE = 8; // after a closing quote: whitespace, "/" or ">" must follow
const EMPTY = 9; // after "/" in a start tag
const END_NAME = 10;
const END_WS = 11; // after the end tag name
const ENTITY = 12;
const BANG = 13; // after "<!"
const CDATA_OPEN = 14; // matching "[CDATA["
const CDATA = 15;
const DECL = 16; // inside "<?...?>" before the stream header
const DONE = 17; // the stream was closed: input is ignored
const FAILED = 18;

// ASCII classes. Bit 1: ordinary in text; 2: ordinary in an attribute value;
// 4: name start char; 8: name char.
const CLS = new Uint8Array(128);
for (let c = 0x20; c < 0x80; c++) CLS[c] = 1 | 2;
CLS[0x3c] = 0; // <
CLS[0x26] = 0; // &
CLS[0x3e] = 2; // > is fine in attributes; in text it needs the "]]>" check
CLS[0x22] = 1; // " and ' end attribute values
CLS[0x27] = 1;
CLS[0x7f] = 1 | 2;
for (let c = 0x41; c <= 0x5a; c++) CLS[c]! |= 4 | 8;
for (let c = 0x61; c <= 0x7a; c++) CLS[c]! |= 4 | 8;
for (let c = 0x30; c <= 0x39; c++) CLS[c]! |= 8;
CLS[0x5f]! |= 4 | 8; // _
CLS[0x3a]! |= 4 | 8; // :
CLS[0x2d]! |= 8; // -
CLS[0x2e]! |= 8; // .

// XML 1.0 (5th ed.) NameStartChar beyond ASCII. Surrogates are accepted as halves of a pair: the
// decoder has already rejected lone ones.
function isNameStartHigh(c: number): boolean {
  return (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) || (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) || (c >= 0x37f && c <= 0x1fff) || c === 0x200c || c === 0x200d ||
    (c >= 0x2070 && c <= 0x218f) || (c >= 0x2c00 && c <= 0x2fef) || (c >= 0x3001 && c <= 0xdfff) ||
    (c >= 0xf900 && c <= 0xfdcf) || (c >= 0xfdf0 && c <= 0xfffd);
}

function isNameCharHigh(c: number): boolean {
  return isNameStartHigh(c) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f ||
    c === 0x2040;
}

function isNameStart(c: number): boolean {
  return c < 128 ? (CLS[c]! & 4) !== 0 : isNameStartHigh(c);
}

function isXmlChar(cp: number): boolean {
  return cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

// Extra UTF-8 bytes beyond one per UTF-16 unit: 2-byte chars add 1, 3-byte chars add 2, and each
// half of a surrogate pair adds 1 (4 bytes for the pair's 2 units).
function extraBytes(c: number): number {
  return c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
}

const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const MAX_ENTITY = 40;
const MAX_DECL = 256;
const CDATA_WORD = "CDATA[";
const XML_DECL =
  /^xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(['"])1\.[0-9]+\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(['"])([A-Za-z][A-Za-z0-9._-]*)\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(['"])(?:yes|no)\4)?[ \t\r\n]*$/;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

// One decoder for every framer: a decoder per connection costs ~200 bytes of heap plus native
// state for the whole life of an idle session. Each push decodes whole characters only (never
// `stream: true`), and a framer keeps the few bytes of a character cut by the read itself.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * How many bytes at the end of `b` begin a UTF-8 sequence that the next read should complete:
 * 1-3 when they are a valid but unfinished prefix, 0 when the chunk ends on a whole character or
 * on bytes the decoder must reject now.
 */
function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  if (n === 0 || b[n - 1]! < 0x80) return 0;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const c = b[n - k]!;
    if (c >= 0x80 && c < 0xc0) continue; // a continuation byte: the lead is further back
    if (c < 0xc2 || c > 0xf4) return 0;
    if (k >= (c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4)) return 0;
    if (k >= 2) {
      // The second byte's range is narrower after these leads (no overlongs, no surrogates).
      const c2 = b[n - k + 1]!;
      if (c === 0xe0 && c2 < 0xa0) return 0;
      if (c === 0xed && c2 > 0x9f) return 0;
      if (c === 0xf0 && c2 < 0x90) return 0;
      if (c === 0xf4 && c2 > 0x8f) return 0;
    }
    return k;
  }
  return 0;
}

/** The events array a framer holds between pushes: never written to. */
const NO_EVENTS: FrameEvent[] = Object.freeze([]) as unknown as FrameEvent[];
/** The attributes of a tag not yet begun: every start tag gets a fresh object. */
const NO_ATTRS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Stream headers are nearly always alike (same client library, same domain), so one frozen copy
 * of each serves as the parent of every stream's stanzas, instead of a copy per connection that
 * also keeps the whole header's text alive through its attribute values. Bounded: cleared when
 * full, which only costs the next headers a new copy.
 */
const sharedRoots = new Map<string, Element>();
const MAX_SHARED_ROOTS = 256;

function sharedRoot(name: string, attrs: Record<string, string>): Element {
  let key = name;
  for (const k in attrs) key += `\0${k}\0${attrs[k]}`;
  let root = sharedRoots.get(key);
  if (!root) {
    if (sharedRoots.size >= MAX_SHARED_ROOTS) sharedRoots.clear();
    const own: Record<string, string> = {};
    // Flat copies: the values are slices of the header's text, which would stay alive otherwise.
    for (const k in attrs) own[k] = (" " + attrs[k]).slice(1);
    root = new Element(name, Object.freeze(own));
    Object.freeze(root.children);
    Object.freeze(root);
    sharedRoots.set(key, root);
  }
  return root;
}

/** Bytes in, stream events out. One instance per connection; not reusable across connections. */
export class Framer {
  readonly maxStanzaBytes: number;
  readonly maxDepth: number;
  readonly maxAttributes: number;
  readonly mode: "stream" | "websocket";

  private state = TEXT;
  private out: FrameEvent[] = NO_EVENTS;
  /** the start of a UTF-8 sequence cut by the end of the last push */
  private cut: Uint8Array | null = null;
  /** nothing decoded yet: a byte order mark may open the stream */
  private bom = true;

  // Stream level.
  private headerSeen = false;
  private declSeen = false;
  private streamRoot: Element | null = null;
  private streamName = "";

  // Elements open inside the current top-level element, innermost last.
  private stack: Element[] = [];
  private text = ""; // character data of the innermost open element, not yet appended

  // The token being read; `partial` carries its text across pushes.
  private partial = "";
  private tagName = "";
  private attrs: Record<string, string> = NO_ATTRS;
  private attrCount = 0;
  private attrName = "";
  private attrIsDecl = false; // the attribute being read is xmlns or xmlns:p
  private nsCheck = false; // the tag being read has prefixes to resolve
  private quote = 0;
  private entity = "";
  private entityReturn = TEXT;
  private cdataIndex = 0;
  private crPending = false; // a CR ended the last push: a following LF belongs to it
  private brackets = 0; // literal "]" ending the text so far, for the "]]>" rule

  // Size of the current top-level token: UTF-16 units from earlier pushes plus extra UTF-8 bytes.
  private carried = 0;
  private extra = 0;

  constructor(opts: FramerOptions = {}) {
    this.maxStanzaBytes = opts.maxStanzaBytes ?? 262144;
    this.maxDepth = opts.maxDepth ?? 64;
    this.maxAttributes = opts.maxAttributes ?? 64;
    this.mode = opts.mode ?? "stream";
  }

  /** Forgets everything read so far: the next input must begin a new stream (RFC 6120 §4.3.3). */
  reset(): void {
    this.cut = null;
    this.bom = true;
    this.state = TEXT;
    this.headerSeen = false;
    this.declSeen = false;
    this.streamRoot = null;
    this.streamName = "";
    this.stack = [];
    this.text = "";
    this.partial = "";
    this.tagName = "";
    this.attrName = "";
    this.attrs = NO_ATTRS;
    this.attrCount = 0;
    this.entity = "";
    this.crPending = false;
    this.brackets = 0;
    this.carried = 0;
    this.extra = 0;
  }

  /**
   * Feeds input. In stream mode a push may be any slice of the byte stream; in websocket mode it
   * is one whole message. Strings are taken as already decoded text; do not interleave strings with
   * byte chunks that end inside a UTF-8 sequence.
   */
  push(chunk: Uint8Array | string): FrameEvent[] {
    const out: FrameEvent[] = [];
    if (this.state === FAILED || this.state === DONE) return out;
    this.out = out;
    const ws = this.mode === "websocket";
    let s: string;
    if (typeof chunk === "string") s = chunk;
    else {
      try {
        s = this.decode(chunk, ws);
      } catch {
        this.fail("not-well-formed", "invalid UTF-8");
        this.out = NO_EVENTS;
        return out;
      }
    }
    this.scan(s);
    if (ws && this.state !== FAILED) {
      // RFC 7395 §3.2: a message is complete in itself; nothing may carry over to the next one.
      if (this.state !== TEXT || this.stack.length > 0) {
        this.fail("not-well-formed", "incomplete XML in WebSocket message");
      }
      this.crPending = false;
    }
    // Holding the array until the next push would keep the last stanzas alive while idle, and
    // the stack keeps the storage its deepest stanza grew it to: both are let go between stanzas.
    this.out = NO_EVENTS;
    if (this.stack.length === 0) this.stack = [];
    return out;
  }

  /** UTF-8 to text, as a streaming decoder would: BOM dropped at the start, cut chars carried. */
  private decode(chunk: Uint8Array, ws: boolean): string {
    let bytes = chunk;
    const cut = this.cut;
    if (cut !== null) {
      bytes = new Uint8Array(cut.length + chunk.length);
      bytes.set(cut);
      bytes.set(chunk, cut.length);
      this.cut = null;
    }
    // A WebSocket message is whole: an unfinished character in it is an error, not carried.
    const keep = ws ? 0 : incompleteTail(bytes);
    if (keep > 0) {
      this.cut = bytes.slice(bytes.length - keep);
      bytes = bytes.subarray(0, bytes.length - keep);
    }
    let s = UTF8.decode(bytes);
    // A streaming decoder drops a BOM once per stream; a WebSocket message is decoded alone.
    if ((this.bom || ws) && s.length > 0) {
      this.bom = false;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    return s;
  }

  private fail(condition: FramerErrorCondition, text: string): void {
    this.state = FAILED;
    this.stack = [];
    this.text = "";
    this.partial = "";
    this.out.push({ kind: "error", condition, text });
  }

  private scan(s: string): void {
    const n = s.length;
    let i = 0;
    let mark = 0; // start of the current run of literal characters in s
    let tokStart = 0; // where the current top-level token began in s (0: in an earlier push)
    if (this.crPending) {
      this.crPending = false;
      if (n > 0 && s.charCodeAt(0) === 0x0a) i = 1;
    }
    mark = i;

    while (i < n) {
      switch (this.state) {
        case TEXT: {
          if (this.stack.length === 0) {
            // Between stanzas only whitespace (keepalives) may appear; it is dropped.
            for (; i < n; i++) {
              const c = s.charCodeAt(i);
              if (c === 0x3c) break;
              if (!isSpace(c)) {
                return this.fail("not-well-formed", "text at stream level");
              }
            }
            if (i < n) {
              tokStart = i;
              this.carried = 0;
              this.extra = 0;
              this.state = LT;
              i++;
            }
            break;
          }
          mark = i;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c < 128) {
              const k = CLS[c]!;
              if ((k & 1) !== 0) continue;
              if (c === 0x3c || c === 0x26) break;
              if (c === 0x3e) {
                // "]]>" may not appear literally in character data.
                let j = i - 1;
                while (j >= mark && s.charCodeAt(j) === 0x5d) j--;
                const run = i - 1 - j + (j < mark ? this.brackets : 0);
                if (run >= 2) return this.fail("not-well-formed", "']]>' in character data");
                continue;
              }
              if (c === 0x0a || c === 0x09) continue;
              if (c === 0x0d) {
                // Line ends are normalized to LF (XML 1.0 §2.11).
                this.text += s.slice(mark, i) + "\n";
                if (i + 1 < n) {
                  if (s.charCodeAt(i + 1) === 0x0a) i++;
                } else this.crPending = true;
                mark = i + 1;
                this.brackets = 0;
                continue;
              }
              return this.fail("not-well-formed", "control character in text");
            }
            if (c >= 0xfffe) return this.fail("not-well-formed", "invalid character in text");
            this.extra += extraBytes(c);
          }
          if (i > mark) {
            let j = i - 1;
            while (j >= mark && s.charCodeAt(j) === 0x5d) j--;
            this.brackets = i - 1 - j + (j < mark ? this.brackets : 0);
            this.text += s.slice(mark, i);
          }
          if (i < n) {
            if (s.charCodeAt(i) === 0x3c) {
              // The text is appended when the next tag is known: a CDATA section continues it.
              this.brackets = 0;
              this.state = LT;
            } else {
              this.entity = "";
              this.entityReturn = TEXT;
              this.state = ENTITY;
            }
            i++;
          }
          break;
        }

        case LT: {
          const c = s.charCodeAt(i);
          if (c === 0x2f) {
            this.partial = "";
            this.state = END_NAME;
            i++;
          } else if (c === 0x3f) {
            if (this.mode === "stream" && !this.headerSeen && !this.declSeen) {
              this.partial = "";
              this.state = DECL;
              i++;
            } else {
              return this.fail("restricted-xml", "processing instruction");
            }
          } else if (c === 0x21) {
            this.state = BANG;
            i++;
          } else if (isNameStart(c)) {
            this.partial = "";
            this.state = START_NAME;
          } else {
            return this.fail("not-well-formed", "invalid character after '<'");
          }
          break;
        }

        case START_NAME: {
          mark = i;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c < 128) {
              if ((CLS[c]! & 8) !== 0) continue;
              break;
            }
            if (!isNameCharHigh(c)) break;
            this.extra += extraBytes(c);
          }
          if (i === n) {
            this.partial += s.slice(mark, i);
            break;
          }
          const name = this.partial + s.slice(mark, i);
          this.partial = "";
          const colon = this.checkQName(name);
          if (colon === -2) return;
          this.nsCheck = colon > 0;
          if (this.stack.length >= this.maxDepth) {
            return this.fail("policy-violation", "elements nested too deeply");
          }
          this.tagName = name;
          this.attrs = {};
          this.attrCount = 0;
          const c = s.charCodeAt(i);
          if (isSpace(c)) this.state = TAG;
          else if (c === 0x3e) {
            if (!this.startTag(false, this.carried + i + 1 - tokStart + this.extra)) return;
          } else if (c === 0x2f) this.state = EMPTY;
          else return this.fail("not-well-formed", "invalid character in element name");
          i++;
          break;
        }

        case TAG: {
          for (; i < n; i++) if (!isSpace(s.charCodeAt(i))) break;
          if (i === n) break;
          const c = s.charCodeAt(i);
          if (c === 0x3e) {
            if (!this.startTag(false, this.carried + i + 1 - tokStart + this.extra)) return;
            i++;
          } else if (c === 0x2f) {
            this.state = EMPTY;
            i++;
          } else if (isNameStart(c)) {
            this.partial = "";
            this.state = ATTR_NAME;
          } else {
            return this.fail("not-well-formed", "invalid character in start tag");
          }
          break;
        }

        case ATTR_NAME: {
          mark = i;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c < 128) {
              if ((CLS[c]! & 8) !== 0) continue;
              break;
            }
            if (!isNameCharHigh(c)) break;
            this.extra += extraBytes(c);
          }
          if (i === n) {
            this.partial += s.slice(mark, i);
            break;
          }
          const name = this.partial + s.slice(mark, i);
          this.partial = "";
          const colon = this.checkQName(name);
          if (colon === -2) return;
          // Declarations are checked as their values complete; other prefixed attributes need
          // the namespace pass once the tag is complete.
          this.attrIsDecl = name.charCodeAt(0) === 0x78 && (colon === 5 || name.length === 5) &&
            name.startsWith("xmlns");
          // "xml" is bound everywhere and no other prefix may be bound to its namespace.
          if (colon > 0 && !this.attrIsDecl && !(colon === 3 && name.startsWith("xml"))) {
            this.nsCheck = true;
          }
          if (Object.hasOwn(this.attrs, name)) {
            return this.fail("not-well-formed", `duplicate attribute '${name}'`);
          }
          if (++this.attrCount > this.maxAttributes) {
            return this.fail("policy-violation", "too many attributes");
          }
          this.attrName = name;
          this.state = ATTR_EQ;
          break;
        }

        case ATTR_EQ: {
          for (; i < n; i++) if (!isSpace(s.charCodeAt(i))) break;
          if (i === n) break;
          if (s.charCodeAt(i) !== 0x3d) {
            return this.fail("not-well-formed", "attribute without a value");
          }
          this.state = ATTR_QUOTE;
          i++;
          break;
        }

        case ATTR_QUOTE: {
          for (; i < n; i++) if (!isSpace(s.charCodeAt(i))) break;
          if (i === n) break;
          const c = s.charCodeAt(i);
          if (c !== 0x22 && c !== 0x27) {
            return this.fail("not-well-formed", "attribute value without quotes");
          }
          this.quote = c;
          this.partial = "";
          this.state = ATTR_VALUE;
          i++;
          break;
        }

        case ATTR_VALUE: {
          mark = i;
          const q = this.quote;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c < 128) {
              if ((CLS[c]! & 2) !== 0) continue;
              if (c === q || c === 0x26) break;
              if (c === 0x22 || c === 0x27) continue;
              if (c === 0x3c) return this.fail("not-well-formed", "'<' in attribute value");
              if (c === 0x09 || c === 0x0a) {
                // Attribute-value normalization (XML 1.0 §3.3.3).
                this.partial += s.slice(mark, i) + " ";
                mark = i + 1;
                continue;
              }
              if (c === 0x0d) {
                this.partial += s.slice(mark, i) + " ";
                if (i + 1 < n) {
                  if (s.charCodeAt(i + 1) === 0x0a) i++;
                } else this.crPending = true;
                mark = i + 1;
                continue;
              }
              return this.fail("not-well-formed", "control character in attribute value");
            }
            if (c >= 0xfffe) return this.fail("not-well-formed", "invalid character in attribute");
            this.extra += extraBytes(c);
          }
          if (i > mark) this.partial += s.slice(mark, i);
          if (i === n) break;
          if (s.charCodeAt(i) === 0x26) {
            this.entity = "";
            this.entityReturn = ATTR_VALUE;
            this.state = ENTITY;
          } else {
            if (this.attrIsDecl && !this.checkDeclaration(this.attrName, this.partial)) return;
            this.setAttr(this.attrName, this.partial);
            this.partial = "";
            this.state = AFTER_VALUE;
          }
          i++;
          break;
        }

        case AFTER_VALUE: {
          const c = s.charCodeAt(i);
          if (isSpace(c)) this.state = TAG;
          else if (c === 0x3e) {
            if (!this.startTag(false, this.carried + i + 1 - tokStart + this.extra)) return;
          } else if (c === 0x2f) this.state = EMPTY;
          else return this.fail("not-well-formed", "missing whitespace between attributes");
          i++;
          break;
        }

        case EMPTY: {
          if (s.charCodeAt(i) !== 0x3e) {
            return this.fail("not-well-formed", "expected '>' after '/'");
          }
          if (!this.startTag(true, this.carried + i + 1 - tokStart + this.extra)) return;
          i++;
          break;
        }

        case END_NAME: {
          mark = i;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c < 128) {
              if ((CLS[c]! & 8) !== 0) continue;
              break;
            }
            if (!isNameCharHigh(c)) break;
            this.extra += extraBytes(c);
          }
          if (i === n) {
            this.partial += s.slice(mark, i);
            break;
          }
          this.tagName = this.partial + s.slice(mark, i);
          this.partial = "";
          this.state = END_WS;
          break;
        }

        case END_WS: {
          for (; i < n; i++) if (!isSpace(s.charCodeAt(i))) break;
          if (i === n) break;
          if (s.charCodeAt(i) !== 0x3e) return this.fail("not-well-formed", "malformed end tag");
          if (!this.endTag(this.carried + i + 1 - tokStart + this.extra)) return;
          i++;
          break;
        }

        case ENTITY: {
          mark = i;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c === 0x3b) break;
            if (c >= 128 || ((CLS[c]! & 8) === 0 && c !== 0x23)) {
              return this.fail("not-well-formed", "malformed entity reference");
            }
          }
          this.entity += s.slice(mark, i);
          if (this.entity.length > MAX_ENTITY) {
            return this.fail("not-well-formed", "malformed entity reference");
          }
          if (i === n) break;
          const value = this.resolveEntity(this.entity);
          if (value === undefined) return;
          if (this.entityReturn === TEXT) {
            this.text += value;
            this.brackets = 0;
          } else this.partial += value;
          this.state = this.entityReturn;
          i++;
          break;
        }

        case BANG: {
          const c = s.charCodeAt(i);
          if (c === 0x2d) return this.fail("restricted-xml", "comment");
          if (c === 0x5b && this.stack.length > 0) {
            this.cdataIndex = 0;
            this.state = CDATA_OPEN;
            i++;
            break;
          }
          if (c >= 0x41 && c <= 0x5a) {
            return this.fail("restricted-xml", "document type declaration");
          }
          return this.fail("not-well-formed", "invalid markup declaration");
        }

        case CDATA_OPEN: {
          for (; i < n && this.cdataIndex < CDATA_WORD.length; i++, this.cdataIndex++) {
            if (s.charCodeAt(i) !== CDATA_WORD.charCodeAt(this.cdataIndex)) {
              return this.fail("not-well-formed", "invalid CDATA section");
            }
          }
          if (this.cdataIndex === CDATA_WORD.length) {
            this.brackets = 0;
            this.state = CDATA;
          }
          break;
        }

        case CDATA: {
          mark = i;
          let closed = false;
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c === 0x5d) {
              this.brackets++;
              continue;
            }
            if (c === 0x3e && this.brackets >= 2) {
              closed = true;
              break;
            }
            this.brackets = 0;
            if (c < 0x20) {
              if (c === 0x09 || c === 0x0a) continue;
              if (c === 0x0d) {
                this.text += s.slice(mark, i) + "\n";
                if (i + 1 < n) {
                  if (s.charCodeAt(i + 1) === 0x0a) i++;
                } else this.crPending = true;
                mark = i + 1;
                continue;
              }
              return this.fail("not-well-formed", "control character in CDATA");
            }
            if (c >= 128) {
              if (c >= 0xfffe) return this.fail("not-well-formed", "invalid character in CDATA");
              this.extra += extraBytes(c);
            }
          }
          this.text += s.slice(mark, i);
          if (!closed) break;
          // The "]]" before ">" was taken in as text (possibly in an earlier push).
          this.text = this.text.slice(0, -2);
          this.brackets = 0;
          this.state = TEXT;
          i++;
          break;
        }

        case DECL: {
          mark = i;
          let closed = false;
          for (; i < n; i++) {
            if (
              s.charCodeAt(i) === 0x3e &&
              (i > mark ? s.charCodeAt(i - 1) === 0x3f : this.partial.endsWith("?"))
            ) {
              closed = true;
              break;
            }
          }
          this.partial += s.slice(mark, i);
          if (this.partial.length > MAX_DECL) {
            return this.fail("not-well-formed", "XML declaration too long");
          }
          if (!closed) break;
          if (!this.declaration(this.partial.slice(0, -1))) return;
          this.partial = "";
          this.declSeen = true;
          this.state = TEXT;
          i++;
          break;
        }

        case DONE:
        case FAILED:
          return;
      }
    }

    this.carried += n - tokStart;
    if (
      (this.state !== TEXT || this.stack.length > 0) && this.state !== DONE &&
      this.carried + this.extra > this.maxStanzaBytes
    ) {
      this.fail("policy-violation", "stanza too large");
    }
  }

  private declaration(body: string): boolean {
    let end = 0;
    while (end < body.length && !isSpace(body.charCodeAt(end))) end++;
    const target = body.slice(0, end);
    if (target.toLowerCase() !== "xml") {
      this.fail("restricted-xml", "processing instruction");
      return false;
    }
    const m = XML_DECL.exec(body);
    if (!m) {
      this.fail("not-well-formed", "malformed XML declaration");
      return false;
    }
    const enc = m[3];
    if (enc !== undefined && enc.toLowerCase() !== "utf-8") {
      this.fail("unsupported-encoding", `encoding '${enc}' is not supported`);
      return false;
    }
    return true;
  }

  /** Returns the colon's index (-1 for none), or -2 after failing on a malformed QName. */
  private checkQName(name: string): number {
    const colon = name.indexOf(":");
    if (
      colon >= 0 &&
      (colon === 0 || colon === name.length - 1 || name.indexOf(":", colon + 1) >= 0)
    ) {
      this.fail("not-well-formed", `invalid qualified name '${name}'`);
      return -2;
    }
    return colon;
  }

  /** Namespaces in XML §3: what `xmlns` and `xmlns:p` may be bound to. */
  private checkDeclaration(name: string, value: string): boolean {
    if (name.length === 5) {
      if (value !== NS_XML && value !== NS_XMLNS) return true;
    } else {
      const p = name.slice(6);
      if (
        value !== "" && p !== "xmlns" && (p === "xml") === (value === NS_XML) && value !== NS_XMLNS
      ) {
        return true;
      }
    }
    this.fail("not-well-formed", `invalid namespace declaration '${name}'`);
    return false;
  }

  private setAttr(name: string, value: string): void {
    if (name === "__proto__") {
      Object.defineProperty(this.attrs, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else this.attrs[name] = value;
  }

  private resolveEntity(ref: string): string | undefined {
    const pre = PREDEFINED[ref];
    if (pre !== undefined && Object.hasOwn(PREDEFINED, ref)) return pre;
    if (ref.charCodeAt(0) === 0x23) {
      let cp = NaN;
      if (/^#[0-9]{1,7}$/.test(ref)) cp = parseInt(ref.slice(1), 10);
      else if (/^#x[0-9a-fA-F]{1,6}$/.test(ref)) cp = parseInt(ref.slice(2), 16);
      if (!isXmlChar(cp)) {
        this.fail("not-well-formed", `invalid character reference '&${ref};'`);
        return undefined;
      }
      return String.fromCodePoint(cp);
    }
    if (ref.length > 0 && isNameStart(ref.charCodeAt(0)) && !ref.includes("#")) {
      this.fail("restricted-xml", `entity reference '&${ref};'`);
      return undefined;
    }
    this.fail("not-well-formed", "malformed entity reference");
    return undefined;
  }

  /** Resolves the prefixes of a finished start tag; only called when it has any. */
  private checkNamespaces(el: Element, header: boolean): boolean {
    const prefix = el.prefix;
    if (prefix !== null && (prefix === "xmlns" || el.resolvePrefix(prefix) === undefined)) {
      this.fail(header ? "invalid-namespace" : "not-well-formed", `unbound prefix '${prefix}'`);
      return false;
    }
    let seen: Set<string> | null = null;
    for (const k in el.attrs) {
      const colon = k.indexOf(":");
      if (colon < 0 || k.startsWith("xmlns:")) continue;
      const ns = el.resolvePrefix(k.slice(0, colon));
      if (ns === undefined || k.startsWith("xmlns")) {
        this.fail("not-well-formed", `unbound prefix on attribute '${k}'`);
        return false;
      }
      // Two prefixes bound to one namespace can still duplicate an attribute.
      const expanded = ns + " " + k.slice(colon + 1);
      seen ??= new Set();
      if (seen.has(expanded)) {
        this.fail("not-well-formed", `duplicate attribute '${k}'`);
        return false;
      }
      seen.add(expanded);
    }
    return true;
  }

  private startTag(selfClosing: boolean, bytes: number): boolean {
    const name = this.tagName;
    const attrs = this.attrs;
    this.attrs = NO_ATTRS;
    this.state = TEXT;
    if (bytes > this.maxStanzaBytes) {
      this.fail("policy-violation", "stanza too large");
      return false;
    }
    const stack = this.stack;
    if (stack.length === 0 && this.mode === "stream" && !this.headerSeen) {
      return this.header(name, attrs, selfClosing);
    }
    const el = new Element(name, attrs);
    if (stack.length > 0) {
      const parent = stack[stack.length - 1]!;
      if (this.text !== "") {
        parent.children.push(this.text);
        this.text = "";
      }
      el.parent = parent;
      parent.children.push(el);
    } else {
      // Top-level stanzas hang off a childless copy of the stream header, so unprefixed ones
      // inherit its default namespace and `stream:` prefixes resolve, without redundant xmlns.
      el.parent = this.streamRoot;
    }
    if (this.nsCheck && !this.checkNamespaces(el, false)) return false;
    if (!selfClosing) stack.push(el);
    else if (stack.length === 0) this.emitTop(el, bytes);
    return true;
  }

  private header(name: string, attrs: Record<string, string>, selfClosing: boolean): boolean {
    const root = new Element(name, attrs);
    if (this.nsCheck && !this.checkNamespaces(root, true)) return false;
    if (root.localName !== "stream" || root.ns !== NS_STREAMS) {
      this.fail("invalid-namespace", `stream element must be 'stream' in ${NS_STREAMS}`);
      return false;
    }
    const content = root.resolvePrefix(null);
    if (content !== "jabber:client" && content !== "jabber:server") {
      this.fail("invalid-namespace", "default namespace must be jabber:client or jabber:server");
      return false;
    }
    this.headerSeen = true;
    this.streamRoot = sharedRoot(name, attrs);
    this.streamName = (" " + name).slice(1);
    this.out.push({ kind: "open", name, attrs: { ...attrs } });
    if (selfClosing) {
      this.out.push({ kind: "close" });
      this.state = DONE;
    }
    return true;
  }

  private endTag(bytes: number): boolean {
    const name = this.tagName;
    const stack = this.stack;
    this.state = TEXT;
    if (stack.length === 0) {
      if (this.mode === "stream" && this.headerSeen && name === this.streamName) {
        this.out.push({ kind: "close" });
        this.state = DONE;
        return true;
      }
      this.fail("not-well-formed", `unexpected end tag '${name}'`);
      return false;
    }
    const el = stack.pop()!;
    if (el.name !== name) {
      this.fail("not-well-formed", `end tag '${name}' does not match '${el.name}'`);
      return false;
    }
    if (this.text !== "") {
      el.children.push(this.text);
      this.text = "";
    }
    if (stack.length === 0) {
      if (bytes > this.maxStanzaBytes) {
        this.fail("policy-violation", "stanza too large");
        return false;
      }
      this.emitTop(el, bytes);
    }
    return true;
  }

  private emitTop(el: Element, bytes: number): void {
    if (this.mode === "websocket" && el.ns === NS_FRAMING) {
      if (el.localName === "open") {
        this.out.push({ kind: "open", name: el.name, attrs: { ...el.attrs } });
        return;
      }
      if (el.localName === "close") {
        this.out.push({ kind: "close" });
        return;
      }
    }
    // The names of the last tags are slices of the input: let go of it while the stream idles.
    this.tagName = "";
    this.attrName = "";
    this.out.push({ kind: "element", element: el, bytes });
  }
}
