/**
 * What a stream session needs from its transport: TCP, direct TLS, BOSH and WebSocket each
 * implement it, so one connection machine serves them all.
 */
import type { Element } from "../xml/element.ts";
import type { TransportKind } from "../router/session.ts";

export interface StreamTransport {
  readonly kind: TransportKind;
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** STARTTLS can be negotiated now */
  readonly canStartTls: boolean;
  sendHeader(attrs: Record<string, string>): void;
  /** `serialized`, when given, is `serialize(el)` (for a transport that writes that form). */
  sendElement(el: Element, serialized?: string): void;
  sendClose(): void;
  /** the stream restarts (after TLS or SASL): expect a new header */
  resetParser(): void;
  /** upgrade to TLS; the result comes back through the sink's onTlsDone */
  startTls(): void;
  /** end the connection once what was written is flushed */
  close(): void;
}
