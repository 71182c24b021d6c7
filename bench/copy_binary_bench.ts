/**
 * The archive's COPY encoding per entry, and why short strings skip `TextEncoder.encodeInto`: its
 * call costs about the same for 20 characters as for 300.
 *
 *   deno bench --allow-all bench/copy_binary_bench.ts
 */
import { CopyBinaryWriter, TEXT_OID } from "../db/copy_binary.ts";

const encoder = new TextEncoder();
const buf = new Uint8Array(1 << 16);
const jid = "user12@localhost";
const xml = `<message xmlns="jabber:client" type="chat" to="user1@localhost" ` +
  `from="user2@localhost/r" id="m123"><body>message number 123 from the load generator</body>` +
  `<stanza-id xmlns="urn:xmpp:sid:0" id="0mipd1x2k00a3bcdefgh" by="user1@localhost"/></message>`;

function asciiLoop(s: string, b: Uint8Array): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    b[i] = c;
  }
  return s.length;
}

Deno.bench("encodeInto, a JID", { group: "jid" }, () => {
  encoder.encodeInto(jid, buf);
});
Deno.bench("loop, a JID", { group: "jid", baseline: true }, () => {
  asciiLoop(jid, buf);
});
Deno.bench("encodeInto, a message", { group: "xml", baseline: true }, () => {
  encoder.encodeInto(xml, buf);
});
Deno.bench("loop, a message", { group: "xml" }, () => {
  asciiLoop(xml, buf);
});

Deno.bench("one segment of 50 entries (id, peer, direction, XML)", () => {
  const w = new CopyBinaryWriter(32 * 1024);
  w.row(4);
  for (const get of [() => "0mipd1x2k00a3bcdefgh", () => jid, () => "in", () => xml]) {
    w.startArray(TEXT_OID, 50);
    for (let i = 0; i < 50; i++) w.text(get());
    w.endArray();
  }
  w.finish();
});
