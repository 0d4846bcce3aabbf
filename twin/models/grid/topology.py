"""The park network's switching state: tripped lines, energised buses, islands, one step.

:class:`ParkGrid` holds a pandapower network whose loads and static generators are named
``<entity>/<k>`` and solves one AC power flow per step from one power per entity (shared
over the entity's elements, reactive power at each entity's power factor). Around the power
flow it keeps the network's switching state:

- a tripped line (:meth:`ParkGrid.topology`) is taken out of service; the buses it leaves
  without a path to the external grid are de-energised, and what they fed is lost: their
  loads are shed, their generation is lost. Each set of tripped lines is a
  :class:`Topology` (energised buses, the islands cut off, the solver of that network),
  built once and kept;
- a trip of a line to the public grid's bus (a PCC line), or an outage of the public grid,
  islands the whole park: loads or generation are scaled so that the park balances on its
  own (:func:`twin.models.disturbances.island`), the exchange is 0 and the island's losses
  count as shed load (in an island the grid-forming storage, not the public grid, is the
  slack; the solver keeps the external grid as its stand-in).

A power flow that does not converge is flagged: the PCC exchange falls back to the lossless
balance and the network results are NaN. :meth:`ParkGrid.step` returns a :class:`GridStep`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandapower.topology as pp_topology
from scipy import sparse

from twin.models.disturbances import island
from twin.models.grid.control import Controller, Unit
from twin.models.grid.layout import VoltageControl
from twin.models.grid.network import from_pandapower
from twin.models.grid.solver import FastSolver, PFResult, RunppSolver

__all__ = ["SOLVERS", "GridStep", "ParkGrid", "Topology", "topology"]

#: The power-flow solvers by name (``solver`` of the scenario's grid).
SOLVERS: dict[str, Any] = {"lightsim2grid": FastSolver, "pandapower": RunppSolver}
DEFAULT_SOLVER = "lightsim2grid"


@dataclass(frozen=True)
class Topology:
    """One switching state of the network: which lines are out, what is still supplied.

    ``energised`` are the in-service buses with a path to an external grid (switches
    respected); ``islands`` the connected parts of the network cut off from every external
    grid (none while every bus is energised); ``dead_load`` and ``dead_sgen`` flag, in the
    solver's element order, the loads and static generators left without supply; ``solver``
    solves the network with the tripped lines and the dead buses out of service.
    """

    tripped: frozenset[str]
    energised: frozenset[int]
    islands: tuple[frozenset[int], ...]
    dead_load: np.ndarray
    dead_sgen: np.ndarray
    solver: Any

    @property
    def cuts_off(self) -> bool:
        """Whether elements are left without supply."""
        return bool(self.dead_load.any() or self.dead_sgen.any())


def _supply(net: Any) -> tuple[set[int], frozenset[int], tuple[frozenset[int], ...]]:
    """The unsupplied and the energised buses of ``net``, and the connected parts cut off
    from every external grid."""
    dead = set(pp_topology.unsupplied_buses(net))
    energised = frozenset(int(b) for b in net.bus.index[net.bus.in_service] if b not in dead)
    parts = pp_topology.connected_components(pp_topology.create_nxgraph(net))
    islands = tuple(sorted((frozenset(int(b) for b in part) for part in parts
                            if not energised.intersection(part)), key=min))
    return dead, energised, islands


def topology(net: Any, tripped: Iterable[str] = (), solver: str = DEFAULT_SOLVER,
             built: Any = None) -> Topology:
    """The :class:`Topology` of ``net`` with the lines named ``tripped`` out of service.

    ``net`` is not modified. The buses left without supply are taken out of service in the
    solver's copy. ``built``: a solver already built on ``net`` as given, used when nothing
    is tripped (the network as given is solved as given: :func:`check_network` has refused
    unsupplied buses in it).
    """
    tripped = frozenset(tripped)
    if not tripped and built is not None:
        _, energised, islands = _supply(net)
        return Topology(tripped, energised, islands, np.zeros(len(built.load_index), bool),
                        np.zeros(len(built.sgen_index), bool), built)
    net = copy.deepcopy(net)
    net.line.loc[net.line.name.isin(tripped), "in_service"] = False
    dead, energised, islands = _supply(net)
    net.bus.loc[sorted(dead), "in_service"] = False
    pf = SOLVERS[solver](net)
    return Topology(tripped, energised, islands,
                    net.load.bus.loc[pf.load_index].isin(dead).to_numpy(),
                    net.sgen.bus.loc[pf.sgen_index].isin(dead).to_numpy(), pf)


@dataclass(frozen=True)
class GridStep:
    """One step of the park network.

    ``flow`` is the power flow (NaN results where it did not converge). ``p_net_mw`` is the
    exchange at the PCC, > 0 import: the lossless balance where the flow did not converge, 0
    in an island. ``p_shed_mw`` is the load not served (cut off, scaled down in an island, or
    the island's losses), ``p_curtailed_mw`` the generation lost or curtailed.
    """

    flow: PFResult
    converged: bool
    islanded: bool
    p_net_mw: float
    p_import_mw: float
    p_export_mw: float
    p_loss_mw: float
    p_direct_line_mw: float
    p_shed_mw: float
    p_curtailed_mw: float
    taps: np.ndarray | None = None  # tap positions (net.trafo order)
    q_inverter_mvar: float = 0.0  # reactive power the inverters' control set, > 0 injected


class ParkGrid:
    """The park network and its switching state (see the module's docstring).

    Parameters
    ----------
    net : pandapowerNet
        The network, loads and static generators named ``<entity>/<k>`` (kept, not
        modified: each topology solves its own copy).
    solver : str
        A key of :data:`SOLVERS`.
    control : VoltageControl, optional
        Tap changers and inverter characteristics (:mod:`twin.models.grid.control`).
    units : mapping, optional
        Entity -> :class:`twin.models.grid.control.Unit` (kind and rating) for the inverters.
    """

    def __init__(self, net: Any, solver: str | None = None,
                 control: VoltageControl | None = None,
                 units: Mapping[str, Unit] | None = None) -> None:
        self.net = net
        self.solver_name = solver or DEFAULT_SOLVER
        #: the entities, in the order of the power vector :meth:`step` takes
        self.names = tuple(sorted({str(n).split("/", 1)[0] for t in ("load", "sgen")
                                   for n in net[t]["name"] if isinstance(n, str) and n}))
        #: the position of each entity in that vector
        self.index = {name: k for k, name in enumerate(self.names)}
        pn = from_pandapower(net, list(self.names))
        base = SOLVERS[self.solver_name](net)
        n_load, n_sgen = len(base.load_index), len(base.sgen_index)
        pos = {"load": {int(i): k for k, i in enumerate(base.load_index)},
               "sgen": {int(i): k for k, i in enumerate(base.sgen_index)}}
        # entity powers -> element powers: one stacked matrix [load p; load q; sgen p; sgen q]
        offsets = {"load": (0, n_load), "sgen": (2 * n_load, n_sgen)}
        self._to_elements = np.zeros((2 * (n_load + n_sgen), len(self.names)))
        for name, (table, idx) in pn.elements.items():
            start, n = offsets[table]
            rows = np.array([pos[table][i] for i in idx]) + start
            self._to_elements[rows, self.index[name]] = 1.0 / len(idx)
            self._to_elements[rows + n, self.index[name]] = pn.q_ratio(name) / len(idx)
        cuts = np.cumsum([0, n_load, n_load, n_sgen, n_sgen]).tolist()
        self._parts = tuple(slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
        line_pos = {int(i): k for k, i in enumerate(net.line.index)}
        self._direct = np.array([line_pos[i] for i in pn.direct_lines], dtype=int)
        slack = set(net.ext_grid.bus[net.ext_grid.in_service])
        #: the lines to the public grid's bus: a trip of one islands the park
        self.pcc_lines = frozenset(str(n) for n, a, b in zip(
            net.line.name, net.line.from_bus, net.line.to_bus, strict=True)
            if a in slack or b in slack)
        #: the names of the network's lines
        self.lines = frozenset(map(str, net.line.name))
        self._topologies = {frozenset(): topology(net, (), self.solver_name, built=base)}
        self._to_elements_csr: Any = None  # the same, sparse, for blocks (step_block)
        #: the network's tap positions (net.trafo order)
        self.taps = net.trafo["tap_pos"].fillna(0).to_numpy(float) if len(net.trafo) \
            else np.zeros(0)
        ctl = None if control is None else Controller(
            net, control, pn.elements, units or {}, base.load_index, base.sgen_index)
        #: the voltage control, None where nothing is controlled
        self.control = ctl if ctl is not None and ctl.active else None

    def topology(self, tripped: Iterable[str] = ()) -> Topology:
        """The topology with the lines ``tripped`` out of service (PCC lines and names not in
        the network ignored), built once per set of lines."""
        known = (frozenset(tripped) & self.lines) - self.pcc_lines
        found = self._topologies.get(known)
        if found is None:
            found = topology(self.net, known, self.solver_name)
            base = self._topologies[frozenset()].solver
            if not (np.array_equal(found.solver.load_index, base.load_index)
                    and np.array_equal(found.solver.sgen_index, base.sgen_index)):
                raise RuntimeError("a tripped network must keep its loads and generators "
                                   "in order")
            self._topologies[known] = found
        return found

    def element_powers(self, p_mw: np.ndarray) -> tuple[np.ndarray, ...]:
        """(load p, load q, sgen p, sgen q) in the solver's element order from entity powers
        of :attr:`names` (one row per step, or one vector), as :meth:`step` shares them."""
        y = np.asarray(p_mw, dtype=float) @ self._to_elements.T
        return tuple(np.ascontiguousarray(y[..., part]) for part in self._parts)

    def step(self, p_mw: np.ndarray, lossless_mw: float, tripped: Iterable[str] = (),
             outage: bool = False) -> GridStep:
        """One power flow.

        Parameters
        ----------
        p_mw : array
            Power of each entity of :attr:`names`, MW (the sign of its elements: > 0
            consumed by a load, produced by a static generator).
        lossless_mw : float
            The lossless balance at the PCC (load + storage - generation), MW: the exchange
            when the flow does not converge.
        tripped : iterable of str
            The lines out of service (a PCC line islands the park).
        outage : bool
            The public grid is down: the park is an island.
        """
        tripped = frozenset(tripped)
        y = self._to_elements @ p_mw
        load_p, load_q, sgen_p, sgen_q = (y[part] for part in self._parts)
        islanded = outage or bool(tripped & self.pcc_lines)
        topo = self.topology(tripped)
        lost = (_lose(load_p, load_q, sgen_p, sgen_q, topo.dead_load, topo.dead_sgen)
                if topo.cuts_off else (0.0, 0.0))
        isle = _island(load_p, load_q, sgen_p, sgen_q) if islanded else (0.0, 0.0)
        taps, q_inv = self.taps, 0.0
        if self.control is None:
            r = topo.solver.solve(load_p, load_q, sgen_p, sgen_q)
        else:
            r, q_inv = self.control.solve(
                topo.tripped, topo.solver,
                lambda n: topology(n, topo.tripped, self.solver_name).solver,
                load_p, load_q, sgen_p, sgen_q)
            taps = self.control.tap_positions()
        ok = bool(r.converged)
        net = float(r.p_ext_grid_mw) if ok else lossless_mw
        shed, curtailed = lost[0] + isle[0], lost[1] + isle[1]
        p_import, p_export = max(net, 0.0), max(-net, 0.0)
        if islanded:  # the island's slack is its storage: no exchange, losses not served
            shed, curtailed = shed + max(net, 0.0), curtailed + max(-net, 0.0)
            net = p_import = p_export = 0.0
        return GridStep(
            flow=r, converged=ok, islanded=islanded, p_net_mw=net, p_import_mw=p_import,
            p_export_mw=p_export, p_loss_mw=float(r.p_loss_mw) if ok else 0.0,
            p_direct_line_mw=float(r.line_p_from_mw[self._direct].sum()) if ok
            else float("nan"),
            p_shed_mw=shed, p_curtailed_mw=curtailed, taps=taps, q_inverter_mvar=q_inv)

    def flows_block(self, p_mw: np.ndarray, lossless_mw: np.ndarray
                    ) -> tuple[np.ndarray, PFResult, np.ndarray, np.ndarray, np.ndarray] | None:
        """The numbers of :meth:`step_block` as arrays over the block: each step's converged
        flag, the power flows (a :class:`PFResult` of arrays, a row per step), the exchange
        at the PCC (``p_net_mw``), the direct lines' flow and the tap positions; None as
        there, and where the voltage control is on (it settles step by step)."""
        solver = self._topologies[frozenset()].solver
        if not hasattr(solver, "solve_block") or self.control is not None:
            return None
        if self._to_elements_csr is None:  # sparse: no BLAS threads for a small product
            self._to_elements_csr = sparse.csr_matrix(self._to_elements)
        y = np.asarray(self._to_elements_csr @ p_mw.T).T
        ok, r = solver.solve_block(*(y[:, part] for part in self._parts))
        net = np.where(ok, r.p_ext_grid_mw, lossless_mw)
        return ok, r, net, r.line_p_from_mw[:, self._direct].sum(axis=1), self.taps

    def step_block(self, p_mw: np.ndarray, lossless_mw: np.ndarray) -> list[GridStep] | None:
        """:meth:`step` for a block of steps without tripped lines or outage, one row of
        ``p_mw`` and one value of ``lossless_mw`` per step, the power flows solved in one
        call (:meth:`FastSolver.solve_block`); None where the solver has no block call."""
        flows = self.flows_block(p_mw, lossless_mw)
        if flows is None:
            return None
        ok, r, net, direct, taps = flows
        return [GridStep(
            flow=PFResult(bool(ok[k]), r.vm_pu[k], r.va_degree[k], r.line_loading_pct[k],
                          r.trafo_loading_pct[k], float(r.p_ext_grid_mw[k]),
                          float(r.q_ext_grid_mvar[k]), float(r.p_loss_mw[k]),
                          r.line_p_from_mw[k]),
            converged=bool(ok[k]), islanded=False, p_net_mw=float(net[k]),
            p_import_mw=max(float(net[k]), 0.0), p_export_mw=max(-float(net[k]), 0.0),
            p_loss_mw=float(r.p_loss_mw[k]) if ok[k] else 0.0,
            p_direct_line_mw=float(direct[k]), p_shed_mw=0.0, p_curtailed_mw=0.0, taps=taps)
            for k in range(len(ok))]


def _lose(load_p: np.ndarray, load_q: np.ndarray, sgen_p: np.ndarray, sgen_q: np.ndarray,
          dead_load: np.ndarray, dead_sgen: np.ndarray) -> tuple[float, float]:
    """Zero the elements without supply (in place); return (load shed, generation lost), MW.
    A battery cut off while discharging counts as lost generation."""
    shed = float(np.clip(load_p[dead_load], 0.0, None).sum())
    lost = float(sgen_p[dead_sgen].sum() + np.clip(-load_p[dead_load], 0.0, None).sum())
    for a, dead in ((load_p, dead_load), (load_q, dead_load), (sgen_p, dead_sgen),
                    (sgen_q, dead_sgen)):
        a[dead] = 0.0
    return shed, lost


def _island(load_p: np.ndarray, load_q: np.ndarray, sgen_p: np.ndarray,
            sgen_q: np.ndarray) -> tuple[float, float]:
    """Scale the elements (in place, reactive power with its active) so that the park
    balances on its own; return (load shed, generation curtailed), MW."""
    isle = island(load_p, sgen_p)
    for p, q, new in ((load_p, load_q, isle.p_load_mw), (sgen_p, sgen_q, isle.p_gen_mw)):
        ratio = np.divide(new, p, out=np.ones_like(p), where=p != 0)
        p[:], q[:] = new, q * ratio
    return isle.p_shed_mw, isle.p_curtailed_mw
