/** The parts of a V8 `.heapsnapshot` file the idle tools read. */
export interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** A snapshot with the positions of the fields the tools use in its flat node and edge arrays. */
export function readSnapshot(path: string) {
  const s = JSON.parse(Deno.readTextFileSync(path)) as Snapshot;
  const { node_fields: nf, node_types, edge_fields: ef, edge_types } = s.snapshot.meta;
  return {
    s,
    types: node_types[0],
    etypes: edge_types[0],
    nw: nf.length,
    ew: ef.length,
    iType: nf.indexOf("type"),
    iName: nf.indexOf("name"),
    iSize: nf.indexOf("self_size"),
    iEdges: nf.indexOf("edge_count"),
    eType: ef.indexOf("type"),
    eName: ef.indexOf("name_or_index"),
    eTo: ef.indexOf("to_node"),
  };
}
