/**
 * XMPP over WebSocket (RFC 7395): one WebSocket message per top-level element, `<open/>` and
 * `<close/>` in the framing namespace instead of the stream header and end tag, no STARTTLS (the
 * connection is secure when it came over HTTPS, or when the deployment says so).
 *
 * Each message goes through a Framer in websocket mode, which enforces the same limits and
 * restrictions as on TCP and refuses a message that is not complete in itself (§3.3.3).
 */
import { Element } from "../xml/element.ts";
import { escapeAttr, serialize } from "../xml/serialize.ts";
import { Framer, NS_FRAMING } from "../xml/framer.ts";
import { NS } from "../protocol/ns.ts";
import { logger } from "../log/mod.ts";
import type { StreamTransport } from "./transport.ts";
import type { FrameSink } from "./tcp.ts";

const log = logger("ws");

// What top-level elements hang off, as on a TCP stream: an unprefixed stanza a client wrote
// without `xmlns` is in jabber:client.
const STREAM_ROOT = new Element("stream:stream", { xmlns: NS.client, "xmlns:stream": NS.stream });

/**
 * Serializes a top-level element so that it stands alone, as RFC 7395 §3.3.3 and XEP-0206 want:
 * an unprefixed element without its own `xmlns` gets `xmlns='jabber:client'` (what it inherits on a
 * TCP stream), a prefixed one (`stream:features`, `stream:error`) a declaration of its prefix. The
 * element itself is not changed: the same stanza may go to TCP sessions too.
 */
export function serializeStandalone(el: Element): string {
  const s = serialize(el);
  const prefix = el.prefix;
  let decl = "";
  if (prefix === null) {
    if (el.attrs.xmlns === undefined) decl = ` xmlns='${NS.client}'`;
  } else if (prefix !== "xml" && el.attrs[`xmlns:${prefix}`] === undefined) {
    const ns = el.resolvePrefix(prefix) ?? (prefix === "stream" ? NS.stream : undefined);
    if (ns !== undefined) decl = ` xmlns:${prefix}='${escapeAttr(ns)}'`;
  }
  return decl === "" ? s : "<" + el.name + decl + s.slice(el.name.length + 1);
}

/** The `<open/>` that stands for the stream header (RFC 7395 §3.3.2). */
export function framingOpen(attrs: Record<string, string>): string {
  let s = `<open xmlns='${NS_FRAMING}'`;
  for (const [k, v] of Object.entries(attrs)) {
    // The header's namespace declarations mean nothing on <open/>.
    if (k === "xmlns" || k.startsWith("xmlns:")) continue;
    s += ` ${k}='${escapeAttr(v)}'`;
  }
  return s + "/>";
}

export const FRAMING_CLOSE = `<close xmlns='${NS_FRAMING}'/>`;

export interface WebSocketTransportOptions {
  remoteAddress: string;
  secure: boolean;
  maxStanzaBytes: number;
  maxDepth: number;
}

export class WebSocketTransport implements StreamTransport {
  readonly kind = "websocket" as const;
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly canStartTls = false;
  /** settles once the socket has closed, whoever closed it */
  readonly closed: Promise<void>;
  readonly #socket: WebSocket;
  readonly #framer: Framer;
  #sink: FrameSink | null = null;
  #closing = false;
  #done: () => void;

  constructor(socket: WebSocket, opts: WebSocketTransportOptions) {
    this.#socket = socket;
    this.remoteAddress = opts.remoteAddress;
    this.secure = opts.secure;
    this.#framer = new Framer({
      mode: "websocket",
      maxStanzaBytes: opts.maxStanzaBytes,
      maxDepth: opts.maxDepth,
    });
    const { promise, resolve } = Promise.withResolvers<void>();
    this.closed = promise;
    this.#done = resolve;
  }

  /** Connects the frame consumer and starts reading. */
  attach(sink: FrameSink): void {
    this.#sink = sink;
    const socket = this.#socket;
    socket.onopen = () => {
      // close() was called before the handshake finished.
      if (this.#closing) socket.close(1000);
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") {
        sink.onFrames([{
          kind: "error",
          condition: "bad-format",
          text: "XMPP over WebSocket uses text messages only",
        }]);
        return;
      }
      const frames = this.#framer.push(ev.data);
      for (const f of frames) if (f.kind === "element") f.element.parent ??= STREAM_ROOT;
      sink.onFrames(frames);
    };
    socket.onerror = (ev) => {
      log.debug("WebSocket error: {e}", { e: (ev as ErrorEvent).message ?? "unknown" });
    };
    socket.onclose = () => {
      this.#closing = true;
      this.#done();
      sink.onTransportClosed();
    };
  }

  sendHeader(attrs: Record<string, string>): void {
    this.#write(framingOpen(attrs));
  }

  sendElement(el: Element): void {
    this.#write(serializeStandalone(el));
  }

  sendClose(): void {
    this.#write(FRAMING_CLOSE);
  }

  resetParser(): void {
    this.#framer.reset();
  }

  startTls(): void {
    this.#sink?.onTlsDone(false);
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    const socket = this.#socket;
    // A socket still connecting is closed from onopen.
    if (socket.readyState === WebSocket.OPEN) socket.close(1000);
  }

  #write(s: string): void {
    if (this.#closing || this.#socket.readyState !== WebSocket.OPEN) return;
    try {
      this.#socket.send(s);
    } catch (e) {
      log.debug("WebSocket send failed: {e}", { e: String(e) });
    }
  }
}
