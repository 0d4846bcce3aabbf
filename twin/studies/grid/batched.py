"""N-1 on every step, batched: lightsim2grid's scenario sweep solves one contingency on many
steps in one call (its C++ Newton-Raphson, KLU, two threads), with pandapower's loading
formulas applied to the branch flows it returns.

lightsim2grid's pandapower importer refuses ``parallel`` != 1, so the network is expanded first:
a line or transformer of ``n`` parallel circuits becomes ``n`` identical elements (the same
physics), and "one circuit out" is one of them disconnected. A contingency that cuts buses off
is solved with them disconnected (``handle_disconnected_grid``): their voltages are NaN and
their load is reported lost by the screen, as on the exact route. :func:`usable` says where
the batch can take a network (every element but lines in service, buses numbered 0..n-1, static
generators without reactive power: the sweep sets loads' P and Q and generators' P only);
elsewhere the screen keeps its per-contingency solvers.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np

__all__ = ["Batch", "usable"]

_CHUNK_ROWS = 4096  # rows per sweep call: a few tens of MB of results


def usable(net: Any, sgen_q: np.ndarray) -> bool:
    """Whether :class:`Batch` can solve ``net`` with static generators at ``sgen_q``."""
    try:
        from lightsim2grid.lightsim2grid_cpp import ScenarioSweepCPP  # noqa: F401
    except ImportError:  # pragma: no cover - an older lightsim2grid
        return False
    on = all(net[t]["in_service"].all() for t in ("bus", "trafo", "load", "sgen"))
    empty = all(len(net[t]) == 0 for t in ("trafo3w", "impedance", "ward", "xward", "shunt",
                                             "storage", "switch", "gen") if t in net)
    return bool(on and empty and np.array_equal(net.bus.index, np.arange(len(net.bus)))
                and not np.any(sgen_q))


class Batch:
    """The expanded network in lightsim2grid and the bookkeeping back to ``net``'s elements."""

    def __init__(self, net: Any) -> None:
        from lightsim2grid.network import init_from_pandapower

        work = copy.deepcopy(net)
        self.rows: dict[str, np.ndarray] = {}  # expanded row -> original position
        for table in ("line", "trafo"):
            df = work[table]
            n = df["parallel"].fillna(1).astype(int).to_numpy()
            self.rows[table] = np.repeat(np.arange(len(df)), n)
            rep = df.iloc[self.rows[table]].copy()
            rep["parallel"] = 1
            rep.index = range(len(rep))
            work[table] = rep
        self.net = net
        with warnings.catch_warnings():  # its notes on NaN columns it fills and the slack
            warnings.simplefilter("ignore", UserWarning)
            self.grid = init_from_pandapower(work)
        flat = np.full(len(work.bus), complex(float(net.ext_grid.vm_pu.iloc[0])))
        self.v0 = self.grid.ac_pf(flat, 10, 1e-8)  # the ratings' case: a start near the steps'
        if len(self.v0) != len(flat):  # no answer there (an outage's network): a flat start
            self.v0 = flat
        kv = net.bus.vn_kv.to_numpy(float)
        line, trafo = work.line, work.trafo
        self.bus_ends = np.concatenate([line[["from_bus", "to_bus"]].to_numpy(int),
                                        trafo[["hv_bus", "lv_bus"]].to_numpy(int)])
        # loading (%) per MVA / p.u. at side 1 and side 2 of every expanded branch: a line's
        # current over its rating, a transformer's current times its rated voltage over its
        # rating (pandapower's formulas)
        i_per_mva = 1.0 / (kv[self.bus_ends] * math.sqrt(3))
        line_ka = (line.max_i_ka * line.df).to_numpy(float)
        trafo_vn = trafo[["vn_hv_kv", "vn_lv_kv"]].to_numpy(float) * math.sqrt(3) \
            / (trafo.sn_mva * trafo.df).to_numpy(float)[:, None]
        self.scale = 100.0 * i_per_mva * np.concatenate([1.0 / line_ka[:, None].repeat(2, 1),
                                                         trafo_vn])

    def _first(self, table: str, position: int) -> int:
        return int(np.flatnonzero(self.rows[table] == position)[0])

    def solve(self, table: str | None, index: int, dead_bus: np.ndarray, load_p: np.ndarray,
              load_q: np.ndarray, sgen_p: np.ndarray) -> tuple[np.ndarray, ...]:
        """(converged, vm_pu, line_loading_pct, trafo_loading_pct) of every row (step) with
        one circuit of ``net[table]`` element ``index`` out (the element where it has one; no
        more where ``table`` is None: the network as it is), in ``net``'s orders;
        ``dead_bus`` flags the buses the outage cuts off."""
        from lightsim2grid.algorithm import AlgorithmType
        from lightsim2grid.lightsim2grid_cpp import ScenarioSweepCPP

        out = -1 if table is None else \
            self._first(table, int(np.flatnonzero(self.net[table].index == index)[0]))
        n_line = len(self.rows["line"])
        results = []
        for start in range(0, len(load_p), _CHUNK_ROWS):
            part = slice(start, start + _CHUNK_ROWS)
            k = len(load_p[part])
            sweep = ScenarioSweepCPP(self.grid)
            if AlgorithmType.NR_KLU in sweep.available_default_algorithms():
                sweep.change_algorithm(AlgorithmType.NR_KLU)
            sweep.handle_disconnected_grid = True
            sweep.nb_thread = 2
            sweep.modify_load_p(np.ascontiguousarray(load_p[part]))
            sweep.modify_load_q(np.ascontiguousarray(load_q[part]))
            sweep.modify_sgen_p(np.ascontiguousarray(sgen_p[part]))
            lines = np.zeros((k, n_line), dtype=bool)
            trafos = np.zeros((k, len(self.rows["trafo"])), dtype=bool)
            if table is not None:
                (lines if table == "line" else trafos)[:, out] = True
            sweep.set_contingency_lines(lines)
            sweep.set_contingency_trafos(trafos)
            sweep.compute(self.v0, 10, 1e-8)
            ok = np.asarray(sweep.converged_mask(), dtype=bool)
            v = np.asarray(sweep.get_voltages())
            flows = np.asarray(sweep.compute_branch_results())
            results.append(self._loadings(ok, v, flows, dead_bus, table, out))
        return tuple(np.concatenate(parts) for parts in zip(*results, strict=True))

    def _loadings(self, ok: np.ndarray, v: np.ndarray, flows: np.ndarray, dead_bus: np.ndarray,
                  table: str | None, out: int) -> tuple[np.ndarray, ...]:
        """pandapower's loadings of the original elements from the expanded branches' flows."""
        vm = np.abs(v)
        vm[:, dead_bus] = np.nan
        n_line = len(self.rows["line"])
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.hypot(flows[..., 0], flows[..., 1])  # MVA at side 1
            pct *= self.scale[:, 0] / vm[:, self.bus_ends[:, 0]]
            two = np.hypot(flows[..., 2], flows[..., 3])
            two *= self.scale[:, 1] / vm[:, self.bus_ends[:, 1]]
        np.maximum(pct, two, out=pct)
        if table is not None:
            pct[:, (0 if table == "line" else n_line) + out] = -np.inf  # the circuit out
        line = _by_element(pct[:, :n_line], self.rows["line"], len(self.net.line))
        trafo = _by_element(pct[:, n_line:], self.rows["trafo"], len(self.net.trafo))
        for values in (line, trafo):
            values[np.isneginf(values)] = 0.0  # wholly out: no current (pandapower's 0)
        bad = ~ok
        for a in (vm, line, trafo):
            a[bad] = np.nan
        return ok, vm[:, :len(self.net.bus)], line, trafo


def _by_element(pct: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Each original element's loading: the largest of its circuits' (equal where in service;
    -inf where every circuit is out; NaN where one has a dead end, as pandapower's 0 / NaN
    voltage). ``rows`` (the original position of each circuit) is sorted."""
    starts = np.searchsorted(rows, np.arange(n))
    return np.maximum.reduceat(pct, starts, axis=1)
