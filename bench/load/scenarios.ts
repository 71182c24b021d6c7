import type { XmppClient } from "./client.ts";
import { attr, childText, escapeXml } from "./framer.ts";
import {
  closeAll,
  cpuSince,
  login,
  machineTicks,
  now,
  type Options,
  pool,
  provision,
  type Result,
  rssKiB,
  sleep,
  summarize,
  userName,
} from "./common.ts";

const BODY_RE = /<body>(\d+):(\d+):([\d.]+)<\/body>/;
const rate = (n: number, ms: number) => (ms > 0 ? Math.round((n * 10_000) / ms) / 10 : 0);
const bare = (o: Options, i: number) => `${userName(o, i)}@${o.domain}`;

/** Available presence, then a ping whose answer proves the server has processed the presence. */
async function goOnline(c: XmppClient, domain: string): Promise<void> {
  c.send("<presence/>");
  await ping(c, domain);
}

function ping(c: XmppClient, domain: string): Promise<string> {
  const id = c.id("ping");
  return c.iq(
    `<iq type='get' to='${escapeXml(domain)}' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    id,
  );
}

async function loginMany(o: Options, count: number, deadline: number, online: boolean, from = 0) {
  const clients: XmppClient[] = new Array(count);
  const r = await pool(count, o.concurrency, deadline, async (i) => {
    const c = await login(o, from + i);
    clients[i] = c;
    if (online) await goOnline(c, o.domain);
  });
  if (r.done < count) {
    await closeAll(clients.filter(Boolean));
    throw new Error(`only ${r.done}/${count} sessions: ${r.errors.slice(0, 3).join("; ")}`);
  }
  return clients;
}

/** Wait until `done()` or the deadline, polling cheaply; bounded by construction. */
async function until(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && now() < deadline) await sleep(5);
}

/**
 * Full logins (connect to session and presence), `concurrency` at a time. The timed pass follows
 * `warmLogins` untimed passes over the same accounts: a client logs in to an account it has seen
 * before with the SCRAM salted password it kept (RFC 5802 §5.1), so PBKDF2 runs once per account
 * in the generator, not in every timed login, and the timed logins measure the server. Every server
 * gets the same passes.
 */
export async function scenarioLogin(o: Options): Promise<Result> {
  const prov = await provision(o, o.users);
  const deadline = now() + o.durationS * 1000;
  // A login ends at its session; the stream's close is cleanup and is not waited for in the slot
  // (a server that is slow to answer </stream:stream> would otherwise be measured by the close
  // timeout), only after the pass.
  const pass = async (latencies?: number[]) => {
    const closing: Promise<void>[] = [];
    const r = await pool(o.users, o.concurrency, deadline, async (i) => {
      const start = now();
      const c = await login(o, i);
      latencies?.push(now() - start);
      c.send("<presence/>");
      closing.push(c.close(200));
    });
    return { ...r, closed: closing };
  };
  const w0 = now();
  for (let k = 0; k < o.warmLogins; k++) {
    const w = await pass();
    await Promise.all(w.closed);
    if (w.errors.length > 0) throw new Error(`warm-up logins failed: ${w.errors.slice(0, 3)}`);
  }
  const warmMs = now() - w0;
  const latencies: number[] = [];
  // CPU of the timed pass alone (its closes included): the scenario's totals also cover
  // provisioning and the untimed passes, which cost each server differently.
  const cpu = cpuSince(o.pid);
  const machine0 = machineTicks();
  const t0 = now();
  const r = await pass(latencies);
  const ms = now() - t0;
  await Promise.all(r.closed);
  const used = cpu();
  const machine1 = machineTicks();
  const perLogin = (cpuUs: number) => r.done > 0 ? Math.round(cpuUs / r.done) : undefined;
  return {
    scenario: "login",
    ok: r.errors.length === 0,
    provision: prov,
    warmLogins: o.warmLogins,
    warmMs: Math.round(warmMs),
    attempted: o.users,
    logins: r.done,
    errors: r.errors.length,
    errorSamples: r.errors.slice(0, 5),
    concurrency: o.concurrency,
    elapsedMs: Math.round(ms),
    loginsPerSec: rate(r.done, ms),
    latencyMs: summarize(latencies),
    clientCpuUsPerLogin: perLogin(used.clientUs),
    serverCpuUsPerLogin: used.serverMs !== undefined ? perLogin(used.serverMs * 1000) : undefined,
    // Whether the timed pass had the machine's cores to itself and used them: the generator, the
    // server and the kernel's loopback work together.
    machineBusyPct: machine0 && machine1 && machine1.total > machine0.total
      ? Math.round((100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total))
      : undefined,
  };
}

/**
 * Server RSS per idle session beyond a fixed base. A warm-up batch of sessions is opened first and
 * kept open, so one-time costs (code paged in, JIT, pools, the first logins' caches) land in the
 * base; then `--users` more are opened. On each side VmRSS is read every `--sample-interval` ms
 * for `--settle` ms and the minimum is used: an idle server's RSS only falls as its collector
 * returns memory (V8's memory reducer runs ~10-30 s after a burst), so the minimum is the settled
 * figure, and a collection between two readings can no longer swing it. The samples are reported,
 * with the figure the last five of each side give, so an unsettled run shows. Only /proc is read:
 * the method is the same for every server.
 */
export async function scenarioIdle(o: Options): Promise<Result> {
  const W = o.warmup, N = o.users;
  const prov = await provision(o, W + N);
  const deadline = now() + o.durationS * 1000;
  const t0 = now();
  const warm = W > 0 ? await loginMany(o, W, deadline, true) : [];
  const warmupMs = now() - t0;
  const base = o.pid ? await rssSamples(o) : [];
  const t1 = now();
  let clients: XmppClient[];
  try {
    clients = await loginMany(o, N, deadline, true, W);
  } catch (e) {
    await closeAll(warm);
    throw e;
  }
  const loginMs = now() - t1;
  const after = o.pid ? await rssSamples(o) : [];
  await closeAll([...warm, ...clients]);
  const measured = base.length > 0 && after.length > 0;
  const perKiB = (a: number, b: number) => Math.round(((a - b) / N) * 100) / 100;
  const tail = (xs: number[]) => median(xs.slice(-5));
  return {
    scenario: "idle",
    ok: true,
    provision: prov,
    warmupSessions: warm.length,
    sessions: clients.length,
    pid: o.pid ?? null,
    rssBaseKiB: measured ? Math.min(...base) : null,
    rssAfterKiB: measured ? Math.min(...after) : null,
    kibPerSession: measured ? perKiB(Math.min(...after), Math.min(...base)) : null,
    // Equal to kibPerSession when both sides had settled by the end of their window.
    kibPerSessionTail: measured ? perKiB(tail(after), tail(base)) : null,
    settleMs: o.settleMs,
    sampleIntervalMs: o.sampleIntervalMs,
    rssBaseSamplesKiB: base,
    rssAfterSamplesKiB: after,
    note: o.pid ? undefined : "no --pid: RSS not measured",
    warmupMs: Math.round(warmupMs),
    loginMs: Math.round(loginMs),
  };
}

/** VmRSS of the server every `--sample-interval` ms for `--settle` ms (at least one reading). */
async function rssSamples(o: Options): Promise<number[]> {
  const out: number[] = [];
  const end = now() + o.settleMs;
  do {
    await sleep(o.sampleIntervalMs);
    const v = rssKiB(o.pid!);
    if (v === undefined) throw new Error(`cannot read /proc/${o.pid}/status`);
    out.push(v);
  } while (now() < end);
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function scenarioThroughput(o: Options): Promise<Result> {
  const P = o.pairs, M = o.messages, W = Math.max(1, o.window);
  const prov = await provision(o, 2 * P);
  const deadline = now() + o.durationS * 1000;
  const clients = await loginMany(o, 2 * P, deadline, true);
  const seen = Array.from({ length: P }, () => new Uint8Array(M));
  const maxSeq = new Int32Array(P).fill(-1);
  const nextSeq = new Int32Array(P);
  const latencies = new Float64Array(P * M);
  let delivered = 0, unique = 0, dups = 0, outOfOrder = 0, errors = 0, sent = 0;
  let stop = false;
  let tLast = 0;
  const sendNext = (p: number) => {
    if (stop || nextSeq[p]! >= M) return;
    const seq = nextSeq[p]!++;
    sent++;
    clients[2 * p]!.send(
      `<message to='${bare(o, 2 * p + 1)}' type='chat' id='t${p}-${seq}'><body>${p}:${seq}:${
        now().toFixed(3)
      }</body></message>`,
    );
  };
  for (let p = 0; p < P; p++) {
    clients[2 * p]!.onStanza = (raw, name) => {
      if (name === "message" && attr(raw, "type") === "error") errors++;
    };
    clients[2 * p + 1]!.onStanza = (raw, name) => {
      if (name !== "message") return;
      const m = BODY_RE.exec(raw);
      if (!m) {
        if (attr(raw, "type") === "error") errors++;
        return;
      }
      const t = now();
      const pair = Number(m[1]), seq = Number(m[2]);
      if (pair !== p || seq >= M) return;
      delivered++;
      tLast = t;
      if (seen[p]![seq]) {
        dups++;
        return;
      }
      seen[p]![seq] = 1;
      latencies[unique++] = t - Number(m[3]);
      if (seq < maxSeq[p]!) outOfOrder++;
      else maxSeq[p] = seq;
      sendNext(p);
    };
  }
  const t0 = now();
  for (let p = 0; p < P; p++) for (let k = 0; k < Math.min(W, M); k++) sendNext(p);
  await until(() => unique >= P * M, deadline);
  stop = true;
  // Give stragglers a moment so loss is not confused with latency.
  await until(() => unique >= sent, Math.min(now() + 3000, deadline + 3000));
  const ms = (tLast || now()) - t0;
  await closeAll(clients);
  return {
    scenario: "throughput",
    ok: unique === sent && dups === 0 && outOfOrder === 0 && errors === 0 && sent === P * M,
    provision: prov,
    pairs: P,
    window: W,
    messagesPerPair: M,
    sent,
    delivered,
    lost: sent - unique,
    duplicates: dups,
    outOfOrder,
    errorStanzas: errors,
    elapsedMs: Math.round(ms),
    msgsPerSec: rate(unique, ms),
    latencyMs: summarize(Array.from(latencies.subarray(0, unique))),
  };
}

export async function scenarioOffline(o: Options): Promise<Result> {
  const K = o.messages;
  const prov = await provision(o, 2);
  const deadline = now() + o.durationS * 1000;
  // Drain anything a previous run left in the receiver's offline store.
  const drain = await login(o, 1, "drain");
  let leftovers = 0, lastSeen = now();
  drain.onStanza = (_raw, name) => {
    if (name === "message") leftovers++, lastSeen = now();
  };
  await goOnline(drain, o.domain);
  await until(() => now() - lastSeen > 500, Math.min(deadline, now() + 20_000));
  await drain.close(1000);
  await sleep(300);

  const sender = await login(o, 0, "sender");
  let errors = 0;
  sender.onStanza = (raw, name) => {
    if (name === "message" && attr(raw, "type") === "error") errors++;
  };
  const to = bare(o, 1);
  const tStore0 = now();
  for (let seq = 0; seq < K; seq++) {
    sender.send(
      `<message to='${to}' type='chat' id='o${seq}'><body>0:${seq}:${
        now().toFixed(3)
      }</body></message>`,
    );
    // Yield now and then so one giant write does not sit in our own buffers.
    if (seq % 200 === 199) await sleep(0);
  }
  // Stanzas from one session are handled in order, so the ping answer follows the last store.
  await ping(sender, o.domain);
  const storeMs = now() - tStore0;

  const receiver = await login(o, 1, "receiver");
  const seen = new Uint8Array(K);
  let unique = 0, dups = 0, outOfOrder = 0, maxSeq = -1, tLast = 0, delayed = 0;
  receiver.onStanza = (raw, name) => {
    if (name !== "message") return;
    const m = BODY_RE.exec(raw);
    if (!m) return;
    const seq = Number(m[2]);
    if (seq >= K) return;
    tLast = now();
    if (raw.includes("urn:xmpp:delay")) delayed++;
    if (seen[seq]) return void dups++;
    seen[seq] = 1;
    unique++;
    if (seq < maxSeq) outOfOrder++;
    else maxSeq = seq;
  };
  const t0 = now();
  receiver.send("<presence/>");
  // A server that stored nothing sends nothing: give up after 10 s of silence.
  await until(() => unique >= K || now() - (tLast || t0) > 10_000, deadline);
  await sleep(200);
  const flushMs = (tLast || now()) - t0;
  await closeAll([sender, receiver]);
  return {
    scenario: "offline",
    ok: unique === K && dups === 0 && errors === 0,
    provision: prov,
    messages: K,
    leftoversDrained: leftovers,
    storeMs: Math.round(storeMs),
    storedPerSec: rate(K, storeMs),
    flushMs: Math.round(flushMs),
    flushedPerSec: rate(unique, flushMs),
    received: unique,
    lost: K - unique,
    duplicates: dups,
    outOfOrder,
    withDelay: delayed,
    errorStanzas: errors,
  };
}

async function joinRoom(c: XmppClient, room: string, nick: string): Promise<string> {
  const full = `${room}/${nick}`;
  const self = new Promise<string>((resolve, reject) => {
    const prev = c.onStanza;
    c.onStanza = (raw, name) => {
      if (name === "presence" && attr(raw, "from") === full) {
        c.onStanza = prev;
        if (attr(raw, "type") === "error") reject(new Error(`join refused: ${raw.slice(0, 300)}`));
        else resolve(raw);
        return;
      }
      prev(raw, name);
    };
  });
  c.send(
    `<presence to='${escapeXml(full)}'><x xmlns='http://jabber.org/protocol/muc'>` +
      `<history maxstanzas='0'/></x></presence>`,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`join timeout ${full}`)), c.opts.timeoutMs);
  });
  return await Promise.race([self, timeout]).finally(() => clearTimeout(timer));
}

export async function scenarioMuc(o: Options): Promise<Result> {
  const N = o.users, M = o.messages, W = Math.max(1, o.window);
  if (N * M > 50_000_000) throw new Error("users*messages too large for the bookkeeping");
  const prov = await provision(o, N);
  const deadline = now() + o.durationS * 1000;
  const clients = await loginMany(o, N, deadline, true);
  const room = `bench-${Date.now().toString(36)}@${o.muc}`;
  let presences = 0;
  for (const c of clients) c.onStanza = (_r, name) => void (name === "presence" && presences++);
  const tJoin0 = now();
  const created = await joinRoom(clients[0]!, room, "n0");
  if (/code=['"]201['"]/.test(created)) {
    // A new room may stay locked until its owner accepts the default configuration.
    const id = clients[0]!.id("cfg");
    await clients[0]!.iq(
      `<iq type='set' to='${room}' id='${id}'><query xmlns='http://jabber.org/protocol/muc#owner'>` +
        `<x xmlns='jabber:x:data' type='submit'/></query></iq>`,
      id,
    );
  }
  const joined = await pool(
    N - 1,
    o.concurrency,
    deadline,
    (i) => joinRoom(clients[i + 1]!, room, `n${i + 1}`).then(() => {}),
  );
  if (joined.done < N - 1) {
    await closeAll(clients);
    throw new Error(`only ${joined.done + 1}/${N} joined: ${joined.errors.slice(0, 3).join("; ")}`);
  }
  const joinMs = now() - tJoin0;

  const seen = Array.from({ length: N }, () => new Uint8Array(M));
  const latencies = new Float64Array(N * M);
  let unique = 0, dups = 0, inFlight = 0, nextSeq = 0, sent = 0, tLast = 0, errors = 0;
  let stop = false;
  const sendNext = () => {
    if (stop || nextSeq >= M) return;
    const seq = nextSeq++;
    const s = seq % N;
    inFlight++;
    sent++;
    clients[s]!.send(
      `<message to='${room}' type='groupchat' id='g${seq}'><body>${s}:${seq}:${
        now().toFixed(3)
      }</body></message>`,
    );
  };
  for (let k = 0; k < N; k++) {
    clients[k]!.onStanza = (raw, name) => {
      if (name !== "message") return;
      const m = BODY_RE.exec(raw);
      if (!m) {
        if (attr(raw, "type") === "error") errors++;
        return;
      }
      const t = now();
      const s = Number(m[1]), seq = Number(m[2]);
      if (seq >= M) return;
      tLast = t;
      if (seen[k]![seq]) return void dups++;
      seen[k]![seq] = 1;
      latencies[unique++] = t - Number(m[3]);
      if (s === k) {
        // The sender's own echo means every occupant has been handed the message.
        inFlight--;
        sendNext();
      }
    };
  }
  const t0 = now();
  for (let k = 0; k < Math.min(W, M); k++) sendNext();
  await until(() => unique >= N * M, deadline);
  stop = true;
  await until(() => unique >= sent * N, Math.min(now() + 3000, deadline + 3000));
  const ms = (tLast || now()) - t0;
  await closeAll(clients);
  return {
    scenario: "muc",
    ok: unique === sent * N && sent === M && dups === 0 && errors === 0,
    provision: prov,
    room,
    occupants: N,
    window: W,
    messages: sent,
    joinMs: Math.round(joinMs),
    presencesSeen: presences,
    deliveries: unique,
    lostDeliveries: sent * N - unique,
    duplicates: dups,
    errorStanzas: errors,
    inFlightAtEnd: inFlight,
    elapsedMs: Math.round(ms),
    deliveriesPerSec: rate(unique, ms),
    messagesPerSec: rate(sent, ms),
    latencyMs: summarize(Array.from(latencies.subarray(0, unique))),
  };
}

interface Page {
  results: number;
  first?: string;
  last?: string;
  count?: number;
  complete: boolean;
  ms: number;
}

async function mamQuery(c: XmppClient, rsm: string): Promise<Page> {
  const qid = c.id("mq");
  let results = 0;
  const prev = c.onStanza;
  c.onStanza = (raw, name) => {
    if (
      name === "message" && (raw.includes(`queryid='${qid}'`) || raw.includes(`queryid="${qid}"`))
    ) {
      results++;
      return;
    }
    prev(raw, name);
  };
  const t0 = now();
  try {
    const r = await c.iq(
      `<iq type='set' id='${qid}'><query xmlns='urn:xmpp:mam:2' queryid='${qid}'>` +
        `<set xmlns='http://jabber.org/protocol/rsm'>${rsm}</set></query></iq>`,
      qid,
    );
    const ms = now() - t0;
    if (attr(r, "type") !== "result") throw new Error(`MAM query failed: ${r.slice(0, 300)}`);
    const count = childText(r, "count");
    return {
      results,
      first: childText(r, "first"),
      last: childText(r, "last"),
      count: count === undefined ? undefined : Number(count),
      complete: /<fin[^>]*complete=['"]true['"]/.test(r),
      ms,
    };
  } finally {
    c.onStanza = prev;
  }
}

export async function scenarioMam(o: Options): Promise<Result> {
  const A = o.messages, size = o.pageSize;
  const prov = await provision(o, 2);
  const deadline = now() + o.durationS * 1000;
  const [owner, peer] = await loginMany(o, 2, deadline, true) as [XmppClient, XmppClient];
  let received = 0;
  owner.onStanza = (raw, name) => void (name === "message" && BODY_RE.test(raw) && received++);
  const before = await mamQuery(owner, "<max>0</max>");
  // Archives persist between runs, so only the missing part is filled.
  const missing = Math.max(0, A - (before.count ?? 0));
  const tFill = now();
  let sent = 0;
  const to = bare(o, 0);
  const W = Math.max(1, o.window) * 4;
  while (sent < missing && now() < deadline) {
    while (sent < missing && sent - received < W) {
      peer.send(
        `<message to='${to}' type='chat' id='a${sent}'><body>1:${sent}:${
          now().toFixed(3)
        }</body></message>`,
      );
      sent++;
    }
    await sleep(1);
  }
  await until(() => received >= sent, deadline);
  const fillMs = now() - tFill;
  await sleep(200);
  const total = await mamQuery(owner, "<max>0</max>");

  const latest: number[] = [], forward: number[] = [];
  let after: string | undefined, short = 0, pagesRun = 0;
  for (let q = 0; q < o.pages && now() < deadline; q++) {
    const l = await mamQuery(owner, `<max>${size}</max><before/>`);
    latest.push(l.ms);
    const f = await mamQuery(
      owner,
      `<max>${size}</max>${after ? `<after>${escapeXml(after)}</after>` : ""}`,
    );
    forward.push(f.ms);
    if (l.results < size || (f.results < size && !f.complete)) short++;
    after = f.complete || !f.last ? undefined : f.last;
    pagesRun++;
  }
  await closeAll([owner, peer]);
  return {
    scenario: "mam",
    ok: short === 0 && pagesRun === o.pages,
    provision: prov,
    archiveTarget: A,
    archiveCountBefore: before.count ?? null,
    archiveCount: total.count ?? null,
    filled: sent,
    fillMs: Math.round(fillMs),
    fillPerSec: rate(sent, fillMs),
    pageSize: size,
    pages: pagesRun,
    shortPages: short,
    latestPageMs: summarize(latest),
    forwardPageMs: summarize(forward),
  };
}

export const scenarios: Record<string, (o: Options) => Promise<Result>> = {
  login: scenarioLogin,
  idle: scenarioIdle,
  throughput: scenarioThroughput,
  offline: scenarioOffline,
  muc: scenarioMuc,
  mam: scenarioMam,
};
