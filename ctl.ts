/**
 * `deno task ctl`: account administration from the command line. It reads the same configuration
 * as the server (parley.toml, PARLEY_CONFIG, PARLEY_* variables) and so opens the same database.
 * The embedded database admits one process at a time: while the server runs on it, ctl refuses
 * (exit 3) instead of writing beside it.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type ParleyConfig } from "./config/mod.ts";
import { openDatabase } from "./db/mod.ts";
import type { Database } from "./db/types.ts";
import { acquireDataDirLock, DataDirLockedError } from "./db/lock.ts";
import {
  accountJid,
  type AccountResult,
  changePassword,
  createAccount,
  deleteAccount,
  MIN_PASSWORD_LENGTH,
} from "./server/accounts.ts";
import { PasswordInputError, promptPassword } from "./ctl/password.ts";

/** Exit codes, for scripts. */
export const EXIT = {
  ok: 0,
  /** the command could not be done: the account exists, does not exist, bad name or password */
  failed: 1,
  /** bad command line or configuration */
  usage: 2,
  /** the embedded database is in use by another process (the server) */
  locked: 3,
} as const;

const USAGE = `Usage: deno task ctl <command> [arguments]

Commands:
  adduser USER@DOMAIN [--password P]   create an account
  passwd USER@DOMAIN [--password P]    set an account's password
  deluser USER@DOMAIN                  delete an account and everything stored for it
  users                                list the accounts, one per line

Without --password, the password is asked for on the terminal (not echoed), or read as one line
from stdin when stdin is not a terminal:  echo 'secret' | deno task ctl adduser bob@localhost
(--password shows the password to other users of the machine in the process list.)

The configuration is the server's: ./parley.toml or PARLEY_CONFIG, then PARLEY_* variables
(PARLEY_DATA_DIR, PARLEY_DATABASE_URL, PARLEY_DOMAIN, ...). With the embedded database, stop the
server first: only one process can open it.

Exit status: 0 done, 1 refused (exists, not found, invalid), 2 usage or configuration error,
3 data directory in use.`;

class UsageError extends Error {}

interface Command {
  name: "adduser" | "passwd" | "deluser" | "users" | "help";
  user?: string;
  password?: string;
}

function parseCommand(args: string[]): Command {
  const { values, positionals } = parseArgs({
    args,
    options: {
      password: { type: "string", short: "p" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  const [name, ...rest] = positionals;
  if (values.help || name === "help" || name === undefined) return { name: "help" };
  const takesUser = name === "adduser" || name === "passwd" || name === "deluser";
  if (!takesUser && name !== "users") throw new UsageError(`unknown command "${name}"`);
  const want = takesUser ? 1 : 0;
  if (rest.length !== want) {
    throw new UsageError(
      takesUser ? `${name} takes one USER@DOMAIN` : `${name} takes no arguments`,
    );
  }
  if (values.password !== undefined && name !== "adduser" && name !== "passwd") {
    throw new UsageError(`${name} takes no --password`);
  }
  return { name, user: rest[0], password: values.password };
}

function explain(r: Exclude<AccountResult, { ok: true }>, user: string, domain: string): string {
  switch (r.reason) {
    case "exists":
      return `${user}: the account already exists`;
    case "not-found":
      return `${user}: no such account`;
    case "invalid-username":
      return `${user}: not a valid account on this server's domain (${domain}); ` +
        `give USER@${domain}`;
    case "invalid-password":
      return `the password must be at least ${MIN_PASSWORD_LENGTH} characters, ` +
        `without control characters`;
  }
}

async function run(cmd: Command, config: ParleyConfig, db: Database): Promise<number> {
  const domain = config.domain;
  if (cmd.name === "users") {
    const users = (await db.accounts.list()).sort();
    if (users.length) console.log(users.join("\n"));
    return EXIT.ok;
  }
  const user = cmd.user!;
  let result: AccountResult;
  if (cmd.name === "deluser") {
    result = await deleteAccount(db, domain, user);
  } else {
    const password = cmd.password!;
    result = cmd.name === "adduser"
      ? await createAccount(db, domain, user, password)
      : await changePassword(db, domain, user, password);
  }
  if (!result.ok) {
    console.error(`parley ctl: ${explain(result, user, domain)}`);
    return EXIT.failed;
  }
  const done = { adduser: "created", passwd: "password changed for", deluser: "deleted" }[
    cmd.name as "adduser" | "passwd" | "deluser"
  ];
  console.log(`${done} ${result.jid}`);
  return EXIT.ok;
}

export async function main(args: string[]): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(args);
  } catch (e) {
    console.error(`parley ctl: ${(e as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (cmd.name === "help") {
    console.log(USAGE);
    return EXIT.ok;
  }
  let config: ParleyConfig;
  try {
    config = await loadConfig();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`parley ctl: ${e.message}`);
    return EXIT.usage;
  }
  // Names are checked before the (slow) database is opened and before a password is asked for.
  if (cmd.user !== undefined && accountJid(cmd.user, config.domain) === null) {
    const reason = { ok: false, reason: "invalid-username" } as const;
    console.error(`parley ctl: ${explain(reason, cmd.user, config.domain)}`);
    return EXIT.failed;
  }
  // The password is asked for before the lock is taken, so a server is not kept waiting on a
  // person typing.
  if ((cmd.name === "adduser" || cmd.name === "passwd") && cmd.password === undefined) {
    try {
      cmd.password = await promptPassword();
    } catch (e) {
      if (!(e instanceof PasswordInputError)) throw e;
      console.error(`parley ctl: ${e.message}`);
      return EXIT.failed;
    }
  }
  let release = async () => {};
  if (!config.databaseUrl) {
    try {
      release = await acquireDataDirLock(config.dataDir);
    } catch (e) {
      if (!(e instanceof DataDirLockedError)) throw e;
      console.error(`parley ctl: ${e.message}`);
      return EXIT.locked;
    }
  }
  try {
    const db = await openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      sharedBuffers: config.embeddedSharedBuffers,
      onProgress: (msg) => console.error(msg),
    });
    try {
      return await run(cmd, config, db);
    } finally {
      await db.close();
    }
  } finally {
    await release();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
