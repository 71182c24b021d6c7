/**
 * Client side of SASL PLAIN and SCRAM-SHA-1 (RFC 5802), enough for a load client.
 * Kept local to the bench so the harness does not depend on Parley's own SASL code while that code
 * is being written, and so a bug there cannot hide behind a matching bug here.
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";

export type Mechanism = "PLAIN" | "SCRAM-SHA-1";

export interface SaslStep {
  /** base64 payload for the next <auth>/<response>, or undefined when finished */
  initial: string;
  /** handle a base64 challenge, return base64 response */
  challenge(data: string): Promise<string>;
  /** verify the base64 additional data of <success/> */
  verifySuccess(data: string): boolean;
}

const b64 = (s: string | Uint8Array) =>
  (typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s)).toString("base64");

export function plain(user: string, password: string): SaslStep {
  return {
    initial: b64(`\0${user}\0${password}`),
    challenge: () => Promise.reject(new Error("PLAIN got a challenge")),
    verifySuccess: () => true,
  };
}

// A real client stores the salted password after the first login; caching it keeps PBKDF2 (which
// is the server's cost to measure, not ours) out of the load generator's CPU budget.
const saltedCache = new Map<string, Buffer>();

function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const key = `${password}\0${salt.toString("base64")}\0${iterations}`;
  const hit = saltedCache.get(key);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, 20, "sha1", (err, out) => {
      if (err) return reject(err);
      if (saltedCache.size > 100_000) saltedCache.clear();
      saltedCache.set(key, out);
      resolve(out);
    })
  );
}

const hmac = (key: Buffer, data: string) => createHmac("sha1", key).update(data).digest();

function saslName(s: string): string {
  return s.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

export function scramSha1(user: string, password: string): SaslStep {
  const nonce = randomBytes(18).toString("base64");
  const clientFirstBare = `n=${saslName(user)},r=${nonce}`;
  let serverSignature: Buffer | undefined;
  return {
    initial: b64(`n,,${clientFirstBare}`),
    async challenge(data) {
      const serverFirst = Buffer.from(data, "base64").toString("utf8");
      const fields = new Map<string, string>();
      for (const part of serverFirst.split(",")) fields.set(part[0]!, part.slice(2));
      const r = fields.get("r"), s = fields.get("s"), i = Number(fields.get("i"));
      if (!r || !s || !r.startsWith(nonce) || !(i > 0)) {
        throw new Error(`bad SCRAM server-first: ${serverFirst}`);
      }
      const salted = await saltedPassword(password, Buffer.from(s, "base64"), i);
      const clientKey = hmac(salted, "Client Key");
      const storedKey = createHash("sha1").update(clientKey).digest();
      const finalNoProof = `c=biws,r=${r}`;
      const authMessage = `${clientFirstBare},${serverFirst},${finalNoProof}`;
      const signature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let k = 0; k < proof.length; k++) proof[k] = clientKey[k]! ^ signature[k]!;
      serverSignature = hmac(hmac(salted, "Server Key"), authMessage);
      return b64(`${finalNoProof},p=${proof.toString("base64")}`);
    },
    verifySuccess(data) {
      if (!serverSignature) return false;
      const text = Buffer.from(data, "base64").toString("utf8");
      return text === `v=${serverSignature.toString("base64")}`;
    },
  };
}
