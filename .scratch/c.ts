import { loadConfig } from "../config/mod.ts";
for (const env of [{PARLEY_C2S_PORT:"70000"},{PARLEY_LOG_LEVEL:"verbose"},{PARLEY_DATABASE_URL:"nope"},{PARLEY_HTTP_PORT:"-5"}, {PARLEY_DATA_DIR: ""}]) {
  try { console.log(await loadConfig(env)); } catch (e) { console.log((e as Error).name, (e as Error).message); }
}
