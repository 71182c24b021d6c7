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
