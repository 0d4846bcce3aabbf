"""The planning rules a built park network follows, and a check that a network meets them.

The rules (``planning_rules`` in ``twin/data/grid.yaml``, with the catalogue they choose from):

- **main transformers, N-1**: with any one of the 220/66 kV main transformers out, the others
  carry the park's design peak (the larger of its local load and local generation);
- **transformers**: a substation's 66/10 kV transformer carries the peak of the entities it
  feeds, a wind farm's booster the farm's rating; each is the smallest standard rating
  (``trafo_sizes_mva``) that does;
- **conductors**: every line and cable carries its design current, the smallest type of its
  catalogue (``hv_line``, ``hv_cable``, ``mv_cable``, ``collector_cable``) whose rated current
  does, or parallel circuits of the largest where none does;
- **N-1 below the main transformers** (``n1`` in the layout): the public grid line, the 66 kV
  cables and the 10 kV feeders in two or more circuits, one out leaving the others to carry the
  design peak (双回路); every substation of two or more transformers (each at most
  ``mv_trafo_max_mva``: as many as that takes), each feeding its own section of a split 10 kV busbar and
  able to carry a neighbour's section too; the 66 kV busbar split into one section per main
  transformer. Sections are tied by normally open bus couplers (out-of-service lines named
  ``.../coupler-<k>``) that close when a transformer is lost (备自投, automatic transfer:
  :func:`twin.studies.grid.contingency.outages` applies it). Split operation keeps the
  short-circuit current of each section to one transformer's; the wind farms' direct lines and
  collector strings stay single (their loss curtails generation, no load is lost);
- **voltage band**: in the design cases (every load and storage charging at its rating with no
  generation; every generator at its rating and storage discharging at its rating with no
  load) every bus stays within ``vm_band_pu``: the fixed tap of a substation (or booster)
  centres its feeders' voltage range in the band, and a feeder or collector string whose own
  rise or drop still takes its buses out is stepped up the catalogue (then by parallel
  circuits) (:func:`fit_voltages`, AC power flows of the design cases; ``voltage_rule: false``
  in the layout sizes by current alone, leaving the voltage to control).

A design peak in MW becomes an apparent power at ``design_power_factor`` and a current at
``design_vm_pu`` of the nominal voltage (the bottom of the planning band): the ratings then
hold with the network's losses and voltage drop (tests/test_grid_sizing.py checks them with
``pandapower.runpp`` on the design cases).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin import data
from twin.models.grid.solver import FastSolver

__all__ = ["MAIN", "band_errors", "check", "conductor", "design_mva", "fit_voltages",
           "transformer_mva"]

#: most rounds of stepping feeders up before :func:`fit_voltages` gives up
_MAX_ROUNDS = 12

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


def conductor(kind: str, need_mva: float, kv: float, n1: bool = False
              ) -> tuple[dict[str, Any], int]:
    """The catalogue type of ``kind`` for ``need_mva`` at ``kv`` and its parallel circuits;
    ``n1``: with one circuit out, the others still carry ``need_mva`` (two circuits of the
    smallest type that carries it alone, or one more circuit of the largest)."""
    types = sorted(data.load("grid")[kind], key=lambda t: t["max_i_ka"])
    spare = int(n1)
    for t in types:
        if math.sqrt(3) * kv * t["max_i_ka"] >= need_mva:
            return t, 1 + spare
    big = types[-1]
    return big, max(1, math.ceil(need_mva / (math.sqrt(3) * kv * big["max_i_ka"]))) + spare


def _rating(net: Any, table: str, idx: int) -> float:
    row = net[table].loc[idx]
    n = int(row.get("parallel", 1) or 1)
    if table == "trafo":
        return float(row.sn_mva) * n
    kv = float(net.bus.vn_kv[row.from_bus])
    return math.sqrt(3) * kv * float(row.max_i_ka) * float(row.get("df", 1.0)) * n


def check(net: Any, design: dict[str, float], n1: frozenset[str] = frozenset()) -> list[str]:
    """Where ``net`` breaks the planning rules for the design peaks ``design`` (element name
    -> MVA, and :data:`MAIN` -> the park's peak), one line each; empty when it meets them.
    The lines named in ``n1`` must carry their design peak with one circuit out."""
    errors = []
    for table in ("line", "trafo"):
        for idx, name in net[table]["name"].items():
            need = design.get(str(name))
            if need is not None and _rating(net, table, idx) < need * (1 - 1e-9):
                errors.append(f"{table} {name}: rated {_rating(net, table, idx):.1f} MVA, "
                              f"its design peak {need:.1f} MVA")
            if table == "line" and need is not None and str(name) in n1:
                n = int(net.line.at[idx, "parallel"])
                left = _rating(net, "line", idx) * (n - 1) / n
                if left < need * (1 - 1e-9):
                    errors.append(f"line {name}: {left:.1f} MVA left with one of its {n} "
                                  f"circuits out, its design peak {need:.1f} MVA (N-1 not met)")
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


def design_cases(net: Any, storage_loads: list[int]) -> dict[str, tuple[np.ndarray, ...]]:
    """Load and generator powers (``load_p, load_q, sgen_p, sgen_q``, table order) of the two
    design cases: "peak load" (every load at its rating, generators off) and "peak generation"
    (every generator at its rating, the loads ``storage_loads`` discharging at theirs, other
    loads off). Ratings are the tables' ``p_mw`` and ``q_mvar``."""
    lp, lq = net.load.p_mw.to_numpy(float), net.load.q_mvar.to_numpy(float)
    gp, gq = net.sgen.p_mw.to_numpy(float), net.sgen.q_mvar.to_numpy(float)
    store = np.isin(net.load.index, storage_loads)
    return {"peak load": (lp, lq, 0.0 * gp, 0.0 * gq),
            "peak generation": (np.where(store, -lp, 0.0), 0.0 * lq, gp, gq)}


def _voltages(net: Any, storage_loads: list[int]) -> np.ndarray:
    """Bus voltages (p.u., case x bus) of the design cases; NaN where a case fails."""
    solver = FastSolver(net)
    return np.array([solver.solve(*powers).vm_pu
                     for powers in design_cases(net, storage_loads).values()])


def _outside(net: Any, storage_loads: list[int]) -> list[tuple[str, str, float]]:
    """(case, bus name, vm_pu) of every bus outside ``vm_band_pu`` in the design cases."""
    lo, hi = data.load("grid")["vm_band_pu"]
    out = []
    for case, vm in zip(design_cases(net, storage_loads), _voltages(net, storage_loads),
                        strict=True):
        bad = ~((vm >= lo - 1e-9) & (vm <= hi + 1e-9))
        out.extend((case, str(net.bus.name.iloc[i]), float(vm[i])) for i in np.flatnonzero(bad))
    return out


def band_errors(net: Any, storage_loads: list[int]) -> list[str]:
    """Where the design cases take a bus of ``net`` outside the voltage band, one line each."""
    lo, hi = data.load("grid")["vm_band_pu"]
    return [f"bus {bus}: {vm:.4f} p.u. in the {case} case, outside {lo}-{hi} p.u."
            for case, bus, vm in _outside(net, storage_loads)]


def _step_up(net: Any, lines: list[int], kind: str) -> None:
    """Each of ``lines`` one type up its catalogue ``kind``, or one more parallel circuit of
    the largest."""
    types = sorted(data.load("grid")[kind], key=lambda t: t["max_i_ka"])
    names = [t["type"] for t in types]
    for i in lines:
        k = names.index(net.line.at[i, "std_type"])
        if k + 1 < len(types):
            t = types[k + 1]
            for col in ("r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka"):
                net.line.at[i, col] = t[col]
            net.line.at[i, "std_type"] = t["type"]
        else:
            net.line.at[i, "parallel"] = int(net.line.at[i, "parallel"]) + 1


def _retap(net: Any, t: int, dv: float, tried: dict[int, set[int]]) -> bool:
    """Move transformer ``t``'s fixed tap to lower its low-voltage side by ``dv`` p.u. (whole
    steps, within its range, to no position it had before); whether it moved."""
    step = float(net.trafo.at[t, "tap_step_percent"]) / 100.0
    tap = int(net.trafo.at[t, "tap_pos"])
    new = min(max(tap + round(dv / step), int(net.trafo.at[t, "tap_min"])),
              int(net.trafo.at[t, "tap_max"]))
    if new in tried.setdefault(t, {tap}):  # no position twice: no flip-flop
        return False
    tried[t].add(new)
    net.trafo.at[t, "tap_pos"] = new
    return True


def fit_voltages(net: Any, radials: dict[str, tuple[str, list[int]]],
                 storage_loads: list[int]) -> None:
    """Keep the design cases' voltages in the band, as a planner does: where a busbar's
    radials (feeders, collector strings: name -> catalogue kind, line indices from the busbar
    out) leave it, move the fixed tap of the transformer feeding the busbar to centre their
    range in the band (the busbar's own range where theirs is wider than the band); where the
    tap has no new position to go to and the busbar itself is in the band, step up the radials
    that leave it while their own voltage change exceeds ``feeder_du_min_pct``. Stops when every busbar's radials are in the band or
    nothing is left to change (:func:`band_errors` then names what is out)."""
    lo, hi = data.load("grid")["vm_band_pu"]
    pos = {int(b): k for k, b in enumerate(net.bus.index)}
    groups: dict[int, list[str]] = {}
    for r, (_, lines) in radials.items():
        groups.setdefault(int(net.line.at[lines[0], "from_bus"]), []).append(r)
    feeding = {int(b): int(t) for t, b in net.trafo.lv_bus.items()}
    du_min = float(data.load("grid")["feeder_du_min_pct"]) / 100.0
    tried: dict[int, set[int]] = {}

    def inside(v: np.ndarray) -> bool:
        return bool(np.all((v >= lo - 1e-9) & (v <= hi + 1e-9)))

    for _ in range(_MAX_ROUNDS):
        vm = _voltages(net, storage_loads)
        changed = False
        for root, names in groups.items():
            cols = {r: [pos[root]] + [pos[int(net.line.at[i, "to_bus"])]
                                      for i in radials[r][1]] for r in names}
            v = vm[:, sorted({c for cs in cols.values() for c in cs})]
            if inside(v):
                continue
            t = feeding.get(root)
            # centre the radials' range, or the busbar's where theirs is wider than the band
            c = v if np.nanmax(v) - np.nanmin(v) <= hi - lo else vm[:, pos[root]]
            if t is not None and _retap(net, t, (np.nanmax(c) + np.nanmin(c)) / 2 - (lo + hi) / 2,
                                        tried):
                changed = True
                continue
            if not inside(vm[:, pos[root]]):
                continue  # out upstream of its radials: no feeder fixes it
            for r, cs in cols.items():
                own = np.nanmax(np.abs(vm[:, cs] - vm[:, [pos[root]]]))
                if not inside(vm[:, cs]) and own > du_min:
                    _step_up(net, radials[r][1], radials[r][0])
                    changed = True
        if not changed:
            return
