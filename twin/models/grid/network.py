"""The park's pandapower network: built from parameters, or loaded from pandapower JSON.

The network is the model of record. Built from parameters it follows Northeast China's
220/66/10 kV chain::

    ext grid - pcc-220 ==(public grid line)== park-220 -- 220/66 kV trafos -- park-66
    park-66 --66 kV cables--> customer substations 66/10 kV --> 10 kV feeders --> entities
    wind farm: turbines on 35 kV strings -- 35/220 kV booster -- 绿电直连 220 kV line -- park-220

Its ratings follow stated planning rules (:mod:`twin.models.grid.sizing`: N-1 on the main
transformers, conductors from a catalogue by their design current, feeders stepped up until the
design cases keep every bus in the voltage band); ``ParkNetwork.design_mva``
keeps each element's design peak, and :func:`twin.models.grid.sizing.check` says where a
network breaks the rules.

Every park entity is tied to one or more pandapower elements named ``<entity>/<k>``: PV and
wind as static generators, loads and batteries as loads (a battery charging is a positive
load). An entity's power is shared equally by its elements. A network loaded from JSON must
name its elements the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandapower as pp

from twin import data
from twin.models.grid.layout import GridLayout  # re-exported: the scenario's light spec
from twin.models.grid.sizing import MAIN, conductor, design_mva, fit_voltages, transformer_mva

GEN_KINDS = ("pv", "wind")


@dataclass(frozen=True)
class Connection:
    """A park entity as the grid sees it: its kind, its rating and where it connects."""

    name: str
    kind: str  # pv, wind, factory, ev, heat, battery
    rating_mw: float
    host: str | None = None  # another entity whose substation it shares
    n_units: int = 1  # wind turbines (collector strings are sized from it)


@dataclass
class ParkNetwork:
    """A pandapower network and which of its elements belong to which park entity."""

    net: Any
    elements: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # table, indices
    direct_lines: list[int] = field(default_factory=list)  # 绿电直连 line indices
    design_mva: dict[str, float] = field(default_factory=dict)  # element -> its design peak
    storage_loads: list[int] = field(default_factory=list)  # battery loads (design cases)
    n1_lines: frozenset[str] = frozenset()  # lines built to carry their design with one out

    def q_ratio(self, name: str) -> float:
        """Reactive over active power of an entity's elements (constant power factor)."""
        table, idx = self.elements[name]
        df = self.net[table].loc[idx]
        p = float(df.p_mw.sum())
        return float(df.q_mvar.sum()) / p if p else 0.0


class _Builder:
    """Collects the network's elements as rows, then creates each table in one call.

    pandapower's one-element ``create_*`` functions cost milliseconds each; the bulk ones
    build a network of a few hundred elements in a fraction of that.
    """

    def __init__(self) -> None:
        self.g = data.load("grid")
        self.buses: list[tuple[str, float]] = []
        self.lines: list[dict[str, Any]] = []
        self.trafos: list[dict[str, Any]] = []
        self.loads: list[dict[str, Any]] = []
        self.sgens: list[dict[str, Any]] = []
        self.elements: dict[str, tuple[str, list[int]]] = {}
        self.direct_lines: list[int] = []
        self.design: dict[str, float] = {}
        self.radials: dict[str, tuple[str, list[int]]] = {}  # feeder -> catalogue, lines
        self.storage: list[int] = []
        self.n1: set[str] = set()  # lines built N-1

    def bus(self, name: str, vn_kv: float) -> int:
        self.buses.append((name, vn_kv))
        return len(self.buses) - 1

    def line(self, a: int, b: int, km: float, kind: str, name: str, mva: float,
             kv: float, n1: bool = False) -> int:
        """A line or cable of the catalogue ``kind`` for a design peak of ``mva`` (``n1``: in
        circuits that carry it with one out)."""
        c, parallel = conductor(kind, mva, kv, n1)
        self.design[name] = mva
        if n1:
            self.n1.add(name)
        self.lines.append({"from": a, "to": b, "length_km": km, "name": name,
                           "parallel": parallel, "std_type": c["type"], "in_service": True,
                           **{k: c[k] for k in ("r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km",
                                                "max_i_ka")}})
        return len(self.lines) - 1

    def coupler(self, a: int, b: int, kind: str, name: str, mva: float, kv: float) -> None:
        """A normally open bus coupler between busbar sections ``a`` and ``b``, rated like the
        busbar for ``mva`` (the larger transformer feeding either section): 10 m of the
        impedance of the largest conductor of ``kind``, out of service until a transfer
        closes it."""
        c = max(self.g[kind], key=lambda t: t["max_i_ka"])
        self.lines.append({"from": a, "to": b, "length_km": 0.01, "name": name, "parallel": 1,
                           "std_type": "bus coupler", "in_service": False,
                           "max_i_ka": mva / (math.sqrt(3) * kv),
                           **{k: c[k] for k in ("r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km")}})

    def trafo(self, hv: int, lv: int, need: float, vn_hv: float, vn_lv: float, kind: str,
              name: str, tap_pos: int = 0) -> float:
        """A transformer of the smallest standard rating for a design peak of ``need`` MVA;
        return its rating."""
        t = self.g[kind]
        sn_mva = transformer_mva(need, t["vk_percent"])
        self.design[name] = need
        self.trafos.append({"hv": hv, "lv": lv, "sn_mva": sn_mva, "vn_hv_kv": vn_hv,
                            "vn_lv_kv": vn_lv, "vkr_percent": t["vkr_percent"],
                            "vk_percent": t["vk_percent"], "pfe_kw": t["pfe_kw_per_mva"] * sn_mva,
                            "i0_percent": t["i0_percent"], "name": name, "tap_pos": tap_pos})
        return sn_mva

    def attach(self, conn: Connection, buses: list[int]) -> None:
        """The entity's elements, its rating shared equally over ``buses``."""
        share = conn.rating_mw / len(buses)
        gen = conn.kind in GEN_KINDS
        rows = self.sgens if gen else self.loads
        cos_phi = 1.0 if gen else self.g["load_power_factor"].get(conn.kind, 1.0)
        q = share * math.tan(math.acos(cos_phi))
        first = len(rows)
        rows.extend({"bus": bus, "p_mw": share, "q_mvar": q, "name": f"{conn.name}/{k}"}
                    for k, bus in enumerate(buses))
        self.elements[conn.name] = ("sgen" if gen else "load", list(range(first, len(rows))))
        if conn.kind == "battery":
            self.storage.extend(range(first, len(rows)))

    def network(self, name: str, voltage_rule: bool = True) -> ParkNetwork:
        net = pp.create_empty_network(name=name, f_hz=50.0)
        pp.create_buses(net, len(self.buses), vn_kv=[b[1] for b in self.buses],
                        name=[b[0] for b in self.buses], index=range(len(self.buses)))
        pp.create_ext_grid(net, 0, vm_pu=self.g["ext_grid_vm_pu"], name="public-grid")
        cols = ("length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka",
                "parallel")
        pp.create_lines_from_parameters(
            net, [r["from"] for r in self.lines], [r["to"] for r in self.lines],
            name=[r["name"] for r in self.lines], index=range(len(self.lines)),
            in_service=[r["in_service"] for r in self.lines],
            **{c: [r[c] for r in self.lines] for c in cols})
        net.line["std_type"] = [r["std_type"] for r in self.lines]
        cols = ("sn_mva", "vn_hv_kv", "vn_lv_kv", "vkr_percent", "vk_percent", "pfe_kw",
                "i0_percent", "tap_pos")
        pp.create_transformers_from_parameters(
            net, [r["hv"] for r in self.trafos], [r["lv"] for r in self.trafos],
            name=[r["name"] for r in self.trafos], index=range(len(self.trafos)),
            shift_degree=0.0, tap_side="hv", tap_neutral=0, tap_min=-8, tap_max=8,
            tap_step_percent=1.25, tap_changer_type="Ratio",
            **{c: [r[c] for r in self.trafos] for c in cols})
        for rows, create in ((self.loads, pp.create_loads), (self.sgens, pp.create_sgens)):
            if rows:
                create(net, [r["bus"] for r in rows], p_mw=[r["p_mw"] for r in rows],
                       q_mvar=[r["q_mvar"] for r in rows], name=[r["name"] for r in rows],
                       index=range(len(rows)))
        if voltage_rule:
            fit_voltages(net, self.radials, self.storage)
        return ParkNetwork(net=net, elements=self.elements, direct_lines=self.direct_lines,
                           design_mva=self.design, storage_loads=self.storage,
                           n1_lines=frozenset(self.n1))


def _radials(b: _Builder, roots: list[int], n: int, segments: int, km: float, kind: str,
             kv: float, mva: float, prefix: str, n1: bool = False) -> list[int]:
    """``n`` radial cables of ``segments`` equal sections each, radial ``f`` from bus
    ``roots[f % len(roots)]``; return the buses along them (``<prefix><radial>s<section>``)."""
    points = []
    for f in range(n):
        prev = roots[f % len(roots)]
        radial = b.radials.setdefault(f"{prefix}{f + 1}", (kind, []))[1]
        for k in range(segments):
            name = f"{prefix}{f + 1}s{k + 1}"
            bus = b.bus(name, kv)
            radial.append(b.line(prev, bus, km / segments, kind, name, mva, kv, n1))
            points.append(bus)
            prev = bus
    return points


def _wind(b: _Builder, park220: int, conn: Connection, layout: GridLayout) -> None:
    """A wind farm: 35 kV collector strings, a 35/220 kV booster and its direct line."""
    mva = design_mva(conn.rating_mw)
    b220 = b.bus(f"{conn.name}/220", 220.0)
    b35 = b.bus(f"{conn.name}/35", 35.0)
    b.trafo(b220, b35, mva, 220.0, 35.0, "trafo_hv", f"{conn.name}/booster")
    b.direct_lines.append(b.line(b220, park220, layout.direct_line_km, "hv_line",
                                 f"{conn.name}/direct-line", mva, 220.0))
    n = max(1, math.ceil(conn.n_units / b.g["string_turbines"]))
    b.attach(conn, _radials(b, [b35], n, layout.feeder_segments, layout.collector_km,
                            "collector_cable", 35.0, design_mva(conn.rating_mw / n),
                            f"{conn.name}/st"))


def _feeder_plan(b: _Builder, group: list[Connection], units: int
                 ) -> tuple[list[tuple[int, int, float]], list[float]]:
    """The feeders of ``group`` taken in turn over ``units`` busbar sections: (member, section,
    design MVA) of each, and each section's transformer need: its own peak (loads or
    generators) and the larger neighbour's, which the automatic transfer puts on it."""
    plan = []
    load, gen = [0.0] * units, [0.0] * units
    turn = 0
    for m, member in enumerate(group):
        n = max(1, math.ceil(member.rating_mw / b.g["feeder_mw"]))
        mva = design_mva(member.rating_mw / n, member.kind)
        for f in range(n):
            k = (turn + f) % units
            plan.append((m, k, mva))
            (gen if member.kind in GEN_KINDS else load)[k] += mva
        turn = (turn + n) % units
    peak = [max(x, y) for x, y in zip(load, gen, strict=True)]
    need = [peak[k] + max([peak[j] for j in (k - 1, k + 1) if 0 <= j < units] or [0.0])
            for k in range(units)]
    return plan, need


def _substation(b: _Builder, b66: int, c: Connection, group: list[Connection],
                layout: GridLayout) -> None:
    """A 66/10 kV substation for ``group`` (``c`` and the entities it hosts): one transformer,
    or with ``layout.n1`` two or more, as few as keep each within ``mv_trafo_max_mva``, each
    feeding its own section of a split 10 kV busbar and sized for its section and the larger
    neighbour's (automatic transfer), the sections tied by normally open couplers; the feeders
    taken in turn over the sections."""
    vk = b.g["trafo_mv"]["vk_percent"]
    units = 2 if layout.n1 else 1
    plan, need = _feeder_plan(b, group, units)
    while layout.n1 and units < 12 and max(transformer_mva(x, vk) for x in need) > float(
            b.g["mv_trafo_max_mva"]):
        units += 1
        plan, need = _feeder_plan(b, group, units)
    if units == 1:
        need = [_peak_mva(group)]
    sections = [b.bus(f"{c.name}/10" + (f"-{k + 1}" if k else ""), 10.0) for k in range(units)]
    for m, member in enumerate(group):
        mine = [(k, mva) for who, k, mva in plan if who == m]
        b.attach(member, _radials(b, [sections[k] for k, _ in mine], len(mine),
                                  layout.feeder_segments, layout.feeder_km, "mv_cable", 10.0,
                                  mine[0][1], f"{member.name}/f", layout.n1))
    rated = [b.trafo(b66, bus, need[k], 66.0, 10.0, "trafo_mv",
                     f"{c.name}/substation" + (f"-{k + 1}" if k else ""),
                     tap_pos=layout.substation_tap_pos) for k, bus in enumerate(sections)]
    for k in range(1, units):
        b.coupler(sections[k - 1], sections[k], "mv_cable", f"{c.name}/10/coupler-{k}",
                  max(rated[k - 1], rated[k]), 10.0)


def _peak_mva(group: list[Connection]) -> float:
    """The design peak of ``group``: all its loads at once, or all its generators."""
    return max(sum(design_mva(c.rating_mw, c.kind) for c in group if c.kind not in GEN_KINDS),
               sum(design_mva(c.rating_mw) for c in group if c.kind in GEN_KINDS))


def build_network(connections: list[Connection], layout: GridLayout | None = None,
                  name: str = "park") -> ParkNetwork:
    """Build the park's network for ``connections`` (see the module docstring)."""
    layout = layout or GridLayout()
    b = _Builder()
    pcc = b.bus("pcc-220", 220.0)  # bus 0 carries the ext grid
    park220 = b.bus("park-220", 220.0)
    park66 = b.bus("park-66", 66.0)

    by_name = {c.name: c for c in connections}
    hosted: dict[str, list[Connection]] = {}
    for c in connections:
        if c.host is not None:
            if c.host not in by_name:
                raise ValueError(f"{c.name}: host {c.host!r} is not a park entity")
            hosted.setdefault(c.host, []).append(c)
    local = [c for c in connections if c.kind != "wind"]
    n_hv = max(1, layout.hv_transformers)
    sections = [park66] + [b.bus(f"park-66-{i + 1}", 66.0) for i in range(1, n_hv)
                           if layout.n1]  # the 66 kV busbar split per main transformer
    b.design[MAIN] = max(_peak_mva(local), design_mva(1.0))  # N-1: the others carry it
    for i in range(n_hv):
        name = f"park-trafo-{i + 1}"
        main_mva = b.trafo(park220, sections[i % len(sections)],
                           b.design[MAIN] / max(1, n_hv - 1), 220.0, 66.0, "trafo_hv", name)
        del b.design[name]  # checked together (MAIN)
    for i in range(1, len(sections)):
        b.coupler(sections[i - 1], sections[i], "hv_cable", f"park-66/coupler-{i}", main_mva,
                  66.0)
    b.line(pcc, park220, layout.pcc_line_km, "hv_line", "public-grid-line",
           max(_peak_mva(local), _peak_mva([c for c in connections if c.kind in GEN_KINDS])),
           220.0, layout.n1)

    carried = [0.0] * len(sections)
    for c in connections:
        if c.kind == "wind":
            _wind(b, park220, c, layout)
            continue
        if c.host is not None:
            continue
        group = [c, *hosted.get(c.name, [])]
        mva = _peak_mva(group)
        k = carried.index(min(carried))  # the 66 kV section carrying least so far
        carried[k] += mva
        b66 = b.bus(f"{c.name}/66", 66.0)
        b.line(sections[k], b66, layout.hv_cable_km, "hv_cable", f"{c.name}/66kv-cable", mva,
               66.0, layout.n1)
        _substation(b, b66, c, group, layout)
    return b.network(name, layout.voltage_rule)


def from_pandapower(net: Any, names: list[str]) -> ParkNetwork:
    """Tie the park entities ``names`` to the elements of a loaded network by element name.

    Elements named ``<entity>`` or ``<entity>/<anything>`` in ``load`` or ``sgen`` belong to
    that entity. Raises ``ValueError`` naming an entity with no element.
    """
    pn = ParkNetwork(net=net)
    for table in ("sgen", "load"):
        for idx, label in net[table]["name"].items():
            entity = str(label).split("/", 1)[0]
            if entity in names:
                t, found = pn.elements.setdefault(entity, (table, []))
                if t != table:
                    raise ValueError(f"{entity}: elements in both 'sgen' and 'load'")
                found.append(int(idx))
    missing = [n for n in names if n not in pn.elements]
    if missing:
        raise ValueError(f"no load or sgen named after {', '.join(missing)} "
                         "(name elements '<entity>' or '<entity>/<k>')")
    pn.direct_lines = [int(i) for i, label in net.line["name"].items()
                       if str(label).endswith("direct-line")]
    return pn


def element_names(net: Any, table: str) -> list[str]:
    """Names of a table's elements (index as text where a name is missing)."""
    return [str(n) if isinstance(n, str) and n else f"{table}-{i}"
            for i, n in zip(net[table].index, net[table]["name"], strict=True)]


def shares(pn: ParkNetwork) -> dict[str, np.ndarray]:
    """Each entity's share per element (equal split)."""
    return {name: np.full(len(idx), 1.0 / len(idx)) for name, (_, idx) in pn.elements.items()}


def inventory(pn: ParkNetwork) -> dict[str, float]:
    """What the network is built of, for its costs: circuit-km and transformer MVA by voltage.

    Keys ``direct_line_km`` (the 绿电直连 lines), ``line_<kV>kv_km`` (other lines: length x
    parallel circuits) and ``trafo_<HV>_<LV>kv_mva``, voltages as whole kV.
    """
    net = pn.net
    kv = net.bus.vn_kv
    out: dict[str, float] = {}
    for i, row in net.line.iterrows():
        km = float(row.length_km) * int(row.get("parallel", 1) or 1)
        level = round(max(kv[row.from_bus], kv[row.to_bus]))
        key = "direct_line_km" if i in pn.direct_lines else f"line_{level}kv_km"
        out[key] = out.get(key, 0.0) + km
    for _, row in net.trafo.iterrows():
        key = f"trafo_{round(row.vn_hv_kv)}_{round(row.vn_lv_kv)}kv_mva"
        out[key] = out.get(key, 0.0) + float(row.sn_mva) * int(row.get("parallel", 1) or 1)
    return out
