"""The park's single-line diagram: a schematic laid out from the pandapower network.

Nodes are the network's buses merged across transformers (a substation is one node: the main
220/66 kV substation, each customer's 66/10 kV substation, each wind farm's 35/220 kV booster)
plus one node per park entity; edges are lines:

- backbone lines between substations (the public-grid line at the PCC, the 66 kV cables,
  the wind farms' 绿电直连 direct lines), one edge each;
- each entity's own feeders (10 kV feeders, 35 kV collector strings: every line below the
  last transformer whose downstream side serves that entity alone), one edge per entity from
  the substation where they start, carrying the sum of their head sections' flows.

The tree is drawn left to right from the PCC; each edge's flow is positive downstream (away
from the public grid). A scenario without a grid gets a star: public grid, the PCC busbar,
the entities. :func:`edge_flows` turns one step's line flows into edge flows.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from twin.core.kinds import GENERATORS

RANK = {"wind": 0, "pv": 1, "battery": 2, "factory": 3, "ev": 4, "heat": 5, "aoi": 6}


@dataclass
class Node:
    """A substation (merged buses), the public grid or a park entity."""

    id: str
    label: str
    kind: str  # grid, substation, busbar, or an entity kind (pv, wind, battery, ...)
    col: int = 0
    row: float = 0.0
    kv: tuple[float, ...] = ()
    trafos: list[int] = field(default_factory=list)  # transformer indices inside the node
    entity: str = ""


@dataclass
class Edge:
    """A line (or an entity's bundle of feeders) from node ``a`` (upstream) to node ``b``."""

    id: str
    a: str
    b: str
    kind: str  # line, feeders
    label: str
    lines: list[tuple[int, float]] = field(default_factory=list)  # (line index, +1/-1 downstream)
    names: list[str] = field(default_factory=list)  # the lines a trip may name
    entity: str = ""


@dataclass
class Diagram:
    """Nodes, edges and the grid of the layout (columns by depth, rows by leaf order)."""

    nodes: list[Node]
    edges: list[Edge]
    n_cols: int
    n_rows: int
    grid: bool  # False: a star without a network
    lines: list[str] = field(default_factory=list)  # the network's lines by index

    def as_json(self) -> dict[str, Any]:
        """The layout for the page."""
        return {"nodes": [{"id": n.id, "label": n.label, "kind": n.kind, "col": n.col,
                           "row": n.row, "kv": list(n.kv), "entity": n.entity}
                          for n in self.nodes],
                "edges": [{"id": e.id, "a": e.a, "b": e.b, "kind": e.kind, "label": e.label,
                           "names": e.names, "entity": e.entity} for e in self.edges],
                "n_cols": self.n_cols, "n_rows": self.n_rows, "grid": self.grid}

    def state(self) -> dict[str, Any]:
        """Everything of the diagram, JSON-ready (:meth:`from_state` reads it back)."""
        return {"nodes": [asdict(n) for n in self.nodes],
                "edges": [asdict(e) for e in self.edges],
                "n_cols": self.n_cols, "n_rows": self.n_rows, "grid": self.grid,
                "lines": self.lines}

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Diagram:
        """The diagram :meth:`state` gave."""
        nodes = [Node(**{**n, "kv": tuple(n["kv"])}) for n in d["nodes"]]
        edges = [Edge(**{**e, "lines": [(int(i), float(s)) for i, s in e["lines"]]})
                 for e in d["edges"]]
        return cls(nodes, edges, int(d["n_cols"]), int(d["n_rows"]), bool(d["grid"]),
                   [str(x) for x in d.get("lines", [])])

    def trippable(self) -> list[str]:
        """Lines a trainer may trip: the backbone's, then each entity's feeders."""
        backbone = [n for e in self.edges if e.kind == "line" for n in e.names]
        feeders = [n for e in self.edges if e.kind == "feeders" for n in e.names]
        return backbone + feeders


def star(entities: Mapping[str, str]) -> Diagram:
    """The diagram of a park without a network: public grid, PCC busbar, entities."""
    nodes = [Node("grid", "public grid", "grid", 0), Node("pcc", "PCC busbar", "busbar", 1)]
    edges = [Edge("pcc", "grid", "pcc", "line", "PCC exchange")]
    for name, kind in entities.items():
        nodes.append(Node(f"e:{name}", name, kind, 2, entity=name))
        edges.append(Edge(f"e:{name}", "pcc", f"e:{name}", "feeders", name, entity=name))
    _place(nodes, edges)
    return Diagram(nodes, edges, 3, len(entities), grid=False)


def layout(net: Any, entities: Mapping[str, str]) -> Diagram:
    """The diagram of pandapower network ``net`` whose elements ``<entity>/<k>`` belong to
    ``entities`` (name -> kind)."""
    buses = [int(b) for b in net.bus.index]
    group = _merge_across_trafos(net, buses)
    adj: dict[int, list[tuple[int, int]]] = defaultdict(list)  # bus -> (bus, line)
    for i, a, b in zip(net.line.index, net.line.from_bus, net.line.to_bus, strict=True):
        adj[int(a)].append((int(b), int(i)))
        adj[int(b)].append((int(a), int(i)))
    for hv, lv in zip(net.trafo.hv_bus, net.trafo.lv_bus, strict=True):
        adj[int(hv)].append((int(lv), -1))
        adj[int(lv)].append((int(hv), -1))
    root = int(net.ext_grid.bus.iloc[0])
    parent, order = _bfs(adj, root)
    owners = _owners(net, entities)
    below, trafo_below = _subtree_entities(order, parent, owners)
    pure = {b: len(below[b]) == 1 and not trafo_below[b] for b in order}  # an entity's feeder
    names = {int(i): str(n) for i, n in zip(net.line.index, net.line.name, strict=True)}

    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    bundles: dict[str, Edge] = {}
    for bus in order[1:]:
        up, line = parent[bus]
        if line < 0:
            continue  # across a transformer: the same node
        sole = next(iter(below[bus])) if pure[bus] else None
        if sole is not None and pure[up] and parent[up][1] >= 0:
            continue  # a deeper section of an entity's feeder
        sign = 1.0 if int(net.line.from_bus.at[line]) == up else -1.0
        a = _node_id(group, up, nodes, net, root)
        if sole is not None:  # the head section of one of the entity's feeders
            e = bundles.get(sole)
            if e is None:
                nodes[f"e:{sole}"] = Node(f"e:{sole}", sole, entities[sole], entity=sole)
                e = bundles[sole] = Edge(f"e:{sole}", a, f"e:{sole}", "feeders", sole,
                                         entity=sole)
                edges.append(e)
            e.lines.append((line, sign))
            e.names.append(names[line])
            continue
        b = _node_id(group, bus, nodes, net, root)
        edges.append(Edge(f"l:{line}", a, b, "line", names[line], [(line, sign)], [names[line]]))
    for e in bundles.values():
        n = len(e.lines)
        e.label = f"{e.entity}: {n} feeder{'s' if n > 1 else ''}"
    n_rows = _place(list(nodes.values()), edges)
    n_cols = max(n.col for n in nodes.values()) + 1
    return Diagram(list(nodes.values()), edges, n_cols, n_rows, grid=True,
                   lines=[str(x) for x in net.line.name])


def edge_flows(diagram: Diagram, line_p_from_mw: Sequence[float] | None,
               entity_p_mw: Mapping[str, float], kinds: Mapping[str, str],
               p_pcc_mw: float) -> list[float]:
    """Each edge's active power (MW), positive downstream (away from the public grid).

    With a network: the lines' flows at their from ends, oriented. Without one: each entity's
    own power (generation flows up), the PCC exchange (import flows down).
    """
    out = []
    lines = np.asarray(line_p_from_mw, dtype=float) if line_p_from_mw is not None else None
    for e in diagram.edges:
        if diagram.grid and lines is not None:
            out.append(float(sum(lines[i] * s for i, s in e.lines)) if e.lines else 0.0)
        elif e.entity:
            p = float(entity_p_mw.get(e.entity, 0.0))
            out.append(-p if kinds.get(e.entity) in GENERATORS else p)
        else:
            out.append(float(p_pcc_mw))
    return [v if np.isfinite(v) else 0.0 for v in out]


def edge_loadings(diagram: Diagram, line_loading_pct: Sequence[float] | None) -> list[float]:
    """Each edge's loading (%): its most loaded line (0 without a network)."""
    if not diagram.grid or line_loading_pct is None:
        return [0.0] * len(diagram.edges)
    load = np.nan_to_num(np.asarray(line_loading_pct, dtype=float))
    return [float(max((load[i] for i, _ in e.lines), default=0.0)) for e in diagram.edges]


def node_loadings(diagram: Diagram, trafo_loading_pct: Sequence[float] | None) -> list[float]:
    """Each node's transformer loading (%): its most loaded transformer (0 if none)."""
    if trafo_loading_pct is None:
        return [0.0] * len(diagram.nodes)
    load = np.nan_to_num(np.asarray(trafo_loading_pct, dtype=float))
    return [float(max((load[i] for i in n.trafos), default=0.0)) for n in diagram.nodes]


# --------------------------------------------------------------------------- helpers
def _merge_across_trafos(net: Any, buses: list[int]) -> dict[int, int]:
    """Bus -> representative bus, buses joined by transformers sharing one."""
    rep = {b: b for b in buses}

    def find(b: int) -> int:
        while rep[b] != b:
            rep[b] = rep[rep[b]]
            b = rep[b]
        return b

    for hv, lv in zip(net.trafo.hv_bus, net.trafo.lv_bus, strict=True):
        a, b = find(int(hv)), find(int(lv))
        if a != b:
            rep[max(a, b)] = min(a, b)
    return {b: find(b) for b in buses}


def _bfs(adj: Mapping[int, list[tuple[int, int]]], root: int
         ) -> tuple[dict[int, tuple[int, int]], list[int]]:
    parent: dict[int, tuple[int, int]] = {root: (-1, -1)}
    order, queue = [root], deque([root])
    while queue:
        bus = queue.popleft()
        for nb, line in adj.get(bus, ()):
            if nb not in parent:
                parent[nb] = (bus, line)
                order.append(nb)
                queue.append(nb)
    return parent, order


def _owners(net: Any, entities: Mapping[str, str]) -> dict[int, set[str]]:
    owners: dict[int, set[str]] = defaultdict(set)
    for table in ("load", "sgen"):
        for name, bus in zip(net[table].name, net[table].bus, strict=True):
            entity = str(name).split("/", 1)[0]
            if entity in entities:
                owners[int(bus)].add(entity)
    return owners


def _subtree_entities(order: list[int], parent: Mapping[int, tuple[int, int]],
                      owners: Mapping[int, set[str]]
                      ) -> tuple[dict[int, frozenset[str]], dict[int, bool]]:
    """The entities served below each bus, and whether a transformer lies below it."""
    acc: dict[int, set[str]] = {b: set(owners.get(b, ())) for b in order}
    trafo = dict.fromkeys(order, False)
    for bus in reversed(order[1:]):
        up, line = parent[bus]
        acc[up] |= acc[bus]
        trafo[up] = trafo[up] or trafo[bus] or line < 0
    return {b: frozenset(v) for b, v in acc.items()}, trafo


def _node_id(group: Mapping[int, int], bus: int, nodes: dict[str, Node], net: Any,
             root: int) -> str:
    rep = group[bus]
    nid = f"s:{rep}"
    if nid not in nodes:
        members = [b for b, r in group.items() if r == rep]
        kv = tuple(sorted({float(net.bus.vn_kv.at[b]) for b in members}, reverse=True))
        trafos = [int(i) for i, hv in zip(net.trafo.index, net.trafo.hv_bus, strict=True)
                  if group[int(hv)] == rep]
        prefix = str(net.bus.name.at[rep]).split("/", 1)[0].removesuffix("-220")
        levels = "/".join(f"{v:g}" for v in kv)
        if root in members:
            label, kind = f"PCC · public grid {levels} kV", "grid"
        else:
            label, kind = f"{prefix} {levels} kV", "substation"
        nodes[nid] = Node(nid, label, kind, kv=kv, trafos=trafos)
    return nid


def _place(nodes: list[Node], edges: list[Edge]) -> int:
    """Columns by depth from the root, rows by leaf order (parents centred on their children);
    return the number of rows."""
    children: dict[str, list[str]] = defaultdict(list)
    has_parent = set()
    for e in edges:
        children[e.a].append(e.b)
        has_parent.add(e.b)
    by_id = {n.id: n for n in nodes}
    roots = [n.id for n in nodes if n.id not in has_parent]
    next_row = [0.0]
    rank: dict[str, tuple[int, str]] = {}

    def order(nid: str) -> tuple[int, str]:  # generation first, then by name
        if nid not in rank:
            node = by_id[nid]
            own = RANK.get(node.kind, 9)
            rank[nid] = (min([own, *(order(k)[0] for k in children.get(nid, ()))]),
                         node.entity or node.label)
        return rank[nid]

    def visit(nid: str, col: int) -> float:
        node = by_id[nid]
        node.col = col
        kids = sorted(children.get(nid, ()), key=order)
        if not kids:
            node.row = next_row[0]
            next_row[0] += 1.0
            return node.row
        rows = [visit(k, col + 1) for k in kids]
        node.row = (rows[0] + rows[-1]) / 2.0
        return node.row

    for r in roots:
        visit(r, 0)
    return int(next_row[0])
