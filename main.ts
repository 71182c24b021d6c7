/**
 * `deno task start`: load the configuration, start, and stop cleanly on SIGINT/SIGTERM.
 */
import { ConfigError, loadConfig } from "./config/mod.ts";
import { logger, setupLogging } from "./log/mod.ts";
import { startServer } from "./server/start.ts";
import { DataDirLockedError } from "./db/lock.ts";

const log = logger("main");

async function main(): Promise<number> {
  let config;
  try {
    config = await loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`parley: ${e.message}`);
      return 2;
    }
    throw e;
  }
  await setupLogging(config.log);
  log.info("configuration from {source}", { source: config.source });
  let server;
  try {
    server = await startServer(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`parley: ${e.message}`);
      return 2;
    }
    if (e instanceof DataDirLockedError) {
      console.error(`parley: ${e.message}`);
      return 3;
    }
    log.error("start-up failed: {error}", { error: String(e) });
    return 1;
  }
  const { promise, resolve } = Promise.withResolvers<void>();
  const stop = () => resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await promise;
  log.info("stopping");
  await server.stop();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
