import assert from "node:assert/strict";
import { initialTransition, transition } from "xstate";
import { x } from "../xml/element.ts";
import {
  DEFAULT_ROOM_CONFIG,
  type RoomConfig,
  type RoomEvent,
  type RoomInput,
  roomMachine,
} from "./room_machine.ts";

const ROOM = "room@conference.example.org";
const OWNER = "owner@example.org/a";
const BOB = "bob@example.org/b";
const CAROL = "carol@example.org/c";
const stanza = x("presence");

type Snap = ReturnType<typeof initialTransition<typeof roomMachine>>[0];

function start(over: Partial<RoomInput> = {}): Snap {
  const [snap] = initialTransition(roomMachine, {
    jid: ROOM,
    config: { ...DEFAULT_ROOM_CONFIG },
    locked: true,
    created: true,
    affiliations: { "owner@example.org": "owner" },
    ...over,
  });
  return snap;
}

function step(snap: Snap, event: RoomEvent) {
  const [next, actions] = transition(roomMachine, snap, event);
  return { next, actions: actions.map((a) => ({ type: a.type, params: a.params })) };
}

function join(jid: string, nick: string, password?: string): RoomEvent {
  return { type: "JOIN", request: { jid, nick, password, stanza } };
}

function refused(actions: { type: string; params: unknown }[]): string | undefined {
  const r = actions.find((a) => a.type === "refuse");
  return (r?.params as { condition: string } | undefined)?.condition;
}

/** An open room with the owner and bob in it. */
function openRoom(config: Partial<RoomConfig> = {}): Snap {
  let s = step(start(), join(OWNER, "owner")).next;
  s =
    step(s, { type: "CONFIGURE", by: OWNER, config: { ...DEFAULT_ROOM_CONFIG, ...config }, stanza })
      .next;
  return step(s, join(BOB, "bob")).next;
}

Deno.test("room machine: a new room is locked; its owner joins with created and is moderator", () => {
  const s0 = start();
  assert.ok(s0.matches("locked"));
  const { next, actions } = step(s0, join(OWNER, "owner"));
  assert.equal(next.context.occupants.owner?.role, "moderator");
  const joined = actions.find((a) => a.type === "joined");
  assert.deepEqual((joined?.params as { created: boolean }).created, true);
});

Deno.test("room machine: a locked room refuses others with item-not-found until configured", () => {
  const s1 = step(start(), join(OWNER, "owner")).next;
  const { next, actions } = step(s1, join(BOB, "bob"));
  assert.equal(refused(actions), "item-not-found");
  assert.equal(next.context.occupants.bob, undefined);
  const configured = step(s1, {
    type: "CONFIGURE",
    by: OWNER,
    config: { ...DEFAULT_ROOM_CONFIG },
    stanza,
  });
  assert.ok(configured.next.matches("open"));
  assert.ok(configured.actions.some((a) => a.type === "persist"));
  const again = step(configured.next, join(BOB, "bob"));
  assert.equal(again.next.context.occupants.bob?.role, "participant");
  const joined = again.actions.find((a) => a.type === "joined");
  assert.equal((joined?.params as { created: boolean }).created, false);
});

Deno.test("room machine: only an owner configures; others are refused with forbidden", () => {
  const s1 = step(start(), join(OWNER, "owner")).next;
  const { next, actions } = step(s1, {
    type: "CONFIGURE",
    by: BOB,
    config: { ...DEFAULT_ROOM_CONFIG },
    stanza,
  });
  assert.ok(next.matches("locked"));
  assert.equal(refused(actions), "forbidden");
});

Deno.test("room machine: cancelling the initial configuration destroys the room", () => {
  const s1 = step(start(), join(OWNER, "owner")).next;
  const { next, actions } = step(s1, { type: "CANCEL", by: OWNER, stanza });
  assert.ok(next.matches("destroyed"));
  assert.equal(next.status, "done");
  assert.ok(actions.some((a) => a.type === "destroyed"));
});

Deno.test("room machine: join refusals: banned 403, members-only 407, password 401, nick 409, full 503", () => {
  let s = openRoom({ passwordProtected: true, password: "pw", maxUsers: 3 });
  // openRoom has bob join after the password is set, without it.
  assert.equal(s.context.occupants.bob, undefined, "bob lacked the password");
  s = step(s, join(BOB, "bob", "pw")).next;
  assert.ok(s.context.occupants.bob);
  assert.equal(refused(step(s, join(CAROL, "carol", "nope")).actions), "not-authorized");
  assert.equal(refused(step(s, join(CAROL, "bob", "pw")).actions), "conflict");
  s = step(s, join(CAROL, "carol", "pw")).next;
  assert.equal(
    refused(step(s, join("dave@example.org/d", "dave", "pw")).actions),
    "service-unavailable",
  );

  const banned = step(s, {
    type: "ADMIN",
    by: OWNER,
    items: [{ kind: "affiliation", jid: "eve@example.org", affiliation: "outcast" }],
    stanza,
  }).next;
  assert.equal(refused(step(banned, join("eve@example.org/e", "eve", "pw")).actions), "forbidden");

  const mo = openRoom({ membersOnly: true });
  assert.equal(mo.context.occupants.bob, undefined);
  assert.equal(refused(step(mo, join(BOB, "bob")).actions), "registration-required");
});

Deno.test("room machine: a moderator kicks a participant (307) but not an admin", () => {
  const s = openRoom();
  const kick = step(s, {
    type: "ADMIN",
    by: OWNER,
    items: [{ kind: "role", nick: "bob", role: "none" }],
    stanza,
  });
  assert.equal(kick.next.context.occupants.bob, undefined);
  const left = kick.actions.find((a) => a.type === "left");
  assert.equal((left?.params as { cause: string }).cause, "kicked");
  assert.ok(kick.actions.some((a) => a.type === "done"));

  const byBob = step(s, {
    type: "ADMIN",
    by: BOB,
    items: [{ kind: "role", nick: "owner", role: "none" }],
    stanza,
  });
  assert.equal(refused(byBob.actions), "forbidden");
  assert.ok(byBob.next.context.occupants.owner);
});

Deno.test("room machine: banning an occupant removes it with cause banned and stores outcast", () => {
  const s = openRoom();
  const { next, actions } = step(s, {
    type: "ADMIN",
    by: OWNER,
    items: [{ kind: "affiliation", jid: "bob@example.org", affiliation: "outcast" }],
    stanza,
  });
  assert.equal(next.context.affiliations["bob@example.org"], "outcast");
  assert.equal(next.context.occupants.bob, undefined);
  const left = actions.find((a) => a.type === "left");
  assert.equal((left?.params as { cause: string }).cause, "banned");
  assert.ok(actions.some((a) => a.type === "persist"));
});

Deno.test("room machine: the last owner cannot be removed (conflict)", () => {
  const s = openRoom();
  const { actions } = step(s, {
    type: "ADMIN",
    by: OWNER,
    items: [{ kind: "affiliation", jid: "owner@example.org", affiliation: "member" }],
    stanza,
  });
  assert.equal(refused(actions), "conflict");
});

Deno.test("room machine: voice: in a moderated room newcomers are visitors until given voice", () => {
  let s = openRoom({ moderated: true });
  assert.equal(s.context.occupants.bob?.role, "visitor");
  s = step(s, {
    type: "ADMIN",
    by: OWNER,
    items: [{ kind: "role", nick: "bob", role: "participant" }],
    stanza,
  }).next;
  assert.equal(s.context.occupants.bob?.role, "participant");
});

Deno.test("room machine: nick change moves the occupant; a taken nick is a conflict", () => {
  let s = openRoom();
  s = step(s, join(CAROL, "carol")).next;
  assert.equal(
    refused(step(s, { type: "NICK_CHANGE", jid: BOB, nick: "carol", stanza }).actions),
    "conflict",
  );
  const { next, actions } = step(s, { type: "NICK_CHANGE", jid: BOB, nick: "robert", stanza });
  assert.equal(next.context.occupants.robert?.jid, BOB);
  assert.equal(next.context.occupants.bob, undefined);
  assert.deepEqual(actions.find((a) => a.type === "nickChanged")?.params, {
    from: "bob",
    to: "robert",
    stanza,
  });
});

Deno.test("room machine: subject changes by moderators, or by participants when allowed", () => {
  const s = openRoom();
  assert.equal(
    refused(step(s, { type: "SUBJECT", jid: BOB, text: "hi", stanza }).actions),
    "forbidden",
  );
  const byOwner = step(s, { type: "SUBJECT", jid: OWNER, text: "topic", stanza }).next;
  assert.deepEqual(byOwner.context.subject, { text: "topic", by: "owner" });
  const open = openRoom({ changeSubject: true });
  assert.equal(
    step(open, { type: "SUBJECT", jid: BOB, text: "mine", stanza }).next.context.subject.text,
    "mine",
  );
});

Deno.test("room machine: a temporary room stops when its last occupant leaves; a persistent one stays", () => {
  let s = openRoom();
  s = step(s, { type: "LEAVE", jid: BOB }).next;
  assert.ok(s.matches("open"));
  s = step(s, { type: "LEAVE", jid: OWNER }).next;
  assert.ok(s.matches("stopped"));
  assert.equal(s.status, "done");

  let p = openRoom({ persistent: true });
  p = step(p, { type: "LEAVE", jid: BOB }).next;
  p = step(p, { type: "LEAVE", jid: OWNER }).next;
  assert.ok(p.matches("open"));
});

Deno.test("room machine: a restored persistent room opens at once and keeps its affiliations", () => {
  const s = start({
    locked: false,
    created: false,
    config: { ...DEFAULT_ROOM_CONFIG, persistent: true, membersOnly: true },
    affiliations: { "owner@example.org": "owner", "bob@example.org": "member" },
  });
  assert.ok(s.matches("open"));
  const { next } = step(s, join(BOB, "bob"));
  assert.equal(next.context.occupants.bob?.role, "participant");
});

Deno.test("room machine: becoming members-only evicts non-members (322)", () => {
  const s = openRoom();
  const { next, actions } = step(s, {
    type: "CONFIGURE",
    by: OWNER,
    config: { ...DEFAULT_ROOM_CONFIG, membersOnly: true },
    stanza,
  });
  assert.equal(next.context.occupants.bob, undefined);
  const left = actions.find((a) => a.type === "left");
  assert.equal((left?.params as { cause: string }).cause, "members-only");
  assert.ok(actions.some((a) => a.type === "configured"));
});

Deno.test("room machine: a mediated invitation to a members-only room makes the invitee a member", () => {
  let s = openRoom({ membersOnly: true });
  s = step(s, { type: "INVITE", by: OWNER, invitee: "bob@example.org", stanza }).next;
  assert.equal(s.context.affiliations["bob@example.org"], "member");
  s = step(s, join(BOB, "bob")).next;
  const { next, actions } = step(s, {
    type: "INVITE",
    by: BOB,
    invitee: "carol@example.org",
    stanza,
  });
  assert.equal(next.context.affiliations["carol@example.org"], "member");
  assert.ok(actions.some((a) => a.type === "invited"));
  const open = openRoom();
  const plain = step(open, { type: "INVITE", by: BOB, invitee: "carol@example.org", stanza });
  assert.equal(plain.next.context.affiliations["carol@example.org"], undefined, "open room: no");
  assert.ok(plain.actions.some((a) => a.type === "invited"));
});

Deno.test("room machine: only an owner destroys the room", () => {
  const s = openRoom();
  assert.equal(refused(step(s, { type: "DESTROY", by: BOB, stanza }).actions), "forbidden");
  const { next, actions } = step(s, { type: "DESTROY", by: OWNER, reason: "bye", stanza });
  assert.ok(next.matches("destroyed"));
  const d = actions.find((a) => a.type === "destroyed")?.params as { occupants: unknown[] };
  assert.equal(d.occupants.length, 2);
});
