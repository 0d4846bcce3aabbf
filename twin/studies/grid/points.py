"""The operating points of a grid study: a recorded run's steps or a scenario's design cases.

A run file (:class:`twin.core.results.Run`) holds each entity's power per step (``p_mw``) and
the scenario's text; the network is rebuilt from that scenario (:func:`build_grid`), so a
study sees the network the run used. A scenario alone gives two design cases: *peak load*
(every load and EV hub at its rating, storage charging at full power, no generation) and
*peak generation* (PV and wind at their ratings, storage discharging at full power, no load).

:func:`critical_steps` picks the steps a screen need solve: per branch the steps of its highest
base-case loading, per bus those of its extreme voltages, and the steps of extreme import and
export. A contingency or an added plant makes a branch's flow worse where the base flow is
high, so these steps hold the worst cases of a year at a fraction of its steps; the studies
say which steps they solved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from twin import scenario as scenario_mod
from twin.core.errors import UserError
from twin.core.results import Run
from twin.cosim.network import build_grid, grid_connections
from twin.models.grid.network import element_names
from twin.models.grid.solver import GridError
from twin.models.grid.topology import ParkGrid
from twin.models.grid.violations import limits

__all__ = ["Points", "critical_steps", "load_network", "load_points", "solve_steps"]


@dataclass
class Points:
    """A network and the operating points a study solves on it.

    ``p_mw`` has one row per point and one column per entity of ``grid.names`` (each entity's
    sign: > 0 consumed by loads and charging storage, > 0 produced by PV and wind); ``labels``
    name the points (the park's local time, or a design case); ``kinds`` and ``ratings``
    give each entity's kind and rated power (MW).
    """

    grid: ParkGrid
    p_mw: np.ndarray
    labels: list[str]
    kinds: dict[str, str]
    ratings: dict[str, float]
    source: str
    control: str = ""  # the scenario's voltage control where it has one (not applied)

    def control_note(self) -> str:
        """One line saying that the scenario's voltage control is not applied (empty where
        it has none)."""
        if not self.control:
            return ""
        return (f"the scenario's voltage control ({self.control}) is not applied here: taps "
                "stay at their planned positions and inverters at unity power factor (a "
                "contingency's state before tap changers act; the run itself applied them)")

    @property
    def net(self) -> Any:
        return self.grid.net

    def elements(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(load p, load q, sgen p, sgen q) of the points ``rows`` (all by default)."""
        p = self.p_mw if rows is None else self.p_mw[rows]
        return self.grid.element_powers(p)

    def profile(self, kinds: tuple[str, ...]) -> np.ndarray:
        """The per-unit profile of the entities of ``kinds``: their summed power over their
        summed rating, per point (ones where the park has none)."""
        cols = [k for k, n in enumerate(self.grid.names) if self.kinds.get(n) in kinds]
        rating = sum(self.ratings[self.grid.names[k]] for k in cols)
        if not cols or rating <= 0:
            return np.ones(len(self.p_mw))
        return np.clip(self.p_mw[:, cols].sum(axis=1) / rating, 0.0, None)


def load_points(path: str | Path, solver: str = "lightsim2grid") -> Points:
    """The operating points of a run file (``.h5``) or a scenario's design cases (``.yaml``).

    Raises :class:`UserError` with one line for a file that is neither, a scenario without a
    grid, or a network the solver refuses.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix in (".h5", ".hdf5"):
        return _from_run(path, solver)
    try:
        s = scenario_mod.load(path)
    except scenario_mod.ScenarioError as exc:
        raise UserError(str(exc)) from exc
    grid, kinds, ratings = _network(s, path, solver)
    control = _control(s)
    gen_kinds, store = ("pv", "wind"), "battery"
    peak_load = [0.0 if kinds[n] in gen_kinds else ratings[n] for n in grid.names]
    peak_gen = [ratings[n] if kinds[n] in gen_kinds else
                (-ratings[n] if kinds[n] == store else 0.0) for n in grid.names]
    return Points(grid, np.array([peak_load, peak_gen], dtype=float),
                  ["design case: peak load", "design case: peak generation"], kinds, ratings,
                  f"{path} (design cases)", control)


def load_network(path: str | Path) -> Any:
    """The pandapower network of a run file (its scenario's) or of a scenario, without
    solving it (:class:`UserError` as :func:`load_points`)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix in (".h5", ".hdf5"):
        try:
            with Run(path) as run:
                meta = run.meta
        except (OSError, ValueError) as exc:  # Run's message names the file
            raise UserError(str(exc)) from exc
        try:
            s = scenario_mod.loads(str(meta["scenario"]), meta.get("scenario_path", path))
        except (KeyError, ValueError) as exc:
            raise UserError(f"{path}: the run's scenario cannot be read: {exc}") from exc
    else:
        try:
            s = scenario_mod.load(path)
        except scenario_mod.ScenarioError as exc:
            raise UserError(str(exc)) from exc
    if s.grid is None:
        raise UserError(f"{path}: the scenario has no grid section")
    try:
        return build_grid(s).net
    except (GridError, ValueError) as exc:
        raise UserError(f"{path}: grid: {exc}") from exc


def _control(s: Any) -> str:
    """The scenario's voltage control as ``oltc: X, inverters: Y`` (empty where none)."""
    c = getattr(s.grid, "control", None) if s.grid is not None else None
    if c is None or (c.oltc == "none" and c.inverters == "none"):
        return ""
    return f"oltc: {c.oltc}, inverters: {c.inverters}"


def _network(s: Any, path: Path, solver: str) -> tuple[ParkGrid, dict[str, str],
                                                         dict[str, float]]:
    if s.grid is None:
        raise UserError(f"{path}: the scenario has no grid section")
    try:
        pn = build_grid(s)
        grid = ParkGrid(pn.net, solver)
    except (GridError, ValueError) as exc:
        raise UserError(f"{path}: grid: {exc}") from exc
    conns = {c.name: c for c in grid_connections(s)}
    kinds = {n: conns[n].kind if n in conns else "other" for n in grid.names}
    ratings = {n: float(conns[n].rating_mw) if n in conns else 0.0 for n in grid.names}
    return grid, kinds, ratings


def _from_run(path: Path, solver: str) -> Points:
    try:
        run = Run(path)
    except (OSError, ValueError) as exc:  # Run's message names the file
        raise UserError(str(exc)) from exc
    with run:
        meta = run.meta
        try:
            s = scenario_mod.loads(str(meta["scenario"]), meta.get("scenario_path", path))
        except (KeyError, scenario_mod.ScenarioError) as exc:
            raise UserError(f"{path}: the run's scenario cannot be read: {exc}") from exc
        grid, kinds, ratings = _network(s, path, solver)
        control = _control(s)
        time_s = run.time_s
        cols = []
        for name in grid.names:
            if not run.has(name, "p_mw"):
                raise UserError(f"{path}: the run has no p_mw of {name}")
            cols.append(np.nan_to_num(run.series(name, "p_mw").astype(float)))
    start = dt.datetime.fromisoformat(str(meta.get("start", "2000-01-01T00:00+00:00")))
    if start.tzinfo is not None:  # the park's local time, as the reports show it
        start = start.astimezone(ZoneInfo(str(meta.get("timezone", "UTC"))))
    labels = [(start + dt.timedelta(seconds=int(t))).strftime("%Y-%m-%d %H:%M")
              for t in time_s]
    return Points(grid, np.stack(cols, axis=1) if cols else np.zeros((len(time_s), 0)),
                  labels, kinds, ratings, str(path), control)


def solve_steps(solver: Any, load_p: np.ndarray, load_q: np.ndarray, sgen_p: np.ndarray,
                sgen_q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every row (one step each) through ``solver``: in one block where it has one
    (:meth:`FastSolver.solve_block`), else step by step (``RunppSolver``).

    Returns (converged, vm_pu, line_loading_pct, trafo_loading_pct), one row per step."""
    if hasattr(solver, "solve_block"):
        ok, r = solver.solve_block(load_p, load_q, sgen_p, sgen_q)
        return ok, np.atleast_2d(r.vm_pu), np.atleast_2d(r.line_loading_pct), \
            np.atleast_2d(r.trafo_loading_pct)
    out = [solver.solve(*(a[k] for a in (load_p, load_q, sgen_p, sgen_q)))
           for k in range(len(load_p))]
    return (np.array([r.converged for r in out], bool),
            np.array([r.vm_pu for r in out]).reshape(len(out), -1),
            np.array([r.line_loading_pct for r in out]).reshape(len(out), -1),
            np.array([r.trafo_loading_pct for r in out]).reshape(len(out), -1))


def critical_steps(points: Points, per_element: int = 2) -> np.ndarray:
    """The steps a screen solves (see the module docstring), sorted; every step where the
    points are fewer than the steps that would be picked."""
    n = len(points.p_mw)
    solver = points.grid.topology().solver
    ok, vm, line, trafo = solve_steps(solver, *points.elements())
    if n <= per_element * 4:
        return np.arange(n)
    picks: set[int] = set()
    with np.errstate(invalid="ignore"):
        for values, sign in ((np.hstack([line, trafo]), -1.0), (vm, -1.0), (vm, 1.0)):
            v = np.where(np.isfinite(values), values, np.nan)
            v = np.nan_to_num(sign * v, nan=np.inf)
            top = np.argpartition(v, min(per_element, n - 1), axis=0)[:per_element]
            picks.update(int(i) for i in np.unique(top))
    lp, _, sp, _ = points.elements()
    net_mw = lp.sum(axis=1) - sp.sum(axis=1)
    order = np.argsort(net_mw)
    picks.update(int(i) for i in (*order[:per_element], *order[-per_element:]))
    picks.update(int(i) for i in np.flatnonzero(~ok))
    return np.array(sorted(picks), dtype=int)


def names(points: Points) -> dict[str, list[str]]:
    """The names of the network's buses, lines and transformers (the results' orders)."""
    net = points.net
    return {t: element_names(net, t) for t in ("bus", "line", "trafo")}


def band() -> tuple[float, float, float]:
    """(vm_min_pu, vm_max_pu, loading_max_pct): the limits every study checks."""
    return limits()
