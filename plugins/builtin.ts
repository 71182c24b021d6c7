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
import http from "./http/mod.ts";
import ws from "./ws/mod.ts";
import bosh from "./bosh/mod.ts";
import hostMeta from "./host_meta/mod.ts";
import vcardTemp from "./vcard_temp/mod.ts";
import privateStorage from "./private/mod.ts";
import chatLog from "./examples/chat_log/mod.ts";
import inspector from "./inspector/mod.ts";
import monitor from "./monitor/mod.ts";
import muc from "./muc/mod.ts";

// One per line: plugins are added here as they are written.
const ALL: AnyPlugin[] = [
  c2s,
  sessMan,
  disco,
  ping,
  version,
  register,
  roster,
  presence,
  msgoffline,
  messageArchive,
  messageCarbons,
  vcardTemp,
  privateStorage,
  http,
  ws,
  bosh,
  hostMeta,
  chatLog,
  inspector,
  monitor,
  muc,
];

export const BUILTIN_PLUGINS: ReadonlyMap<string, AnyPlugin> = new Map(
  ALL.map((p) => [p.name, p]),
);
