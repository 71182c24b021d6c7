/**
 * Waits until `cond` holds, polling every 10 ms, for at most `ms`: the tests' bound on what the
 * server finishes in the background (a store written, a row deleted, a session gone). Throws,
 * naming `what`, when the time is up.
 */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
