/**
 * The XML element model shared by every layer: a small, mutable tree in the spirit of ltx.
 *
 * `name` is the qualified name as written (`stream:features`, `message`); `attrs` holds the
 * attributes as written, including namespace declarations (`xmlns`, `xmlns:foo`). The namespace of
 * an element is resolved through its parents, so a child built with `new Element("body")` and
 * appended to a `jabber:client` message is in `jabber:client` as XML says it should be.
 */
export type XmlNode = Element | string;

export type Attrs = Record<string, string>;

export class Element {
  name: string;
  attrs: Attrs;
  children: XmlNode[];
  parent: Element | null = null;

  constructor(name: string, attrs: Attrs = {}, children: XmlNode[] = []) {
    this.name = name;
    this.attrs = attrs;
    this.children = [];
    for (const child of children) this.append(child);
  }

  /** Local part of the name, without any prefix. */
  get localName(): string {
    const i = this.name.indexOf(":");
    return i < 0 ? this.name : this.name.slice(i + 1);
  }

  get prefix(): string | null {
    const i = this.name.indexOf(":");
    return i < 0 ? null : this.name.slice(0, i);
  }

  /** The namespace this element is in, resolved through the parents (ltx's getNS). */
  get ns(): string | undefined {
    return this.resolvePrefix(this.prefix);
  }

  /** Resolves a prefix (null for the default namespace) against this element and its parents. */
  resolvePrefix(prefix: string | null): string | undefined {
    const key = prefix === null ? "xmlns" : `xmlns:${prefix}`;
    const own = this.attrs[key];
    if (own !== undefined) return own;
    for (let el = this.parent; el; el = el.parent) {
      const v = el.attrs[key];
      if (v !== undefined) return v;
    }
    if (prefix === "xml") return "http://www.w3.org/XML/1998/namespace";
    return undefined;
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  /** Sets (or, with undefined, removes) an attribute; returns this for chaining. */
  setAttr(name: string, value: string | undefined): this {
    if (value === undefined) delete this.attrs[name];
    else this.attrs[name] = value;
    return this;
  }

  is(localName: string, ns?: string): boolean {
    return this.localName === localName && (ns === undefined || this.ns === ns);
  }

  append(child: XmlNode): this {
    if (typeof child !== "string") {
      child.parent = this;
    }
    this.children.push(child);
    return this;
  }

  /** Builds and appends a child element, returning the child (ltx's `c`). */
  c(name: string, attrs: Attrs = {}): Element {
    const child = new Element(name, attrs);
    this.append(child);
    return child;
  }

  /** Appends text and returns this. */
  t(text: string): this {
    this.children.push(text);
    return this;
  }

  remove(child: Element): this {
    const i = this.children.indexOf(child);
    if (i >= 0) {
      this.children.splice(i, 1);
      child.parent = null;
    }
    return this;
  }

  elements(): Element[] {
    const out: Element[] = [];
    for (const c of this.children) if (typeof c !== "string") out.push(c);
    return out;
  }

  getChild(localName: string, ns?: string): Element | undefined {
    for (const c of this.children) {
      if (typeof c !== "string" && c.is(localName, ns)) return c;
    }
    return undefined;
  }

  getChildren(localName: string, ns?: string): Element[] {
    const out: Element[] = [];
    for (const c of this.children) {
      if (typeof c !== "string" && c.is(localName, ns)) out.push(c);
    }
    return out;
  }

  /** Concatenated direct text content. */
  text(): string {
    let s = "";
    for (const c of this.children) if (typeof c === "string") s += c;
    return s;
  }

  getChildText(localName: string, ns?: string): string | undefined {
    return this.getChild(localName, ns)?.text();
  }

  /**
   * A deep copy with no parent that keeps its namespace: the in-scope default namespace and the
   * namespace of its own prefix are declared on the copy. Use it to embed a stanza received on a
   * stream (whose namespace comes from the stream header) inside another element, e.g. to forward
   * it, where `clone()` would let it pick up the new parent's default namespace.
   */
  cloneDetached(): Element {
    const copy = this.clone();
    const declared: Attrs = {};
    const def = this.resolvePrefix(null);
    if (def !== undefined && copy.attrs.xmlns === undefined) declared.xmlns = def;
    const prefix = this.prefix;
    if (prefix !== null && prefix !== "xml" && copy.attrs[`xmlns:${prefix}`] === undefined) {
      const ns = this.resolvePrefix(prefix);
      if (ns !== undefined) declared[`xmlns:${prefix}`] = ns;
    }
    copy.attrs = { ...declared, ...copy.attrs };
    return copy;
  }

  /** A deep copy with no parent. */
  clone(): Element {
    const copy = new Element(this.name, { ...this.attrs });
    for (const c of this.children) copy.append(typeof c === "string" ? c : c.clone());
    return copy;
  }
}

/** Shorthand builder: `x("iq", { type: "result" }, x("query", { xmlns: NS }))`. */
export function x(
  name: string,
  attrs: Record<string, string | undefined> = {},
  ...children: (XmlNode | null | undefined | false)[]
): Element {
  const clean: Attrs = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) clean[k] = v;
  const el = new Element(name, clean);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
