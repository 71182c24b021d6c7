import process from "node:process";
for (const pid of [Deno.pid, 1, 999999]) {
  try { process.kill(pid, 0); console.log(pid, "alive"); } catch (e) { console.log(pid, (e as any).code, String(e)); }
}
