/**
 * PLAIN (RFC 4616), only over TLS. The password is checked against the stored SCRAM credential
 * (SCRAM-SHA-256, else SCRAM-SHA-1) by recomputing StoredKey, so no plaintext is ever stored.
 */
import { normalizeLocalpart } from "../../jid/mod.ts";
import type { SaslContext, SaslMechanismFactory, SaslSession, SaslStep } from "./mechanism.ts";
import { saltedPassword, scramKeys } from "./scram.ts";
import {
  authzidAllowed,
  constantTimeEqual,
  decodeBase64Payload,
  decodeUtf8,
  EMPTY,
  fail,
  hmac,
  type ScramHash,
} from "./util.ts";

const fakeSecret = crypto.getRandomValues(new Uint8Array(32));

class PlainSession implements SaslSession {
  #state: "start" | "asked" | "done" = "start";

  constructor(readonly ctx: SaslContext) {}

  async step(data: Uint8Array | null): Promise<SaslStep> {
    if (this.#state === "done") return fail("malformed-request", "the exchange is over");
    if (!this.ctx.secure) {
      this.#state = "done";
      return fail("encryption-required", "PLAIN needs an encrypted stream");
    }
    if (data === null) {
      if (this.#state === "start") {
        this.#state = "asked";
        return { type: "challenge", data: EMPTY };
      }
      this.#state = "done";
      return fail("malformed-request", "no PLAIN message");
    }
    this.#state = "done";
    return await this.#verify(data);
  }

  async #verify(data: Uint8Array): Promise<SaslStep> {
    const msg = decodeUtf8(data);
    if (msg === null) return fail("malformed-request", "not UTF-8");
    // message = [authzid] NUL authcid NUL passwd
    const fields = msg.split("\0");
    if (fields.length !== 3) return fail("malformed-request", "PLAIN needs exactly two NULs");
    const [authzid, authcid, password] = fields as [string, string, string];
    if (authcid === "" || password === "") {
      return fail("malformed-request", "empty authcid or password");
    }
    let username: string | null = null;
    try {
      username = normalizeLocalpart(authcid);
    } catch {
      // No account can have this name; carry on as for an unknown user.
    }
    const creds = username === null ? null : await this.#lookup(username);
    if (creds === "error") return fail("temporary-auth-failure");
    const hash: ScramHash = creds && !creds["SHA-256"] ? "SHA-1" : "SHA-256";
    const credential = creds?.[hash];
    let salt: Uint8Array | null;
    let storedKey: Uint8Array | null = EMPTY;
    let iterations = 4096;
    if (credential) {
      salt = decodeBase64Payload(credential.salt);
      storedKey = decodeBase64Payload(credential.storedKey);
      iterations = credential.iterations;
      if (salt === null || storedKey === null) {
        return fail("temporary-auth-failure", "stored credentials are damaged");
      }
    } else {
      // Spend the same PBKDF2 time on unknown users as on known ones.
      salt = hmac("SHA-256", fakeSecret, authcid).subarray(0, 16);
    }
    const salted = await saltedPassword(hash, password, salt, iterations);
    if (salted === null) return fail("not-authorized");
    const ok = constantTimeEqual(scramKeys(hash, salted).storedKey, storedKey);
    if (!ok || !credential || username === null) return fail("not-authorized");
    if (!authzidAllowed(authzid, username, this.ctx)) return fail("invalid-authzid");
    return { type: "success", username };
  }

  async #lookup(username: string) {
    try {
      return await this.ctx.lookup(username);
    } catch {
      return "error" as const;
    }
  }
}

/** PLAIN (RFC 4616); offered and accepted only on an encrypted stream. */
export const PLAIN: SaslMechanismFactory = {
  name: "PLAIN",
  requiresTls: true,
  create: (ctx) => new PlainSession(ctx),
};
