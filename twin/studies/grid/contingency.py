"""N-1 screening: every line circuit and every transformer out in turn, on a run's steps.

An outage of a line or transformer with ``parallel`` > 1 takes one of its circuits out (the
others carry on, each with its own rating); one with a single circuit is taken out of service.
Where the outage leaves a busbar section without supply and a normally open bus coupler
(an out-of-service line named ``.../coupler-<k>``) ties it to a live section, the coupler
closes, one per cut-off section, as an automatic transfer (备自投) does, and the contingency is
solved with it closed. Buses still left without a path to the public grid are de-energised and
what they fed is reported as load lost (a radial feeder's N-1 is a supply interruption, not an
overload).
Each outage's network gets its own fast solver (:class:`FastSolver`, built once: pandapower's
compiled network with the element out), and all the steps studied are solved through it in one
block; ``solver="pandapower"`` solves the same with ``pandapower.runpp`` for checking.

lightsim2grid's own ``ContingencyAnalysis`` works on its pandapower importer, which refuses
switches and ``parallel`` != 1 (:mod:`twin.models.grid.solver`); the park's lines are built
with parallel circuits, so the screen builds one exact solver per outage instead.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandapower.topology as pp_topology

from twin.models.grid.solver import GridError
from twin.models.grid.topology import SOLVERS
from twin.studies.grid.points import Points, band, names, solve_steps

__all__ = ["Outage", "Screen", "outage_solver", "outages", "screen", "screen_file",
           "transfers"]


class CutOff(Exception):
    """An outage leaves no bus supplied but the public grid's: the whole park is cut off."""


@dataclass(frozen=True)
class Outage:
    """One contingency: a line or transformer (``table``, ``index``) out, or one of its
    circuits (``circuit``)."""

    table: str
    index: int
    element: str
    circuit: bool

    @property
    def name(self) -> str:
        what = "one circuit of " if self.circuit else ""
        return f"{what}{self.table} {self.element}"


def outages(net: Any) -> list[Outage]:
    """Every in-service line and two-winding transformer of ``net`` as an outage."""
    found = []
    for table in ("line", "trafo"):
        df = net[table]
        for idx, row in df[df.in_service].iterrows():
            name = str(row["name"]) if isinstance(row["name"], str) and row["name"] else \
                f"{table}-{idx}"
            found.append(Outage(table, int(idx), name, int(row.get("parallel", 1) or 1) > 1))
    return found


def _applied(net: Any, outage: Outage) -> tuple[Any, set[int]]:
    """A copy of ``net`` with ``outage`` applied, its automatic transfers made (the couplers
    closed: :func:`transfers`), and the buses it leaves without supply; :class:`CutOff` where none is left but the public grid's."""
    work = copy.deepcopy(net)
    df = work[outage.table]
    if outage.circuit:
        df.at[outage.index, "parallel"] = int(df.at[outage.index, "parallel"]) - 1
    else:
        df.at[outage.index, "in_service"] = False
    dead = {int(b) for b in pp_topology.unsupplied_buses(work)}
    while dead:  # automatic transfer: one normally open coupler per cut-off section
        ties = [i for i, a, b in zip(work.line.index, work.line.from_bus, work.line.to_bus,
                                     strict=True)
                if not work.line.at[i, "in_service"] and _is_coupler(work.line.at[i, "name"])
                and (int(a) in dead) != (int(b) in dead)]
        if not ties:
            break
        work.line.at[ties[0], "in_service"] = True
        dead = {int(b) for b in pp_topology.unsupplied_buses(work)}
    slack = set(work.ext_grid.bus[work.ext_grid.in_service])
    if set(work.bus.index[work.bus.in_service]) - dead <= slack:
        raise CutOff(outage.name)
    return work, dead


def _is_coupler(name: Any) -> bool:
    return isinstance(name, str) and "/coupler-" in name


def transfers(net: Any, outage: Outage, work: Any = None) -> list[str]:
    """The normally open couplers the automatic transfer closes after ``outage`` (``work``:
    ``net`` with it applied, where already made)."""
    if work is None:
        try:
            work = _applied(net, outage)[0]
        except CutOff:
            return []
    closed = work.line.in_service & ~net.line.in_service.reindex(work.line.index)
    return [str(n) for n in work.line.name[closed]]


def outage_solver(net: Any, outage: Outage, solver: str = "lightsim2grid"
                  ) -> tuple[Any, np.ndarray, np.ndarray]:
    """The solver of ``net`` with ``outage`` applied (``net`` is not modified), and the masks
    of the loads and static generators (solver order) it leaves without supply."""
    work, dead = _applied(net, outage)
    if dead:
        work.bus.loc[sorted(dead), "in_service"] = False
    pf = SOLVERS[solver](work)
    return (pf, work.load.bus.loc[pf.load_index].isin(dead).to_numpy(),
            work.sgen.bus.loc[pf.sgen_index].isin(dead).to_numpy())


def _cuts(net: Any) -> Any:
    """A function telling whether taking an element wholly out cuts buses off (networkx)."""
    import networkx as nx

    graph = pp_topology.create_nxgraph(net, multi=True)
    slack = set(net.ext_grid.bus[net.ext_grid.in_service])
    live = {int(b) for b in net.bus.index[net.bus.in_service]}

    def cuts(outage: Outage) -> bool:
        g = graph.copy()
        g.remove_edges_from([e for e in g.edges(keys=True)
                             if e[2] == (outage.table, outage.index)])
        reached: set[int] = set()
        for s in slack:
            reached |= nx.node_connected_component(g, s)
        return bool(live - reached)

    return cuts


def _solver_for(net: Any, base: Any, outage: Outage | None, solver: str, cuts: Any
                ) -> tuple[Any, np.ndarray, np.ndarray]:
    """The solver of one contingency: the base solver with the branch's admittance taken out
    (:meth:`FastSolver.without`) where no bus is cut off, else one built from the network."""
    if outage is None:
        return base, np.zeros(len(base.load_index), bool), np.zeros(len(base.sgen_index), bool)
    if hasattr(base, "without") and (outage.circuit or not cuts(outage)):
        parallel = int(net[outage.table].at[outage.index, "parallel"]) if outage.circuit else 1
        return (base.without(outage.table, outage.index, 1.0 / parallel),
                np.zeros(len(base.load_index), bool), np.zeros(len(base.sgen_index), bool))
    return outage_solver(net, outage, solver)


@dataclass
class Screen:
    """The N-1 screen's results.

    ``rows``: one per contingency (the base case first), worst first; ``violations``: every
    element out of its limits under a contingency (its worst value, when, for how many of the
    steps solved); ``steps``: the indices of the points solved; timings in seconds.
    """

    rows: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    steps: np.ndarray
    n_points: int
    build_s: float = 0.0
    solve_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def screen(points: Points, steps: np.ndarray | None = None, solver: str = "lightsim2grid",
           only: list[Outage] | None = None, batched: bool | None = None) -> Screen:
    """N-1 screen of ``points`` on the steps ``steps`` (every point when None); ``batched``:
    each contingency's steps in lightsim2grid's scenario sweep (:mod:`twin.studies.grid.
    batched`; None: where the solver is lightsim2grid and the batch takes the network)."""
    steps = np.arange(len(points.p_mw)) if steps is None else np.asarray(steps, dtype=int)
    labels = [points.labels[i] for i in steps]
    elements = points.elements(steps)
    nm = names(points)
    lo, hi, cap = band()
    result = Screen([], [], steps, len(points.p_mw))
    base = points.grid.topology().solver if solver == points.grid.solver_name else \
        SOLVERS[solver](points.net)
    cuts = _cuts(points.net)
    batch = _batch(points.net, elements[3], solver, batched)
    cases: list[tuple[str, Any]] = [("none (N-0)", None)]
    cases += [(o.name, o) for o in (outages(points.net) if only is None else only)]
    for case, outage in cases:
        t0 = time.perf_counter()
        applied = None  # the network with the outage applied where it cuts buses off
        cut_off = False  # nothing left but the public grid's bus
        if outage is not None and not outage.circuit and cuts(outage):
            try:
                applied = _applied(points.net, outage)
            except CutOff:
                cut_off = True
            closed = transfers(points.net, outage, applied[0]) if applied else []
            case += f" (transfer: {', '.join(closed)})" if closed else ""
        if batch is not None and outage is not None and not cut_off:
            row = _batched(batch, points.net, outage, applied, elements)
            if row is not None:
                ok, vm, line, trafo, lost = row
                result.solve_s += time.perf_counter() - t0
                result.rows.append(_row(case, ok, vm, line, trafo, lost, labels, nm,
                                        (lo, hi, cap), result.violations))
                continue
        try:
            pf, dead_load, dead_sgen = _solver_for(points.net, base, outage, solver, cuts)
        except GridError as exc:
            result.rows.append({"contingency": case, "status": f"not solved: {exc}"})
            continue
        except CutOff:  # no bus left but the public grid's: nothing to solve
            lost = np.clip(elements[0], 0.0, None).sum(axis=1)
            k = int(np.argmax(lost)) if len(lost) else 0
            result.rows.append({"contingency": case, "status": "cuts the whole park off",
                                "lost_load_mw": float(lost[k]) if len(lost) else 0.0,
                                "lost_time": labels[k] if len(lost) else ""})
            continue
        t1 = time.perf_counter()
        lp, lq, sp, sq = (a.copy() for a in elements)
        lost = np.clip(lp[:, dead_load], 0.0, None).sum(axis=1)
        for a, dead in ((lp, dead_load), (lq, dead_load), (sp, dead_sgen), (sq, dead_sgen)):
            a[:, dead] = 0.0
        ok, vm, line, trafo = solve_steps(pf, lp, lq, sp, sq)
        result.build_s += t1 - t0
        result.solve_s += time.perf_counter() - t1
        result.rows.append(_row(case, ok, vm, line, trafo, lost, labels, nm, (lo, hi, cap),
                                result.violations))
    result.rows.sort(key=_severity)
    return result


def _batch(net: Any, sgen_q: np.ndarray, solver: str, batched: bool | None) -> Any:
    """The batch of :mod:`twin.studies.grid.batched` where it is asked for and can be used."""
    from twin.studies.grid import batched as batched_mod

    if batched is False or solver != "lightsim2grid":
        return None
    if not batched_mod.usable(net, sgen_q):
        if batched:
            raise GridError("the batched N-1 cannot take this network (see "
                            "twin.studies.grid.batched.usable)")
        return None
    return batched_mod.Batch(net)


def _batched(batch: Any, net: Any, outage: Outage, applied: tuple[Any, set[int]] | None,
             elements: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...] | None:
    """One contingency on every step through the batch: its results and the load lost; None
    where it cuts generation off (the sweep does not converge with it: the exact route)."""
    dead: set[int] = set()
    table: str | None = outage.table
    if applied is not None:  # the buses it cuts off, after any transfer
        work, dead = applied
        if net.sgen.bus.isin(dead).any():
            return None
        if (work.line.in_service != net.line.in_service).any():  # a transfer: its own batch
            batch, table = type(batch)(work), None
    dead_bus = np.isin(net.bus.index, sorted(dead))
    dead_load = net.load.bus.isin(dead).to_numpy()
    dead_sgen = net.sgen.bus.isin(dead).to_numpy()
    lp, lq, sp, _ = (a.copy() for a in elements)
    lost = np.clip(lp[:, dead_load], 0.0, None).sum(axis=1)
    for a, mask in ((lp, dead_load), (lq, dead_load), (sp, dead_sgen)):
        a[:, mask] = 0.0
    return (*batch.solve(table, outage.index, dead_bus, lp, lq, sp), lost)


_WORKER: dict[str, Any] = {}


def _work_init(path: str, solver: str) -> None:
    from twin.studies.grid.points import load_points

    _WORKER["points"] = load_points(path, solver)


def _work(args: tuple[np.ndarray | None, str, list[int]]) -> Screen:
    steps, solver, picks = args
    pts = _WORKER["points"]
    every = outages(pts.net)
    return screen(pts, steps, solver, only=[every[k] for k in picks])


def screen_file(path: str, points: Points, steps: np.ndarray | None = None,
                solver: str = "lightsim2grid", workers: int = 1) -> Screen:
    """:func:`screen` of the run file ``path`` (whose points are ``points``) with the
    contingencies shared over ``workers`` processes, each loading the file itself."""
    every = outages(points.net)
    if workers <= 1 or len(every) < 2:
        return screen(points, steps, solver)
    from concurrent.futures import ProcessPoolExecutor

    chunks = [list(range(k, len(every), workers)) for k in range(workers)]
    with ProcessPoolExecutor(workers, initializer=_work_init,
                             initargs=(str(path), solver)) as pool:
        parts = list(pool.map(_work, [(steps, solver, c) for c in chunks]))
    first = parts[0]
    rows = first.rows + [r for part in parts[1:] for r in part.rows
                         if r["contingency"] != "none (N-0)"]
    rows.sort(key=_severity)
    return Screen(rows, [v for part in parts for v in part.violations
                         if v["contingency"] != "none (N-0)" or part is first],
                  first.steps, first.n_points, sum(p.build_s for p in parts),
                  sum(p.solve_s for p in parts))


def _severity(r: dict[str, Any]) -> tuple[bool, int, float]:
    return (r["contingency"] != "none (N-0)", -r.get("not_converged", 0),
            -float(np.nan_to_num(r.get("worst_loading_pct", 0.0))))


def _row(case: str, ok: np.ndarray, vm: np.ndarray, line: np.ndarray, trafo: np.ndarray,
         lost: np.ndarray, labels: list[str], nm: dict[str, list[str]],
         lim: tuple[float, float, float], violations: list[dict[str, Any]]) -> dict[str, Any]:
    lo, hi, cap = lim
    branch = np.hstack([line, trafo])
    branch_names = nm["line"] + nm["trafo"]
    row: dict[str, Any] = {"contingency": case, "status": "solved",
                           "not_converged": int((~ok).sum())}
    with np.errstate(invalid="ignore"):
        over = branch > cap
        under, above = vm < lo, vm > hi
    for kind, bad, values, worst in (("overload", over, branch, np.nanargmax),
                                     ("undervoltage", under, vm, np.nanargmin),
                                     ("overvoltage", above, vm, np.nanargmax)):
        cols = np.flatnonzero(bad.any(axis=0))
        element = branch_names if kind == "overload" else nm["bus"]
        for j in cols:
            rows = np.flatnonzero(bad[:, j])
            k = rows[worst(values[rows, j])]
            violations.append({"contingency": case, "kind": kind, "element": element[j],
                               "worst": float(values[k, j]), "time": labels[k],
                               "steps": int(len(rows))})
        if kind == "overload":
            row["overloaded"] = int(len(cols))
    finite = np.isfinite(branch)
    if finite.any():
        k, j = np.unravel_index(np.nanargmax(np.where(finite, branch, -np.inf)), branch.shape)
        row.update(worst_element=branch_names[j], worst_loading_pct=float(branch[k, j]),
                   worst_time=labels[k], overload_steps=int(over.any(axis=1).sum()))
    if np.isfinite(vm).any():
        k, j = np.unravel_index(np.nanargmin(vm), vm.shape)
        row.update(vm_min_pu=float(vm[k, j]), vm_min_bus=nm["bus"][j], vm_min_time=labels[k])
        k, j = np.unravel_index(np.nanargmax(vm), vm.shape)
        row.update(vm_max_pu=float(vm[k, j]), vm_max_bus=nm["bus"][j], vm_max_time=labels[k])
        row["voltage_steps"] = int((under | above).any(axis=1).sum())
    k = int(np.argmax(lost)) if len(lost) else 0
    row.update(lost_load_mw=float(lost[k]) if len(lost) else 0.0,
               lost_time=labels[k] if len(lost) and lost[k] > 0 else "")
    return row
