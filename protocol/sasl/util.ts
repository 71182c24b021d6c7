/** Helpers shared by the mechanisms: encodings, crypto primitives, authzid policy. */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { normalizeDomainpart, tryParseJid } from "../../jid/mod.ts";
import type { SaslCondition, SaslContext, SaslStep } from "./mechanism.ts";

export type ScramHash = "SHA-1" | "SHA-256";

const NODE_HASH: Record<ScramHash, string> = { "SHA-1": "sha1", "SHA-256": "sha256" };
export const HASH_BYTES: Record<ScramHash, number> = { "SHA-1": 20, "SHA-256": 32 };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes the base64 text of `<auth/>` or `<response/>`. "=" stands for an empty payload (RFC 6120
 * §6.4.2); anything that is not strict RFC 4648 base64 (whitespace, missing padding, other
 * characters) gives null, which the caller answers with incorrect-encoding.
 */
export function decodeBase64Payload(text: string): Uint8Array | null {
  if (text === "=" || text === "") return new Uint8Array(0);
  if (!BASE64.test(text)) return null;
  return Uint8Array.fromBase64(text);
}

/** Base64 text for `<challenge/>`/`<success/>`; "=" for an empty payload, as RFC 6120 §6.4.2 asks. */
export function encodeBase64Payload(data: Uint8Array | string): string {
  const s = toBase64(typeof data === "string" ? utf8(data) : data);
  return s === "" ? "=" : s;
}

export function toBase64(data: Uint8Array): string {
  return data.toBase64();
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** UTF-8 text, or null when the bytes are not valid UTF-8. */
export function decodeUtf8(data: Uint8Array): string | null {
  try {
    return strictDecoder.decode(data);
  } catch {
    return null;
  }
}

export function hmac(hash: ScramHash, key: Uint8Array, data: Uint8Array | string): Uint8Array {
  return createHmac(NODE_HASH[hash], key).update(data).digest();
}

export function digest(hash: ScramHash, data: Uint8Array): Uint8Array {
  return createHash(NODE_HASH[hash]).update(data).digest();
}

/** Length-checked constant-time comparison (the length itself is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

export function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  for (let i = 0; i < out.byteLength; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * Hi() of RFC 5802 §2.2 is PBKDF2 with HMAC and one block. WebCrypto runs it off the event loop;
 * at 4096 iterations a synchronous derivation would stall every connection for about a
 * millisecond.
 */
export async function pbkdf2(
  hash: ScramHash,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    password as Uint8Array<ArrayBuffer>,
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash, salt: salt as Uint8Array<ArrayBuffer>, iterations },
    key,
    HASH_BYTES[hash] * 8,
  );
  return new Uint8Array(bits);
}

const ASCII_PASSWORD_OK = /^[\x20-\x7e]+$/;
const NON_ASCII_SPACE = /\p{Zs}/gu;
const CONTROL = /\p{Cc}/u;

/**
 * Prepares a password with the PRECIS OpaqueString profile (RFC 8265 §4.2, which RFC 7677
 * recommends over SASLprep): non-ASCII spaces become U+0020, then NFC; control characters and empty
 * passwords are refused. Returns null when the password is not acceptable.
 */
export function preparePassword(password: string): Uint8Array | null {
  if (ASCII_PASSWORD_OK.test(password)) return utf8(password);
  if (password === "" || !password.isWellFormed()) return null;
  const p = password.replace(NON_ASCII_SPACE, " ").normalize("NFC");
  return CONTROL.test(p) ? null : utf8(p);
}

/**
 * An authzid is acceptable when it names the authenticated user: the localpart itself, or the bare
 * JID of that user (at `ctx.domain` when the context names one). Parley has no proxy authorization.
 */
export function authzidAllowed(authzid: string, username: string, ctx: SaslContext): boolean {
  if (authzid === "" || authzid === username) return true;
  const j = tryParseJid(authzid);
  if (j === null || j.local !== username || !j.isBare()) return false;
  if (ctx.domain === undefined) return true;
  try {
    return j.domain === normalizeDomainpart(ctx.domain);
  } catch {
    return false;
  }
}

export function fail(condition: SaslCondition, text?: string): SaslStep {
  return text === undefined ? { type: "failure", condition } : { type: "failure", condition, text };
}

export const EMPTY = new Uint8Array(0);
