/**
 * HTTP Basic login for admin pages against Parley accounts. The password is checked with SASL
 * PLAIN's verifier (recomputing StoredKey from the stored SCRAM credential, so no plaintext is
 * stored or compared), and only accounts listed as admins may log in. Verified logins are cached
 * briefly, so a page's requests do not each cost a PBKDF2 derivation.
 */
import { PLAIN } from "../protocol/sasl/plain.ts";
import type { Database } from "../db/types.ts";

export interface BasicAuthOptions {
  db: Database;
  domain: string;
  /** localparts or bare JIDs at `domain` */
  admins: string[];
  realm: string;
  cacheMs?: number;
}

export type Guard = (req: Request) => Promise<Response | null>;

/** Returns a guard: null lets the request through, a Response (401/403) answers it. */
export function basicAuth(opts: BasicAuthOptions): Guard {
  const admins = new Set(
    opts.admins.map((a) => (a.includes("@") ? a.split("@")[0]! : a).toLowerCase()),
  );
  const cache = new Map<string, number>();
  const cacheMs = opts.cacheMs ?? 60_000;
  const challenge = () =>
    new Response("login required\n", {
      status: 401,
      headers: { "www-authenticate": `Basic realm="${opts.realm}", charset="UTF-8"` },
    });
  return async (req) => {
    const header = req.headers.get("authorization") ?? "";
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (!m) return challenge();
    const until = cache.get(m[1]!);
    if (until !== undefined && until > Date.now()) return null;
    let user: string;
    let password: string;
    try {
      const decoded = new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(atob(m[1]!), (c) => c.charCodeAt(0)),
      );
      const i = decoded.indexOf(":");
      if (i < 0) return challenge();
      user = decoded.slice(0, i);
      password = decoded.slice(i + 1);
    } catch {
      return challenge();
    }
    const local = user.includes("@") ? user.split("@")[0]! : user;
    if (user.includes("@") && user.split("@")[1]!.toLowerCase() !== opts.domain) return challenge();
    const session = PLAIN.create({
      secure: true,
      domain: opts.domain,
      lookup: async (username) =>
        (await opts.db.accounts.get(`${username}@${opts.domain}`))?.credentials ?? null,
    });
    const step = await session.step(new TextEncoder().encode(`\0${local}\0${password}`));
    if (step.type !== "success") return challenge();
    if (!admins.has(step.username)) return new Response("forbidden\n", { status: 403 });
    if (cache.size > 1000) cache.clear();
    cache.set(m[1]!, Date.now() + cacheMs);
    return null;
  };
}

/** 127.0.0.0/8, ::1 and "localhost": the addresses that need no login. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
