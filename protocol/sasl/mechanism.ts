/**
 * The SASL mechanism contract (RFC 6120 §6): a session turns the client's decoded payloads into
 * challenges and a final success or failure. No I/O; the c2s machine owns the XML and base64.
 */
import type { AccountCredentials } from "../../db/types.ts";

export type { AccountCredentials };

/** RFC 6120 §6.5 failure conditions. */
export type SaslCondition =
  | "aborted"
  | "account-disabled"
  | "credentials-expired"
  | "encryption-required"
  | "incorrect-encoding"
  | "invalid-authzid"
  | "invalid-mechanism"
  | "malformed-request"
  | "mechanism-too-weak"
  | "not-authorized"
  | "temporary-auth-failure";

/** What the server sends next: `<challenge/>`, `<success/>` or `<failure/>`. */
export type SaslStep =
  | { type: "challenge"; data: Uint8Array }
  /** `username` is the authenticated localpart, normalised (RFC 7622 §3.3). */
  | { type: "success"; data?: Uint8Array; username: string }
  | { type: "failure"; condition: SaslCondition; text?: string };

/** One authentication exchange. Once it has answered success or failure it only fails. */
export interface SaslSession {
  /**
   * Feeds the client's decoded payload. The first call gets the initial response, or null when the
   * client sent none; mechanisms that need one answer with an empty challenge.
   */
  step(data: Uint8Array | null): Promise<SaslStep>;
}

export interface SaslContext {
  /** Credentials of the account with this normalised localpart, or null when there is none. */
  lookup(username: string): Promise<AccountCredentials | null>;
  /** The stream is encrypted (TLS); PLAIN refuses to run otherwise. */
  secure: boolean;
  /**
   * The host the client authenticates against. When set, an authzid that is a JID must be the bare
   * JID of the authenticated user at this domain; when absent only its localpart is compared.
   */
  domain?: string;
}

export interface SaslMechanismFactory {
  /** The name offered in `<mechanisms/>`: "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN". */
  name: string;
  /** Offer this mechanism only on an encrypted stream. */
  requiresTls: boolean;
  create(ctx: SaslContext): SaslSession;
}

export { SCRAM_SHA_1, SCRAM_SHA_256 } from "./scram.ts";
export { PLAIN } from "./plain.ts";
export { decodeBase64Payload, encodeBase64Payload } from "./util.ts";
