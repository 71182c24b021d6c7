import assert from "node:assert/strict";
import type { AccountCredentials } from "../../db/types.ts";
import {
  decodeBase64Payload,
  deriveAccountCredentials,
  deriveCredential,
  encodeBase64Payload,
  PLAIN,
  type SaslContext,
  type SaslMechanismFactory,
  type SaslStep,
  SCRAM_SHA_1,
  SCRAM_SHA_256,
  scramClientFinal,
  scramClientFirst,
  scramMechanism,
  scramVerifyServerFinal,
} from "./mod.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const b64 = (s: string) => decodeBase64Payload(s)!;
const bytes = (s: string) => te.encode(s);
const text = (step: SaslStep) => {
  assert.notEqual(step.type, "failure", JSON.stringify(step));
  return td.decode((step as { data?: Uint8Array }).data ?? new Uint8Array());
};

// RFC 5802 §5 and RFC 7677 §3: both accounts are "user" with password "pencil".
const RFC5802_SALT = "QSXCR+Q6sek8bf92";
const RFC7677_SALT = "W22ZaJ0SNY7soEsUEjb6gQ==";
const pencil: AccountCredentials = {
  "SHA-1": await deriveCredential("pencil", "SHA-1", 4096, b64(RFC5802_SALT)),
  "SHA-256": await deriveCredential("pencil", "SHA-256", 4096, b64(RFC7677_SALT)),
};

function context(overrides: Partial<SaslContext> = {}): SaslContext & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    secure: true,
    lookup: (username) => {
      lookups.push(username);
      return Promise.resolve(username === "user" ? pencil : null);
    },
    ...overrides,
  };
}

const sha1Rfc = scramMechanism("SHA-1", { serverNonce: () => "3rfcNHYJY1ZVvWVs7j" });
const sha256Rfc = scramMechanism("SHA-256", {
  serverNonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
});

Deno.test("SCRAM-SHA-1 reproduces the RFC 5802 §5 exchange byte for byte", async () => {
  const s = sha1Rfc.create(context());
  const first = await s.step(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
  assert.equal(first.type, "challenge");
  assert.equal(
    text(first),
    `r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=${RFC5802_SALT},i=4096`,
  );
  const final = await s.step(
    bytes("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
  );
  assert.equal(final.type, "success");
  assert.equal(text(final), "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
  assert.equal((final as { username: string }).username, "user");
});

Deno.test("SCRAM-SHA-256 reproduces the RFC 7677 §3 exchange byte for byte", async () => {
  const s = sha256Rfc.create(context());
  const first = await s.step(bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  assert.equal(
    text(first),
    `r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=${RFC7677_SALT},i=4096`,
  );
  const final = await s.step(bytes(
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  ));
  assert.equal(final.type, "success");
  assert.equal(text(final), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
});

Deno.test("the exported SCRAM client reproduces the RFC 5802 and RFC 7677 client messages", async () => {
  const c1 = scramClientFirst("user", "SHA-1", { nonce: "fyko+d2lbbFgONRv9qkxdawL" });
  assert.equal(c1.message, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  const f1 = await scramClientFinal(
    c1,
    `r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=${RFC5802_SALT},i=4096`,
    "pencil",
  );
  assert.equal(
    f1,
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  );
  assert.ok(scramVerifyServerFinal(c1, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
  assert.ok(!scramVerifyServerFinal(c1, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="));

  const c256 = scramClientFirst("user", "SHA-256", { nonce: "rOprNGfwEbeRWgbNEkqO" });
  const f256 = await scramClientFinal(
    c256,
    `r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=${RFC7677_SALT},i=4096`,
    "pencil",
  );
  assert.ok(f256.endsWith(",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
  assert.ok(scramVerifyServerFinal(c256, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
});

async function login(
  mech: SaslMechanismFactory,
  hash: "SHA-1" | "SHA-256",
  user: string,
  password: string,
  ctx: SaslContext = context(),
  options: { authzid?: string } = {},
): Promise<{ first: SaslStep; final: SaslStep; serverOk: boolean }> {
  const s = mech.create(ctx);
  const client = scramClientFirst(user, hash, options);
  const first = await s.step(bytes(client.message));
  const final = await s.step(bytes(await scramClientFinal(client, text(first), password)));
  const serverOk = final.type === "success" && scramVerifyServerFinal(client, text(final));
  return { first, final, serverOk };
}

Deno.test("SCRAM client and server agree with random nonces, and the client checks v=", async () => {
  for (const [mech, hash] of [[SCRAM_SHA_1, "SHA-1"], [SCRAM_SHA_256, "SHA-256"]] as const) {
    const { final, serverOk } = await login(mech, hash, "user", "pencil");
    assert.equal(final.type, "success");
    assert.ok(serverOk);
  }
});

Deno.test("SCRAM server nonces are random, at least 18 bytes, and extend the client's", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const step = await SCRAM_SHA_256.create(context()).step(bytes("n,,n=user,r=abc"));
    const nonce = text(step).split(",")[0]!.slice(2);
    assert.ok(nonce.startsWith("abc"));
    assert.ok(b64(nonce.slice(3)).byteLength >= 18);
    seen.add(nonce);
  }
  assert.equal(seen.size, 3);
});

Deno.test("SCRAM with a wrong password fails with not-authorized", async () => {
  const { final } = await login(SCRAM_SHA_256, "SHA-256", "user", "pencil!");
  assert.deepEqual(final, { type: "failure", condition: "not-authorized" });
});

Deno.test("SCRAM for an unknown user looks like a wrong password, with a stable fake salt", async () => {
  const known = await login(SCRAM_SHA_256, "SHA-256", "user", "wrong");
  const unknown = await login(SCRAM_SHA_256, "SHA-256", "nobody", "wrong");
  const again = await login(SCRAM_SHA_256, "SHA-256", "nobody", "other");
  assert.deepEqual(unknown.final, known.final);
  const shape = (s: SaslStep) =>
    text(s).replace(/^r=[^,]+,s=([^,]+),i=(\d+)$/, (_, salt, i) => `${b64(salt).length}:${i}`);
  assert.equal(shape(unknown.first), shape(known.first));
  assert.equal(shape(unknown.first), "16:4096");
  const salt = (s: SaslStep) => text(s).split(",")[1];
  assert.equal(salt(unknown.first), salt(again.first));
  assert.notEqual(salt(unknown.first), salt(known.first));
});

Deno.test("SCRAM with the right password for an unknown user still fails", async () => {
  // Even a client that guesses the fake keys' password cannot log in.
  const { final } = await login(SCRAM_SHA_1, "SHA-1", "ghost", "pencil");
  assert.deepEqual(final, { type: "failure", condition: "not-authorized" });
});

Deno.test("SCRAM normalises the username before lookup and reports it", async () => {
  const ctx = context();
  const { final } = await login(SCRAM_SHA_256, "SHA-256", "USER", "pencil", ctx);
  assert.equal(final.type, "success");
  assert.equal((final as { username: string }).username, "user");
  assert.deepEqual(ctx.lookups, ["user"]);
});

Deno.test("SCRAM does not look up a username that cannot be a localpart", async () => {
  const ctx = context();
  const { final } = await login(SCRAM_SHA_256, "SHA-256", "a b", "pencil", ctx);
  assert.deepEqual(final, { type: "failure", condition: "not-authorized" });
  assert.deepEqual(ctx.lookups, []);
});

Deno.test("SCRAM decodes =2C and =3D in the username and rejects other = escapes", async () => {
  const ctx = context();
  await SCRAM_SHA_1.create(ctx).step(bytes("n,,n=a=3Db=2Cc,r=x"));
  assert.deepEqual(ctx.lookups, ["a=b,c"]);
  const bad = await SCRAM_SHA_1.create(context()).step(bytes("n,,n=a=2Xb,r=x"));
  assert.equal(bad.type === "failure" && bad.condition, "malformed-request");
});

Deno.test("SCRAM accepts an authzid naming the user and refuses another with invalid-authzid", async () => {
  const ctx = context({ domain: "example.com" });
  for (const authzid of ["user", "user@example.com", "USER@Example.COM"]) {
    const { final } = await login(SCRAM_SHA_256, "SHA-256", "user", "pencil", ctx, { authzid });
    assert.equal(final.type, "success", authzid);
  }
  for (const authzid of ["admin@example.com", "user@other.example", "user@example.com/r"]) {
    const { final } = await login(SCRAM_SHA_256, "SHA-256", "user", "pencil", ctx, { authzid });
    assert.deepEqual(final, { type: "failure", condition: "invalid-authzid" }, authzid);
  }
});

Deno.test("SCRAM reports invalid-authzid only after the proof checks out", async () => {
  const { final } = await login(SCRAM_SHA_256, "SHA-256", "user", "nope", context(), {
    authzid: "admin",
  });
  assert.deepEqual(final, { type: "failure", condition: "not-authorized" });
});

async function firstStep(msg: string, mech = SCRAM_SHA_1): Promise<SaslStep> {
  return await mech.create(context()).step(bytes(msg));
}

Deno.test("SCRAM rejects bad GS2 headers with malformed-request", async () => {
  for (
    const msg of [
      "n=user,r=abc",
      "x,,n=user,r=abc",
      "n,b=user,n=user,r=abc",
      "n,a=,n=user,r=abc",
      "n",
      "",
    ]
  ) {
    const step = await firstStep(msg);
    assert.equal(step.type === "failure" && step.condition, "malformed-request", msg);
  }
});

Deno.test("SCRAM refuses channel binding (p=) since no -PLUS mechanism is offered", async () => {
  const step = await firstStep("p=tls-exporter,,n=user,r=abc");
  assert.equal(step.type, "failure");
  assert.match((step as { text?: string }).text ?? "", /channel binding/);
});

Deno.test("SCRAM accepts the y GS2 flag but then requires c=eSws", async () => {
  const s = sha1Rfc.create(context());
  const first = await s.step(bytes("y,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
  // The RFC 5802 proof was made for c=biws; a client that said "y" must echo "y,,".
  const final = await s.step(
    bytes("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
  );
  assert.equal(first.type, "challenge");
  assert.deepEqual(final, { type: "failure", condition: "not-authorized" });
});

Deno.test("SCRAM with the y flag and a matching client completes", async () => {
  const s = SCRAM_SHA_256.create(context());
  const client = scramClientFirst("user", "SHA-256");
  const yClient = { ...client, gs2Header: "y,,", message: "y,," + client.clientFirstBare };
  const first = await s.step(bytes(yClient.message));
  const finalMsg = await scramClientFinal(yClient, text(first), "pencil");
  assert.ok(finalMsg.startsWith("c=eSws,"));
  const final = await s.step(bytes(finalMsg));
  assert.equal(final.type, "success");
});

Deno.test("SCRAM refuses the mandatory extension m=", async () => {
  const step = await firstStep("n,,m=ext,n=user,r=abc");
  assert.equal(step.type === "failure" && step.condition, "malformed-request");
});

Deno.test("SCRAM fails when the client-final nonce does not match the server's", async () => {
  const s = sha1Rfc.create(context());
  await s.step(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
  const final = await s.step(
    bytes("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
  );
  assert.deepEqual(final, { type: "failure", condition: "not-authorized" });
});

Deno.test("SCRAM rejects a client nonce with a comma or non-printable characters", async () => {
  for (const msg of ["n,,n=user,r=", "n,,n=user,r=a b", "n,,n=user,r=\u00e9"]) {
    const step = await firstStep(msg);
    assert.equal(step.type === "failure" && step.condition, "malformed-request", msg);
  }
});

Deno.test("SCRAM rejects a client-final without a well-formed proof", async () => {
  for (
    const msg of [
      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAA",
      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=!!!",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    ]
  ) {
    const s = sha1Rfc.create(context());
    await s.step(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
    const final = await s.step(bytes(msg));
    assert.equal(final.type === "failure" && final.condition, "malformed-request", msg);
  }
});

Deno.test("SCRAM rejects invalid UTF-8 in a client message", async () => {
  const step = await SCRAM_SHA_1.create(context()).step(new Uint8Array([0x6e, 0x2c, 0x2c, 0xff]));
  assert.equal(step.type === "failure" && step.condition, "malformed-request");
});

Deno.test("SCRAM without an initial response sends an empty challenge first", async () => {
  const s = sha1Rfc.create(context());
  const empty = await s.step(null);
  assert.deepEqual(empty, { type: "challenge", data: new Uint8Array() });
  const first = await s.step(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
  assert.equal(first.type, "challenge");
  assert.ok(text(first).startsWith("r=fyko"));
});

Deno.test("SCRAM answers a failed lookup with temporary-auth-failure", async () => {
  const ctx = context({ lookup: () => Promise.reject(new Error("db down")) });
  const step = await SCRAM_SHA_256.create(ctx).step(bytes("n,,n=user,r=abc"));
  assert.equal(step.type === "failure" && step.condition, "temporary-auth-failure");
});

Deno.test("a SCRAM session refuses further steps once it is over", async () => {
  const s = SCRAM_SHA_1.create(context());
  await s.step(bytes("x"));
  const again = await s.step(bytes("n,,n=user,r=abc"));
  assert.equal(again.type === "failure" && again.condition, "malformed-request");
});

Deno.test("decodeBase64Payload reads '=' as empty and refuses invalid base64", () => {
  assert.deepEqual(decodeBase64Payload("="), new Uint8Array());
  assert.deepEqual(decodeBase64Payload("biws"), bytes("n,,"));
  assert.deepEqual(decodeBase64Payload("eSws"), bytes("y,,"));
  for (const bad of ["biw", "bi ws", "biws\n", "b!ws", "==", "bi=s", "biws="]) {
    assert.equal(decodeBase64Payload(bad), null, bad);
  }
  assert.equal(encodeBase64Payload(new Uint8Array()), "=");
  assert.equal(encodeBase64Payload("n,,"), "biws");
});

Deno.test("deriveCredential refuses fewer than 4096 iterations and unusable passwords", async () => {
  await assert.rejects(deriveCredential("pencil", "SHA-1", 1000), RangeError);
  await assert.rejects(deriveCredential("", "SHA-1"), RangeError);
  await assert.rejects(deriveCredential("a\u0000b", "SHA-256"), RangeError);
});

Deno.test("deriveAccountCredentials gives both hashes with fresh salts", async () => {
  const a = await deriveAccountCredentials("pencil");
  const b = await deriveAccountCredentials("pencil");
  assert.equal(b64(a["SHA-1"].storedKey).length, 20);
  assert.equal(b64(a["SHA-256"].storedKey).length, 32);
  assert.equal(a["SHA-256"].iterations, 4096);
  assert.notEqual(a["SHA-1"].salt, b["SHA-1"].salt);
  assert.notEqual(a["SHA-1"].salt, a["SHA-256"].salt);
});

Deno.test("passwords are prepared with OpaqueString: non-ASCII spaces and NFC forms match", async () => {
  const salt = b64(RFC7677_SALT);
  const composed = await deriveCredential("caf\u00e9 pass", "SHA-256", 4096, salt);
  const decomposed = await deriveCredential("cafe\u0301\u00a0pass", "SHA-256", 4096, salt);
  assert.equal(composed.storedKey, decomposed.storedKey);
});

function plain(authzid: string, authcid: string, password: string): Uint8Array {
  return bytes(`${authzid}\0${authcid}\0${password}`);
}

Deno.test("PLAIN logs in with the right password over TLS", async () => {
  const step = await PLAIN.create(context()).step(plain("", "User", "pencil"));
  assert.deepEqual(step, { type: "success", username: "user" });
  assert.equal(PLAIN.requiresTls, true);
});

Deno.test("PLAIN is refused with encryption-required when the stream is not secure", async () => {
  const step = await PLAIN.create(context({ secure: false })).step(plain("", "user", "pencil"));
  assert.equal(step.type === "failure" && step.condition, "encryption-required");
});

Deno.test("PLAIN fails wrong passwords and unknown users alike", async () => {
  const wrong = await PLAIN.create(context()).step(plain("", "user", "pencil2"));
  const unknown = await PLAIN.create(context()).step(plain("", "nobody", "pencil"));
  assert.deepEqual(wrong, { type: "failure", condition: "not-authorized" });
  assert.deepEqual(unknown, wrong);
});

Deno.test("PLAIN accepts an empty or matching authzid and refuses another", async () => {
  const ctx = context({ domain: "example.com" });
  assert.equal(
    (await PLAIN.create(ctx).step(plain("user@example.com", "user", "pencil"))).type,
    "success",
  );
  const other = await PLAIN.create(ctx).step(plain("admin@example.com", "user", "pencil"));
  assert.equal(other.type === "failure" && other.condition, "invalid-authzid");
});

Deno.test("PLAIN rejects malformed messages", async () => {
  for (
    const msg of [
      bytes("user\0pencil"),
      plain("", "", "pencil"),
      plain("", "user", ""),
      bytes("a\0b\0c\0d"),
    ]
  ) {
    const step = await PLAIN.create(context()).step(msg);
    assert.equal(step.type === "failure" && step.condition, "malformed-request");
  }
});

Deno.test("PLAIN falls back to the SHA-1 credential when there is no SHA-256 one", async () => {
  const ctx = context({
    lookup: () => Promise.resolve({ "SHA-1": pencil["SHA-1"] } as unknown as AccountCredentials),
  });
  const step = await PLAIN.create(ctx).step(plain("", "user", "pencil"));
  assert.equal(step.type, "success");
});

Deno.test("PLAIN without an initial response sends an empty challenge first", async () => {
  const s = PLAIN.create(context());
  assert.deepEqual(await s.step(null), { type: "challenge", data: new Uint8Array() });
  assert.equal((await s.step(plain("", "user", "pencil"))).type, "success");
});
