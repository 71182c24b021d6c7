/**
 * What the router and plugins know of a client session, whatever its transport (TCP, TLS, BOSH,
 * WebSocket). Plugins read it and call `send`; only the transport adapter writes bytes.
 */
import type { Element } from "../xml/element.ts";
import type { JID } from "../jid/mod.ts";
import type { StreamErrorCondition } from "../protocol/errors.ts";

export type TransportKind = "tcp" | "tls" | "bosh" | "websocket";

export interface Session {
  /** the stream id, also the connection actor's id (`c2s:<id>`) */
  readonly id: string;
  readonly transport: TransportKind;
  readonly remoteAddress: string;
  /** the full JID once a resource is bound */
  readonly jid: JID | null;
  readonly secure: boolean;
  /** false once the stream has ended (undefined for sessions that cannot tell) */
  readonly open?: boolean;
  /** available presence with its priority, as last broadcast (RFC 6121 §4) */
  available: boolean;
  priority: number;
  presence: Element | null;
  /** asked for the roster during this session (RFC 6121 §2.1.6 "interested resource") */
  interested: boolean;
  /** per-plugin state, keyed by plugin name */
  readonly data: Map<string, unknown>;
  /**
   * Writes a stanza to the client (passing the outgoing interceptors). `serialized`, when the
   * caller has it, is exactly `serialize(stanza)`: a transport that writes that form uses it.
   */
  send(stanza: Element, serialized?: string): void;
  /** Ends the stream, with a stream error when a condition is given. */
  close(condition?: StreamErrorCondition, text?: string): void;
}
