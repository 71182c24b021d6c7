import assert from "node:assert/strict";
import { AuthThrottle } from "./mod.ts";

function clocked(
  opts: { maxFailures?: number; windowMs?: number; lockoutMs?: number; maxEntries?: number } = {},
) {
  let t = 1_000_000;
  const throttle = new AuthThrottle({
    maxFailures: opts.maxFailures ?? 5,
    windowMs: opts.windowMs ?? 60_000,
    lockoutMs: opts.lockoutMs ?? 300_000,
    maxEntries: opts.maxEntries,
    now: () => t,
  });
  return { throttle, advance: (ms: number) => (t += ms) };
}

Deno.test("throttle allows a key it has never seen", () => {
  const { throttle } = clocked();
  assert.deepEqual(throttle.check("192.0.2.1"), { allowed: true });
});

Deno.test("throttle locks a key out after maxFailures failures and says for how long", () => {
  const { throttle, advance } = clocked();
  for (let i = 0; i < 4; i++) {
    throttle.fail("ip");
    assert.deepEqual(throttle.check("ip"), { allowed: true }, `after ${i + 1} failures`);
  }
  throttle.fail("ip");
  assert.deepEqual(throttle.check("ip"), { allowed: false, retryAfterMs: 300_000 });
  advance(100_000);
  assert.deepEqual(throttle.check("ip"), { allowed: false, retryAfterMs: 200_000 });
});

Deno.test("throttle lets a key in again when the lockout ends", () => {
  const { throttle, advance } = clocked();
  for (let i = 0; i < 5; i++) throttle.fail("ip");
  advance(300_000);
  assert.deepEqual(throttle.check("ip"), { allowed: true });
});

Deno.test("throttle counts failures afresh after a lockout", () => {
  const { throttle, advance } = clocked();
  for (let i = 0; i < 5; i++) throttle.fail("ip");
  advance(300_000);
  throttle.fail("ip");
  assert.deepEqual(throttle.check("ip"), { allowed: true });
  for (let i = 0; i < 4; i++) throttle.fail("ip");
  assert.equal(throttle.check("ip").allowed, false);
});

Deno.test("throttle forgets failures older than the window", () => {
  const { throttle, advance } = clocked();
  for (let i = 0; i < 4; i++) throttle.fail("ip");
  advance(60_000);
  throttle.fail("ip");
  assert.deepEqual(throttle.check("ip"), { allowed: true });
});

Deno.test("throttle keeps keys apart", () => {
  const { throttle } = clocked({ maxFailures: 2 });
  throttle.fail("a");
  throttle.fail("a");
  throttle.fail("b");
  assert.equal(throttle.check("a").allowed, false);
  assert.equal(throttle.check("b").allowed, true);
});

Deno.test("throttle forgets a key's failures on success", () => {
  const { throttle } = clocked();
  for (let i = 0; i < 4; i++) throttle.fail("ip");
  throttle.succeed("ip");
  throttle.fail("ip");
  assert.deepEqual(throttle.check("ip"), { allowed: true });
  assert.equal(throttle.size, 1);
});

Deno.test("throttle.prune drops entries that no longer matter and keeps lockouts", () => {
  const { throttle, advance } = clocked({ maxFailures: 1, windowMs: 1_000, lockoutMs: 10_000 });
  const quiet = clocked({ maxFailures: 3, windowMs: 1_000 });
  quiet.throttle.fail("x");
  quiet.advance(1_000);
  quiet.throttle.prune();
  assert.equal(quiet.throttle.size, 0);

  throttle.fail("locked");
  advance(5_000);
  throttle.prune();
  assert.equal(throttle.size, 1);
  assert.equal(throttle.check("locked").allowed, false);
});

Deno.test("throttle never remembers more than maxEntries keys and drops the oldest first", () => {
  const { throttle } = clocked({ maxFailures: 1, maxEntries: 100 });
  for (let i = 0; i < 1_000; i++) throttle.fail(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(throttle.size, 100);
  assert.equal(throttle.check("10.0.0.0").allowed, true);
  assert.equal(throttle.check("10.0.3.231").allowed, false);
});

Deno.test("throttle sweeps stale keys as it grows instead of evicting live ones", () => {
  const { throttle, advance } = clocked({ maxFailures: 2, windowMs: 1_000, maxEntries: 3_000 });
  throttle.fail("victim");
  throttle.fail("victim"); // locked for 300 s
  for (let i = 0; i < 2_000; i++) throttle.fail(`old-${i}`);
  advance(2_000);
  for (let i = 0; i < 2_000; i++) throttle.fail(`new-${i}`);
  assert.ok(throttle.size <= 3_000);
  assert.equal(throttle.check("victim").allowed, false);
});

Deno.test("throttle rejects nonsensical options", () => {
  assert.throws(() => new AuthThrottle({ maxFailures: 0, windowMs: 1, lockoutMs: 1 }), RangeError);
  assert.throws(() => new AuthThrottle({ maxFailures: 1, windowMs: 0, lockoutMs: 1 }), RangeError);
});
