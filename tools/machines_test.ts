import assert from "node:assert/strict";
import { generate, OUT_DIR } from "./machines.ts";
import { MACHINES } from "../web/machines.ts";
import { machineChart, stateIds } from "../web/statechart.ts";

Deno.test("docs/machines matches the machine definitions (run `deno task machines` if not)", async () => {
  const files = await generate();
  const stale: string[] = [];
  for (const [name, text] of files) {
    const committed = await Deno.readTextFile(new URL(name, OUT_DIR)).catch(() => null);
    if (committed !== text) stale.push(name);
  }
  assert.deepEqual(stale, [], `out of date: ${stale.join(", ")} — run \`deno task machines\``);
});

Deno.test("every state of every machine is drawn in its SVG and named in its Stately config", async () => {
  const files = await generate();
  for (const m of MACHINES) {
    const svg = files.get(`${m.kind}.svg`)!;
    const json = files.get(`${m.kind}.json`)!;
    for (const id of stateIds(machineChart(m.machine))) {
      assert.ok(svg.includes(`data-state="${id}"`), `${id} drawn`);
      assert.ok(json.includes(`"id": "${id}"`), `${id} in config`);
    }
    assert.doesNotThrow(() => JSON.parse(json));
  }
});
