"""Hosting capacity: how much more PV, wind, storage or EV charging a bus takes.

At each candidate bus (every substation's low-voltage busbar, optionally every feeder's end)
one element is added to a copy of the network; for each technology the study finds, by
bisection, the largest power ``x`` it can have such that on every step studied no limit binds:

- thermal: no line or transformer above its rating (``loading_max_pct``);
- voltage: every bus within ``vm_band_pu``;
- N-1 (``n1=True``): the same with each branch between the bus and the public grid out in turn
  (one circuit of a parallel branch; a branch whose loss cuts the bus off is skipped);

a limit binds only where the addition makes it worse than the network already is: an element
within its limit without the addition binds when the addition takes it out; one already out of
its limit (in the base case or under a contingency) binds when the addition worsens it by more
than ``hosting_worsen_pct`` or ``hosting_worsen_pu`` (``twin/data/grid_studies.yaml``). The added power follows a profile: PV, wind and EV
charging scaled by the park's own PV, wind and EV profiles of the steps (ones where the park
has none), storage at full power charging and discharging on every step. PV and wind inject at
unity power factor as the park's plants do, EV charging draws at the EV power factor of
``twin/data/grid.yaml``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as pp_topology

from twin import data
from twin.models.grid.solver import GridError
from twin.models.grid.topology import SOLVERS
from twin.studies.grid.contingency import Outage, _cuts, _solver_for
from twin.studies.grid.points import Points, band, critical_steps, names, solve_steps

__all__ = ["TECHS", "Hosting", "candidate_buses", "hosting"]

#: technology -> (the entity kinds whose profile it follows, sign: +1 a load, -1 generation)
TECHS: dict[str, tuple[tuple[str, ...], float]] = {
    "pv": (("pv",), -1.0), "wind": (("wind",), -1.0), "ev": (("ev",), 1.0),
    "storage": ((), 1.0),
}


@dataclass
class Hosting:
    """The study's table (one row per bus and technology: ``mw``, ``binding``), the steps
    solved, the buses, and the time it took (seconds)."""

    rows: list[dict[str, Any]]
    steps: np.ndarray
    buses: list[int]
    seconds: float


def candidate_buses(net: Any, feeders: bool = False) -> list[int]:
    """Every transformer's low-voltage bus (the substations) and, with ``feeders``, every
    in-service bus at the end of a radial line (one branch only)."""
    found = [int(b) for b in net.trafo.lv_bus[net.trafo.in_service]]
    if feeders:
        graph = pp_topology.create_nxgraph(net, multi=True)
        slack = set(net.ext_grid.bus)
        found += [int(b) for b in graph.nodes if graph.degree(b) == 1 and b not in slack
                  and b in set(net.line.to_bus) | set(net.line.from_bus)]
    return list(dict.fromkeys(found))


class _Case:
    """The network with one added load per candidate, its solvers, and the limit check."""

    def __init__(self, points: Points, buses: list[int], steps: np.ndarray, solver: str,
                 n1: bool) -> None:
        self.net = copy.deepcopy(points.net)
        self.first = len(self.net.load)
        self.added = {b: int(i) for b, i in zip(buses, pp.create_loads(
            self.net, buses, p_mw=0.0, q_mvar=0.0,
            name=[f"hosting/{b}" for b in buses]), strict=True)}
        self.solver_name = solver
        try:
            self.base = SOLVERS[solver](self.net)
        except GridError as exc:
            raise GridError(f"hosting: {exc}") from exc
        self.pos = {b: int(np.flatnonzero(self.base.load_index == i)[0])
                    for b, i in self.added.items()}
        lp, lq, sp, sq = points.elements(steps)
        pad = np.zeros((len(steps), len(self.added)))
        self.elements = (np.hstack([lp, pad]), np.hstack([lq, pad]), sp, sq)
        self.n1 = n1
        self._cuts = _cuts(self.net)
        self._graph = pp_topology.create_nxgraph(self.net, multi=True)
        self._slack = int(self.net.ext_grid.bus.iloc[0])
        self._solvers: dict[Outage | None, Any] = {None: self.base}
        self._reference: dict[Outage | None, tuple[np.ndarray, np.ndarray]] = {}
        self.lim = band()
        s = data.load("grid_studies")
        self.worsen = float(s["hosting_worsen_pct"]), float(s["hosting_worsen_pu"])
        self.branch_names = names(points)["line"] + names(points)["trafo"]
        self.bus_names = names(points)["bus"]

    def outages_of(self, bus: int) -> list[Outage]:
        """The branches between ``bus`` and the public grid whose loss leaves it supplied."""
        if not self.n1:
            return []
        path = nx.shortest_path(self._graph, bus, self._slack)
        found = []
        for a, b in zip(path[:-1], path[1:], strict=True):
            for key in self._graph[a][b]:
                table, idx = key
                if table not in ("line", "trafo"):
                    continue
                name = str(self.net[table].at[idx, "name"])
                o = Outage(table, int(idx), name,
                           int(self.net[table].at[idx, "parallel"]) > 1)
                if o.circuit or not self._cuts(o):
                    found.append(o)
        return found

    def solver(self, outage: Outage | None) -> Any:
        if outage not in self._solvers:
            self._solvers[outage] = _solver_for(self.net, self.base, outage, self.solver_name,
                                                self._cuts)[0]
        return self._solvers[outage]

    def _solve(self, outage: Outage | None, bus: int | None, p: np.ndarray | None,
               q_ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lp, lq, sp, sq = (a.copy() for a in self.elements)
        if bus is not None:
            lp[:, self.pos[bus]] = p
            lq[:, self.pos[bus]] = p * q_ratio
        ok, vm, line, trafo = solve_steps(self.solver(outage), lp, lq, sp, sq)
        return ok, vm, np.hstack([line, trafo])

    def reference(self, outage: Outage | None) -> tuple[np.ndarray, np.ndarray]:
        """The network's own loadings and voltages (nothing added) under ``outage``."""
        if outage not in self._reference:
            _, vm, branch = self._solve(outage, None, None, 0.0)
            self._reference[outage] = (vm, branch)
        return self._reference[outage]

    def binding(self, bus: int, p: np.ndarray, q_ratio: float,
                outages: list[Outage]) -> str | None:
        """The first limit that binds with ``p`` added at ``bus`` (None where none does)."""
        lo, hi, cap = self.lim
        for outage in (None, *outages):
            ok, vm, branch = self._solve(outage, bus, p, q_ratio)
            where = "" if outage is None else f"N-1 ({outage.name}): "
            if not ok.all():
                return f"{where}power flow does not converge"
            vm0, branch0 = self.reference(outage)
            dp, dv = self.worsen
            with np.errstate(invalid="ignore"):
                branch0 = np.nan_to_num(branch0)
                over = (branch > cap) & (branch > np.where(branch0 > cap, branch0 + dp,
                                                           branch0 + 1e-6))
                vm0 = np.nan_to_num(vm0, nan=1.0)
                low = (vm < lo) & (vm < np.where(vm0 < lo, vm0 - dv, vm0 - 1e-9))
                high = (vm > hi) & (vm > np.where(vm0 > hi, vm0 + dv, vm0 + 1e-9))
            if over.any():
                return f"{where}thermal: {self.branch_names[np.flatnonzero(over.any(0))[0]]}"
            if low.any():
                return f"{where}voltage low: {self.bus_names[np.flatnonzero(low.any(0))[0]]}"
            if high.any():
                return f"{where}voltage high: {self.bus_names[np.flatnonzero(high.any(0))[0]]}"
        return None


def hosting(points: Points, techs: tuple[str, ...] = tuple(TECHS), buses: list[int] | None = None,
            steps: np.ndarray | None = None, n1: bool = False, solver: str = "lightsim2grid",
            tolerance_mw: float | None = None, max_mw: float | None = None) -> Hosting:
    """The hosting capacity of ``techs`` at ``buses`` (default: the substations) on
    ``steps`` (default: the critical steps and each technology's highest-profile steps)."""
    t0 = time.perf_counter()
    settings = data.load("grid_studies")
    tol = float(tolerance_mw or settings["hosting_tolerance_mw"])
    top = float(max_mw or settings["hosting_max_mw"])
    buses = candidate_buses(points.net) if buses is None else buses
    profiles = {t: points.profile(TECHS[t][0]) if TECHS[t][0] else np.ones(len(points.p_mw))
                for t in techs}
    if steps is None:
        picked = set(critical_steps(points, int(settings["critical_per_element"])).tolist())
        k = int(settings["hosting_top_steps"])
        for t in techs:
            if TECHS[t][0]:
                picked.update(np.argsort(profiles[t])[-k:].tolist())
        steps = np.array(sorted(picked), dtype=int)
    case = _Case(points, buses, steps, solver, n1)
    ev_pf = float(data.load("grid")["load_power_factor"].get("ev", 1.0))
    rows = []
    for bus in buses:
        outages = case.outages_of(bus)
        for tech in techs:
            kinds, sign = TECHS[tech]
            shape = profiles[tech][steps]
            q_ratio = math.tan(math.acos(ev_pf)) if tech == "ev" else 0.0
            signs = (1.0, -1.0) if tech == "storage" else (sign,)

            def check(x: float, shape: np.ndarray = shape, q_ratio: float = q_ratio,
                      signs: tuple[float, ...] = signs, outages: list[Outage] = outages,
                      bus: int = bus) -> str | None:
                for s in signs:
                    why = case.binding(bus, s * x * shape, q_ratio, outages)
                    if why is not None:
                        return why
                return None

            mw, why = _bisect(check, tol, top)
            rows.append({"bus": case.bus_names[points.net.bus.index.get_loc(bus)],
                         "vn_kv": float(points.net.bus.vn_kv[bus]), "tech": tech, "mw": mw,
                         "binding": why or f"none up to {top:g} MW"})
    return Hosting(rows, steps, buses, time.perf_counter() - t0)


def _bisect(check: Any, tol: float, top: float) -> tuple[float, str | None]:
    """The largest x in [0, top] (to ``tol``) with ``check(x)`` None, and what binds above."""
    why = check(top)
    if why is None:
        return top, None
    lo, hi = 0.0, top
    if check(tol) is not None:
        return 0.0, check(tol)
    lo = tol
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        found = check(mid)
        if found is None:
            lo = mid
        else:
            hi, why = mid, found
    return lo, why
