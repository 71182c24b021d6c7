export { applyEnv, ConfigError, loadConfig, validateConfig } from "./load.ts";
export { type CoreConfigInput, DEFAULT_COMPONENTS, type ParleyConfig } from "./schema.ts";
