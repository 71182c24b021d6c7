import { MACHINES } from "../web/machines.ts";
import { machineSvg, statelyConfig } from "../web/statechart.ts";
for (const m of MACHINES) {
  const t = performance.now();
  const svg = await machineSvg(m.machine);
  console.log(m.kind, svg.length, Math.round(performance.now() - t), "ms");
  await Deno.writeTextFile(`/tmp/scr/${m.kind}.svg`, svg);
  await Deno.writeTextFile(`/tmp/scr/${m.kind}.json`, JSON.stringify(statelyConfig(m.machine), null, 2));
}
