/**
 * Statecharts drawn from the machine definitions themselves: walk `machine.root`'s state nodes and
 * transitions, lay the graph out with ELK (elkjs, layered, compound states as nested nodes) and
 * render SVG. Nothing here is drawn by hand, so a diagram cannot drift from its machine.
 *
 * Each state is a `<g class="state" data-state="<state node id>">`, each transition a
 * `<g class="edge" data-source=".." data-target=".." data-event="..">`, so the inspector page can
 * highlight the current state and the last transition with CSS classes.
 *
 * `statelyConfig()` gives the same machine as plain config JSON (ids, `#id` targets, named guards
 * and actions) that Stately's editor imports.
 */
import elkBundled from "elkjs/lib/elk.bundled.js";
import type { ELK as ElkApi, ElkExtendedEdge, ElkLabel, ElkNode } from "elkjs/lib/elk-api.js";
import type { AnyStateMachine } from "xstate";

// ---------- the graph of a machine ----------

/** The parts of XState's StateNode this module reads (kept structural, v5 internals). */
interface SNode {
  id: string;
  key: string;
  type: "atomic" | "compound" | "parallel" | "final" | "history";
  states: Record<string, SNode>;
  initial?: { target: SNode[] };
  transitions: Map<string, STransition[]>;
  always?: STransition[];
  after: { delay: string | number; eventType: string }[];
  invoke: { id: string; src: unknown }[];
  entry: unknown[];
  exit: unknown[];
}

interface STransition {
  eventType: string;
  target?: SNode[];
  guard?: unknown;
  actions: unknown[];
  reenter?: boolean;
}

export interface ChartTransition {
  /** the raw event type (`xstate.after.*`, `xstate.done.actor.*` included; "" for always) */
  event: string;
  /** human label: `OPEN`, `after openTimeout`, `done: storeOffline`, `always` */
  label: string;
  guard: string | null;
  actions: string[];
  /** target state ids; empty for a targetless (internal) transition */
  targets: string[];
}

export interface ChartState {
  id: string;
  key: string;
  type: SNode["type"];
  initial: string | null;
  entry: string[];
  exit: string[];
  invoke: string[];
  transitions: ChartTransition[];
  children: ChartState[];
}

function nameOf(x: unknown): string {
  if (typeof x === "string") return x;
  if (x && (typeof x === "object" || typeof x === "function")) {
    const t = (x as { type?: unknown }).type;
    if (typeof t === "string") return t.startsWith("xstate.") ? t.slice(7) : t;
    const n = (x as { name?: unknown }).name;
    if (typeof n === "string" && n) return n;
  }
  return "inline";
}

/** Entry/exit actions as written: without the raise/cancel pairs XState adds for `after`. */
function ownActions(node: SNode, actions: unknown[]): string[] {
  const names = actions.map(nameOf);
  return node.after.length ? names.filter((n) => n !== "raise" && n !== "cancel") : names;
}

function eventLabel(event: string, node: SNode): string {
  if (event === "") return "always";
  const after = node.after.find((a) => a.eventType === event);
  if (after) return `after ${after.delay}`;
  if (event.startsWith("xstate.done.actor.")) return `done: ${event.slice(18)}`;
  if (event.startsWith("xstate.error.actor.")) return `error: ${event.slice(19)}`;
  return event;
}

function chartTransition(t: STransition, node: SNode): ChartTransition {
  return {
    event: t.eventType,
    label: eventLabel(t.eventType, node),
    guard: t.guard === undefined ? null : nameOf(t.guard),
    actions: t.actions.map(nameOf),
    targets: (t.target ?? []).map((s) => s.id),
  };
}

function chartState(node: SNode): ChartState {
  const transitions: ChartTransition[] = [];
  for (const ts of node.transitions.values()) {
    for (const t of ts) transitions.push(chartTransition(t, node));
  }
  for (const t of node.always ?? []) transitions.push(chartTransition(t, node));
  return {
    id: node.id,
    key: node.key,
    type: node.type,
    initial: node.initial?.target[0]?.id ?? null,
    entry: ownActions(node, node.entry),
    exit: ownActions(node, node.exit),
    invoke: node.invoke.map((i) => (typeof i.src === "string" ? i.src : i.id)),
    transitions,
    children: Object.values(node.states).map(chartState),
  };
}

/** The state tree of a machine with every transition, read from `machine.root`. */
export function machineChart(machine: AnyStateMachine): ChartState {
  return chartState(machine.root as unknown as SNode);
}

/** Every state id of a chart, parents before children. */
export function stateIds(chart: ChartState): string[] {
  return [chart.id, ...chart.children.flatMap(stateIds)];
}

/** The ids of the active states for a snapshot `value` (`{ negotiating: "binding" }`). */
export function activeStateIds(machineId: string, value: unknown): string[] {
  const out: string[] = [machineId];
  const walk = (prefix: string, v: unknown) => {
    if (typeof v === "string") {
      out.push(`${prefix}.${v}`);
      return;
    }
    if (v && typeof v === "object") {
      for (const [k, sub] of Object.entries(v)) {
        out.push(`${prefix}.${k}`);
        walk(`${prefix}.${k}`, sub);
      }
    }
  };
  walk(machineId, value);
  return out;
}

// ---------- Stately config JSON ----------

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function transitionConfig(t: ChartTransition): Json {
  const out: Record<string, Json> = {};
  if (t.targets.length === 1) out.target = `#${t.targets[0]}`;
  else if (t.targets.length > 1) out.target = t.targets.map((id) => `#${id}`);
  if (t.guard) out.guard = t.guard;
  if (t.actions.length) out.actions = t.actions;
  return out;
}

function group(ts: ChartTransition[]): Record<string, Json> {
  const out: Record<string, Json[]> = {};
  for (const t of ts) (out[t.event] ??= []).push(transitionConfig(t));
  return out;
}

function stateConfig(s: ChartState, machine: AnyStateMachine): Record<string, Json> {
  const node = findNode(machine.root as unknown as SNode, s.id);
  const out: Record<string, Json> = { id: s.id };
  if (s.type === "final" || s.type === "parallel" || s.type === "history") out.type = s.type;
  if (s.initial) out.initial = s.initial.slice(s.id.length + 1);
  if (s.entry.length) out.entry = s.entry;
  if (s.exit.length) out.exit = s.exit;
  const invokeEvents = new Set<string>();
  if (node?.invoke.length) {
    out.invoke = node.invoke.map((inv) => {
      const done = `xstate.done.actor.${inv.id}`;
      const error = `xstate.error.actor.${inv.id}`;
      invokeEvents.add(done).add(error);
      const cfg: Record<string, Json> = {
        id: inv.id,
        src: typeof inv.src === "string" ? inv.src : inv.id,
      };
      const onDone = s.transitions.filter((t) => t.event === done).map(transitionConfig);
      const onError = s.transitions.filter((t) => t.event === error).map(transitionConfig);
      if (onDone.length) cfg.onDone = onDone;
      if (onError.length) cfg.onError = onError;
      return cfg;
    });
  }
  const afterEvents = new Map((node?.after ?? []).map((a) => [a.eventType, String(a.delay)]));
  const on = s.transitions.filter((t) =>
    t.event !== "" && !invokeEvents.has(t.event) && !afterEvents.has(t.event)
  );
  if (on.length) out.on = group(on);
  const after: Record<string, Json[]> = {};
  for (const t of s.transitions) {
    const delay = afterEvents.get(t.event);
    if (delay !== undefined) (after[delay] ??= []).push(transitionConfig(t));
  }
  if (Object.keys(after).length) out.after = after;
  const always = s.transitions.filter((t) => t.event === "").map(transitionConfig);
  if (always.length) out.always = always;
  if (s.children.length) {
    out.states = Object.fromEntries(s.children.map((c) => [c.key, stateConfig(c, machine)]));
  }
  return out;
}

function findNode(root: SNode, id: string): SNode | undefined {
  if (root.id === id) return root;
  for (const c of Object.values(root.states)) {
    const hit = findNode(c, id);
    if (hit) return hit;
  }
  return undefined;
}

/** The machine as config JSON (no functions), for Stately's editor import. */
export function statelyConfig(machine: AnyStateMachine): Record<string, Json> {
  return stateConfig(machineChart(machine), machine);
}

// ---------- layout ----------

// The bundled build is CommonJS (`module.exports = ELK`); its typings describe an ES default.
const newElk = () => new (elkBundled as unknown as new () => ElkApi)();

const CHAR_W = 6.6;
const LINE_H = 14;
const TITLE_H = 22;
const PAD = 10;

/** Lines written inside a state: entry/exit/invoke and its targetless transitions. */
function innerLines(s: ChartState): string[] {
  const lines: string[] = [];
  if (s.entry.length) lines.push(`entry / ${s.entry.join(", ")}`);
  if (s.exit.length) lines.push(`exit / ${s.exit.join(", ")}`);
  for (const i of s.invoke) lines.push(`invoke ${i}`);
  for (const t of s.transitions) {
    if (t.targets.length) continue;
    const named = t.actions.filter((a) => a !== "assign");
    lines.push(
      `${t.label}${t.guard ? ` [${t.guard}]` : ""}${named.length ? ` / ${named.join(", ")}` : ""}`,
    );
  }
  return lines;
}

function textWidth(s: string): number {
  return Math.ceil(s.length * CHAR_W);
}

export interface LaidOutChart {
  chart: ChartState;
  width: number;
  height: number;
  states: { state: ChartState; x: number; y: number; w: number; h: number; lines: string[] }[];
  initials: { x: number; y: number }[];
  edges: {
    id: string;
    source: string;
    target: string;
    event: string;
    label: string;
    points: { x: number; y: number }[];
    labelBox: { x: number; y: number; w: number; h: number } | null;
  }[];
}

/** Lays a machine's chart out with ELK's layered algorithm, compound states nested. */
export async function layoutMachine(machine: AnyStateMachine): Promise<LaidOutChart> {
  const chart = machineChart(machine);
  const edges: (ElkExtendedEdge & { meta: { event: string; label: string } })[] = [];
  const lineMap = new Map<string, string[]>();
  const byId = new Map<string, ChartState>();
  let n = 0;

  const toElk = (s: ChartState): ElkNode => {
    byId.set(s.id, s);
    const lines = innerLines(s);
    lineMap.set(s.id, lines);
    const minW = Math.max(textWidth(s.key) + 2 * PAD, ...lines.map((l) => textWidth(l) + 2 * PAD));
    // Transitions between the same two states share one edge with a line per transition.
    const merged = new Map<string, { events: string[]; lines: string[] }>();
    for (const t of s.transitions) {
      for (const target of t.targets) {
        const label = `${t.label}${t.guard ? ` [${t.guard}]` : ""}`;
        const m = merged.get(target) ?? { events: [], lines: [] };
        if (!m.events.includes(t.event)) m.events.push(t.event);
        if (!m.lines.includes(label)) m.lines.push(label);
        merged.set(target, m);
      }
    }
    for (const [target, m] of merged) {
      edges.push({
        id: `e${n++}`,
        sources: [s.id],
        targets: [target],
        labels: [{
          text: m.lines.join("\n"),
          width: Math.max(...m.lines.map(textWidth)) + 4,
          height: m.lines.length * LINE_H,
        }],
        meta: { event: m.events.join(" "), label: m.lines.join("\n") },
      });
    }
    if (s.children.length === 0) {
      return {
        id: s.id,
        width: Math.max(minW, 70),
        height: TITLE_H + lines.length * LINE_H + (lines.length ? PAD / 2 : 4),
      };
    }
    const children = s.children.map(toElk);
    if (s.initial) {
      const dot = `${s.id}#initial`;
      children.unshift({ id: dot, width: 10, height: 10 });
      edges.push({
        id: `e${n++}`,
        sources: [dot],
        targets: [s.initial],
        meta: { event: "", label: "" },
      });
    }
    return {
      id: s.id,
      children,
      layoutOptions: {
        "elk.padding": `[top=${
          TITLE_H + lines.length * LINE_H + PAD
        },left=${PAD},bottom=${PAD},right=${PAD}]`,
        "elk.nodeSize.constraints": "MINIMUM_SIZE",
        "elk.nodeSize.minimum": `(${minW}, ${TITLE_H + lines.length * LINE_H + 20})`,
      },
    };
  };

  const rootNode = toElk(chart);
  const graph: ElkNode = {
    id: "__graph",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.edgeRouting": "ORTHOGONAL",
      "elk.layered.spacing.nodeNodeBetweenLayers": "40",
      "elk.spacing.nodeNode": "30",
      "elk.spacing.edgeLabel": "4",
      "elk.edgeLabels.inline": "false",
      "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
      "elk.randomSeed": "1",
    },
    children: [rootNode],
    edges,
  };
  const laid = await newElk().layout(graph);

  const out: LaidOutChart = {
    chart,
    width: laid.width ?? 0,
    height: laid.height ?? 0,
    states: [],
    initials: [],
    edges: [],
  };
  const origin = new Map<string, { x: number; y: number }>([["__graph", { x: 0, y: 0 }]]);
  const walk = (node: ElkNode, ox: number, oy: number) => {
    for (const c of node.children ?? []) {
      const x = ox + (c.x ?? 0);
      const y = oy + (c.y ?? 0);
      origin.set(c.id, { x, y });
      if (c.id.endsWith("#initial")) out.initials.push({ x: x + 5, y: y + 5 });
      else {
        out.states.push({
          state: byId.get(c.id)!,
          x,
          y,
          w: c.width ?? 0,
          h: c.height ?? 0,
          lines: lineMap.get(c.id) ?? [],
        });
      }
      walk(c, x, y);
    }
  };
  walk(laid, 0, 0);
  const collect = (node: ElkNode) => {
    for (
      const e of (node.edges ?? []) as (ElkExtendedEdge & {
        container?: string;
        meta?: { event: string; label: string };
      })[]
    ) {
      const o = origin.get(e.container ?? node.id) ?? { x: 0, y: 0 };
      const points: { x: number; y: number }[] = [];
      for (const sec of e.sections ?? []) {
        points.push({ x: o.x + sec.startPoint.x, y: o.y + sec.startPoint.y });
        for (const b of sec.bendPoints ?? []) points.push({ x: o.x + b.x, y: o.y + b.y });
        points.push({ x: o.x + sec.endPoint.x, y: o.y + sec.endPoint.y });
      }
      const l: ElkLabel | undefined = e.labels?.[0];
      const edgeMeta = edgeMetaOf(edges, e.id);
      out.edges.push({
        id: e.id,
        source: e.sources[0] ?? "",
        target: e.targets[0] ?? "",
        event: edgeMeta.event,
        label: edgeMeta.label,
        points,
        labelBox: l && edgeMeta.label
          ? { x: o.x + (l.x ?? 0), y: o.y + (l.y ?? 0), w: l.width ?? 0, h: l.height ?? 0 }
          : null,
      });
    }
    for (const c of node.children ?? []) collect(c);
  };
  collect(laid);
  return out;
}

function edgeMetaOf(
  edges: (ElkExtendedEdge & { meta: { event: string; label: string } })[],
  id: string,
): { event: string; label: string } {
  return edges.find((e) => e.id === id)?.meta ?? { event: "", label: "" };
}

// ---------- SVG ----------

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** Renders a laid-out chart as a standalone SVG document (styles inline, no scripts). */
export function renderSvg(l: LaidOutChart): string {
  const m = 8;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="statechart" data-machine="${
      esc(l.chart.id)
    }" viewBox="${-m} ${-m} ${r1(l.width + 2 * m)} ${r1(l.height + 2 * m)}" width="${
      r1(l.width + 2 * m)
    }" height="${
      r1(l.height + 2 * m)
    }" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="11">`,
  );
  parts.push(
    `<style>.state>rect{fill:#fff;stroke:#4b5563;stroke-width:1.2}` +
      `.state.compound>rect{fill:#f8fafc}.state .title{font-weight:bold;fill:#111827}` +
      `.state .line{fill:#4b5563}.state.final>rect.inner{fill:none}` +
      `.edge path{fill:none;stroke:#6b7280;stroke-width:1.1}.edge text{fill:#1f2937}` +
      `.edge rect{fill:#fff;opacity:.85}.initial{fill:#111827}` +
      `.state.active>rect{fill:#dcfce7;stroke:#15803d;stroke-width:2.5}` +
      `.state.compound.active>rect{fill:#f0fdf4}` +
      `.edge.taken path{stroke:#ea580c;stroke-width:2.5}.edge.taken text{fill:#c2410c}</style>`,
  );
  parts.push(
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>`,
  );
  // Outer states first so inner ones paint over them.
  const states = [...l.states].sort((a, b) => depth(a.state.id) - depth(b.state.id));
  for (const s of states) {
    const cls = ["state", s.state.children.length ? "compound" : "atomic"];
    if (s.state.type === "final") cls.push("final");
    parts.push(
      `<g class="${cls.join(" ")}" data-state="${esc(s.state.id)}"><rect x="${r1(s.x)}" y="${
        r1(s.y)
      }" width="${r1(s.w)}" height="${r1(s.h)}" rx="6"/>`,
    );
    if (s.state.type === "final") {
      parts.push(
        `<rect class="inner" x="${r1(s.x + 3)}" y="${r1(s.y + 3)}" width="${r1(s.w - 6)}" height="${
          r1(s.h - 6)
        }" rx="4"/>`,
      );
    }
    parts.push(
      `<text class="title" x="${r1(s.x + PAD)}" y="${r1(s.y + 15)}">${esc(s.state.key)}</text>`,
    );
    s.lines.forEach((line, i) => {
      parts.push(
        `<text class="line" x="${r1(s.x + PAD)}" y="${r1(s.y + TITLE_H + 10 + i * LINE_H)}">${
          esc(line)
        }</text>`,
      );
    });
    parts.push(`</g>`);
  }
  for (const i of l.initials) {
    parts.push(`<circle class="initial" cx="${r1(i.x)}" cy="${r1(i.y)}" r="5"/>`);
  }
  for (const e of l.edges) {
    if (e.points.length < 2) continue;
    const d = e.points.map((p, i) => `${i ? "L" : "M"}${r1(p.x)},${r1(p.y)}`).join(" ");
    parts.push(
      `<g class="edge" data-source="${esc(e.source)}" data-target="${esc(e.target)}" data-event="${
        esc(e.event)
      }"><path d="${d}" marker-end="url(#arrow)"/>`,
    );
    if (e.labelBox) {
      const b = e.labelBox;
      parts.push(
        `<rect x="${r1(b.x)}" y="${r1(b.y)}" width="${r1(b.w)}" height="${r1(b.h)}"/>` +
          e.label.split("\n").map((line, i) =>
            `<text x="${r1(b.x + 2)}" y="${r1(b.y + (i + 1) * LINE_H - 3)}">${esc(line)}</text>`
          ).join(""),
      );
    }
    parts.push(`</g>`);
  }
  parts.push(`</svg>\n`);
  return parts.join("\n");
}

function depth(id: string): number {
  return id.split(".").length;
}

/** Lays out and renders in one go. */
export async function machineSvg(machine: AnyStateMachine): Promise<string> {
  return renderSvg(await layoutMachine(machine));
}
