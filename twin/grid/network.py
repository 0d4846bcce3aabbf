"""The park's pandapower network: built from parameters, or loaded from pandapower JSON.

The network is the model of record. Built from parameters it follows Northeast China's
220/66/10 kV chain::

    ext grid - pcc-220 ==(public grid line)== park-220 -- 220/66 kV trafos -- park-66
    park-66 --66 kV cables--> customer substations 66/10 kV --> 10 kV feeders --> entities
    wind farm: turbines on 35 kV strings -- 35/220 kV booster -- 绿电直连 220 kV line -- park-220

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
from twin.fields import param

GEN_KINDS = ("pv", "wind")


@dataclass(frozen=True)
class Connection:
    """A park entity as the grid sees it: its kind, its rating and where it connects."""

    name: str
    kind: str  # pv, wind, factory, ev, heat, battery
    rating_mw: float
    host: str | None = None  # another entity whose substation it shares
    n_units: int = 1  # wind turbines (collector strings are sized from it)


@dataclass(frozen=True)
class GridLayout:
    """Parameters of a network built by :func:`build_network` (lengths are illustrative)."""

    pcc_line_km: float = param("km", gt=0, default=5.0,
                               doc="220 kV line from the public grid's PCC to the park")
    hv_transformers: int = param("1", ge=1, le=6, default=2, doc="220/66 kV main transformers")
    hv_cable_km: float = param("km", gt=0, default=3.0,
                               doc="66 kV cable from the main busbar to each substation")
    feeder_km: float = param("km", gt=0, default=2.0, doc="length of each 10 kV feeder")
    feeder_segments: int = param("1", ge=1, le=10, default=3,
                                 doc="buses along each feeder and collector string")
    direct_line_km: float = param("km", gt=0, default=40.0,
                                  doc="绿电直连 220 kV line from each wind farm to the park")
    collector_km: float = param("km", gt=0, default=6.0,
                                doc="length of each 35 kV collector string")
    substation_tap_pos: int = param("1", ge=-8, le=8, default=-2,
                                    doc="fixed tap of the 66/10 kV substations (1.25 %/step, "
                                    "negative raises the 10 kV voltage)")


@dataclass
class ParkNetwork:
    """A pandapower network and which of its elements belong to which park entity."""

    net: Any
    elements: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # table, indices
    direct_lines: list[int] = field(default_factory=list)  # 绿电直连 line indices

    def q_ratio(self, name: str) -> float:
        """Reactive over active power of an entity's elements (constant power factor)."""
        table, idx = self.elements[name]
        df = self.net[table].loc[idx]
        p = float(df.p_mw.sum())
        return float(df.q_mvar.sum()) / p if p else 0.0


def _size_mva(mw: float, pf: float = 0.95) -> float:
    margin = data.load("grid")["sizing_margin"]
    need = mw / pf * margin
    for size in data.load("grid")["trafo_sizes_mva"]:
        if size >= need:
            return float(size)
    return float(math.ceil(need / 100.0) * 100.0)


def _trafo(net: Any, hv: int, lv: int, sn_mva: float, vn_hv: float, vn_lv: float, kind: str,
           name: str, tap_pos: int = 0) -> int:
    t = data.load("grid")[kind]
    return pp.create_transformer_from_parameters(
        net, hv, lv, sn_mva=sn_mva, vn_hv_kv=vn_hv, vn_lv_kv=vn_lv,
        vkr_percent=t["vkr_percent"], vk_percent=t["vk_percent"],
        pfe_kw=t["pfe_kw_per_mva"] * sn_mva, i0_percent=t["i0_percent"], shift_degree=0.0,
        tap_side="hv", tap_neutral=0, tap_min=-8, tap_max=8, tap_step_percent=1.25,
        tap_pos=tap_pos, tap_changer_type="Ratio", name=name)


def _line(net: Any, a: int, b: int, km: float, kind: str, name: str, mva: float,
          kv: float) -> int:
    c = data.load("grid")[kind]
    per_circuit = math.sqrt(3) * kv * c["max_i_ka"]
    parallel = max(1, math.ceil(mva / per_circuit))
    return pp.create_line_from_parameters(
        net, a, b, length_km=km, r_ohm_per_km=c["r_ohm_per_km"], x_ohm_per_km=c["x_ohm_per_km"],
        c_nf_per_km=c["c_nf_per_km"], max_i_ka=c["max_i_ka"], name=name, parallel=parallel)


def _feeders(net: Any, bus10: int, conn: Connection, layout: GridLayout) -> list[int]:
    """10 kV feeders for one entity from a substation's 10 kV bus; return its load points."""
    g = data.load("grid")
    n_feeders = max(1, math.ceil(conn.rating_mw / g["feeder_mw"]))
    seg_km = layout.feeder_km / layout.feeder_segments
    points = []
    for f in range(n_feeders):
        prev = bus10
        for s in range(layout.feeder_segments):
            bus = pp.create_bus(net, 10.0, name=f"{conn.name}/f{f + 1}s{s + 1}")
            _line(net, prev, bus, seg_km, "mv_cable", f"{conn.name}/f{f + 1}s{s + 1}",
                  conn.rating_mw / n_feeders / 0.95 * g["sizing_margin"], 10.0)
            points.append(bus)
            prev = bus
    return points


def _attach(net: Any, pn: ParkNetwork, conn: Connection, buses: list[int]) -> None:
    pf = data.load("grid")["load_power_factor"]
    share = conn.rating_mw / len(buses)
    indices = []
    for k, bus in enumerate(buses):
        name = f"{conn.name}/{k}"
        if conn.kind in GEN_KINDS:
            indices.append(pp.create_sgen(net, bus, p_mw=share, q_mvar=0.0, name=name))
        else:
            cos_phi = pf.get(conn.kind, 1.0)
            q = share * math.tan(math.acos(cos_phi))
            indices.append(pp.create_load(net, bus, p_mw=share, q_mvar=q, name=name))
    pn.elements[conn.name] = ("sgen" if conn.kind in GEN_KINDS else "load", indices)


def _wind(net: Any, pn: ParkNetwork, park220: int, conn: Connection,
          layout: GridLayout) -> None:
    g = data.load("grid")
    mva = _size_mva(conn.rating_mw, 1.0)
    b220 = pp.create_bus(net, 220.0, name=f"{conn.name}/220")
    b35 = pp.create_bus(net, 35.0, name=f"{conn.name}/35")
    _trafo(net, b220, b35, mva, 220.0, 35.0, "trafo_hv", f"{conn.name}/booster")
    line = _line(net, b220, park220, layout.direct_line_km, "hv_line",
                 f"{conn.name}/direct-line", mva, 220.0)
    pn.direct_lines.append(line)
    n_strings = max(1, math.ceil(conn.n_units / g["string_turbines"]))
    seg_km = layout.collector_km / layout.feeder_segments
    points = []
    for s in range(n_strings):
        prev = b35
        for k in range(layout.feeder_segments):
            bus = pp.create_bus(net, 35.0, name=f"{conn.name}/st{s + 1}b{k + 1}")
            _line(net, prev, bus, seg_km, "collector_cable", f"{conn.name}/st{s + 1}b{k + 1}",
                  conn.rating_mw / n_strings * g["sizing_margin"], 35.0)
            points.append(bus)
            prev = bus
    _attach(net, pn, conn, points)


def build_network(connections: list[Connection], layout: GridLayout | None = None,
                  name: str = "park") -> ParkNetwork:
    """Build the park's network for ``connections`` (see the module docstring)."""
    layout = layout or GridLayout()
    g = data.load("grid")
    net = pp.create_empty_network(name=name, f_hz=50.0)
    pn = ParkNetwork(net=net)
    pcc = pp.create_bus(net, 220.0, name="pcc-220")
    pp.create_ext_grid(net, pcc, vm_pu=g["ext_grid_vm_pu"], name="public-grid")
    park220 = pp.create_bus(net, 220.0, name="park-220")
    park66 = pp.create_bus(net, 66.0, name="park-66")

    by_name = {c.name: c for c in connections}
    hosted: dict[str, list[Connection]] = {}
    for c in connections:
        if c.host is not None:
            if c.host not in by_name:
                raise ValueError(f"{c.name}: host {c.host!r} is not a park entity")
            hosted.setdefault(c.host, []).append(c)
    local = [c for c in connections if c.kind != "wind"]
    peak = max(sum(c.rating_mw for c in local if c.kind not in GEN_KINDS),
               sum(c.rating_mw for c in local if c.kind in GEN_KINDS), 1.0)
    n_hv = max(1, layout.hv_transformers)
    hv_mva = _size_mva(peak / n_hv)
    for i in range(n_hv):
        _trafo(net, park220, park66, hv_mva, 220.0, 66.0, "trafo_hv", f"park-trafo-{i + 1}")
    _line(net, pcc, park220, layout.pcc_line_km, "hv_line", "public-grid-line",
          max(peak, sum(c.rating_mw for c in connections if c.kind in GEN_KINDS)) / 0.95,
          220.0)

    for c in connections:
        if c.kind == "wind":
            _wind(net, pn, park220, c, layout)
            continue
        if c.host is not None:
            continue
        group = [c, *hosted.get(c.name, [])]
        mw = max(sum(x.rating_mw for x in group if x.kind not in GEN_KINDS),
                 sum(x.rating_mw for x in group if x.kind in GEN_KINDS))
        mva = _size_mva(mw)
        b66 = pp.create_bus(net, 66.0, name=f"{c.name}/66")
        b10 = pp.create_bus(net, 10.0, name=f"{c.name}/10")
        _line(net, park66, b66, layout.hv_cable_km, "hv_cable", f"{c.name}/66kv-cable", mva, 66.0)
        _trafo(net, b66, b10, mva, 66.0, 10.0, "trafo_mv", f"{c.name}/substation",
               tap_pos=layout.substation_tap_pos)
        for member in group:
            _attach(net, pn, member, _feeders(net, b10, member, layout))
    return pn


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
