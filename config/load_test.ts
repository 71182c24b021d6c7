/**
 * Configuration loading: the TOML file, every documented PARLEY_* override, and the errors a bad
 * value gives. `loadConfig(env)` takes the environment as an argument, so no test touches the
 * process environment or the working directory.
 */
import assert from "node:assert/strict";
import { ConfigError, DEFAULT_COMPONENTS, loadConfig, validateConfig } from "./mod.ts";
import { checkOptions, parseAllOptions, resolvePlugins } from "../plugins/registry.ts";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { startServer } from "../server/start.ts";

const available = new Map(BUILTIN_PLUGINS);

async function withToml<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ prefix: "parley-config-", suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, text);
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

/** Asserts that `fn` rejects with a ConfigError whose message contains every `needle`. */
async function rejectsNaming(fn: () => Promise<unknown>, ...needles: string[]): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    for (const n of needles) assert.ok(e.message.includes(n), `"${n}" not in: ${e.message}`);
    return true;
  });
}

function throwsNaming(fn: () => unknown, ...needles: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    for (const n of needles) assert.ok(e.message.includes(n), `"${n}" not in: ${e.message}`);
    return true;
  });
}

const FULL_TOML = `
domain = "Chat.Example.ORG"
data_dir = "/var/lib/parley"
database_url = "postgres://parley@db.example:5432/parley"
embedded_shared_buffers = "256MB"
components = ["c2s", "sess-man", "disco", "register"]

[log]
level = "debug"
format = "json"

[tls]
cert = "/etc/parley/cert.pem"
key = "/etc/parley/key.pem"

[limits]
max_stanza_bytes = 65536
max_depth = 32
connections_per_ip_per_minute = 30
auth_failures_before_throttle = 3
auth_throttle_seconds = 120

[c2s]
host = "127.0.0.1"
port = 15222
tls_port = -1
require_encryption = false
stream_open_timeout_seconds = 5
auth_timeout_seconds = 30

[http]
host = "127.0.0.1"
port = 15280
tls_port = -1

[register]
open = true
registrations_per_ip_per_hour = 2
`;

// --- the file ----------------------------------------------------------------------------------

Deno.test("with no file and no environment the defaults apply", async () => {
  // PARLEY_CONFIG unset and no ./parley.toml is expected in the repository root.
  const c = await loadConfig({});
  assert.equal(c.domain, "localhost");
  assert.equal(c.dataDir, "./data");
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.embeddedSharedBuffers, "32MB");
  assert.deepEqual(c.components, [...DEFAULT_COMPONENTS]);
  assert.deepEqual(c.log, { level: "info", format: "text" });
  assert.equal(c.c2s.port, 5222);
  assert.equal(c.c2s.tls_port, 5223);
  assert.equal(c.c2s.require_encryption, true);
  assert.equal(c.http.port, 5280);
  assert.deepEqual(c.sections, {});
  assert.equal(c.source, "defaults");
});

Deno.test("PARLEY_CONFIG names the TOML file; every core key is read from it", async () => {
  await withToml(FULL_TOML, async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path });
    assert.equal(c.source, path);
    assert.equal(c.domain, "chat.example.org", "the domain is lower-cased");
    assert.equal(c.dataDir, "/var/lib/parley");
    assert.equal(c.databaseUrl, "postgres://parley@db.example:5432/parley");
    assert.equal(c.embeddedSharedBuffers, "256MB");
    assert.deepEqual(c.components, ["c2s", "sess-man", "disco", "register"]);
    assert.deepEqual(c.log, { level: "debug", format: "json" });
    assert.deepEqual(c.tls, { cert: "/etc/parley/cert.pem", key: "/etc/parley/key.pem" });
    assert.deepEqual(c.limits, {
      max_stanza_bytes: 65536,
      max_depth: 32,
      connections_per_ip_per_minute: 30,
      auth_failures_before_throttle: 3,
      auth_throttle_seconds: 120,
    });
    assert.deepEqual(c.c2s, {
      host: "127.0.0.1",
      port: 15222,
      tls_port: -1,
      require_encryption: false,
      stream_open_timeout_seconds: 5,
      auth_timeout_seconds: 30,
    });
    assert.deepEqual(c.http, { host: "127.0.0.1", port: 15280, tls_port: -1 });
  });
});

Deno.test("plugin sections of the file reach the plugins", async () => {
  await withToml(FULL_TOML, async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path });
    assert.deepEqual(c.sections.register, { open: true, registrations_per_ip_per_hour: 2 });
    const options = parseAllOptions(resolvePlugins(c.components, available), c);
    assert.deepEqual(options.get("register"), {
      open: true,
      registrations_per_ip_per_hour: 2,
      exempt_loopback: true,
    });
  });
});

Deno.test({
  name: "the c2s plugin's throttle_loopback is read from the [c2s] table beside the core keys",
  fn: async () => {
    await withToml("[c2s]\nport = 15222\nthrottle_loopback = false", async (path) => {
      const c = await loadConfig({ PARLEY_CONFIG: path });
      assert.equal(c.c2s.port, 15222);
      const options = parseAllOptions(resolvePlugins(c.components, available), c);
      assert.deepEqual(options.get("c2s"), { throttle_loopback: false });
    });
  },
});

Deno.test("a PARLEY_CONFIG file that does not exist is an error naming the path", async () => {
  await rejectsNaming(
    () => loadConfig({ PARLEY_CONFIG: "/nonexistent/parley.toml" }),
    "/nonexistent/parley.toml",
  );
});

Deno.test("a file that is not valid TOML is an error naming the file", async () => {
  await withToml("domain = \n[[[", async (path) => {
    await rejectsNaming(() => loadConfig({ PARLEY_CONFIG: path }), path);
  });
});

Deno.test("bad values in the file are errors naming each key", async () => {
  const cases: [string, string[]][] = [
    ['[c2s]\nport = "5222"', ["c2s.port"]],
    ["[c2s]\nport = 70000", ["c2s.port"]],
    ["[c2s]\ntls_port = -2", ["c2s.tls_port"]],
    ['[c2s]\nrequire_encryption = "yes"', ["c2s.require_encryption"]],
    ["[c2s]\nstream_open_timeout_seconds = 0", ["c2s.stream_open_timeout_seconds"]],
    ['[log]\nlevel = "verbose"', ["log.level"]],
    ['[log]\nformat = "xml"', ["log.format"]],
    ["[limits]\nmax_stanza_bytes = 10", ["limits.max_stanza_bytes"]],
    ["[limits]\nmax_depth = 2", ["limits.max_depth"]],
    ['database_url = "not a url"', ["database_url"]],
    ['embedded_shared_buffers = "32 MB"', ["embedded_shared_buffers", "32MB"]],
    ['embedded_shared_buffers = "32mb"', ["embedded_shared_buffers"]],
    ["embedded_shared_buffers = 32", ["embedded_shared_buffers"]],
    ['embedded_shared_buffers = "512kB"', ["embedded_shared_buffers", "at least 1MB"]],
    ['domain = ""', ["domain"]],
    ["components = [1, 2]", ["components"]],
    ['[tls]\ncert = "/a.pem"', ["tls.cert and tls.key go together"]],
    ['colour = "blue"', ["colour", "unknown setting"]],
    ["[c2s]\nport = -1\n[http]\nport = 99999", ["c2s.port", "http.port"]],
  ];
  for (const [toml, needles] of cases) {
    await withToml(toml, async (path) => {
      await rejectsNaming(() => loadConfig({ PARLEY_CONFIG: path }), path, ...needles);
    });
  }
});

Deno.test("a misspelt key in [c2s] is refused by the c2s plugin's option check at start", async () => {
  await withToml("[c2s]\npotr = 1", async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path });
    assert.throws(
      () => parseAllOptions(resolvePlugins(c.components, available), c),
      (e: unknown) => e instanceof ConfigError && e.message.includes("c2s.potr"),
    );
  });
});

Deno.test("the shipped parley.example.toml loads and its plugin sections are valid", async () => {
  const path = new URL("../parley.example.toml", import.meta.url).pathname;
  const c = await loadConfig({ PARLEY_CONFIG: path });
  assert.equal(c.source, path);
  // Every section in the example belongs to a plugin and passes that plugin's option check,
  // whether or not the example switches the plugin on.
  for (const [name, raw] of Object.entries(c.sections)) {
    const plugin = BUILTIN_PLUGINS.get(name);
    assert.ok(plugin, `[${name}] in the example is not a plugin`);
    if (plugin.parseOptions) plugin.parseOptions(raw, plugin.defaults);
    else checkOptions(name, raw, plugin.defaults);
  }
  parseAllOptions(resolvePlugins(c.components, available), c);
});

// --- environment overrides ---------------------------------------------------------------------

Deno.test("PARLEY_DOMAIN, PARLEY_DATA_DIR and PARLEY_DATABASE_URL override the file", async () => {
  await withToml('domain = "file.example"\ndata_dir = "/file"', async (path) => {
    const c = await loadConfig({
      PARLEY_CONFIG: path,
      PARLEY_DOMAIN: "Env.Example",
      PARLEY_DATA_DIR: "/env/data",
      PARLEY_DATABASE_URL: "postgres://u@h:5432/db",
    });
    assert.equal(c.domain, "env.example");
    assert.equal(c.dataDir, "/env/data");
    assert.equal(c.databaseUrl, "postgres://u@h:5432/db");
    assert.equal(c.source, `${path} + environment`);
  });
});

Deno.test("PARLEY_C2S_PORT, PARLEY_C2S_TLS_PORT and PARLEY_HTTP_PORT set the ports", async () => {
  await withToml("[c2s]\nport = 1\n[http]\nport = 2", async (path) => {
    const c = await loadConfig({
      PARLEY_CONFIG: path,
      PARLEY_C2S_PORT: "15222",
      PARLEY_C2S_TLS_PORT: "-1",
      PARLEY_HTTP_PORT: "0",
      PARLEY_HTTP_TLS_PORT: "15281",
    });
    assert.equal(c.c2s.port, 15222);
    assert.equal(c.c2s.tls_port, -1);
    assert.equal(c.http.port, 0);
    assert.equal(c.http.tls_port, 15281);
  });
});

Deno.test("PARLEY_REGISTRATION=open opens registration and enables the register plugin", async () => {
  const c = await loadConfig({ PARLEY_REGISTRATION: "open" });
  assert.deepEqual(c.components, [...DEFAULT_COMPONENTS, "register"]);
  assert.deepEqual(c.sections.register, { open: true });
  const options = parseAllOptions(resolvePlugins(c.components, available), c);
  assert.equal((options.get("register") as { open: boolean }).open, true);
});

Deno.test("PARLEY_REGISTRATION=open keeps a file's component list and adds register once", async () => {
  await withToml('components = ["c2s", "sess-man", "register"]', async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path, PARLEY_REGISTRATION: "open" });
    assert.deepEqual(c.components, ["c2s", "sess-man", "register"]);
  });
  await withToml('components = ["c2s", "sess-man"]', async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path, PARLEY_REGISTRATION: "open" });
    assert.deepEqual(c.components, ["c2s", "sess-man", "register"]);
  });
});

Deno.test("PARLEY_REGISTRATION=closed closes registration without enabling the plugin", async () => {
  await withToml("[register]\nopen = true", async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path, PARLEY_REGISTRATION: "closed" });
    assert.deepEqual(c.sections.register, { open: false });
    assert.deepEqual(c.components, [...DEFAULT_COMPONENTS]);
  });
});

Deno.test("PARLEY_REQUIRE_ENCRYPTION accepts true/false and their usual spellings", async () => {
  for (const v of ["true", "1", "yes", "on", "TRUE"]) {
    assert.equal((await loadConfig({ PARLEY_REQUIRE_ENCRYPTION: v })).c2s.require_encryption, true);
  }
  for (const v of ["false", "0", "no", "off", "False"]) {
    assert.equal(
      (await loadConfig({ PARLEY_REQUIRE_ENCRYPTION: v })).c2s.require_encryption,
      false,
      v,
    );
  }
});

Deno.test("PARLEY_LOG_LEVEL and PARLEY_LOG_FORMAT set logging", async () => {
  for (const level of ["debug", "info", "warning", "error"] as const) {
    assert.equal((await loadConfig({ PARLEY_LOG_LEVEL: level })).log.level, level);
  }
  assert.equal((await loadConfig({ PARLEY_LOG_FORMAT: "json" })).log.format, "json");
});

Deno.test("PARLEY_COMPONENTS is a comma-separated list; blanks and repeats are dropped", async () => {
  const c = await loadConfig({ PARLEY_COMPONENTS: " c2s, sess-man,,ping , ping " });
  assert.deepEqual(c.components, ["c2s", "sess-man", "ping"]);
});

Deno.test("an empty environment variable leaves the setting alone", async () => {
  const c = await loadConfig({ PARLEY_DOMAIN: "", PARLEY_C2S_PORT: "" });
  assert.equal(c.domain, "localhost");
  assert.equal(c.c2s.port, 5222);
  assert.equal(c.source, "defaults + environment");
});

Deno.test("bad environment values are ConfigErrors naming the variable or the key", async () => {
  const cases: [Record<string, string>, string][] = [
    [{ PARLEY_C2S_PORT: "abc" }, "PARLEY_C2S_PORT"],
    [{ PARLEY_C2S_PORT: "5222.5" }, "PARLEY_C2S_PORT"],
    [{ PARLEY_C2S_PORT: "70000" }, "c2s.port"],
    [{ PARLEY_C2S_TLS_PORT: "x" }, "PARLEY_C2S_TLS_PORT"],
    [{ PARLEY_C2S_TLS_PORT: "-2" }, "c2s.tls_port"],
    [{ PARLEY_HTTP_PORT: "http" }, "PARLEY_HTTP_PORT"],
    [{ PARLEY_HTTP_PORT: "-5" }, "http.port"],
    [{ PARLEY_HTTP_TLS_PORT: "no" }, "PARLEY_HTTP_TLS_PORT"],
    [{ PARLEY_REGISTRATION: "maybe" }, "PARLEY_REGISTRATION"],
    [{ PARLEY_REQUIRE_ENCRYPTION: "perhaps" }, "PARLEY_REQUIRE_ENCRYPTION"],
    [{ PARLEY_LOG_LEVEL: "verbose" }, "log.level"],
    [{ PARLEY_LOG_FORMAT: "xml" }, "log.format"],
    [{ PARLEY_DATABASE_URL: "not a url" }, "database_url"],
  ];
  for (const [env, needle] of cases) await rejectsNaming(() => loadConfig(env), needle);
});

Deno.test("an environment override of a key the file has as a non-table is an error", async () => {
  await withToml('c2s = "fast"', async (path) => {
    await rejectsNaming(() => loadConfig({ PARLEY_CONFIG: path, PARLEY_C2S_PORT: "1" }), "c2s");
  });
});

// --- components and plugin options -------------------------------------------------------------

Deno.test("an unknown component name is a ConfigError listing the available ones", () => {
  throwsNaming(
    () => resolvePlugins(["c2s", "sess-man", "mucc"], available),
    "unknown component or plugin: mucc",
    "available:",
    "register",
  );
});

Deno.test("startServer refuses an unknown component before opening anything", async () => {
  const config = validateConfig({
    components: ["c2s", "sess-man", "nope"],
    // A data dir that cannot be created: reaching the database would fail differently.
    data_dir: "/proc/parley-must-not-open",
  });
  await assert.rejects(() => startServer(config), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /unknown component or plugin: nope/);
    return true;
  });
});

Deno.test("a component whose dependency is off is a ConfigError saying what to add", () => {
  throwsNaming(() => resolvePlugins(["register"], available), '"register" needs "sess-man"');
});

Deno.test("plugins are ordered after their dependencies", () => {
  const order = resolvePlugins(["register", "c2s", "sess-man"], available).map((p) => p.name);
  assert.ok(order.indexOf("sess-man") < order.indexOf("register"));
  assert.ok(order.indexOf("sess-man") < order.indexOf("c2s"));
});

Deno.test("an unknown plugin option is a ConfigError naming plugin.option and the known ones", async () => {
  await withToml("[register]\nopne = true", async (path) => {
    const c = await loadConfig({ PARLEY_CONFIG: path, PARLEY_REGISTRATION: "closed" });
    const plugins = resolvePlugins([...c.components, "register"], available);
    throwsNaming(
      () => parseAllOptions(plugins, c),
      "register.opne: unknown option",
      "open, registrations_per_ip_per_hour, exempt_loopback",
    );
  });
});

Deno.test("a plugin option of the wrong type is a ConfigError naming it", () => {
  throwsNaming(
    () => checkOptions("sess-man", { max_resources: "ten" }, { max_resources: 16 }),
    "sess-man.max_resources: expected number, got string",
  );
  throwsNaming(
    () => checkOptions("version", { show_os: 1 }, { show_os: false }),
    "version.show_os: expected boolean, got number",
  );
});

Deno.test("the built-in plugins' options default to what docs/configuration.md says", () => {
  const documented: Record<string, Record<string, unknown>> = {
    "c2s": { throttle_loopback: true },
    "sess-man": { max_resources: 16 },
    "disco": { name: "Parley" },
    "ping": {},
    "version": { show_os: false },
    "register": { open: false, registrations_per_ip_per_hour: 5, exempt_loopback: true },
  };
  const c = validateConfig({ components: [...BUILTIN_PLUGINS.keys()] });
  const options = parseAllOptions(resolvePlugins(c.components, available), c);
  for (const [name, want] of Object.entries(documented)) {
    const got = options.get(name) as Record<string, unknown> | undefined;
    assert.ok(got, `${name} is not a built-in plugin`);
    for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `${name}.${k}`);
  }
});

Deno.test("options of a plugin that is not enabled are not checked", () => {
  // A section for a switched-off plugin leaves no trace, not even a validation error.
  const c = validateConfig({ components: ["ping"], version: { bogus: 1 } });
  const options = parseAllOptions(resolvePlugins(c.components, available), c);
  assert.deepEqual([...options.keys()], ["ping"]);
});
