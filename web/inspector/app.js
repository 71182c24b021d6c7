// Parley inspector page: live actors over Server-Sent Events, statecharts drawn by the server
// from the machine definitions (SVG), current state and last transition highlighted, recent events
// per actor, and message traces. No framework and no CDN: plain DOM.
const $ = (sel) => document.querySelector(sel);
const api = (path) => fetch(path, { cache: "no-store" }).then((r) => r.json());

const actors = new Map(); // id -> ActorView
let traces = [];
let selected = null; // actor id
let selectedKind = null;
let events = []; // events of the selected actor
let lastEvent = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const time = (t) => new Date(t).toISOString().slice(11, 23);

// ---------- actor list ----------

const KIND_TITLES = { c2s: "Connections", user: "Users", room: "Rooms" };

function renderActors() {
  const tbody = $("#actors tbody");
  const filter = $("#filter").value.trim().toLowerCase();
  const byKind = new Map();
  for (const a of actors.values()) {
    const hay = `${a.id} ${a.detail} ${a.state}`.toLowerCase();
    if (filter && !hay.includes(filter)) continue;
    if (!byKind.has(a.kind)) byKind.set(a.kind, []);
    byKind.get(a.kind).push(a);
  }
  const rows = [];
  const kinds = [...byKind.keys()].sort((a, b) =>
    Object.keys(KIND_TITLES).indexOf(a) - Object.keys(KIND_TITLES).indexOf(b)
  );
  for (const kind of kinds) {
    const list = byKind.get(kind).sort((a, b) => (a.closed - b.closed) || a.id.localeCompare(b.id));
    const live = list.filter((a) => !a.closed).length;
    rows.push(
      el(
        "tr",
        { class: "kind" },
        el("td", { colspan: "2" }, `${KIND_TITLES[kind] ?? kind} (${live} live)`),
      ),
    );
    for (const a of list) {
      const tr = el(
        "tr",
        {
          "data-actor": a.id,
          "data-state": a.state,
          class: [a.id === selected ? "selected" : "", a.closed ? "closed" : ""].join(" "),
          onclick: () => select(a.id),
        },
        el(
          "td",
          {},
          el("div", { class: "id" }, a.id),
          a.detail ? el("div", { class: "sub" }, a.detail) : null,
        ),
        el(
          "td",
          { class: "state" },
          el("code", {}, a.state),
          a.closed ? el("div", { class: "sub" }, "closed") : null,
        ),
      );
      rows.push(tr);
    }
  }
  tbody.replaceChildren(...rows);
  const live = [...actors.values()].filter((a) => !a.closed);
  const count = (k) => live.filter((a) => a.kind === k).length;
  $("#counts").textContent = `${count("c2s")} connections · ${count("user")} users · ${
    count("room")
  } rooms`;
}

function flash(id) {
  const tr = document.querySelector(`#actors tr[data-actor="${CSS.escape(id)}"]`);
  if (tr) {
    tr.classList.remove("flash");
    void tr.offsetWidth;
    tr.classList.add("flash");
  }
}

// ---------- the selected actor ----------

async function select(id) {
  selected = id;
  const a = actors.get(id);
  $("#empty").hidden = true;
  $("#actor").hidden = false;
  $("#actor-id").textContent = id;
  const kind = id.slice(0, id.indexOf(":"));
  if (kind !== selectedKind) {
    selectedKind = kind;
    const svg = await fetch(`/inspector/api/machines/${encodeURIComponent(kind)}.svg`);
    $("#chart").innerHTML = svg.ok
      ? await svg.text()
      : `<p class="hint">no diagram for ${kind}</p>`;
  }
  events = await api(`/inspector/api/actors/${encodeURIComponent(id)}/events`).catch(() => []);
  if (!Array.isArray(events)) events = [];
  lastEvent = events.at(-1) ?? null;
  renderActors();
  renderSelected(a);
  refreshContext();
}

function idsOf(machineId, state) {
  const ids = new Set([machineId]);
  for (const region of state.split(", ")) {
    let prefix = machineId;
    for (const part of region.split(".").filter(Boolean)) {
      prefix = `${prefix}.${part}`;
      ids.add(prefix);
    }
  }
  return ids;
}

function renderSelected(a) {
  if (!a) return;
  $("#actor-detail").textContent = a.detail;
  $("#actor-state").textContent = a.state;
  $("#actor-status").textContent = a.closed ? "closed" : a.status;
  const svg = $("#chart svg");
  if (svg) {
    const machineId = svg.dataset.machine;
    const active = a.closed ? new Set() : new Set(a.active);
    for (const g of svg.querySelectorAll("g.state")) {
      g.classList.toggle("active", active.has(g.dataset.state));
    }
    // The last transition taken: its event, from a state that was active, into one that is.
    for (const g of svg.querySelectorAll("g.edge")) g.classList.remove("taken");
    if (lastEvent && lastEvent.from && lastEvent.from !== lastEvent.to) {
      const before = idsOf(machineId, lastEvent.from);
      const after = idsOf(machineId, lastEvent.to);
      for (const g of svg.querySelectorAll("g.edge")) {
        const evs = (g.dataset.event ?? "").split(" ");
        if (
          evs.includes(lastEvent.type) && before.has(g.dataset.source) &&
          after.has(g.dataset.target)
        ) {
          g.classList.add("taken");
        }
      }
    }
    const target = svg.querySelector("g.state.active:not(.compound)");
    if (target && !renderSelected.scrolled) {
      renderSelected.scrolled = true;
      target.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }
  renderEvents();
}

function renderEvents() {
  const tbody = $("#events tbody");
  const rows = [];
  for (const e of [...events].reverse().slice(0, 100)) {
    const detail = el("pre", {}, JSON.stringify(e.event, null, 2));
    detail.hidden = true;
    const tr = el(
      "tr",
      {
        "data-event": e.type,
        onclick: () => {
          detail.hidden = !detail.hidden;
          tr.classList.toggle("open");
        },
      },
      el("td", { class: "t" }, time(e.t)),
      el("td", {}, el("code", {}, e.type), detail),
      el(
        "td",
        {},
        e.from === e.to ? el("span", { class: "sub" }, e.to) : `${e.from || "∅"} → ${e.to}`,
      ),
      el("td", { class: "sub" }, e.actions.join(", ")),
    );
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
}

async function refreshContext() {
  if (!selected) return;
  const a = actors.get(selected);
  if (a?.closed) {
    $("#context").textContent = "(closed)";
    return;
  }
  const ctx = await api(`/inspector/api/actors/${encodeURIComponent(selected)}/context`).catch(() =>
    null
  );
  $("#context").textContent = JSON.stringify(ctx, null, 2);
}

// ---------- message traces ----------

function renderTraceIds() {
  $("#trace-ids").replaceChildren(
    ...traces.slice(0, 50).map((id) => el("li", { onclick: () => showTrace(id) }, id)),
  );
}

let tracing = null;
async function showTrace(id) {
  tracing = id;
  $("#trace-id").value = id;
  const list = await api(`/inspector/api/traces/${encodeURIComponent(id)}`);
  $("#trace").hidden = false;
  $("#empty").hidden = true;
  $("#trace-title").textContent = id;
  const t0 = list[0]?.t ?? 0;
  $("#timeline").replaceChildren(
    ...(list.length ? list : [{
      t: 0,
      stage: "nothing recorded",
      detail: "no stanza with this id seen since the inspector started",
      actor: null,
      xml: null,
    }])
      .map((r) => {
        const xml = r.xml ? el("pre", {}, r.xml) : null;
        return el(
          "li",
          { "data-stage": r.stage },
          el("span", { class: "t" }, r.t ? `+${r.t - t0} ms` : ""),
          el("span", { class: "stage" }, r.stage),
          r.actor ? el("span", { class: "sub" }, ` ${r.actor}`) : null,
          el("div", {}, r.detail),
          xml,
        );
      }),
  );
}

$("#trace-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("#trace-id").value.trim();
  if (id) showTrace(id);
});
$("#filter").addEventListener("input", renderActors);

// ---------- live updates ----------

function connect() {
  const es = new EventSource("/inspector/events");
  es.addEventListener("open", () => {
    $("#conn").textContent = "live";
    $("#conn").className = "conn on";
  });
  es.addEventListener("error", () => {
    $("#conn").textContent = "disconnected";
    $("#conn").className = "conn off";
  });
  es.addEventListener("hello", (m) => {
    const data = JSON.parse(m.data);
    actors.clear();
    for (const a of data.actors) actors.set(a.id, a);
    traces = data.traces;
    renderActors();
    renderTraceIds();
    if (selected) renderSelected(actors.get(selected));
  });
  es.addEventListener("batch", (m) => {
    const b = JSON.parse(m.data);
    for (const a of b.upsert) actors.set(a.id, a);
    for (const id of b.removed) {
      const a = actors.get(id);
      if (a) actors.set(id, { ...a, closed: true, status: "closed", active: [] });
    }
    let mine = false;
    for (const e of b.events) {
      if (e.actor === selected) {
        events.push(e);
        lastEvent = e;
        mine = true;
      }
    }
    if (events.length > 200) events.splice(0, events.length - 200);
    if (b.traces.length) {
      traces = [...b.traces.filter((id) => !traces.includes(id)).reverse(), ...traces].slice(
        0,
        200,
      );
      renderTraceIds();
      if (tracing && b.traces.includes(tracing)) showTrace(tracing);
    }
    renderActors();
    for (const a of b.upsert) flash(a.id);
    if (
      selected && (mine || b.upsert.some((a) => a.id === selected) || b.removed.includes(selected))
    ) {
      renderSelected(actors.get(selected));
      refreshContext();
    }
  });
}

connect();
