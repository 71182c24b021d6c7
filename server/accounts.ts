/**
 * Account administration shared by in-band registration and `deno task ctl`: names are
 * normalised as JID localparts, passwords become SCRAM credentials and are never stored.
 */
import { jid, JidError } from "../jid/mod.ts";
import { deriveAccountCredentials } from "../protocol/sasl/scram.ts";
import type { Database } from "../db/types.ts";

export type AccountResult =
  | { ok: true; jid: string }
  | { ok: false; reason: "exists" | "invalid-username" | "invalid-password" | "not-found" };

export const MIN_PASSWORD_LENGTH = 4;

/** "alice" or "alice@domain" -> normalised bare JID on this domain, or null. */
export function accountJid(user: string, domain: string): string | null {
  const at = user.lastIndexOf("@");
  const local = at >= 0 ? user.slice(0, at) : user;
  const host = at >= 0 ? user.slice(at + 1) : domain;
  try {
    const j = jid(local, host);
    return j.domain === domain && j.local !== "" ? j.bare : null;
  } catch (e) {
    if (e instanceof JidError) return null;
    throw e;
  }
}

function passwordOk(password: string): boolean {
  // Control characters are refused: they cannot be typed and break some clients' storage.
  // deno-lint-ignore no-control-regex
  return password.length >= MIN_PASSWORD_LENGTH && !/[\u0000-\u001f\u007f]/.test(password);
}

/** A valid name and password, turned into the account's JID and SCRAM credentials. */
async function prepare(
  domain: string,
  user: string,
  password: string,
): Promise<
  | { bare: string; credentials: Awaited<ReturnType<typeof deriveAccountCredentials>> }
  | { ok: false; reason: "invalid-username" | "invalid-password" }
> {
  const bare = accountJid(user, domain);
  if (!bare) return { ok: false, reason: "invalid-username" };
  if (!passwordOk(password)) return { ok: false, reason: "invalid-password" };
  return { bare, credentials: await deriveAccountCredentials(password) };
}

export async function createAccount(
  db: Database,
  domain: string,
  user: string,
  password: string,
): Promise<AccountResult> {
  const p = await prepare(domain, user, password);
  if (!("bare" in p)) return p;
  return (await db.accounts.create(p.bare, p.credentials))
    ? { ok: true, jid: p.bare }
    : { ok: false, reason: "exists" };
}

export async function changePassword(
  db: Database,
  domain: string,
  user: string,
  password: string,
): Promise<AccountResult> {
  const p = await prepare(domain, user, password);
  if (!("bare" in p)) return p;
  return (await db.accounts.setCredentials(p.bare, p.credentials))
    ? { ok: true, jid: p.bare }
    : { ok: false, reason: "not-found" };
}

export async function deleteAccount(
  db: Database,
  domain: string,
  user: string,
): Promise<AccountResult> {
  const bare = accountJid(user, domain);
  if (!bare) return { ok: false, reason: "invalid-username" };
  return (await db.accounts.delete(bare))
    ? { ok: true, jid: bare }
    : { ok: false, reason: "not-found" };
}
