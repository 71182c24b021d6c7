/**
 * A real web client against Parley: Converse.js (npm `converse.js`, its `dist/` served from
 * node_modules by a static server in this test on its own 127.0.0.1 port, never a CDN) in headless
 * Chromium (Debian's `chromium`, driven by playwright-core). The test fills Converse's login form,
 * opens a chat with a roster contact by clicking it, types a message and presses Enter; an
 * @xmpp/client user on TCP receives the exact body from the Converse user's JID and replies, and
 * the reply shows up in Converse. Once over WebSocket, once over BOSH (cross-origin, so CORS).
 * Screenshots go to tests/artifacts/converse-ws.png and converse-bosh.png.
 */
import assert from "node:assert/strict";
import { haveChromium, launchChromium } from "./helpers/browser.ts";
import { startTestServer } from "./helpers/server.ts";
import { connectClient, xml } from "./helpers/xmpp_client.ts";
import { freePort } from "./helpers/ports.ts";
import type { SessionRegistry } from "../plugins/sess_man/sessions.ts";

const chromiumPresent = haveChromium("converse_browser_test");

/** Converse's own log level; CONVERSE_LOG=debug also prints the browser console after each run. */
const LOGLEVEL = Deno.env.get("CONVERSE_LOG") ?? "info";
const PAGE_DIR = new URL("./web/converse/", import.meta.url);
const DIST_DIR = new URL("../node_modules/converse.js/dist/", import.meta.url);

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  wasm: "application/wasm",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  eot: "application/vnd.ms-fontobject",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
};

/** A static server for the test page (/, /glue.js) and Converse's dist/ (/dist/...). */
function serveStatic(port: number): { server: Deno.HttpServer; missing: string[] } {
  const missing: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    let file: URL | null = null;
    if (path === "/" || path === "/index.html") file = new URL("index.html", PAGE_DIR);
    else if (path === "/glue.js") file = new URL("glue.js", PAGE_DIR);
    else if (path.startsWith("/dist/") && !path.split("/").includes("..")) {
      file = new URL(path.slice("/dist/".length), DIST_DIR);
    }
    try {
      if (!file) throw new Deno.errors.NotFound(path);
      const body = await Deno.readFile(file);
      const ext = file.pathname.split(".").pop() ?? "";
      return new Response(body, {
        headers: { "content-type": TYPES[ext] ?? "application/octet-stream" },
      });
    } catch {
      missing.push(path);
      return new Response("not found\n", { status: 404 });
    }
  });
  return { server, missing };
}

async function converseRound(transport: "ws" | "bosh"): Promise<void> {
  await using t = await startTestServer({
    ws: { consider_secure: true },
    bosh: { consider_secure: true },
  });
  await t.addUser("alice", "alice-secret");
  await t.addUser("bob", "bob-secret");
  // Mutual subscriptions, so bob is in alice's roster when Converse fetches it.
  for (const [owner, contact] of [["alice", "bob"], ["bob", "alice"]]) {
    await t.db.roster.put(`${owner}@localhost`, {
      jid: `${contact}@localhost`,
      name: contact,
      subscription: "both",
      askOut: false,
      pendingIn: false,
      groups: [],
    });
  }

  const endpoint = transport === "ws"
    ? `websocket_url=${encodeURIComponent(`ws://127.0.0.1:${t.httpPort}/xmpp-websocket`)}`
    : `bosh_service_url=${encodeURIComponent(`http://127.0.0.1:${t.httpPort}/http-bind`)}`;
  let staticPort = freePort();
  while ([t.port, t.tlsPort, t.httpPort].includes(staticPort)) staticPort = freePort();
  const { server: web, missing } = serveStatic(staticPort);
  await using _web = { [Symbol.asyncDispose]: () => web.shutdown() };
  const bob = await connectClient({ port: t.port, username: "bob", password: "bob-secret" });
  await using _bob = { [Symbol.asyncDispose]: () => bob.stop() };
  const browser = await launchChromium();
  const pageErrors: string[] = [];
  const failed: string[] = [];
  const consoleLog: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => consoleLog.push(`${m.type()}: ${m.text()}`));
    // Nothing leaves loopback. Converse's fullscreen login page has a footer with sponsor logos
    // hard-wired to https://conversejs.org/media/logos/ (src/shared/components/footer.js): those
    // requests are blocked and recorded, and nothing else may try to go off-host.
    const offHost: string[] = [];
    const local = (url: string) => new URL(url).hostname === "127.0.0.1";
    await page.route((url) => !local(url.href), (route) => {
      offHost.push(route.request().url());
      return route.abort("blockedbyclient");
    });
    page.on("requestfailed", (r) => {
      if (local(r.url())) failed.push(`${r.url()} ${r.failure()?.errorText ?? ""}`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400) failed.push(`${r.url()} ${r.status()}`);
    });

    try {
      await page.goto(`http://127.0.0.1:${staticPort}/?${endpoint}&loglevel=${LOGLEVEL}`);

      // The real login form.
      await page.fill("#converse-login-jid", "alice@localhost");
      await page.fill("#converse-login-password", "alice-secret");
      await page.click("#converse-login button[type=submit]");

      // Logged in: the roster shows bob; clicking him opens a chat.
      const contact = page.locator("converse-roster a.open-chat[data-jid='bob@localhost']");
      await contact.waitFor({ timeout: 20_000 });
      await contact.click();
      const chat = page.locator("converse-chat[jid='bob@localhost']");
      const textarea = chat.locator("textarea.chat-textarea");
      await textarea.waitFor();

      const body = `hello from Converse over ${transport} ${crypto.randomUUID().slice(0, 8)}`;
      await textarea.fill(body);
      await textarea.press("Enter");

      const got = await bob.waitFor(
        (s) => s.is("message") && s.getChildText("body") === body,
        10_000,
        "the message typed into Converse",
      );
      assert.equal(got.getChildText("body"), body);
      assert.match(String(got.attrs.from), /^alice@localhost\/.+/);
      assert.equal(got.attrs.type, "chat");
      // ...and it came in over the transport under test, from the session Converse bound.
      const [session, ...others] = t.server.core.service<SessionRegistry>("sessions")
        .ofUser("alice@localhost");
      assert.equal(others.length, 0);
      assert.equal(session?.transport, transport === "ws" ? "websocket" : "bosh");
      assert.equal(String(got.attrs.from), session?.jid?.full);

      // bob answers; Converse shows the reply in the open chat.
      const reply = `hi Converse, bob here (${transport})`;
      await bob.send(
        xml("message", { to: got.attrs.from, type: "chat" }, xml("body", {}, reply)),
      );
      await chat.locator(".chat-msg__text", { hasText: reply }).waitFor({ timeout: 10_000 });
      await chat.locator(".chat-msg__text", { hasText: body }).waitFor();

      await Deno.mkdir("tests/artifacts", { recursive: true });
      await page.screenshot({ path: `tests/artifacts/converse-${transport}.png` });
    } catch (e) {
      console.error(`--- browser console (${transport}) ---\n${consoleLog.join("\n")}`);
      console.error(`--- page errors ---\n${pageErrors.join("\n")}`);
      console.error(`--- off-host requests (blocked) ---\n${offHost.join("\n")}`);
      console.error(`--- failed requests ---\n${[...failed, ...missing].join("\n")}`);
      await Deno.mkdir("tests/artifacts", { recursive: true });
      await page.screenshot({ path: `tests/artifacts/converse-${transport}-failed.png` })
        .catch(() => {});
      throw e;
    }
    assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
    assert.deepEqual(missing, [], "every file Converse asked for was served");
    assert.deepEqual(failed, [], "no failed requests");
    assert.deepEqual(
      offHost.filter((u) => !u.startsWith("https://conversejs.org/media/logos/")),
      [],
      "no requests off loopback other than the login footer's sponsor logos",
    );
  } finally {
    if (Deno.env.has("CONVERSE_LOG")) {
      console.log(`--- browser console (${transport}) ---\n${consoleLog.join("\n")}`);
    }
    await browser.close();
  }
}

for (const transport of ["ws", "bosh"] as const) {
  Deno.test({
    name: `Converse.js logs in over ${
      transport === "ws" ? "WebSocket" : "BOSH"
    } and chats with an @xmpp/client user`,
    ignore: !chromiumPresent,
    // The browser is a child process with its own pipes; it is closed before the test ends.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => converseRound(transport),
  });
}
