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
    socket.once("close", () => sockets.delete(socket));
    const transport = new TcpTransport(
      socket,
      secure,
      opts.directTls ? null : opts.secureContext,
      new Framer({ maxStanzaBytes: opts.maxStanzaBytes, maxDepth: opts.maxDepth }),
    );
    opts.accept(transport);
    transport.attach(socket);
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
  #out: string[] = [];
  #flushScheduled = false;
  #closed = false;
  #onData = (chunk: Uint8Array) => {
    if (this.#sink) this.#sink.onFrames(this.#framer.push(chunk));
  };

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
  attach(socket: net.Socket): void {
    socket.on("data", this.#onData);
    socket.once("close", () => {
      this.#closed = true;
      this.#sink?.onTransportClosed();
    });
    socket.on("error", (e: Error) => log.debug("socket error: {e}", { e: e.message }));
  }

  sendHeader(attrs: Record<string, string>): void {
    this.#write(streamOpen(attrs));
  }

  sendElement(el: Element): void {
    this.#write(serialize(el));
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
    raw.off("data", this.#onData);
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    secure.setNoDelay?.(true);
    this.#socket = secure;
    secure.once("secure", () => {
      this.#secure = true;
      this.#startTlsContext = null;
      secure.on("data", this.#onData);
      this.#sink?.onTlsDone(true);
    });
    secure.on("error", (e: Error) => {
      log.debug("STARTTLS failed: {e}", { e: e.message });
      if (!this.#secure) this.#sink?.onTlsDone(false);
      secure.destroy();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    this.#socket.end();
    // A peer that never reads must not hold the socket open forever.
    const t = setTimeout(() => this.#socket.destroy(), 2000);
    this.#socket.once("close", () => clearTimeout(t));
  }

  #write(s: string): void {
    if (this.#closed) return;
    this.#out.push(s);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0) return;
    const data = this.#out.length === 1 ? this.#out[0]! : this.#out.join("");
    this.#out = [];
    if (!this.#socket.destroyed) this.#socket.write(data);
  }
}
