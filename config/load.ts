/**
 * Reads `parley.toml` (smol-toml), applies PARLEY_* environment overrides and validates the result.
 * A bad configuration fails here, at start-up, with every problem listed by its key.
 */
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { coreSchema, type ParleyConfig } from "./schema.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Raw = Record<string, unknown>;

function table(raw: Raw, key: string): Raw {
  const v = raw[key];
  if (v === undefined) {
    const t: Raw = {};
    raw[key] = t;
    return t;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ConfigError(`${key}: expected a table`);
  }
  return v as Raw;
}

function envInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`${name}: expected an integer, got "${value}"`);
  return n;
}

function envBool(name: string, value: string): boolean {
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${name}: expected true or false, got "${value}"`);
}

/** The documented PARLEY_* variables, applied over the file's values. */
export function applyEnv(raw: Raw, env: Record<string, string | undefined>): Raw {
  const out = structuredClone(raw);
  const set = (name: string, apply: (v: string) => void) => {
    const v = env[name];
    if (v !== undefined && v !== "") apply(v);
  };
  set("PARLEY_DOMAIN", (v) => out.domain = v);
  set("PARLEY_DATA_DIR", (v) => out.data_dir = v);
  set("PARLEY_DATABASE_URL", (v) => out.database_url = v);
  set("PARLEY_LOG_LEVEL", (v) => table(out, "log").level = v);
  set("PARLEY_LOG_FORMAT", (v) => table(out, "log").format = v);
  set("PARLEY_C2S_PORT", (v) => table(out, "c2s").port = envInt("PARLEY_C2S_PORT", v));
  set(
    "PARLEY_C2S_TLS_PORT",
    (v) => table(out, "c2s").tls_port = envInt("PARLEY_C2S_TLS_PORT", v),
  );
  set("PARLEY_HTTP_PORT", (v) => table(out, "http").port = envInt("PARLEY_HTTP_PORT", v));
  set(
    "PARLEY_HTTP_TLS_PORT",
    (v) => table(out, "http").tls_port = envInt("PARLEY_HTTP_TLS_PORT", v),
  );
  set("PARLEY_REQUIRE_ENCRYPTION", (v) => {
    table(out, "c2s").require_encryption = envBool("PARLEY_REQUIRE_ENCRYPTION", v);
  });
  set("PARLEY_COMPONENTS", (v) => {
    out.components = v.split(",").map((s) => s.trim()).filter(Boolean);
  });
  set("PARLEY_REGISTRATION", (v) => {
    if (v !== "open" && v !== "closed") {
      throw new ConfigError(`PARLEY_REGISTRATION: expected "open" or "closed", got "${v}"`);
    }
    table(out, "register").open = v === "open";
    // Opening registration is pointless without the plugin, so it switches the plugin on.
    if (v === "open") {
      const list = Array.isArray(out.components) ? out.components as string[] : undefined;
      const base = list ?? [...coreSchema.shape.components.parse(undefined)];
      if (!base.includes("register")) out.components = [...base, "register"];
    }
  });
  return out;
}

/** Core keys of the tables that double as plugin sections. */
const SHARED_TABLES: Record<string, string[]> = {
  c2s: [
    "host",
    "port",
    "tls_port",
    "require_encryption",
    "stream_open_timeout_seconds",
    "auth_timeout_seconds",
  ],
  http: ["host", "port", "tls_port"],
};

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  - ${i.path.join(".") || "(top)"}: ${i.message}`).join("\n");
}

/** Validates a raw tree (file contents after env overrides, or an object given to startServer). */
export function validateConfig(raw: Raw, source = "(object)"): ParleyConfig {
  // [c2s] and [http] are both core tables and plugin sections: the core keeps its own keys and
  // the rest goes to the plugin, whose parseOptions judges them.
  const shared: Record<string, Record<string, unknown>> = {};
  raw = { ...raw };
  for (const [table, coreKeys] of Object.entries(SHARED_TABLES)) {
    const t = raw[table];
    if (typeof t !== "object" || t === null || Array.isArray(t)) continue;
    const core: Raw = {};
    const plugin: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(t)) (coreKeys.includes(k) ? core : plugin)[k] = v;
    raw[table] = core;
    if (Object.keys(plugin).length) shared[table] = plugin;
  }
  const result = coreSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`invalid configuration in ${source}:\n${formatIssues(result.error)}`);
  }
  const c = result.data;
  const coreKeys = new Set(Object.keys(coreSchema.shape));
  const sections: Record<string, Record<string, unknown>> = { ...shared };
  for (const [k, v] of Object.entries(c)) {
    if (coreKeys.has(k)) continue;
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw new ConfigError(
        `invalid configuration in ${source}:\n  - ${k}: unknown setting (plugin sections are tables)`,
      );
    }
    sections[k] = v as Record<string, unknown>;
  }
  return {
    domain: c.domain.toLowerCase(),
    dataDir: c.data_dir,
    databaseUrl: c.database_url,
    embeddedSharedBuffers: c.embedded_shared_buffers,
    components: [...new Set(c.components)],
    log: c.log,
    tls: { cert: c.tls.cert, key: c.tls.key },
    limits: c.limits,
    c2s: c.c2s,
    http: c.http,
    sections,
    source,
  };
}

/**
 * Loads the configuration: the file named by PARLEY_CONFIG (which must exist), else ./parley.toml
 * when present, else defaults; then the environment overrides.
 */
export async function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<ParleyConfig> {
  const explicit = env.PARLEY_CONFIG;
  const path = explicit ?? "parley.toml";
  let raw: Raw = {};
  let source = "defaults";
  try {
    const text = await Deno.readTextFile(path);
    source = path;
    try {
      raw = parseToml(text) as Raw;
    } catch (e) {
      throw new ConfigError(`${path}: ${(e as Error).message}`);
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (!(e instanceof Deno.errors.NotFound) || explicit) {
      throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
    }
  }
  return validateConfig(applyEnv(raw, env), source + (hasEnv(env) ? " + environment" : ""));
}

function hasEnv(env: Record<string, string | undefined>): boolean {
  return Object.keys(env).some((k) => k.startsWith("PARLEY_") && k !== "PARLEY_CONFIG");
}
