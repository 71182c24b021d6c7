/**
 * docs/configuration.md is the reference users read, so a setting or variable added to the code
 * without a line there fails the tests.
 */
import assert from "node:assert/strict";
import { coreSchema } from "./schema.ts";

const docs = await Deno.readTextFile(new URL("../docs/configuration.md", import.meta.url));
const example = await Deno.readTextFile(new URL("../parley.example.toml", import.meta.url));

/** Dotted paths of every leaf setting of a zod object schema (defaults and optionals unwrapped). */
function keysOf(schema: unknown, prefix = ""): string[] {
  let s = schema as { shape?: Record<string, unknown>; def?: { innerType?: unknown } };
  while (!s.shape && s.def?.innerType) s = s.def.innerType as typeof s;
  if (!s.shape) return [prefix];
  return Object.entries(s.shape).flatMap(([k, v]) => keysOf(v, prefix ? `${prefix}.${k}` : k));
}

Deno.test("docs/configuration.md documents every core setting of the schema", () => {
  const keys = keysOf(coreSchema);
  assert.ok(keys.includes("c2s.require_encryption") && keys.includes("limits.max_depth"));
  for (const key of keys) assert.ok(docs.includes(`\`${key}\``), `${key} is not documented`);
});

Deno.test("parley.example.toml writes out every core setting", () => {
  for (const key of keysOf(coreSchema)) {
    const leaf = key.split(".").at(-1)!;
    assert.match(example, new RegExp(`^#? ?${leaf} = `, "m"), `${key} missing from the example`);
  }
});

Deno.test("docs/configuration.md documents every PARLEY_* variable the loader reads", async () => {
  const source = await Deno.readTextFile(new URL("./load.ts", import.meta.url));
  const vars = new Set([...source.matchAll(/"(PARLEY_[A-Z0-9_]*[A-Z0-9])"/g)].map((m) => m[1]!));
  assert.ok(vars.has("PARLEY_CONFIG") && vars.has("PARLEY_C2S_TLS_PORT"), [...vars].join());
  for (const v of vars) assert.ok(docs.includes(`\`${v}\``), `${v} is not documented`);
});

// --- components and plugin options ---------------------------------------------------------------

const { BUILTIN_PLUGINS } = await import("../plugins/builtin.ts");
const { DEFAULT_COMPONENTS } = await import("./schema.ts");
const { parse: parseToml } = await import("smol-toml");

/** How a default is written in the docs' tables and in TOML. */
function written(value: unknown): string {
  return typeof value === "string" || Array.isArray(value) ? JSON.stringify(value) : String(value);
}

/** The docs' `### \`[name]\`` section of a plugin, up to the next heading. */
function pluginSection(name: string): string | undefined {
  const table = /^[A-Za-z0-9_-]+$/.test(name) ? `[${name}]` : `["${name}"]`;
  const start = docs.indexOf(`### \`${table}\`\n`);
  if (start < 0) return undefined;
  const next = docs.slice(start + 4).search(/^##/m);
  return next < 0 ? docs.slice(start) : docs.slice(start, start + 4 + next);
}

Deno.test("the components table lists every plugin, on by default exactly as DEFAULT_COMPONENTS", () => {
  const rows = new Map(
    [...docs.matchAll(/^\| `([^`]+)`\s*\| (yes|no)\s*\|/gm)].map((m) => [m[1]!, m[2] === "yes"]),
  );
  for (const name of BUILTIN_PLUGINS.keys()) {
    assert.ok(rows.has(name), `${name} has no row in the components table`);
  }
  for (const name of rows.keys()) assert.ok(BUILTIN_PLUGINS.has(name), `${name} is not a plugin`);
  const onInDocs = [...rows].filter(([, on]) => on).map(([n]) => n).sort();
  assert.deepEqual(onInDocs, [...DEFAULT_COMPONENTS].sort());
  const list = `[${DEFAULT_COMPONENTS.map((c) => JSON.stringify(c)).join(", ")}]`;
  assert.ok(
    docs.replace(/\s+/g, " ").includes(list),
    `the default list ${list} is not written out`,
  );
});

Deno.test("docs/configuration.md documents every option of every plugin with its default", () => {
  for (const [name, plugin] of BUILTIN_PLUGINS) {
    const options = Object.entries(plugin.defaults as Record<string, unknown>);
    if (options.length === 0) continue;
    const section = pluginSection(name);
    assert.ok(section, `plugin ${name} has no section in docs/configuration.md`);
    for (const [key, value] of options) {
      const esc = written(value).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      assert.match(
        section,
        new RegExp(`^\\|\\s*\`${key}\`\\s*\\|\\s*\`${esc}\`\\s*\\|`, "m"),
        `${name}.${key} (default ${written(value)}) is not documented in its section`,
      );
    }
  }
});

Deno.test("parley.example.toml writes out every plugin option at its default", () => {
  const parsed = parseToml(example) as Record<string, Record<string, unknown>>;
  const coreKeys = new Set(keysOf(coreSchema));
  for (const [name, plugin] of BUILTIN_PLUGINS) {
    const defaults = plugin.defaults as Record<string, unknown>;
    if (Object.keys(defaults).length === 0) continue;
    const table = parsed[name];
    assert.ok(table, `parley.example.toml has no [${name}] section`);
    const own = Object.fromEntries(
      Object.entries(table).filter(([k]) => !coreKeys.has(`${name}.${k}`)),
    );
    assert.deepEqual(own, defaults, `[${name}] in parley.example.toml differs from the defaults`);
  }
});
