/**
 * JID parsing, normalisation and XEP-0106 escaping (RFC 7622). Imports nothing else from Parley.
 * @module
 */
export {
  /** Escapes a would-be localpart per XEP-0106. */
  escapeLocal,
  /** An immutable, normalised JID. */
  JID,
  /** Builds a JID from parts, validating and normalising each. */
  jid,
  /** Thrown for an invalid JID or JID part. */
  JidError,
  /** Normalises a domainpart (RFC 7622 §3.2). */
  normalizeDomainpart,
  /** Normalises a localpart (RFC 7622 §3.3); also the SASL username preparation. */
  normalizeLocalpart,
  /** Normalises a resourcepart (RFC 7622 §3.4). */
  normalizeResourcepart,
  /** Parses and normalises a JID string, throwing JidError. */
  parseJid,
  /** Parses a JID string, returning null when invalid. */
  tryParseJid,
  /** Reverses XEP-0106 escaping. */
  unescapeLocal,
} from "./jid.ts";
