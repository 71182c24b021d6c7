import { Framer } from "../xml/framer.ts";
import { serialize, streamOpen } from "../xml/serialize.ts";

// The stanza these benchmarks use: a 360-byte chat message as typical clients send it. It is
// made a flat string, as a decoded socket read is: V8 keeps literal concatenations as rope
// strings, which index several times slower and would skew the timings.
const CHAT_MESSAGE = new TextDecoder().decode(
  new TextEncoder().encode(
    "<message from='juliet@example.com/balcony' to='romeo@example.net/orchard'" +
      " type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague? Neither," +
      " fair saint, if either thee dislike. How camest thou hither, tell me? Tell me, wherefore" +
      "</body><active xmlns='http://jabber.org/protocol/chatstates'/>" +
      "<request xmlns='urn:xmpp:receipts'/></message>",
  ),
);
if (new TextEncoder().encode(CHAT_MESSAGE).length !== 360) throw new Error("fixture must be 360 B");

const STREAM_HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

// Each iteration handles BATCH stanzas, so stanzas/s = BATCH / (time per iteration).
const BATCH = 1000;
const enc = new TextEncoder();
const batchBytes = enc.encode(CHAT_MESSAGE.repeat(BATCH));
const oneBytes = enc.encode(CHAT_MESSAGE);
// Reads arrive in socket-buffer-sized pieces that cut stanzas anywhere.
const READ = 16384;
const reads: Uint8Array[] = [];
for (let i = 0; i < batchBytes.length; i += READ) reads.push(batchBytes.subarray(i, i + READ));

function openFramer(): Framer {
  const f = new Framer({ maxStanzaBytes: 1 << 30 });
  f.push(STREAM_HEADER);
  return f;
}

function expect(n: number, got: number): void {
  if (n !== got) throw new Error(`expected ${n} events, got ${got}`);
}

const f1 = openFramer();
Deno.bench("framer: 1000 x 360 B chat messages in 16 KiB reads", { group: "framer" }, () => {
  let n = 0;
  for (const r of reads) n += f1.push(r).length;
  expect(BATCH, n);
});

const f2 = openFramer();
Deno.bench("framer: 1000 x 360 B chat messages, one push each", { group: "framer" }, () => {
  let n = 0;
  for (let i = 0; i < BATCH; i++) n += f2.push(oneBytes).length;
  expect(BATCH, n);
});

const f3 = openFramer();
const small = enc.encode(CHAT_MESSAGE.slice(0, 180));
const rest = enc.encode(CHAT_MESSAGE.slice(180));
Deno.bench("framer: 1000 x 360 B chat messages, each split in two", { group: "framer" }, () => {
  let n = 0;
  for (let i = 0; i < BATCH; i++) {
    n += f3.push(small).length;
    n += f3.push(rest).length;
  }
  expect(BATCH, n);
});

const dec = new TextDecoder();
Deno.bench("baseline: UTF-8 decode of the same 16 KiB reads", { group: "framer" }, () => {
  for (const r of reads) dec.decode(r, { stream: true });
});

const parsed = openFramer().push(CHAT_MESSAGE)[0];
if (parsed?.kind !== "element") throw new Error("fixture did not parse");
const message = parsed.element;

Deno.bench("serialize: 1000 x 360 B chat messages", { group: "serialize" }, () => {
  let len = 0;
  for (let i = 0; i < BATCH; i++) len += serialize(message).length;
  if (len === 0) throw new Error("empty");
});

const escapy = openFramer().push(
  "<message to='a@b' id='x&amp;y'><body>1 &lt; 2 &amp;&amp; 3 &gt; 2 😀 'quoted' and \"more\"</body></message>",
)[0];
if (escapy?.kind !== "element") throw new Error("fixture did not parse");
Deno.bench("serialize: 1000 messages needing escapes", { group: "serialize" }, () => {
  for (let i = 0; i < BATCH; i++) serialize(escapy.element);
});

Deno.bench("streamOpen: 1000 headers", { group: "serialize" }, () => {
  for (let i = 0; i < BATCH; i++) {
    streamOpen({
      xmlns: "jabber:client",
      "xmlns:stream": "http://etherx.jabber.org/streams",
      id: "c2s-1",
      from: "example.com",
      version: "1.0",
      "xml:lang": "en",
    });
  }
});
