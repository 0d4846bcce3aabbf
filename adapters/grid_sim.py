"""mosaik adapter of the park grid (:mod:`twin.models.grid`): an AC power flow every step.

The ``Grid`` entity is built from a pandapower network (passed as pandapower JSON text) whose
loads and static generators are named ``<entity>/<k>``. It takes the same inputs as the
lossless PCC balance (``p_gen_mw``, ``p_load_mw``, ``p_storage_mw``, one value per source
entity), shares each entity's power over its elements, solves, and outputs the exchange at
the PCC, losses, extremes and the per-bus, per-line and per-transformer results.

A power flow that does not converge is flagged (``converged`` = 0): that step's PCC exchange
falls back to the lossless balance, the network results are NaN, and the run goes on.

Events of the ``events`` book: a ``line_trip`` takes its line out of service (the solver is
rebuilt for that topology, once per set of tripped lines); what the line fed is lost: its
loads are shed, its generation curtailed. A ``grid_outage``, or a trip of the line to the
public grid, islands the park: loads or generation are scaled so that the park balances on
its own (:func:`twin.models.disturbances.island`), the exchange is 0 and the island's losses count
as shed load (in an island the grid-forming storage, not the public grid, is the slack).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.topology as pp_topology
from mosaik_api_v3.types import InputData

from adapters.balance_sim import INPUTS, ISLAND
from adapters.base import Attr, Model, TwinSimulator
from twin.models.disturbances import island
from twin.models.events import EventBook
from twin.models.grid.network import element_names, from_pandapower
from twin.models.grid.solver import FastSolver, RunppSolver

INPUT_NAMES = tuple(a.name for a in INPUTS)
SCALARS = (
    Attr("p_net_mw", "MW", "exchange with the public grid at the PCC, > 0 import"),
    Attr("p_import_mw", "MW", "import from the public grid"),
    Attr("p_export_mw", "MW", "export to the public grid"),
    Attr("p_loss_mw", "MW", "losses in lines and transformers"),
    Attr("p_gen_mw", "MW", "total generation connected"),
    Attr("p_load_mw", "MW", "total load connected"),
    Attr("p_storage_mw", "MW", "total storage power, > 0 charging"),
    Attr("p_direct_line_mw", "MW", "power sent into the 绿电直连 direct lines by the wind farms"),
    Attr("vm_min_pu", "p.u.", "lowest bus voltage"),
    Attr("vm_max_pu", "p.u.", "highest bus voltage"),
    Attr("line_loading_max_pct", "%", "highest line loading"),
    Attr("trafo_loading_max_pct", "%", "highest transformer loading"),
    Attr("converged", "1", "1 if the AC power flow converged, 0 if not"),
)
VECTORS = (
    Attr("vm_pu", "p.u.", "voltage of each bus"),
    Attr("line_loading_pct", "%", "loading of each line"),
    Attr("trafo_loading_pct", "%", "loading of each transformer"),
    Attr("line_p_from_mw", "MW", "active power into each line at its from bus"),
)
SOLVERS = {"lightsim2grid": FastSolver, "pandapower": RunppSolver}
log = logging.getLogger(__name__)


class GridSim(TwinSimulator):
    """The park network: one ``Grid`` entity per network."""

    MODELS = {"Grid": Model(("name", "net_json", "net", "solver"), SCALARS + ISLAND + VECTORS,
                            INPUTS)}

    def setup(self, events: EventBook | None = None) -> None:
        self.events = events

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        # ``net``: a pandapower network object (in-process runs; copied), or ``net_json``
        if params.get("net") is not None:
            net = copy.deepcopy(params["net"])
        elif params.get("net_json"):
            net = pp.from_json_string(params["net_json"])
        else:
            raise ValueError("Grid needs net_json (pandapower JSON) or net (a pandapowerNet)")
        names = sorted({str(n).split("/", 1)[0] for t in ("load", "sgen")
                        for n in net[t]["name"] if isinstance(n, str) and n})
        pn = from_pandapower(net, names)
        solver = SOLVERS[params.get("solver") or "lightsim2grid"](net)
        index = {name: k for k, name in enumerate(names)}
        shape = {"load": len(solver.load_index), "sgen": len(solver.sgen_index)}
        pos = {"load": {int(i): k for k, i in enumerate(solver.load_index)},
               "sgen": {int(i): k for k, i in enumerate(solver.sgen_index)}}
        # entity powers -> element powers: one stacked matrix [load p; load q; sgen p; sgen q]
        n_load, n_sgen = shape["load"], shape["sgen"]
        offsets = {"load": (0, n_load), "sgen": (2 * n_load, n_sgen)}
        to_elements = np.zeros((2 * (n_load + n_sgen), len(names)))
        for name, (table, idx) in pn.elements.items():
            start, n = offsets[table]
            rows = np.array([pos[table][i] for i in idx]) + start
            to_elements[rows, index[name]] = 1.0 / len(idx)
            to_elements[rows + n, index[name]] = pn.q_ratio(name) / len(idx)
        line_pos = {int(i): k for k, i in enumerate(net.line.index)}
        slack = set(net.ext_grid.bus[net.ext_grid.in_service])
        pcc_lines = {str(n) for n, a, b in zip(net.line.name, net.line.from_bus, net.line.to_bus,
                                               strict=True) if a in slack or b in slack}
        return {"solver": solver, "index": index, "to_elements": to_elements,
                "parts": _parts(n_load, n_sgen),
                "direct": np.array([line_pos[i] for i in pn.direct_lines], dtype=int),
                "source_index": {}, "net": net, "solver_kind": params.get("solver"),
                "topologies": {frozenset(): (solver, np.zeros(n_load, bool),
                                             np.zeros(n_sgen, bool))},
                "pcc_lines": frozenset(pcc_lines), "lines": frozenset(map(str, net.line.name))}

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        book = self.events
        outage = bool(book and book.active(time, "grid_outage"))
        trips = frozenset(w.event.line for w in book.active(time, "line_trip")) if book \
            else frozenset()
        for eid, g in self.entities.items():
            x = np.zeros(len(g["index"]))
            totals = dict.fromkeys(INPUT_NAMES, 0.0)
            cache, index = g["source_index"], g["index"]
            for attr, sources in inputs.get(eid, {}).items():
                subtotal = 0.0
                for src, value in sources.items():
                    k = cache.get(src)
                    if k is None:
                        k = cache[src] = index[src.split(".", 1)[-1]]
                    x[k] += value
                    subtotal += value
                totals[attr] = subtotal
            y = g["to_elements"] @ x
            load_p, load_q, sgen_p, sgen_q = (y[part] for part in g["parts"])
            islanded = outage or bool(trips & g["pcc_lines"])
            solver, dead_load, dead_sgen = _topology(g, trips - g["pcc_lines"])
            lost = (_lose(load_p, load_q, sgen_p, sgen_q, dead_load, dead_sgen)
                    if dead_load.any() or dead_sgen.any() else (0.0, 0.0))
            isle = _island(load_p, load_q, sgen_p, sgen_q) if islanded else (0.0, 0.0)
            r = solver.solve(load_p, load_q, sgen_p, sgen_q)
            out = _outputs(r, totals, g["direct"])
            shed, curtailed = lost[0] + isle[0], lost[1] + isle[1]
            if islanded:  # the island's slack is its storage: no exchange, losses not served
                p = out["p_net_mw"]
                shed, curtailed = shed + max(p, 0.0), curtailed + max(-p, 0.0)
                out.update(p_net_mw=0.0, p_import_mw=0.0, p_export_mw=0.0)
            out.update(p_shed_mw=shed, p_curtailed_mw=curtailed, islanded=float(islanded))
            self.out[eid] = out


def _parts(n_load: int, n_sgen: int) -> tuple[slice, slice, slice, slice]:
    """Where load p, load q, sgen p and sgen q lie in the stacked element vector."""
    cuts = np.cumsum([0, n_load, n_load, n_sgen, n_sgen]).tolist()
    return tuple(slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True))  # type: ignore[return-value]


def _topology(g: dict[str, Any], tripped: frozenset[str]) -> tuple[Any, np.ndarray, np.ndarray]:
    """The solver of the network with ``tripped`` lines out of service, and which loads and
    static generators that leaves without supply (built once per set of tripped lines)."""
    known = tripped & g["lines"]
    unknown = tripped - known - g.setdefault("unknown", set())
    if unknown:  # once per name
        g["unknown"] |= unknown
        log.warning("line_trip: no line named %s in the network; ignored",
                    ", ".join(sorted(unknown)))
    found = g["topologies"].get(known)
    if found is None:
        net = copy.deepcopy(g["net"])
        net.line.loc[net.line.name.isin(known), "in_service"] = False
        dead = set(pp_topology.unsupplied_buses(net))
        net.bus.loc[sorted(dead), "in_service"] = False
        solver = SOLVERS[g["solver_kind"] or "lightsim2grid"](net)
        base = g["topologies"][frozenset()][0]
        if not (np.array_equal(solver.load_index, base.load_index)
                and np.array_equal(solver.sgen_index, base.sgen_index)):
            raise RuntimeError("a tripped network must keep its loads and generators in order")
        found = (solver, net.load.bus.loc[solver.load_index].isin(dead).to_numpy(),
                 net.sgen.bus.loc[solver.sgen_index].isin(dead).to_numpy())
        g["topologies"][known] = found
    return found


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


def _outputs(r: Any, totals: dict[str, float], direct: np.ndarray) -> dict[str, Any]:
    lossless = totals["p_load_mw"] + totals["p_storage_mw"] - totals["p_gen_mw"]
    ok = bool(r.converged)
    net = float(r.p_ext_grid_mw) if ok else lossless
    nan = float("nan")
    return {
        "p_net_mw": net,
        "p_import_mw": max(net, 0.0),
        "p_export_mw": max(-net, 0.0),
        "p_loss_mw": float(r.p_loss_mw) if ok else 0.0,
        **totals,
        "p_direct_line_mw": float(r.line_p_from_mw[direct].sum()) if ok else nan,
        # fmin/fmax skip NaN (buses out of service) as nanmin/nanmax, at a fraction of the cost
        "vm_min_pu": float(np.fmin.reduce(r.vm_pu)) if ok else nan,
        "vm_max_pu": float(np.fmax.reduce(r.vm_pu)) if ok else nan,
        "line_loading_max_pct": float(np.fmax.reduce(r.line_loading_pct, initial=0.0)) if ok
        else nan,
        "trafo_loading_max_pct": float(np.fmax.reduce(r.trafo_loading_pct, initial=0.0)) if ok
        else nan,
        "converged": 1.0 if ok else 0.0,
        "vm_pu": r.vm_pu.tolist(),
        "line_loading_pct": r.line_loading_pct.tolist(),
        "trafo_loading_pct": r.trafo_loading_pct.tolist(),
        "line_p_from_mw": r.line_p_from_mw.tolist(),
    }


def vector_columns(net: Any) -> dict[str, list[str]]:
    """Names of the parts of each vector output (buses, lines, transformers)."""
    return {"vm_pu": element_names(net, "bus"),
            "line_loading_pct": element_names(net, "line"),
            "trafo_loading_pct": element_names(net, "trafo"),
            "line_p_from_mw": element_names(net, "line")}
