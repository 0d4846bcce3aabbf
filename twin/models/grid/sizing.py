"""The planning rules a built park network follows, and a check that a network meets them.

The rules (``planning_rules`` in ``twin/data/grid.yaml``, with the catalogue they choose from):

- **main transformers, N-1**: with any one of the 220/66 kV main transformers out, the others
  carry the park's design peak (the larger of its local load and local generation);
- **transformers**: a substation's 66/10 kV transformer carries the peak of the entities it
  feeds, a wind farm's booster the farm's rating; each is the smallest standard rating
  (``trafo_sizes_mva``) that does;
- **conductors**: every line and cable carries its design current, the smallest type of its
  catalogue (``hv_line``, ``hv_cable``, ``mv_cable``, ``collector_cable``) whose rated current
  does, or parallel circuits of the largest where none does.

A design peak in MW becomes an apparent power at ``design_power_factor`` and a current at
``design_vm_pu`` of the nominal voltage (the bottom of the planning band): the ratings then
hold with the network's losses and voltage drop (tests/test_grid_sizing.py checks them with
``pandapower.runpp`` on the design cases).
"""

from __future__ import annotations

import math
from typing import Any

from twin import data

__all__ = ["MAIN", "check", "conductor", "design_mva", "transformer_mva"]

#: the key of the main transformers' design peak in ``ParkNetwork.design_mva``
MAIN = "main-transformers"


def design_mva(mw: float, kind: str | None = None) -> float:
    """The design apparent power of a peak of ``mw`` MW at the design power factor (or the
    load power factor of ``kind`` where lower), raised to the design voltage: the MVA a rating
    must carry at nominal voltage."""
    g = data.load("grid")
    pf = min(float(g["design_power_factor"]), float(g["load_power_factor"].get(kind, 1.0)))
    return mw / pf / float(g["design_vm_pu"])


def transformer_mva(need: float, vk_percent: float = 0.0) -> float:
    """The smallest standard transformer rating that carries ``need`` MVA with its own
    reactive losses (``vk_percent`` of the rating at full load, on the high-voltage side) at
    the design power factor (whole hundreds of MVA above the list)."""
    pf = float(data.load("grid")["design_power_factor"])
    q = need * math.sqrt(1.0 - pf * pf)

    def carries(size: float) -> bool:
        return math.hypot(need * pf, q + vk_percent / 100.0 * need * need / size) <= size

    for size in data.load("grid")["trafo_sizes_mva"]:
        if carries(size):
            return float(size)
    size = math.ceil(need / 100.0) * 100.0
    while not carries(size):
        size += 100.0
    return float(size)


def conductor(kind: str, need_mva: float, kv: float) -> tuple[dict[str, Any], int]:
    """The catalogue type of ``kind`` for ``need_mva`` at ``kv`` and its parallel circuits."""
    types = sorted(data.load("grid")[kind], key=lambda t: t["max_i_ka"])
    for t in types:
        if math.sqrt(3) * kv * t["max_i_ka"] >= need_mva:
            return t, 1
    big = types[-1]
    return big, max(1, math.ceil(need_mva / (math.sqrt(3) * kv * big["max_i_ka"])))


def _rating(net: Any, table: str, idx: int) -> float:
    row = net[table].loc[idx]
    n = int(row.get("parallel", 1) or 1)
    if table == "trafo":
        return float(row.sn_mva) * n
    kv = float(net.bus.vn_kv[row.from_bus])
    return math.sqrt(3) * kv * float(row.max_i_ka) * float(row.get("df", 1.0)) * n


def check(net: Any, design: dict[str, float]) -> list[str]:
    """Where ``net`` breaks the planning rules for the design peaks ``design`` (element name
    -> MVA, and :data:`MAIN` -> the park's peak), one line each; empty when it meets them."""
    errors = []
    for table in ("line", "trafo"):
        for idx, name in net[table]["name"].items():
            need = design.get(str(name))
            if need is not None and _rating(net, table, idx) < need * (1 - 1e-9):
                errors.append(f"{table} {name}: rated {_rating(net, table, idx):.1f} MVA, "
                              f"its design peak {need:.1f} MVA")
    if MAIN in design:
        main = net.trafo[net.trafo["name"].astype(str).str.startswith("park-trafo")
                         & net.trafo.in_service]
        sizes = sorted(float(s) * int(p or 1) for s, p in zip(main.sn_mva, main.get(
            "parallel", [1] * len(main)), strict=True))
        firm = sum(sizes[:-1])
        if len(sizes) < 2:
            errors.append(f"main transformers: {len(sizes)} in service; N-1 needs two or more")
        elif firm < design[MAIN] * (1 - 1e-9):
            errors.append(f"main transformers: {firm:.1f} MVA left with the largest out, the "
                          f"park's design peak {design[MAIN]:.1f} MVA (N-1 not met)")
    return errors
