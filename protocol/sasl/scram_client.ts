/**
 * A minimal SCRAM client (RFC 5802) for tests and the load generator. Messages are strings; the
 * caller base64-encodes them (see `encodeBase64Payload`).
 */
import { saltedPassword, scramKeys } from "./scram.ts";
import {
  constantTimeEqual,
  decodeBase64Payload,
  hmac,
  type ScramHash,
  toBase64,
  utf8,
  xor,
} from "./util.ts";
import { encodeSaslname } from "./scram.ts";

export interface ScramClientOptions {
  /** Client nonce; random unless a test pins it. */
  nonce?: string;
  /** Authorization identity sent in the GS2 header. */
  authzid?: string;
  /**
   * SaltedPassword cache keyed by hash, salt, iterations and password: a load generator logging
   * in the same accounts again skips PBKDF2.
   */
  cache?: Map<string, Uint8Array>;
}

/** Client state across the exchange; `message` is the client-first-message. */
export interface ScramClientState {
  readonly hash: ScramHash;
  readonly message: string;
  readonly gs2Header: string;
  readonly clientFirstBare: string;
  readonly nonce: string;
  readonly cache: Map<string, Uint8Array> | undefined;
  /** Set by {@link scramClientFinal}: the v= value the server must send. */
  expectedServerSignature?: Uint8Array;
}

/** Starts an exchange: the client-first-message is `state.message`. */
export function scramClientFirst(
  user: string,
  hash: ScramHash,
  options: ScramClientOptions = {},
): ScramClientState {
  const nonce = options.nonce ?? toBase64(crypto.getRandomValues(new Uint8Array(18)));
  const gs2Header = options.authzid ? `n,a=${encodeSaslname(options.authzid)},` : "n,,";
  const clientFirstBare = `n=${encodeSaslname(user)},r=${nonce}`;
  return {
    hash,
    message: gs2Header + clientFirstBare,
    gs2Header,
    clientFirstBare,
    nonce,
    cache: options.cache,
  };
}

/**
 * Answers the server-first-message with the client-final-message.
 * @throws {Error} when the server-first-message is malformed or its nonce does not extend ours.
 */
export async function scramClientFinal(
  state: ScramClientState,
  serverFirst: string,
  password: string,
): Promise<string> {
  const attrs = new Map(serverFirst.split(",").map((a) => [a.slice(0, 1), a.slice(2)]));
  const nonce = attrs.get("r");
  const saltText = attrs.get("s");
  const iterations = Number(attrs.get("i"));
  const salt = saltText === undefined ? null : decodeBase64Payload(saltText);
  if (nonce === undefined || !nonce.startsWith(state.nonce) || nonce === state.nonce) {
    throw new Error("SCRAM server nonce does not extend the client nonce");
  }
  if (salt === null || salt.byteLength === 0 || !Number.isInteger(iterations) || iterations < 1) {
    throw new Error("malformed SCRAM server-first-message");
  }
  const cacheKey = `${state.hash}\0${saltText}\0${iterations}\0${password}`;
  let salted = state.cache?.get(cacheKey) ?? null;
  if (salted === null) {
    salted = await saltedPassword(state.hash, password, salt, iterations);
    if (salted === null) throw new Error("password is empty or has control characters");
    state.cache?.set(cacheKey, salted);
  }
  const { clientKey, storedKey, serverKey } = scramKeys(state.hash, salted);
  const withoutProof = `c=${toBase64(utf8(state.gs2Header))},r=${nonce}`;
  const authMessage = `${state.clientFirstBare},${serverFirst},${withoutProof}`;
  const proof = xor(clientKey, hmac(state.hash, storedKey, authMessage));
  state.expectedServerSignature = hmac(state.hash, serverKey, authMessage);
  return `${withoutProof},p=${toBase64(proof)}`;
}

/** True when the server-final-message carries the server signature we expect. */
export function scramVerifyServerFinal(state: ScramClientState, serverFinal: string): boolean {
  if (state.expectedServerSignature === undefined || !serverFinal.startsWith("v=")) return false;
  const v = decodeBase64Payload(serverFinal.slice(2).split(",")[0]!);
  return v !== null && constantTimeEqual(v, state.expectedServerSignature);
}
