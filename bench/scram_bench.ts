/**
 * SCRAM costs: credential derivation (what registration and password change pay) and one whole
 * server-side exchange (what every login pays, minus the account lookup).
 *
 *   deno bench --allow-all bench/scram_bench.ts
 */
import type { AccountCredentials } from "../db/types.ts";
import {
  deriveAccountCredentials,
  deriveCredential,
  type SaslContext,
  scramClientFinal,
  scramClientFirst,
  type ScramHash,
  scramMechanism,
} from "../protocol/sasl/mod.ts";

const te = new TextEncoder();
const credentials: AccountCredentials = await deriveAccountCredentials("pencil");
const ctx: SaslContext = {
  secure: true,
  lookup: (u) => Promise.resolve(u === "user" ? credentials : null),
};

// A pinned server nonce makes the client's messages valid for every run, so the bench measures the
// server alone, without the client's PBKDF2.
async function scripted(hash: ScramHash, user: string) {
  const mech = scramMechanism(hash, { serverNonce: () => "pinned-server-nonce" });
  const client = scramClientFirst(user, hash, { nonce: "pinned-client-nonce" });
  const first = await mech.create(ctx).step(te.encode(client.message));
  const serverFirst = new TextDecoder().decode((first as { data: Uint8Array }).data);
  const final = await scramClientFinal(client, serverFirst, "pencil");
  return { mech, first: te.encode(client.message), final: te.encode(final) };
}

for (const hash of ["SHA-1", "SHA-256"] as const) {
  Deno.bench(`deriveCredential ${hash}, 4096 iterations`, { group: "derive" }, async () => {
    await deriveCredential("pencil", hash);
  });
}
Deno.bench("deriveAccountCredentials (both hashes)", { group: "derive" }, async () => {
  await deriveAccountCredentials("pencil");
});

for (const hash of ["SHA-1", "SHA-256"] as const) {
  const known = await scripted(hash, "user");
  Deno.bench(`server SCRAM-${hash} exchange, success`, { group: "exchange" }, async () => {
    const s = known.mech.create(ctx);
    await s.step(known.first);
    const r = await s.step(known.final);
    if (r.type !== "success") throw new Error(JSON.stringify(r));
  });
  const unknown = await scripted(hash, "nobody");
  Deno.bench(`server SCRAM-${hash} exchange, unknown user`, { group: "exchange" }, async () => {
    const s = unknown.mech.create(ctx);
    await s.step(unknown.first);
    const r = await s.step(unknown.final);
    if (r.type !== "failure") throw new Error(JSON.stringify(r));
  });
}
