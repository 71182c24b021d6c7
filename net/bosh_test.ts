// BOSH bookkeeping without HTTP or a server: bodies in, responses out, a fake stream behind.
import assert from "node:assert/strict";
import { x } from "../xml/element.ts";
import type { FrameEvent } from "../xml/framer.ts";
import { parseElement } from "../xml/parse.ts";
import { BoshManager, type BoshReply, type BoshStream, type BoshTransport } from "./bosh.ts";
import { parseBody } from "./bosh_body.ts";

const HB = "http://jabber.org/protocol/httpbind";

function body(attrs: Record<string, string>, payload = ""): string {
  let s = `<body xmlns='${HB}' xmlns:xmpp='urn:xmpp:xbosh'`;
  for (const [k, v] of Object.entries(attrs)) s += ` ${k}='${v}'`;
  return payload ? `${s}>${payload}</body>` : `${s}/>`;
}

/** Echoes every stanza back; answers the header with features; closes when asked. */
class EchoStream implements BoshStream {
  frames: FrameEvent[] = [];
  transportClosed = false;
  open = true;
  constructor(readonly transport: BoshTransport) {}
  onFrames(frames: FrameEvent[]): void {
    for (const f of frames) {
      this.frames.push(f);
      if (f.kind === "open") {
        this.transport.sendHeader({ id: "stream-1", from: "localhost" });
        this.transport.sendElement(x("stream:features", {}, x("bind", { xmlns: "b" })));
      } else if (f.kind === "element") this.transport.sendElement(f.element);
      else if (f.kind === "close") this.transport.sendClose();
    }
  }
  onTransportClosed(): void {
    this.transportClosed = true;
    this.open = false;
  }
  onTlsDone(): void {}
  shutdown(): void {
    this.transport.sendElement(x("stream:error", {}, x("system-shutdown", { xmlns: "s" })));
    this.transport.sendClose();
  }
}

function setup(overrides: Partial<ConstructorParameters<typeof BoshManager>[0]> = {}) {
  const streams: EchoStream[] = [];
  const manager = new BoshManager({
    domain: "localhost",
    maxWait: 60,
    maxHold: 1,
    inactivity: 60,
    polling: 5,
    maxPause: 120,
    maxBodyBytes: 10000,
    maxDepth: 16,
    maxQueuedBytes: 1 << 20,
    ...overrides,
  }, {
    admit: () => true,
    createStream: (transport) => {
      const s = new EchoStream(transport);
      streams.push(s);
      return s;
    },
  });
  const info = { remoteAddress: "127.0.0.1", secure: true };
  const send = (text: string) => manager.handle(text, info);
  return { manager, streams, send };
}

const parse = (r: BoshReply) => parseElement(r.body);

Deno.test("parseBody reads one httpbind body and puts unqualified stanzas in jabber:client", () => {
  const r = parseBody(
    `<?xml version='1.0'?><body xmlns='${HB}' rid='1'> <message to='a@b'><body>hi</body></message>` +
      `<iq xmlns='jabber:client' type='get' id='1'/></body>`,
    1000,
    8,
  );
  assert.ok(r.ok);
  const [m, iq] = r.body.elements();
  assert.equal(m?.ns, "jabber:client");
  assert.equal(m?.getChild("body")?.ns, "jabber:client");
  assert.equal(iq?.ns, "jabber:client");
  assert.equal(r.body.children.length, 2, "whitespace between stanzas dropped");
});

Deno.test("parseBody refuses DOCTYPE, comments, PIs, entities, stray text, other roots and oversized bodies", () => {
  const bad = [
    `<!DOCTYPE body><body xmlns='${HB}'/>`,
    `<body xmlns='${HB}'><!-- c --></body>`,
    `<body xmlns='${HB}'><?pi x?></body>`,
    `<body xmlns='${HB}'><message>&ent;</message></body>`,
    `<body xmlns='${HB}'>text</body>`,
    `<body xmlns='${HB}'/><body xmlns='${HB}'/>`,
    `<body/>`,
    `<body xmlns='${HB}'>`,
    `<body xmlns='${HB}'><message><body>${"x".repeat(2000)}</body></message></body>`,
    `<body xmlns='${HB}'>${"<a>".repeat(10)}${"</a>".repeat(10)}</body>`,
  ];
  for (const text of bad) assert.equal(parseBody(text, 1000, 8).ok, false, text);
});

Deno.test("the creation response carries the stream id and the features the stream wrote", async () => {
  const { manager, send } = setup();
  const r = parse(
    await send(body({ rid: "10", to: "localhost", wait: "30", hold: "1", ver: "1.6" })),
  );
  assert.equal(r.attrs.authid, "stream-1");
  assert.equal(r.attrs.ver, "1.6", "the lower of the two versions");
  assert.equal(r.attrs.requests, "2");
  assert.ok(r.getChild("features", "http://etherx.jabber.org/streams"));
  manager.stop();
});

Deno.test("a held request is answered as soon as output is ready, and a repeated rid replays it", async () => {
  const { manager, streams, send } = setup();
  const sid = parse(
    await send(body({ rid: "10", to: "localhost", wait: "30", hold: "1", ver: "1.11" })),
  )
    .attrs.sid!;
  const held = send(body({ rid: "11", sid }));
  const carrying = send(body({ rid: "12", sid }, "<message xmlns='jabber:client' id='m1'/>"));
  // rid 12 releases the held rid 11 (hold = 1); the echo goes out on rid 12.
  const r11 = await held;
  assert.equal(parse(r11).elements().length, 0);
  const r12 = await carrying;
  assert.equal(parse(r12).getChild("message")?.attrs.id, "m1");
  assert.equal(streams[0]!.frames.filter((f) => f.kind === "element").length, 1);

  const again = await send(body({ rid: "12", sid }, "<message xmlns='jabber:client' id='m1'/>"));
  assert.equal(again.body, r12.body);
  assert.equal(
    streams[0]!.frames.filter((f) => f.kind === "element").length,
    1,
    "a replayed request is not processed twice",
  );
  manager.stop();
});

Deno.test("a held request with nothing to say is answered empty after `wait` seconds", async () => {
  const { manager, send } = setup();
  const sid = parse(
    await send(body({ rid: "10", to: "localhost", wait: "1", hold: "1", ver: "1.11" })),
  )
    .attrs.sid!;
  const started = Date.now();
  const r = parse(await send(body({ rid: "11", sid })));
  assert.equal(r.elements().length, 0);
  assert.notEqual(r.attrs.type, "terminate");
  assert.ok(Date.now() - started >= 900, "held for about `wait`");
  manager.stop();
});

Deno.test("type='terminate' ends the stream and later requests get the terminal response", async () => {
  const { manager, streams, send } = setup();
  const sid = parse(
    await send(body({ rid: "10", to: "localhost", wait: "30", hold: "1", ver: "1.11" })),
  )
    .attrs.sid!;
  const r = parse(await send(body({ rid: "11", sid, type: "terminate" }, "<presence/>")));
  assert.equal(r.attrs.type, "terminate");
  assert.ok(r.getChild("presence"), "the echo of the final stanza comes with it");
  await Promise.resolve();
  assert.ok(streams[0]!.transportClosed);
  const later = parse(await send(body({ rid: "12", sid })));
  assert.equal(later.attrs.type, "terminate");
  manager.stop();
  assert.equal(manager.size, 0);
});

Deno.test("stopping the manager answers held requests with the stream's goodbye", async () => {
  const { manager, send } = setup();
  const sid = parse(
    await send(body({ rid: "10", to: "localhost", wait: "30", hold: "1", ver: "1.11" })),
  )
    .attrs.sid!;
  const held = send(body({ rid: "11", sid }));
  manager.stop();
  const r = parse(await held);
  assert.equal(r.attrs.type, "terminate");
  assert.equal(r.attrs.condition, "remote-stream-error");
  assert.ok(r.getChild("error", "http://etherx.jabber.org/streams"));
  const after = parse(await send(body({ rid: "12", sid })));
  assert.equal(after.attrs.condition, "item-not-found");
});

Deno.test("pause answers the held request and a pause longer than maxpause is refused", async () => {
  const { manager, send } = setup({ maxPause: 10 });
  const sid = parse(
    await send(body({ rid: "10", to: "localhost", wait: "30", hold: "1", ver: "1.11" })),
  )
    .attrs.sid!;
  const held = send(body({ rid: "11", sid }));
  const paused = parse(await send(body({ rid: "12", sid, pause: "5" })));
  assert.notEqual(paused.attrs.type, "terminate");
  assert.equal(parse(await held).attrs.type, undefined);
  const tooLong = parse(await send(body({ rid: "13", sid, pause: "60" })));
  assert.equal(tooLong.attrs.condition, "policy-violation");
  manager.stop();
});
