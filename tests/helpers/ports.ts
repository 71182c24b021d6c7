/**
 * Free TCP ports below the ephemeral range (the brief: tests pick ports < 32768 themselves).
 * A random start spreads parallel test files apart; each candidate is probed by binding it.
 */
export function freePort(): number {
  const start = 20000 + Math.floor(Math.random() * 12000);
  for (let i = 0; i < 500; i++) {
    const port = 20000 + ((start - 20000 + i * 7) % 12700);
    try {
      const l = Deno.listen({ hostname: "0.0.0.0", port });
      l.close();
      return port;
    } catch {
      // taken: try the next
    }
  }
  throw new Error("no free port found below 32768");
}
