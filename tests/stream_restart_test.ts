/**
 * Stream restarts on the wire (RFC 6120 §4.3.3, §5.4.3.3, §6.4.6): after STARTTLS and after SASL
 * success the server answers the client's new header with a new header of its own.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./helpers/server.ts";
import { RawClient, streamHeader } from "./helpers/raw_client.ts";

Deno.test("each stream restart (STARTTLS, SASL) gets a response header with a new stream id", async () => {
  await using t = await startTestServer();
  await t.addUser("alice", "alice-secret");
  await using c = await RawClient.connect({ port: t.port });
  const ids: string[] = [];
  const open = async () => {
    c.send(streamHeader());
    const header = await c.readUntil(/<stream:stream\b[^>]*>/);
    const id = /\bid=['"]([^'"]+)['"]/.exec(header)?.[1];
    assert.ok(id, `the header has an id: ${header}`);
    ids.push(id);
    return await c.readUntil(/<\/stream:features>/);
  };
  await open();
  await c.startTls();
  await open();
  assert.deepEqual(await c.authenticate("alice", "alice-secret"), { ok: true });
  const features = await open();
  assert.match(features, /<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'\/>/);
  assert.equal(new Set(ids).size, 3, `three distinct stream ids: ${ids.join(" ")}`);
});
