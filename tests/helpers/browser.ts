/**
 * Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by playwright-core, never
 * a downloaded browser. The flags keep it off the network this machine does not have.
 */
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether the browser is installed; tests skip (with a message) when it is not. */
export function haveChromium(testName: string): boolean {
  try {
    if (Deno.statSync(CHROMIUM).isFile) return true;
  } catch {
    // absent
  }
  console.warn(
    `${testName}: skipped, ${CHROMIUM} is absent (install it: apt-get install -y chromium)`,
  );
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
