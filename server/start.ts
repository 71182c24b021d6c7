/**
 * Assembles a server from a configuration: storage (migrations applied), the core, then every
 * enabled plugin in dependency order. `stop()` undoes it in reverse.
 */
import { openDatabase } from "../db/mod.ts";
import { acquireDataDirLock } from "../db/lock.ts";
import type { Database } from "../db/types.ts";
import { type CoreConfigInput, type ParleyConfig, validateConfig } from "../config/mod.ts";
import { logger } from "../log/mod.ts";
import { ActorDirectory } from "../actors/directory.ts";
import { type AnyPlugin, parseAllOptions, pluginApi, resolvePlugins } from "../plugins/registry.ts";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { Core } from "./core.ts";

const log = logger("server");

export interface StartOptions {
  /** extra plugins (beyond the built-in ones) that config may enable by name */
  plugins?: AnyPlugin[];
  /** an already open database (tests share one across restarts) */
  db?: Database;
}

export interface Server {
  readonly config: ParleyConfig;
  readonly core: Core;
  readonly db: Database;
  /** the ports actually bound (useful when configured as 0) */
  readonly ports: { c2s: number | null; c2sTls: number | null };
  readonly plugins: string[];
  stop(): Promise<void>;
}

function isParleyConfig(c: unknown): c is ParleyConfig {
  return typeof c === "object" && c !== null && "sections" in c && "dataDir" in c;
}

/** Starts a server. Accepts a validated config or a raw object in the config file's shape. */
export async function startServer(
  input: ParleyConfig | CoreConfigInput = {},
  opts: StartOptions = {},
): Promise<Server> {
  const config = isParleyConfig(input) ? input : validateConfig(input as Record<string, unknown>);
  const available = new Map(BUILTIN_PLUGINS);
  for (const p of opts.plugins ?? []) available.set(p.name, p);
  // Validate everything before opening anything: a bad config fails fast and leaves no trace.
  const plugins = resolvePlugins(config.components, available);
  const options = parseAllOptions(plugins, config);

  // Embedded PGlite is one process's files: a second server or `ctl` must not open them at once.
  const release = !opts.db && !config.databaseUrl
    ? await acquireDataDirLock(config.dataDir)
    : async () => {};
  let db: Database;
  try {
    db = opts.db ?? await openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      sharedBuffers: config.embeddedSharedBuffers,
      onProgress: (msg) => log.info("{msg}", { msg }),
    });
  } catch (e) {
    await release();
    throw e;
  }
  const core = new Core(config, db, new ActorDirectory());
  try {
    for (const plugin of plugins) {
      await plugin.setup(pluginApi(core, plugin, options.get(plugin.name)));
      log.debug("plugin {name} ready", { name: plugin.name });
    }
  } catch (e) {
    await core.stop();
    if (!opts.db) await db.close();
    await release();
    throw e;
  }
  const c2sPorts = core.hasService("c2s.ports")
    ? core.service<{ c2s: number; c2sTls: number | null }>("c2s.ports")
    : { c2s: null, c2sTls: null };
  log.info("Parley serving {domain} with {plugins}", {
    domain: config.domain,
    plugins: plugins.map((p) => p.name).join(", "),
  });
  let stopped = false;
  return {
    config,
    core,
    db,
    ports: c2sPorts,
    plugins: plugins.map((p) => p.name),
    async stop() {
      if (stopped) return;
      stopped = true;
      await core.stop();
      if (!opts.db) await db.close();
      await release();
      log.info("stopped");
    },
  };
}
