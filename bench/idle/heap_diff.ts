/**
 * Differences between two V8 heap snapshots (`.heapsnapshot`), grouped by object kind: the
 * constructor name (plain objects by their property names), the node type otherwise, each with
 * the kind and edge of its first strong retainer, so "what holds this" is visible. Only self
 * sizes: the rows add up to the heap difference.
 */
import { readSnapshot } from "./snapshot.ts";

export interface KindDiff {
  key: string;
  bytes: number;
  count: number;
}

function tally(path: string): Map<string, { bytes: number; count: number }> {
  const { s, types, etypes, nw, ew, iType, iName, iSize, iEdges, eType, eName, eTo } = readSnapshot(
    path,
  );
  const n = s.nodes.length / nw;
  const kind = (i: number) => {
    const type = types[s.nodes[i * nw + iType]!]!;
    const name = s.strings[s.nodes[i * nw + iName]!]!;
    if (type === "string" || type === "concatenated string" || type === "sliced string") {
      return "string";
    }
    if (type === "code" || type === "number") return type;
    return `${type}:${name.slice(0, 40)}`;
  };
  // Property names of plain objects, and the first strong retainer of every node.
  const props = new Map<number, string[]>();
  const retainer = new Int32Array(n).fill(-1);
  const retEdge: string[] = new Array(n);
  let e = 0;
  for (let i = 0; i < n; i++) {
    const count = s.nodes[i * nw + iEdges]!;
    const isPlain = kind(i) === "object:Object";
    for (let k = 0; k < count; k++, e += ew) {
      const t = etypes[s.edges[e + eType]!]!;
      const to = s.edges[e + eTo]! / nw;
      const nameField = s.edges[e + eName]!;
      const ename = t === "element" || t === "hidden" ? `[${nameField}]` : s.strings[nameField]!;
      if (isPlain && t === "property") (props.get(i) ?? props.set(i, []).get(i)!).push(ename);
      if (t !== "weak" && t !== "shortcut" && retainer[to] === -1) {
        retainer[to] = i;
        retEdge[to] = t === "element" || t === "hidden" ? "[]" : ename;
      }
    }
  }
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < n; i++) {
    let k = kind(i);
    if (k === "object:Object") k = `{${(props.get(i) ?? []).slice(0, 6).join(",")}}`;
    const r = retainer[i]!;
    if (r >= 0) k += `  <- ${kind(r).slice(0, 50)}.${retEdge[i]!.slice(0, 24)}`;
    const t = out.get(k) ?? { bytes: 0, count: 0 };
    t.bytes += s.nodes[i * nw + iSize]!;
    t.count++;
    out.set(k, t);
  }
  return out;
}

export function diffSnapshots(basePath: string, afterPath: string): KindDiff[] {
  const a = tally(basePath), b = tally(afterPath);
  const rows: KindDiff[] = [];
  for (const [key, v] of b) {
    const o = a.get(key) ?? { bytes: 0, count: 0 };
    if (v.bytes !== o.bytes) rows.push({ key, bytes: v.bytes - o.bytes, count: v.count - o.count });
  }
  return rows.sort((x, y) => y.bytes - x.bytes);
}

if (import.meta.main) {
  const [base, after, per = "1", top = "80"] = Deno.args;
  const rows = diffSnapshots(base!, after!);
  let total = 0;
  for (const r of rows) total += r.bytes;
  console.log(`total ${(total / Number(per)).toFixed(1)} bytes per unit`);
  for (const r of rows.slice(0, Number(top))) {
    console.log(
      `${(r.bytes / Number(per)).toFixed(1).padStart(8)} ${
        (r.count / Number(per)).toFixed(2).padStart(6)
      }  ${r.key}`,
    );
  }
}
