/**
 * TCP listeners for client streams: 5222 with STARTTLS and 5223 with direct TLS (XEP-0368).
 * node:net/node:tls because Deno.startTls is client-only and Deno.listenTls has no setNoDelay,
 * SNI or client certificates (DESIGN.md). Every socket gets setNoDelay; writes are coalesced per
 * tick into one socket write.
 */
import net from "node:net";
import tls from "node:tls";
import type { Element } from "../xml/element.ts";
import { serialize, STREAM_CLOSE, streamOpen } from "../xml/serialize.ts";
import { Framer } from "../xml/framer.ts";
import type { TransportKind } from "../router/session.ts";
import { logger } from "../log/mod.ts";
import type { StreamTransport } from "./transport.ts";

const log = logger("tcp");

export interface TcpListenerOptions {
  host: string;
  port: number;
  /** direct TLS (5223) when true, STARTTLS-capable plaintext otherwise */
  directTls: boolean;
  secureContext: tls.SecureContext;
  /** PEM pair: Deno's tls.createServer refuses handshakes given only a secureContext */
  cert: string;
  key: string;
  maxStanzaBytes: number;
  maxDepth: number;
  /** false when the remote address is over its connection rate */
  admit(remoteAddress: string): boolean;
  /** called with each new transport; returns the frame consumer */
  accept(transport: TcpTransport): void;
}

export interface TcpListener {
  port: number;
  close(): Promise<void>;
}

export function listenTcp(opts: TcpListenerOptions): Promise<TcpListener> {
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket, secure: boolean) => {
    socket.setNoDelay(true);
    const remote = socket.remoteAddress ?? "unknown";
    if (!opts.admit(remote)) {
      log.warning("connection rate exceeded for {remote}", { remote });
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const transport = new TcpTransport(
      socket,
      secure,
      opts.directTls ? null : opts.secureContext,
      new Framer({ maxStanzaBytes: opts.maxStanzaBytes, maxDepth: opts.maxDepth }),
    );
    opts.accept(transport);
    transport.attach(socket, sockets);
  };
  const server = opts.directTls
    ? tls.createServer({ cert: opts.cert, key: opts.key }, (s) => onSocket(s, true))
    : net.createServer((s) => onSocket(s, false));
  server.on(
    "tlsClientError",
    (e: Error) => log.debug("TLS handshake failed: {e}", { e: e.message }),
  );
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off("error", reject);
      const addr = server.address() as net.AddressInfo;
      resolve({
        port: addr.port,
        close: () =>
          new Promise<void>((done) => {
            // Let goodbyes (system-shutdown stream errors) flush, then cut what is left.
            for (const s of sockets) s.end();
            const t = setTimeout(() => {
              for (const s of sockets) s.destroy();
            }, 300);
            server.close(() => {
              clearTimeout(t);
              done();
            });
          }),
      });
    });
  });
}

/**
 * Socket listeners are shared functions that find their transport here, not closures made per
 * connection: an idle session should hold its state, not a set of functions.
 */
const transportOf = new WeakMap<net.Socket, TcpTransport>();

function onData(this: net.Socket, chunk: Uint8Array): void {
  transportOf.get(this)?.received(chunk);
}

function onClose(this: net.Socket): void {
  transportOf.get(this)?.socketClosed(this);
}

function onError(e: Error): void {
  log.debug("socket error: {e}", { e: e.message });
}

/** Receives what the transport reads; implemented by the stream session. */
export interface FrameSink {
  onFrames(frames: ReturnType<Framer["push"]>): void;
  onTransportClosed(): void;
  onTlsDone(ok: boolean): void;
}

export class TcpTransport implements StreamTransport {
  readonly kind: TransportKind;
  readonly remoteAddress: string;
  #socket: net.Socket;
  #secure: boolean;
  #startTlsContext: tls.SecureContext | null;
  #framer: Framer;
  #sink: FrameSink | null = null;
  /** the listener's set of open sockets, left when the socket closes */
  #registry: Set<net.Socket> | null = null;
  /** writes of this tick, allocated when there are some */
  #out: string[] | null = null;
  #flushScheduled = false;
  #closed = false;

  constructor(
    socket: net.Socket,
    secure: boolean,
    startTlsContext: tls.SecureContext | null,
    framer: Framer,
  ) {
    this.#socket = socket;
    this.#secure = secure;
    this.kind = secure ? "tls" : "tcp";
    this.#startTlsContext = startTlsContext;
    this.#framer = framer;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
  }

  get secure(): boolean {
    return this.#secure;
  }

  get canStartTls(): boolean {
    return this.#startTlsContext !== null && !this.#secure;
  }

  setSink(sink: FrameSink): void {
    this.#sink = sink;
  }

  /** Starts reading: called once the sink is in place. */
  attach(socket: net.Socket, registry?: Set<net.Socket>): void {
    this.#registry = registry ?? null;
    transportOf.set(socket, this);
    socket.on("data", onData);
    // "close" comes once per socket, so no once() wrapper (two more objects per connection).
    socket.on("close", onClose);
    socket.on("error", onError);
  }

  /** Bytes from the socket (or from TLS once it is up). */
  received(chunk: Uint8Array): void {
    if (this.#sink) this.#sink.onFrames(this.#framer.push(chunk));
  }

  /** The raw socket closed: TLS or not, the connection is gone. */
  socketClosed(socket: net.Socket): void {
    this.#registry?.delete(socket);
    this.#registry = null;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closed = true;
    this.#sink?.onTransportClosed();
  }

  sendHeader(attrs: Record<string, string>): void {
    this.#write(streamOpen(attrs));
  }

  sendElement(el: Element, serialized?: string): void {
    this.#write(serialized ?? serialize(el));
  }

  sendClose(): void {
    this.#write(STREAM_CLOSE);
  }

  resetParser(): void {
    this.#framer.reset();
  }

  /** Upgrades in place: flushes `<proceed/>`, stops reading plaintext, wraps the socket. */
  startTls(): void {
    const context = this.#startTlsContext;
    if (!context) {
      this.#sink?.onTlsDone(false);
      return;
    }
    this.#flush();
    const raw = this.#socket;
    raw.off("data", onData);
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    secure.setNoDelay?.(true);
    this.#socket = secure;
    transportOf.set(secure, this);
    secure.once("secure", () => {
      this.#secure = true;
      this.#startTlsContext = null;
      secure.on("data", onData);
      this.#sink?.onTlsDone(true);
    });
    secure.on("error", (e: Error) => {
      log.debug("STARTTLS failed: {e}", { e: e.message });
      if (!this.#secure) this.#sink?.onTlsDone(false);
      secure.destroy();
    });
  }

  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    this.#socket.end();
    // A peer that never reads must not hold the socket open forever.
    const socket = this.#socket;
    this.#closeTimer = setTimeout(() => socket.destroy(), 2000);
  }

  #write(s: string): void {
    if (this.#closed) return;
    (this.#out ??= []).push(s);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out === null) return;
    this.#out = null;
    const data = out.length === 1 ? out[0]! : out.join("");
    if (!this.#socket.destroyed) this.#socket.write(data);
  }
}
