/**
 * The inspector in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * playwright-core; never a downloaded browser) opens the page, watches a connection actor appear
 * and reach `established` as a client logs in, sees the state highlighted on the statechart, traces
 * a message through offline storage, and saves a screenshot to tests/artifacts/inspector.png.
 */
import assert from "node:assert/strict";
import { haveChromium, launchChromium } from "./helpers/browser.ts";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";
import { freePort } from "./helpers/ports.ts";

const chromiumPresent = haveChromium("inspector_browser_test");

Deno.test({
  name:
    "inspector page shows a connection actor appear and reach established, and traces a message",
  ignore: !chromiumPresent,
  // The browser is a child process with its own pipes; it is closed before the test ends.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const inspectorPort = freePort();
    await using t = await startTestServer({
      components: ["c2s", "sess-man", "msgoffline", "message-archive", "inspector"],
      inspector: { port: inspectorPort },
    });
    await t.addUser("alice", "alice-secret");
    await t.addUser("bob", "bob-secret");

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      await page.goto(`http://127.0.0.1:${inspectorPort}/inspector`);
      await page.waitForSelector("#conn.on", { timeout: 10_000 });
      assert.equal(await page.locator("#actors tr[data-actor^='c2s:']").count(), 0);

      const alice = await connectClient({
        port: t.port,
        username: "alice",
        password: "alice-secret",
      });
      try {
        const row = page.locator("#actors tr[data-actor^='c2s:'][data-state='established']");
        await row.waitFor({ timeout: 10_000 });
        const actorId = await row.getAttribute("data-actor");
        assert.match(actorId ?? "", /^c2s:/);
        await page.locator("#actors tr[data-actor^='user:alice@localhost']").waitFor();

        // The chart of the selected connection, drawn from the machine, with `established` lit.
        await row.click();
        await page.waitForSelector("#chart svg[data-machine='c2s']");
        await page.waitForSelector("#chart g.state.active[data-state='c2s.established']");
        assert.equal(
          await page.locator("#chart g.state.active[data-state^='c2s.negotiating']").count(),
          0,
        );
        // Its recent events include the negotiation it went through.
        await page.waitForSelector("#events tr[data-event='OPEN']");
        await page.waitForSelector("#events tr[data-event='BOUND']");

        // A message to bob, who is away: routed, stored offline, archived.
        await alice.send(
          xml(
            "message",
            { to: "bob@localhost", type: "chat", id: "trace-me-1" },
            xml("body", {}, "see you later"),
          ),
        );
        for (let i = 0; i < 100 && (await t.db.offline.usage("bob@localhost")).count < 1; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        await page.locator("#trace-ids li", { hasText: "trace-me-1" }).waitFor();
        await page.fill("#trace-id", "trace-me-1");
        await page.click("#trace-form button");
        await page.waitForSelector("#timeline li[data-stage='routed']");
        await page.waitForSelector("#timeline li[data-stage='event MESSAGE']");
        await page.waitForSelector("#timeline li[data-stage='accepted: stored']");
        await page.waitForSelector("#timeline li[data-stage='action stored']");
        await page.waitForSelector("#timeline li[data-stage='archived']");

        // bob logs in: the stored message is flushed to him, and the trace says so.
        const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
        try {
          await bob.waitFor((s) => s.is("message") && s.attrs.id === "trace-me-1");
          await page.waitForSelector("#timeline li[data-stage='flushed']", { timeout: 10_000 });
          await page.locator("#actors tr[data-actor^='c2s:'][data-state='established']").nth(1)
            .waitFor();
          await Deno.mkdir("tests/artifacts", { recursive: true });
          await page.screenshot({ path: "tests/artifacts/inspector.png", fullPage: true });
        } finally {
          await bob.stop();
        }
      } finally {
        await alice.stop();
      }
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
    }
  },
});
