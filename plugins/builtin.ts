/** Every plugin Parley ships, by its (Tigase) name. Config enables them by these names. */
import type { AnyPlugin } from "./registry.ts";
import c2s from "./c2s/mod.ts";
import sessMan from "./sess_man/mod.ts";
import disco from "./disco/mod.ts";
import ping from "./ping/mod.ts";
import version from "./version/mod.ts";
import register from "./register/mod.ts";
import roster from "./roster/mod.ts";
import presence from "./presence/mod.ts";
import messageArchive from "./message_archive/mod.ts";
import messageCarbons from "./message_carbons/mod.ts";
import msgoffline from "./msgoffline/mod.ts";
import vcardTemp from "./vcard_temp/mod.ts";
import privateStorage from "./private/mod.ts";
import chatLog from "./examples/chat_log/mod.ts";

export const BUILTIN_PLUGINS: ReadonlyMap<string, AnyPlugin> = new Map(
  [c2s, sessMan, disco, ping, version, register, msgoffline, messageArchive, messageCarbons, vcardTemp, privateStorage, chatLog].map((
    p,
  ) => [p.name, p]),
);
