"""Voltage and reactive power control in the park's power flow.

Two controls a network operator asks of the park (:class:`twin.models.grid.layout.
VoltageControl`; characteristics, bands and their sources in ``twin/data/grid_control.yaml``):

- **on-load tap changers** (OLTC): a controlled transformer moves its tap one position at a
  time while its low-voltage busbar is outside its band, up to ``oltc_max_moves`` per step and
  within its ``tap_min``/``tap_max``; the position is kept from step to step (a tap changer does
  not go back to neutral). A tap on the high-voltage side raised by one lowers the low-voltage
  busbar by about ``tap_step_percent``.
- **inverter reactive power** of the PV, wind and storage entities: ``cos_phi_p`` absorbs
  reactive power from the active power (cos φ(P)), ``q_u`` injects or absorbs from the voltage
  at the inverter's bus (Q(U), a damped fixed point of power flows until no inverter changes by
  more than ``q_u_tolerance`` of its range). An inverter's reactive range is its rating times
  tan(acos(``pf_min``)).

Each step the controller solves the power flow as often as the controls need (the tap
changers settle around the inverters' Q(U)) and returns the last flow with the elements'
reactive powers and the taps it settled on. The fast solver takes a tap change as a change of
the transformer's ratio in its admittance matrices (:meth:`FastSolver.retapped`, no rebuild);
the pandapower reference solver rebuilds its network with the new ``tap_pos``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin import data
from twin.models.grid.layout import VoltageControl

__all__ = ["Controller", "Unit", "settings"]

INVERTER_KINDS = ("pv", "wind", "battery")


@dataclass(frozen=True)
class Unit:
    """A park entity as its inverter control sees it: kind and rating (MW)."""

    kind: str
    rating_mw: float


def settings() -> dict[str, Any]:
    """The control's characteristics and bands (``twin/data/grid_control.yaml``)."""
    return data.load("grid_control")


def _controlled(net: Any, oltc: str) -> np.ndarray:
    """Positions (in ``net.trafo``) of the transformers whose tap changer is controlled."""
    if oltc == "none":
        return np.zeros(0, dtype=int)
    names = net.trafo["name"].astype(str)
    pick = {"main": names.str.startswith("park-trafo"),
            "substations": names.str.contains(r"/substation(?:-\d+)?$"),
            "all": np.ones(len(names), dtype=bool)}[oltc]
    has_tap = net.trafo["tap_step_percent"].fillna(0).to_numpy(float) != 0
    return np.flatnonzero(np.asarray(pick) & has_tap & net.trafo["in_service"].to_numpy(bool))


def _band(name: str) -> tuple[float, float]:
    bands = settings()["oltc_band_pu"]
    key = "main" if name.startswith("park-trafo") else \
        "substation" if re.search(r"/substation(?:-\d+)?$", name) else "other"
    lo, hi = bands[key]
    return float(lo), float(hi)


class Controller:
    """Tap changers and inverter characteristics around one network's power flows.

    Parameters
    ----------
    net : pandapowerNet
        The network of record (not modified).
    spec : VoltageControl
        What is controlled.
    elements : mapping
        Entity -> (table, pandapower indices) of its elements (``ParkNetwork.elements``).
    units : mapping
        Entity -> :class:`Unit`; entities of kinds pv, wind and battery get the inverter
        characteristic.
    load_index, sgen_index : array
        The solver's element orders (the arrays the controller is handed follow them).
    """

    def __init__(self, net: Any, spec: VoltageControl, elements: Mapping[str, tuple[str, list]],
                 units: Mapping[str, Unit], load_index: np.ndarray,
                 sgen_index: np.ndarray) -> None:
        cfg = settings()
        self.spec = spec
        self.net = net
        bus_pos = {int(b): k for k, b in enumerate(net.bus.index)}
        # tap changers: which, their busbar, band, limits and the position now
        self.trafos = _controlled(net, spec.oltc)
        tr = net.trafo.iloc[self.trafos]
        self.trafo_index = tr.index.to_numpy()
        self.lv_pos = np.array([bus_pos[int(b)] for b in tr.lv_bus], dtype=int)
        bands = [_band(str(n)) for n in tr["name"]]
        self.lo = np.array([b[0] for b in bands])
        self.hi = np.array([b[1] for b in bands])
        self.tap_min = tr["tap_min"].to_numpy(float)
        self.tap_max = tr["tap_max"].to_numpy(float)
        self.tap0 = tr["tap_pos"].fillna(0).to_numpy(float)
        self.neutral = tr["tap_neutral"].fillna(0).to_numpy(float)
        self.step_pct = tr["tap_step_percent"].to_numpy(float)
        self.taps = self.tap0.copy()  # the controller's state, kept from step to step
        self.all_taps = net.trafo["tap_pos"].fillna(0).to_numpy(float)
        self.max_moves = int(cfg["oltc_max_moves"])
        # inverters: element columns, their buses and Q ranges (generator sign, > 0 injected)
        self.inv: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        if spec.inverters != "none":
            pf = cfg["pf_min"]
            for table, order in (("sgen", sgen_index), ("load", load_index)):
                cols, buses, p_max, q_max = [], [], [], []
                where = {int(i): k for k, i in enumerate(order)}
                for name, (t, idx) in elements.items():
                    unit = units.get(name)
                    if t != table or unit is None or unit.kind not in INVERTER_KINDS:
                        continue
                    share = unit.rating_mw / len(idx)
                    tan = math.tan(math.acos(float(pf[unit.kind])))
                    for i in idx:
                        cols.append(where[int(i)])
                        buses.append(bus_pos[int(net[table].at[i, "bus"])])
                        p_max.append(share)
                        q_max.append(share * tan)
                if cols:
                    self.inv[table] = (np.array(cols), np.array(buses), np.array(p_max),
                                       np.array(q_max))
        self.q_u = cfg["q_u"]
        self.cos_phi_p = cfg["cos_phi_p"]
        self.iterations = int(cfg["q_u_iterations"])
        self.tolerance = float(cfg["q_u_tolerance"])
        self._solvers: dict[tuple[Any, tuple[float, ...]], Any] = {}

    @property
    def active(self) -> bool:
        """Whether anything is controlled."""
        return bool(len(self.trafos) or self.inv)

    def tap_positions(self) -> np.ndarray:
        """Every transformer's tap position now (``net.trafo`` order)."""
        out = self.all_taps.copy()
        if len(self.trafos):
            out[self.trafos] = self.taps
        return out

    # ----------------------------------------------------------------- the power flows
    def _solver(self, key: Any, base: Any, rebuild: Callable[[Any], Any]) -> Any:
        """The solver of the topology ``key`` at the present taps: ``base`` retapped (fast
        solver) or ``rebuild`` of the network with the taps (the reference)."""
        taps = tuple(self.taps.tolist())
        found = self._solvers.get((key, taps))
        if found is not None:
            return found
        if np.array_equal(self.taps, self.tap0):
            found = base
        elif hasattr(base, "retapped"):
            found = base
            for k in np.flatnonzero(self.taps != self.tap0):
                one = self.step_pct[k] / 100.0
                ratio = ((1 + (self.taps[k] - self.neutral[k]) * one)
                         / (1 + (self.tap0[k] - self.neutral[k]) * one))
                found = found.retapped(int(self.trafo_index[k]), ratio)
        else:
            net = copy.deepcopy(self.net)
            net.trafo.loc[self.trafo_index, "tap_pos"] = self.taps
            found = rebuild(net)
        if len(self._solvers) > 512:  # a year rarely visits more; keep memory bounded
            self._solvers.clear()
        self._solvers[(key, taps)] = found
        return found

    def _cos_phi(self, p: np.ndarray, p_max: np.ndarray, q_max: np.ndarray) -> np.ndarray:
        """Reactive power (generator sign) of cos φ(P) for generation ``p`` (>= 0 gives Q)."""
        gen = np.clip(p, 0.0, None)
        ratio = np.divide(gen, p_max, out=np.zeros_like(gen), where=p_max > 0)
        cos = np.interp(ratio, self.cos_phi_p["p_pu"], self.cos_phi_p["cos_phi"])
        q = -gen * np.tan(np.arccos(np.clip(cos, 1e-6, 1.0)))
        return np.clip(q, -q_max, q_max)

    def _q_of_u(self, vm: np.ndarray, q_max: np.ndarray) -> np.ndarray:
        q = np.interp(vm, self.q_u["vm_pu"], self.q_u["q_pu"]) * q_max
        return np.where(np.isfinite(q), q, 0.0)

    def solve(self, key: Any, base: Any, rebuild: Callable[[Any], Any], load_p: np.ndarray,
              load_q: np.ndarray, sgen_p: np.ndarray, sgen_q: np.ndarray) -> tuple[Any, float]:
        """The step's power flow with the controls settled: the last flow and the inverters'
        reactive power (Mvar, > 0 injected). ``load_q`` and ``sgen_q`` are set in place to
        the reactive powers used; the taps are kept for the next step."""
        arrays = {"load": (load_p, load_q, -1.0), "sgen": (sgen_p, sgen_q, 1.0)}
        fixed = {t: arrays[t][1][self.inv[t][0]].copy() for t in self.inv}
        if self.spec.inverters == "cos_phi_p":
            for t, (cols, _b, p_max, q_max) in self.inv.items():
                p, q, sign = arrays[t]
                q[cols] = fixed[t] + sign * self._cos_phi(sign * p[cols], p_max, q_max)
        moves = np.zeros(len(self.trafos), dtype=int)
        while True:
            solver = self._solver(key, base, rebuild)
            r = solver.solve(load_p, load_q, sgen_p, sgen_q)
            if self.spec.inverters == "q_u":
                r = self._settle_q_u(solver, r, arrays, fixed)
            if not len(self.trafos) or not r.converged:
                break
            vm = r.vm_pu[self.lv_pos]
            step = np.where(vm > self.hi, 1, np.where(vm < self.lo, -1, 0))
            new = np.clip(self.taps + step, self.tap_min, self.tap_max)
            move = (new != self.taps) & (moves < self.max_moves)
            if not move.any():
                break
            self.taps = np.where(move, new, self.taps)
            moves += move
        q_inv = sum(float((arrays[t][2] * (arrays[t][1][cols] - fixed[t])).sum())
                    for t, (cols, *_r) in self.inv.items())
        return r, q_inv

    def _settle_q_u(self, solver: Any, r: Any, arrays: dict[str, Any],
                    fixed: dict[str, np.ndarray]) -> Any:
        """Damped fixed point of the Q(U) characteristic and the power flow."""
        for _ in range(self.iterations):
            if not r.converged:
                return r
            moves = {}
            for t, (cols, buses, _p, q_max) in self.inv.items():
                now = arrays[t][2] * (arrays[t][1][cols] - fixed[t])
                moves[t] = (now, self._q_of_u(r.vm_pu[buses], q_max) - now)
            if max(float(np.max(np.abs(d) / np.maximum(self.inv[t][3], 1e-9), initial=0.0))
                   for t, (_, d) in moves.items()) < self.tolerance:
                break  # the flow r is that of the reactive powers set
            for t, (now, d) in moves.items():
                arrays[t][1][self.inv[t][0]] = fixed[t] + arrays[t][2] * (now + 0.5 * d)
            r = solver.solve(*(a for t in ("load", "sgen") for a in arrays[t][:2]))
        return r
