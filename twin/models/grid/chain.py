"""lightsim2grid's time-series solver on the park's compiled network: the Newton-Raphson of
a run of steps fed whole arrays (:class:`Chain`), for :class:`twin.models.grid.solver.
FastSolver`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import PD


class Chain:
    """lightsim2grid's time-series solver (``TimeSeriesCPP``) on the compiled network: the
    Newton-Raphson of a run of steps, each started where the one before converged, in one
    call fed whole arrays. Unlike a call of the bare solver (which rebuilds the Jacobian's
    pattern and the linear solver's symbolic analysis every time: about 80 us of a 150 us
    solve), it keeps them from call to call, for one step or many.

    Its grid is lightsim2grid's own, built from the compiled network's matrices (MATPOWER
    layout; each branch's magnetising conductance, which that layout lacks, as bus shunts)
    with a load on every bus that takes the bus's whole injection. :meth:`of` returns None
    for a network of several slack buses (lightsim2grid would share their power) and where
    that grid's admittance matrix is not the compiled one to rounding (then the bare
    solver runs); so both give the same voltages to rounding (2e-14 p.u. on the reference
    park) and a step's answer is the same however the steps are batched."""

    def __init__(self, series: Any, ybus: Any, n_gen: int, base_mva: float) -> None:
        self.series = series
        self.ybus = ybus  # the admittance matrix this grid was checked against
        self.n_gen = n_gen
        self.base_mva = base_mva
        self.rows = 0

    @classmethod
    def of(cls, internal: dict, ybus: Any, v_start: np.ndarray) -> Chain | None:
        """The chain of the compiled network ``internal`` (pandapower's ppci), or None."""
        try:
            from lightsim2grid.lightsim2grid_cpp import TimeSeriesCPP
            from lightsim2grid.network.from_matpower import init as from_matpower
            from pandapower.pypower.idx_brch import BR_G, TAP
            from pandapower.pypower.idx_bus import GS
        except ImportError:  # pragma: no cover - depends on the lightsim2grid build
            return None
        if len(internal["ref"]) != 1 or len(internal["pv"]):  # its grid: one slack, no PV
            return None
        bus = internal["bus"][:, :13].real.copy()
        branch = internal["branch"]
        base = float(internal["baseMVA"])
        g = branch[:, BR_G].real * base / 2.0
        ends = branch[:, [F_BUS, T_BUS]].real.astype(np.int64)
        np.add.at(bus[:, GS], ends[:, 0], g / np.abs(branch[:, TAP]) ** 2)
        np.add.at(bus[:, GS], ends[:, 1], g)
        bus[:, PD] = 1.0  # a load on every bus (its value is set each step)
        gen = internal["gen"][:, :21].real.copy()
        try:
            grid = from_matpower({"bus": bus, "gen": gen, "branch": branch[:, :13].real.copy(),
                                  "baseMVA": base})
            grid.ac_pf(v_start.copy(), 1, 1.0)
            same = ybus.shape == grid.get_Ybus_solver().shape and abs(
                grid.get_Ybus_solver() - ybus).max() <= 1e-12 * abs(ybus).max()
            loads = np.array([load.bus_id for load in grid.get_loads()])
        except (RuntimeError, ValueError, IndexError, KeyError):
            return None
        if not same or not np.array_equal(loads, np.arange(len(bus))):
            return None
        return cls(TimeSeriesCPP(grid), ybus, len(gen), base)

    def run(self, sbus: np.ndarray, v0: np.ndarray, max_iteration: int, tolerance: float
            ) -> tuple[int, np.ndarray]:
        """Solve the rows of ``sbus`` in turn from ``v0``: how many converged before the
        first that did not (all: ``len(sbus)``), and their voltages (one row each)."""
        return self.collect(self.prepare(sbus, v0, max_iteration, tolerance)(), v0)

    def prepare(self, sbus: np.ndarray, v0: np.ndarray, max_iteration: int, tolerance: float
                ) -> Callable[[], bool]:
        """:meth:`run` in three parts: this one's arrays, then the returned call, which
        solves (False where lightsim2grid refused; it releases the GIL: another thread may
        make it), then :meth:`collect`. No other call of the chain in between."""
        k = len(sbus)
        load = -sbus * self.base_mva
        args = (np.zeros((k, self.n_gen)), np.zeros((k, 0)), np.ascontiguousarray(load.real),
                np.ascontiguousarray(load.imag), v0, max_iteration, tolerance)
        series = self.series
        if k != self.rows:  # it keeps the number of rows of its last call until cleared
            series.clear()
            self.rows = k

        def solve() -> bool:
            try:
                series.compute_Vs(*args)
            except (RuntimeError, ValueError):
                return False
            return True
        return solve

    def collect(self, solved: bool, v0: np.ndarray) -> tuple[int, np.ndarray]:
        """:meth:`run`'s answer after the call of :meth:`prepare` returned ``solved``."""
        if not solved:
            return 0, np.zeros((0, len(v0)), dtype=np.complex128)
        series = self.series
        ok = np.asarray(series.converged_mask(), dtype=bool)
        n = len(ok) if ok.all() else int(np.argmin(ok))
        v = np.asarray(series.get_voltages(), dtype=np.complex128)[:n]
        good = np.isfinite(v.real).all(axis=1) & np.isfinite(v.imag).all(axis=1)
        if not good.all():
            n = int(np.argmin(good))
        return n, v[:n].copy()
