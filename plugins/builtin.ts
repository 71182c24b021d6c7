/** Every plugin Parley ships, by its (Tigase) name. Config enables them by these names. */
import type { AnyPlugin } from "./registry.ts";
import c2s from "./c2s/mod.ts";
import sessMan from "./sess_man/mod.ts";
import disco from "./disco/mod.ts";
import ping from "./ping/mod.ts";
import version from "./version/mod.ts";
import register from "./register/mod.ts";

export const BUILTIN_PLUGINS: ReadonlyMap<string, AnyPlugin> = new Map(
  [c2s, sessMan, disco, ping, version, register].map((p) => [p.name, p]),
);
