/**
 * Streaming splitter for an XMPP stream: yields the stream header and each complete top-level
 * element as raw text. It trusts the server to send well-formed XML, so it only tracks tag depth;
 * a load client does not need (and cannot afford) a full parser on every stanza.
 */

export interface FramerHandler {
  onStreamOpen(header: string): void;
  onStanza(raw: string): void;
  onStreamClose(): void;
}

export class Framer {
  #buf = "";
  #pos = 0;
  #depth = 0;
  #start = -1;
  #closed = false;

  constructor(private readonly handler: FramerHandler) {}

  /** After a stream restart the server sends a new header at depth 0. */
  reset(): void {
    this.#depth = 0;
    this.#start = -1;
  }

  push(chunk: string): void {
    if (this.#closed) return;
    this.#buf = this.#buf.length === 0 ? chunk : this.#buf + chunk;
    this.#scan();
    // Drop what has been consumed so the buffer never grows with the stream.
    const keepFrom = this.#start >= 0 ? this.#start : this.#pos;
    if (keepFrom > 0) {
      this.#buf = this.#buf.slice(keepFrom);
      if (this.#start >= 0) this.#start -= keepFrom;
      this.#pos -= keepFrom;
    }
  }

  #scan(): void {
    const buf = this.#buf;
    while (!this.#closed) {
      const lt = buf.indexOf("<", this.#pos);
      if (lt < 0) {
        this.#pos = buf.length;
        return;
      }
      const next = buf.charCodeAt(lt + 1);
      if (Number.isNaN(next)) {
        this.#pos = lt;
        return;
      }
      if (next === 63 /* ? */) {
        const end = buf.indexOf("?>", lt + 2);
        if (end < 0) return void (this.#pos = lt);
        this.#pos = end + 2;
        continue;
      }
      if (next === 33 /* ! */) {
        if (buf.startsWith("<![CDATA[", lt)) {
          const end = buf.indexOf("]]>", lt + 9);
          if (end < 0) return void (this.#pos = lt);
          this.#pos = end + 3;
          continue;
        }
        const end = buf.indexOf("-->", lt + 4);
        if (end < 0) return void (this.#pos = lt);
        this.#pos = end + 3;
        continue;
      }
      const gt = tagEnd(buf, lt + 1);
      if (gt < 0) {
        this.#pos = lt;
        return;
      }
      this.#pos = gt + 1;
      if (next === 47 /* / */) {
        this.#depth--;
        if (this.#depth === 1 && this.#start >= 0) {
          this.handler.onStanza(buf.slice(this.#start, gt + 1));
          this.#start = -1;
        } else if (this.#depth <= 0) {
          this.#closed = true;
          this.handler.onStreamClose();
        }
        continue;
      }
      const selfClosing = buf.charCodeAt(gt - 1) === 47;
      if (this.#depth === 0) {
        // Only the stream header opens at depth 0.
        this.#depth = 1;
        this.handler.onStreamOpen(buf.slice(lt, gt + 1));
        continue;
      }
      if (this.#depth === 1) {
        if (selfClosing) {
          this.handler.onStanza(buf.slice(lt, gt + 1));
          continue;
        }
        this.#start = lt;
      }
      if (!selfClosing) this.#depth++;
    }
  }
}

/** Index of the `>` closing the tag that starts before `from`, skipping quoted attribute values. */
function tagEnd(buf: string, from: number): number {
  let i = from;
  const n = buf.length;
  while (i < n) {
    const c = buf.charCodeAt(i);
    if (c === 62) return i;
    if (c === 34 || c === 39) {
      const close = buf.indexOf(c === 34 ? '"' : "'", i + 1);
      if (close < 0) return -1;
      i = close + 1;
      continue;
    }
    i++;
  }
  return -1;
}

const headCache = new Map<string, RegExp>();

/** Attribute of the element's own start tag (not of children). */
export function attr(raw: string, name: string): string | undefined {
  const gt = tagEnd(raw, 1);
  const head = gt < 0 ? raw : raw.slice(0, gt + 1);
  let re = headCache.get(name);
  if (!re) {
    re = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`);
    headCache.set(name, re);
  }
  const m = re.exec(head);
  if (!m) return undefined;
  return unescapeXml(m[1] ?? m[2] ?? "");
}

export function elementName(raw: string): string {
  let i = 1;
  while (i < raw.length) {
    const c = raw.charCodeAt(i);
    if (c === 32 || c === 62 || c === 47 || c === 9 || c === 10 || c === 13) break;
    i++;
  }
  return raw.slice(1, i);
}

/** Text content of the first `<name>` child anywhere inside raw. */
export function childText(raw: string, name: string): string | undefined {
  const open = raw.indexOf(`<${name}`);
  if (open < 0) return undefined;
  const gt = tagEnd(raw, open + 1);
  if (gt < 0 || raw.charCodeAt(gt - 1) === 47) return "";
  const close = raw.indexOf(`</${name}>`, gt);
  if (close < 0) return undefined;
  return unescapeXml(raw.slice(gt + 1, close));
}

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&apos;",
  );
}

export function unescapeXml(s: string): string {
  if (s.indexOf("&") < 0) return s;
  return s.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e: string) => {
    switch (e) {
      case "amp":
        return "&";
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "quot":
        return '"';
      case "apos":
        return "'";
    }
    return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}
