/**
 * SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, without channel binding: the
 * TLS layer cannot export channel-binding data (docs: DESIGN.md), so no -PLUS variant is offered.
 */
import type { AccountCredentials, ScramCredential } from "../../db/types.ts";
import { normalizeLocalpart } from "../../jid/mod.ts";
import type { SaslContext, SaslMechanismFactory, SaslSession, SaslStep } from "./mechanism.ts";
import {
  authzidAllowed,
  constantTimeEqual,
  decodeBase64Payload,
  decodeUtf8,
  digest,
  EMPTY,
  fail,
  HASH_BYTES,
  hmac,
  pbkdf2,
  preparePassword,
  type ScramHash,
  toBase64,
  utf8,
  xor,
} from "./util.ts";

export type { ScramCredential, ScramHash };

/** RFC 7677 §4 asks for at least 4096 iterations. */
export const MIN_ITERATIONS = 4096;
export const DEFAULT_ITERATIONS = 4096;
const SALT_BYTES = 16;
const SERVER_NONCE_BYTES = 24;

/**
 * SCRAM credentials for one hash (RFC 5802 §3): salt, iteration count, StoredKey and ServerKey.
 * The password is prepared with the PRECIS OpaqueString profile first.
 * @throws {RangeError} for fewer than 4096 iterations or an unusable password (empty, control
 * characters).
 */
export async function deriveCredential(
  password: string,
  hash: ScramHash,
  iterations: number = DEFAULT_ITERATIONS,
  salt: Uint8Array = crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
): Promise<ScramCredential> {
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS) {
    throw new RangeError(`SCRAM iterations must be an integer >= ${MIN_ITERATIONS}`);
  }
  const prepared = preparePassword(password);
  if (prepared === null) throw new RangeError("password is empty or has control characters");
  const keys = scramKeys(hash, await pbkdf2(hash, prepared, salt, iterations));
  return {
    salt: toBase64(salt),
    iterations,
    storedKey: toBase64(keys.storedKey),
    serverKey: toBase64(keys.serverKey),
  };
}

/** Credentials for both hashes, each with its own salt, as stored for an account. */
export async function deriveAccountCredentials(password: string): Promise<AccountCredentials> {
  const [sha1, sha256] = await Promise.all([
    deriveCredential(password, "SHA-1"),
    deriveCredential(password, "SHA-256"),
  ]);
  return { "SHA-1": sha1, "SHA-256": sha256 };
}

/** ClientKey, StoredKey and ServerKey from a SaltedPassword (RFC 5802 §3). */
export function scramKeys(hash: ScramHash, saltedPassword: Uint8Array): {
  clientKey: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
} {
  const clientKey = hmac(hash, saltedPassword, "Client Key");
  return {
    clientKey,
    storedKey: digest(hash, clientKey),
    serverKey: hmac(hash, saltedPassword, "Server Key"),
  };
}

export interface ScramMechanismOptions {
  /** Server nonce part; random (24 bytes, base64) unless a test pins it. */
  serverNonce?: () => string;
  /**
   * Secret for the made-up salt and keys of unknown users. Random per process by default; give all
   * nodes of a cluster the same one so an unknown user's salt does not vary between nodes.
   */
  fakeSecret?: Uint8Array;
  /** Iteration count announced for unknown users; match what real accounts use. */
  fakeIterations?: number;
}

const processSecret = crypto.getRandomValues(new Uint8Array(32));

/** A SCRAM mechanism factory; {@link SCRAM_SHA_1} and {@link SCRAM_SHA_256} use the defaults. */
export function scramMechanism(
  hash: ScramHash,
  options: ScramMechanismOptions = {},
): SaslMechanismFactory {
  const name = hash === "SHA-1" ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
  return {
    name,
    requiresTls: false,
    create: (ctx) => new ScramServerSession(hash, ctx, options),
  };
}

/** SCRAM-SHA-1 (RFC 5802). */
export const SCRAM_SHA_1: SaslMechanismFactory = scramMechanism("SHA-1");
/** SCRAM-SHA-256 (RFC 7677). */
export const SCRAM_SHA_256: SaslMechanismFactory = scramMechanism("SHA-256");

interface Keys {
  salt: string;
  iterations: number;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

interface Pending {
  gs2Header: string;
  authzid: string;
  username: string;
  known: boolean;
  nonce: string;
  authPrefix: string;
  keys: Keys;
}

// printable ASCII except ',' (RFC 5802 §7, "printable")
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const SASLNAME_BAD_ESCAPE = /=(?!2C|3D)/;
const ATTRIBUTE = /^[A-Za-z]=/;

class ScramServerSession implements SaslSession {
  #state: "start" | "asked" | "first-sent" | "done" = "start";
  #pending: Pending | undefined;

  constructor(
    readonly hash: ScramHash,
    readonly ctx: SaslContext,
    readonly options: ScramMechanismOptions,
  ) {}

  async step(data: Uint8Array | null): Promise<SaslStep> {
    switch (this.#state) {
      case "start":
        if (data === null) {
          this.#state = "asked";
          return { type: "challenge", data: EMPTY };
        }
        return this.#end(await this.#clientFirst(data));
      case "asked":
        if (data === null) return this.#end(fail("malformed-request", "no client-first-message"));
        return this.#end(await this.#clientFirst(data));
      case "first-sent":
        this.#state = "done";
        if (data === null) return fail("malformed-request", "no client-final-message");
        return this.#clientFinal(data);
      case "done":
        return fail("malformed-request", "the exchange is over");
    }
  }

  #end(step: SaslStep): SaslStep {
    this.#state = step.type === "challenge" ? "first-sent" : "done";
    return step;
  }

  async #clientFirst(data: Uint8Array): Promise<SaslStep> {
    const msg = decodeUtf8(data);
    if (msg === null || msg.includes("\0")) return fail("malformed-request", "not UTF-8 text");
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const c1 = msg.indexOf(",");
    const c2 = c1 < 0 ? -1 : msg.indexOf(",", c1 + 1);
    if (c2 < 0) return fail("malformed-request", "no GS2 header");
    const flag = msg.slice(0, c1);
    if (flag.startsWith("p=")) {
      return fail(
        "malformed-request",
        "channel binding is not supported; use a non-PLUS mechanism",
      );
    }
    if (flag !== "n" && flag !== "y") {
      return fail("malformed-request", "bad GS2 channel-binding flag");
    }
    const authzField = msg.slice(c1 + 1, c2);
    let authzid = "";
    if (authzField !== "") {
      if (!authzField.startsWith("a=")) return fail("malformed-request", "bad GS2 authzid");
      const a = decodeSaslname(authzField.slice(2));
      if (a === null || a === "") return fail("malformed-request", "bad GS2 authzid");
      authzid = a;
    }
    const gs2Header = msg.slice(0, c2 + 1);
    const bare = msg.slice(c2 + 1);
    const attrs = bare.split(",");
    if (attrs[0]?.startsWith("m=")) {
      return fail("malformed-request", "mandatory extensions are not supported");
    }
    const n = attrs[0];
    const r = attrs[1];
    if (n === undefined || !n.startsWith("n=") || r === undefined || !r.startsWith("r=")) {
      return fail("malformed-request", "client-first-message needs n= and r=");
    }
    for (let i = 2; i < attrs.length; i++) {
      if (!ATTRIBUTE.test(attrs[i]!)) return fail("malformed-request", "bad attribute");
    }
    const rawUser = decodeSaslname(n.slice(2));
    if (rawUser === null || rawUser === "") return fail("malformed-request", "bad username");
    const clientNonce = r.slice(2);
    if (!NONCE.test(clientNonce)) return fail("malformed-request", "bad client nonce");

    let username: string | null = null;
    try {
      username = normalizeLocalpart(rawUser);
    } catch {
      // No account can have this name; carry on as for an unknown user.
    }
    let credential: ScramCredential | undefined;
    if (username !== null) {
      try {
        credential = (await this.ctx.lookup(username))?.[this.hash];
      } catch {
        return fail("temporary-auth-failure");
      }
    }
    const keys = credential ? realKeys(credential) : this.#fakeKeys(username ?? rawUser);
    if (keys === null) return fail("temporary-auth-failure", "stored credentials are damaged");

    const nonce = clientNonce + (this.options.serverNonce?.() ?? randomNonce());
    const serverFirst = `r=${nonce},s=${keys.salt},i=${keys.iterations}`;
    this.#pending = {
      gs2Header,
      authzid,
      username: username ?? rawUser,
      known: credential !== undefined,
      nonce,
      authPrefix: `${bare},${serverFirst},`,
      keys,
    };
    return { type: "challenge", data: utf8(serverFirst) };
  }

  #clientFinal(data: Uint8Array): SaslStep {
    const p = this.#pending!;
    this.#pending = undefined;
    const msg = decodeUtf8(data);
    if (msg === null || msg.includes("\0")) return fail("malformed-request", "not UTF-8 text");
    const proofAt = msg.lastIndexOf(",p=");
    if (proofAt < 0) return fail("malformed-request", "no proof");
    const withoutProof = msg.slice(0, proofAt);
    const attrs = withoutProof.split(",");
    const c = attrs[0];
    const r = attrs[1];
    if (c === undefined || !c.startsWith("c=") || r === undefined || !r.startsWith("r=")) {
      return fail("malformed-request", "client-final-message needs c=, r= and p=");
    }
    for (let i = 2; i < attrs.length; i++) {
      if (!ATTRIBUTE.test(attrs[i]!)) return fail("malformed-request", "bad attribute");
    }
    const proof = decodeBase64Payload(msg.slice(proofAt + 3));
    if (proof === null || proof.byteLength !== HASH_BYTES[this.hash]) {
      return fail("malformed-request", "bad proof");
    }
    const cbind = decodeBase64Payload(c.slice(2));
    if (cbind === null) return fail("malformed-request", "bad channel-binding data");

    // Every check below runs for unknown users too, so both fail the same way in the same time.
    const authMessage = p.authPrefix + withoutProof;
    const clientSignature = hmac(this.hash, p.keys.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const proofOk = constantTimeEqual(digest(this.hash, clientKey), p.keys.storedKey);
    const cbindOk = constantTimeEqual(cbind, utf8(p.gs2Header));
    const nonceOk = r.slice(2) === p.nonce;
    if (!(proofOk && cbindOk && nonceOk && p.known)) return fail("not-authorized");
    if (!authzidAllowed(p.authzid, p.username, this.ctx)) return fail("invalid-authzid");
    const serverSignature = hmac(this.hash, p.keys.serverKey, authMessage);
    return {
      type: "success",
      data: utf8(`v=${toBase64(serverSignature)}`),
      username: p.username,
    };
  }

  #fakeKeys(username: string): Keys {
    const secret = this.options.fakeSecret ?? processSecret;
    const mix = (label: string) => hmac("SHA-256", secret, `${label}\0${this.hash}\0${username}`);
    return {
      salt: toBase64(mix("salt").subarray(0, SALT_BYTES)),
      iterations: this.options.fakeIterations ?? DEFAULT_ITERATIONS,
      storedKey: mix("stored").subarray(0, HASH_BYTES[this.hash]),
      serverKey: mix("server").subarray(0, HASH_BYTES[this.hash]),
    };
  }
}

function realKeys(c: ScramCredential): Keys | null {
  const storedKey = decodeBase64Payload(c.storedKey);
  const serverKey = decodeBase64Payload(c.serverKey);
  if (storedKey === null || serverKey === null || decodeBase64Payload(c.salt) === null) return null;
  return { salt: c.salt, iterations: c.iterations, storedKey, serverKey };
}

/** saslname (RFC 5802 §7): "=2C" is ',' and "=3D" is '='; any other '=' is an error. */
export function decodeSaslname(s: string): string | null {
  if (!s.includes("=")) return s;
  if (SASLNAME_BAD_ESCAPE.test(s)) return null;
  return s.replaceAll("=2C", ",").replaceAll("=3D", "=");
}

/** The inverse of {@link decodeSaslname}. */
export function encodeSaslname(s: string): string {
  return s.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

function randomNonce(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(SERVER_NONCE_BYTES)));
}

/**
 * SaltedPassword for a password and stored salt (RFC 5802 §3), or null when the password is not
 * acceptable. Shared by PLAIN and the SCRAM client.
 */
export async function saltedPassword(
  hash: ScramHash,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array | null> {
  const prepared = preparePassword(password);
  return prepared === null ? null : await pbkdf2(hash, prepared, salt, iterations);
}
