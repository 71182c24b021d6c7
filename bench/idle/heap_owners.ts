/**
 * Who holds the heap: each object's self size is charged to its nearest dominator whose
 * constructor is one of the given "owner" names (StreamSession, Actor, Socket, ...), found by
 * walking up the dominator tree (Cooper-Harvey-Kennedy on the strong edges). Run on a base and an
 * after snapshot and divide the difference by the sessions opened in between.
 *
 *   deno run -A bench/idle/heap_owners.ts base.heapsnapshot after.heapsnapshot SESSIONS [Owner ...]
 */
import { readSnapshot } from "./snapshot.ts";

export const DEFAULT_OWNERS = [
  "StreamSession",
  "TcpTransport",
  "Framer",
  "Socket",
  "TCP",
  "Actor",
  "Element",
  "JID",
  "ActorDirectory",
  "SessionRegistry",
  "UserManager",
];

/**
 * Self sizes by owner. With `detail`, the rows are that owner's objects by kind and retaining
 * edge instead (e.g. `detail = "Actor user"`).
 */
export function owners(path: string, ownerNames: string[], detail?: string): Map<string, number> {
  const { s, types, etypes, nw, ew, iType, iName, iSize, iEdges, eType, eName, eTo } = readSnapshot(
    path,
  );
  const n = s.nodes.length / nw;
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += s.nodes[i * nw + iEdges]! * ew;
  }
  firstEdge[n] = s.edges.length;
  const weak = new Set(["weak", "shortcut"].map((t) => etypes.indexOf(t)));
  const succ = (i: number, f: (j: number) => void) => {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ew) {
      if (!weak.has(s.edges[e + eType]!)) f(s.edges[e + eTo]! / nw);
    }
  };
  // Reverse postorder from the synthetic root (node 0), iteratively.
  const order = new Int32Array(n).fill(-1);
  const post: number[] = [];
  const visited = new Uint8Array(n);
  const stack: number[] = [0];
  const cursor = new Uint32Array(n);
  visited[0] = 1;
  for (let i = 0; i < n; i++) cursor[i] = firstEdge[i]!;
  while (stack.length) {
    const v = stack[stack.length - 1]!;
    let pushed = false;
    while (cursor[v]! < firstEdge[v + 1]!) {
      const e = cursor[v]!;
      cursor[v] = e + ew;
      if (weak.has(s.edges[e + eType]!)) continue;
      const w = s.edges[e + eTo]! / nw;
      if (!visited[w]) {
        visited[w] = 1;
        stack.push(w);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      stack.pop();
      order[v] = post.length;
      post.push(v);
    }
  }
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (const v of post) succ(v, (w) => visited[w] && preds[w]!.push(v));
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!;
      while (order[b]! < order[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let k = post.length - 2; k >= 0; k--) {
      const v = post[k]!;
      let d = -1;
      for (const p of preds[v]!) {
        if (idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== -1 && idom[v] !== d) {
        idom[v] = d;
        changed = true;
      }
    }
  }
  const ownerSet = new Set(ownerNames);
  const property = etypes.indexOf("property");
  // Actors are told apart by their systemId's kind (`c2s:...` -> "Actor c2s").
  const systemKind = (i: number) => {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ew) {
      if (s.edges[e + eType] !== property || s.strings[s.edges[e + eName]!] !== "systemId") {
        continue;
      }
      const str = s.strings[s.nodes[(s.edges[e + eTo]! / nw) * nw + iName]!]!;
      return str.includes(":") ? ` ${str.slice(0, str.indexOf(":"))}` : "";
    }
    return " (child)";
  };
  const label = (i: number) => {
    const t = types[s.nodes[i * nw + iType]!];
    if (t !== "object" && t !== "native") return "";
    const name = s.strings[s.nodes[i * nw + iName]!]!;
    return name === "Actor" ? `Actor${systemKind(i)}` : name;
  };
  const out = new Map<string, number>();
  for (const v of post) {
    let o = v;
    while (o !== 0 && !ownerSet.has(label(o).split(" ")[0]!)) o = idom[o]!;
    let key = o === 0 ? "(other)" : label(o);
    if (detail !== undefined) {
      if (key !== detail) continue;
      const t = types[s.nodes[v * nw + iType]!]!;
      key = `${t}:${t === "string" ? "" : s.strings[s.nodes[v * nw + iName]!]!.slice(0, 30)}` +
        ` <- ${label(idom[v]!) || types[s.nodes[idom[v]! * nw + iType]!]}`;
    }
    out.set(key, (out.get(key) ?? 0) + s.nodes[v * nw + iSize]!);
  }
  return out;
}

if (import.meta.main) {
  const [base, after, per = "1", ...names] = Deno.args;
  const list = names.length ? names : DEFAULT_OWNERS;
  const detail = Deno.env.get("OWNER_DETAIL");
  const a = owners(base!, list, detail), b = owners(after!, list, detail);
  const rows = [...new Set([...a.keys(), ...b.keys()])]
    .map((k) => [k, ((b.get(k) ?? 0) - (a.get(k) ?? 0)) / Number(per)] as const)
    .sort((x, y) => y[1] - x[1]);
  let total = 0;
  for (const [k, v] of rows) {
    total += v;
    console.log(`${v.toFixed(1).padStart(9)}  ${k}`);
  }
  console.log(`${total.toFixed(1).padStart(9)}  total`);
}
