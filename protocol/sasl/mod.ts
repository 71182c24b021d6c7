/**
 * SASL for c2s (RFC 6120 §6): SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN as pure step functions, SCRAM
 * credential derivation, a SCRAM client for tests and load generation, and login throttling.
 * @module
 */
export type {
  /** Storage shape of an account's SCRAM credentials (both hashes). */
  AccountCredentials,
  /** RFC 6120 §6.5 failure conditions. */
  SaslCondition,
  /** What the mechanism needs from the server: account lookup and stream security. */
  SaslContext,
  /** A mechanism by name, offered in `<mechanisms/>`. */
  SaslMechanismFactory,
  /** One authentication exchange. */
  SaslSession,
  /** The next thing to send: challenge, success or failure. */
  SaslStep,
} from "./mechanism.ts";
export {
  /** Decodes `<auth/>`/`<response/>` text; "=" is empty, invalid base64 is null. */
  decodeBase64Payload,
  /** Encodes a payload for `<challenge/>`/`<success/>`; empty becomes "=". */
  encodeBase64Payload,
  /** PLAIN (RFC 4616), TLS only, checked against the stored SCRAM credential. */
  PLAIN,
  /** SCRAM-SHA-1 (RFC 5802). */
  SCRAM_SHA_1,
  /** SCRAM-SHA-256 (RFC 7677). */
  SCRAM_SHA_256,
} from "./mechanism.ts";
export type {
  /** One hash's SCRAM credential: salt, iterations, StoredKey, ServerKey (base64). */
  ScramCredential,
  /** "SHA-1" or "SHA-256". */
  ScramHash,
  /** Test and cluster options of {@link scramMechanism}. */
  ScramMechanismOptions,
} from "./scram.ts";
export {
  /** Default PBKDF2 iteration count for new credentials (4096). */
  DEFAULT_ITERATIONS,
  /** Derives both hashes' credentials for a new password. */
  deriveAccountCredentials,
  /** Derives one hash's SCRAM credential from a password. */
  deriveCredential,
  /** Smallest iteration count accepted (4096, RFC 7677 §4). */
  MIN_ITERATIONS,
  /** Builds a SCRAM mechanism with options (pinned nonce, shared secret for unknown users). */
  scramMechanism,
} from "./scram.ts";
export type {
  /** Options of {@link scramClientFirst}. */
  ScramClientOptions,
  /** State of a client-side SCRAM exchange. */
  ScramClientState,
} from "./scram_client.ts";
export {
  /** Client side: answers the server-first-message with the proof. */
  scramClientFinal,
  /** Client side: builds the client-first-message. */
  scramClientFirst,
  /** Client side: checks the server's signature. */
  scramVerifyServerFinal,
} from "./scram_client.ts";
export type {
  /** Options of {@link AuthThrottle}. */
  AuthThrottleOptions,
  /** Whether an attempt may proceed, or how long to wait. */
  ThrottleVerdict,
} from "./throttle.ts";
export {
  /** Locks out keys (IP, username) after repeated failed logins. */
  AuthThrottle,
} from "./throttle.ts";
