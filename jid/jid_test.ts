import assert from "node:assert/strict";
import {
  escapeLocal,
  JID,
  jid,
  JidError,
  normalizeLocalpart,
  parseJid,
  tryParseJid,
  unescapeLocal,
} from "./mod.ts";

function parts(s: string): [string, string, string] {
  const j = parseJid(s);
  return [j.local, j.domain, j.resource];
}

function rejects(s: string, message: RegExp): void {
  assert.throws(
    () => parseJid(s),
    (e: unknown) => e instanceof JidError && message.test(e.message),
  );
  assert.equal(tryParseJid(s), null);
}

// RFC 7622 §3.5, "Examples": every JID the RFC lists as valid.
const RFC_VALID: [string, [string, string, string]][] = [
  ["juliet@example.com", ["juliet", "example.com", ""]],
  ["juliet@example.com/foo", ["juliet", "example.com", "foo"]],
  ["juliet@example.com/foo bar", ["juliet", "example.com", "foo bar"]],
  ["juliet@example.com/foo@bar", ["juliet", "example.com", "foo@bar"]],
  ["foo\\20bar@example.com", ["foo\\20bar", "example.com", ""]],
  ["fussball@example.com", ["fussball", "example.com", ""]],
  ["fußball@example.com", ["fußball", "example.com", ""]],
  ["π@example.com", ["π", "example.com", ""]],
  ["Σ@example.com/foo", ["σ", "example.com", "foo"]],
  ["σ@example.com/foo", ["σ", "example.com", "foo"]],
  ["ς@example.com/foo", ["ς", "example.com", "foo"]],
  ["king@example.com/♚", ["king", "example.com", "♚"]],
  ["example.com", ["", "example.com", ""]],
  ["example.com/foobar", ["", "example.com", "foobar"]],
  ["a.example.com/b@example.net", ["", "a.example.com", "b@example.net"]],
];

for (const [input, expected] of RFC_VALID) {
  Deno.test(`parseJid accepts the RFC 7622 example ${JSON.stringify(input)}`, () => {
    assert.deepEqual(parts(input), expected);
  });
}

// RFC 7622 §3.5, the examples of invalid JIDs.
const RFC_INVALID: [string, RegExp][] = [
  ["juliet@@example.com", /domainpart/],
  ["foo bar@example.com", /localpart contains a forbidden character: U\+0020/],
  ["juliet@test@example.com", /domainpart/],
  ["@example.com", /localpart is empty/],
  ["henry\u2163@example.com", /localpart contains a disallowed character/],
  ["♚@example.com", /localpart contains a disallowed character/],
  ["juliet@", /domainpart is empty/],
  ["/foobar", /domainpart is empty/],
];

for (const [input, message] of RFC_INVALID) {
  Deno.test(`parseJid rejects the RFC 7622 example ${JSON.stringify(input)}`, () => {
    rejects(input, message);
  });
}

Deno.test("parseJid lowercases the localpart and the domain but keeps the resource's case", () => {
  assert.deepEqual(parts("Juliet@Example.COM/Balcony"), ["juliet", "example.com", "Balcony"]);
});

Deno.test("parseJid strips one trailing dot from the domain", () => {
  assert.equal(parseJid("juliet@example.com./r").full, "juliet@example.com/r");
  assert.equal(parseJid("example.com.").full, "example.com");
});

Deno.test("parseJid rejects a domain with two trailing dots or an empty label", () => {
  rejects("juliet@example.com..", /empty label/);
  rejects("juliet@example..com", /empty label/);
  rejects("juliet@.example.com", /empty label/);
  rejects(".", /domainpart is empty/);
});

Deno.test("parseJid rejects an empty part whose separator is present", () => {
  rejects("@d", /localpart is empty/);
  rejects("u@", /domainpart is empty/);
  rejects("d/", /resourcepart is empty/);
  rejects("u@d/", /resourcepart is empty/);
  rejects("", /domainpart is empty/);
});

Deno.test("parseJid splits the resource at the first slash, so later slashes and @ belong to it", () => {
  assert.deepEqual(parts("u@d/a/b@c"), ["u", "d", "a/b@c"]);
  assert.deepEqual(parts("d/u@x"), ["", "d", "u@x"]);
});

Deno.test("parseJid rejects each forbidden localpart character", () => {
  for (const c of ['"', "&", "'", ":", "<", ">", "\t", "\x7f", "\u0000"]) {
    rejects(`a${c}b@example.com`, /localpart contains a forbidden character/);
  }
});

Deno.test("parseJid accepts a 1023-byte part and rejects a 1024-byte one", () => {
  const ok = "a".repeat(1023);
  assert.equal(parseJid(`${ok}@example.com/${ok}`).local.length, 1023);
  rejects(`${"a".repeat(1024)}@example.com`, /localpart is longer than 1023 bytes/);
  rejects(`example.com/${"r".repeat(1024)}`, /resourcepart is longer than 1023 bytes/);
  // 512 two-byte characters: 512 UTF-16 units but 1024 bytes.
  rejects(`${"é".repeat(512)}@example.com`, /localpart is longer than 1023 bytes/);
  rejects(`example.com/${"é".repeat(512)}`, /resourcepart is longer than 1023 bytes/);
});

Deno.test("parseJid rejects a string too long to be any JID before looking at it", () => {
  rejects("x".repeat(4000), /longer than 3071 bytes/);
});

Deno.test("parseJid limits domain labels to 63 bytes", () => {
  assert.ok(parseJid(`${"a".repeat(63)}.example.com`));
  rejects(`${"a".repeat(64)}.example.com`, /label longer than 63/);
});

Deno.test("parseJid rejects spaces, control characters and punctuation in the domain", () => {
  rejects("u@exa mple.com", /domainpart label is not valid/);
  rejects("u@example\u0001.com", /domainpart label is not valid/);
  rejects("u@exa!mple.com", /domainpart label is not valid/);
  rejects("u@-example.com", /domainpart label is not valid/);
  rejects("u@ex\u00e4 mple.com", /forbidden character/);
});

Deno.test("parseJid keeps IDN domains as lowercase NFC Unicode", () => {
  assert.equal(parseJid("u@R\u00C4KSM\u00D6RG\u00C5S.example").domain, "räksmörgås.example");
  // "a" + COMBINING DIAERESIS composes to "ä".
  assert.equal(parseJid("u@ra\u0308ksmo\u0308rga\u030as.example").domain, "räksmörgås.example");
});

Deno.test("parseJid turns an A-label into its U-label so both spellings are equal", () => {
  const a = parseJid("u@xn--rksmrgs-5wao1o.example");
  assert.equal(a.domain, "räksmörgås.example");
  assert.ok(a.equals(parseJid("u@räksmörgås.example")));
  rejects("u@xn--a.example", /invalid A-label/);
});

Deno.test("parseJid reads ideographic full stops in a domain as dots", () => {
  assert.equal(parseJid("u@例え\u3002テスト").domain, "例え.テスト");
});

Deno.test("parseJid accepts IPv4 addresses and rejects malformed ones", () => {
  assert.equal(parseJid("u@192.168.0.1/r").domain, "192.168.0.1");
  rejects("u@256.1.1.1", /IPv4/);
  rejects("u@1.2.3", /IPv4/);
  rejects("u@01.2.3.4", /IPv4/);
});

Deno.test("parseJid accepts bracketed IPv6 literals and rejects malformed ones", () => {
  assert.equal(parseJid("u@[::1]/r").domain, "[::1]");
  assert.equal(parseJid("u@[2001:DB8::A]").domain, "[2001:db8::a]");
  assert.equal(parseJid("[::ffff:192.0.2.1]").domain, "[::ffff:192.0.2.1]");
  assert.equal(parseJid("[1:2:3:4:5:6:7:8]").domain, "[1:2:3:4:5:6:7:8]");
  rejects("u@[1:2:3:4:5:6:7:8:9]", /IPv6/);
  rejects("u@[::1", /IPv6/);
  rejects("u@[1::2::3]", /IPv6/);
  rejects("u@[12345::]", /IPv6/);
  rejects("u@[]", /IPv6/);
});

Deno.test("parseJid refuses control characters in the resource but allows spaces and symbols", () => {
  rejects("u@example.com/a\u0007b", /resourcepart contains a control character/);
  rejects("u@example.com/a\u0085b", /resourcepart contains a control character/);
  assert.equal(parseJid("u@example.com/ spaced out ♥ ").resource, " spaced out ♥ ");
});

Deno.test("parseJid maps non-ASCII spaces in the resource to U+0020 and composes it (NFC)", () => {
  assert.equal(parseJid("u@d/a\u00a0b\u3000c").resource, "a b c");
  assert.equal(parseJid("u@d/Cafe\u0301").resource, "Café");
});

Deno.test("parseJid composes and width-maps the localpart", () => {
  assert.equal(parseJid("Cafe\u0301@d").local, "café");
  assert.equal(parseJid("\uff2a\uff55\uff4c\uff49\uff45\uff54@d").local, "juliet");
});

Deno.test("parseJid rejects unpaired surrogates in every part", () => {
  rejects("a\ud800@d", /unpaired surrogate/);
  rejects("u@d/\udc00x", /unpaired surrogate/);
  rejects("u@\ud800é.com", /unpaired surrogate/);
});

Deno.test("parseJid on a plain ASCII JID returns the very same substrings without normalize()", () => {
  const original = String.prototype.normalize;
  let calls = 0;
  String.prototype.normalize = function (this: string, form?: string) {
    calls++;
    return original.call(this, form);
  };
  try {
    parseJid("Romeo@Montague.LIT/Orchard");
    parseJid("juliet@capulet.lit/balcony");
  } finally {
    String.prototype.normalize = original;
  }
  assert.equal(calls, 0);
});

Deno.test("JID.bare and JID.full render with and without local and resource", () => {
  const j = parseJid("juliet@example.com/balcony");
  assert.equal(j.bare, "juliet@example.com");
  assert.equal(j.full, "juliet@example.com/balcony");
  assert.equal(String(j), "juliet@example.com/balcony");
  assert.equal(parseJid("example.com/r").bare, "example.com");
  assert.equal(`${parseJid("example.com")}`, "example.com");
});

Deno.test("bareJid drops the resource and returns itself when already bare", () => {
  const full = parseJid("juliet@example.com/balcony");
  const bare = full.bareJid();
  assert.ok(bare.isBare());
  assert.ok(!full.isBare());
  assert.equal(bare.full, "juliet@example.com");
  assert.equal(bare.bareJid(), bare);
});

Deno.test("withResource validates the new resource and keeps the bare part", () => {
  const j = parseJid("juliet@example.com/balcony").withResource("Orchard\u00a0A");
  assert.equal(j.full, "juliet@example.com/Orchard A");
  assert.equal(parseJid("juliet@example.com/b").withResource("").full, "juliet@example.com");
  assert.throws(() => j.withResource("bad\u0000"), JidError);
});

Deno.test("equals compares normalised parts", () => {
  assert.ok(parseJid("JULIET@Example.com/r").equals(parseJid("juliet@example.com./r")));
  assert.ok(!parseJid("juliet@example.com/r").equals(parseJid("juliet@example.com/R")));
  assert.ok(!parseJid("juliet@example.com").equals(parseJid("example.com")));
});

Deno.test("jid() validates and normalises its parts and treats '' as absent", () => {
  assert.equal(jid("Juliet", "Example.com", "Balcony").full, "juliet@example.com/Balcony");
  assert.equal(jid("", "example.com").full, "example.com");
});

Deno.test("jid() refuses an @ in the localpart: callers escape it with escapeLocal", () => {
  assert.throws(() => jid("a@b", "example.com"), /localpart contains a forbidden character/);
  assert.equal(jid(escapeLocal("a@b"), "example.com").full, "a\\40b@example.com");
});

Deno.test("new JID() validates like jid()", () => {
  assert.equal(new JID("A", "B.c", "R").full, "a@b.c/R");
  assert.throws(() => new JID("a", ""), /domainpart is empty/);
});

Deno.test("escapeLocal and unescapeLocal follow the XEP-0106 examples", () => {
  const examples: [string, string][] = [
    ["space cadet", "space\\20cadet"],
    ['call me "ishmael"', "call\\20me\\20\\22ishmael\\22"],
    ["at&t guy", "at\\26t\\20guy"],
    ["d'artagnan", "d\\27artagnan"],
    ["/.fanboy", "\\2f.fanboy"],
    ["::foo::", "\\3a\\3afoo\\3a\\3a"],
    ["<foo>", "\\3cfoo\\3e"],
    ["user@host", "user\\40host"],
    ["c:\\net", "c\\3a\\net"],
    ["c:\\\\net", "c\\3a\\\\net"],
    ["c:\\cool stuff", "c\\3a\\cool\\20stuff"],
    ["c:\\5commas", "c\\3a\\5c5commas"],
  ];
  for (const [raw, escaped] of examples) {
    assert.equal(escapeLocal(raw), escaped, raw);
    assert.equal(unescapeLocal(escaped), raw, escaped);
  }
});

Deno.test("escapeLocal refuses leading or trailing spaces", () => {
  assert.throws(() => escapeLocal(" x"), JidError);
  assert.throws(() => escapeLocal("x "), JidError);
});

Deno.test("unescapeLocal leaves unknown sequences alone and reads uppercase hex", () => {
  assert.equal(unescapeLocal("a\\41b\\2Fc"), "a\\41b/c");
  assert.equal(unescapeLocal("plain"), "plain");
});

Deno.test("normalizeLocalpart is usable on its own for SASL usernames", () => {
  assert.equal(normalizeLocalpart("User"), "user");
  assert.throws(() => normalizeLocalpart("a b"), JidError);
});
