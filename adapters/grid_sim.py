"""mosaik adapter of the park grid (:mod:`twin.grid`): an AC power flow every step.

The ``Grid`` entity is built from a pandapower network (passed as pandapower JSON text) whose
loads and static generators are named ``<entity>/<k>``. It takes the same inputs as the
lossless PCC balance (``p_gen_mw``, ``p_load_mw``, ``p_storage_mw``, one value per source
entity), shares each entity's power over its elements, solves, and outputs the exchange at
the PCC, losses, extremes and the per-bus, per-line and per-transformer results.

A power flow that does not converge is flagged (``converged`` = 0): that step's PCC exchange
falls back to the lossless balance, the network results are NaN, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandapower as pp
from mosaik_api_v3.types import InputData

from adapters.balance_sim import INPUTS
from adapters.base import Attr, Model, TwinSimulator
from twin.grid.network import element_names, from_pandapower
from twin.grid.solver import FastSolver, RunppSolver

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


class GridSim(TwinSimulator):
    """The park network: one ``Grid`` entity per network."""

    MODELS = {"Grid": Model(("name", "net_json", "solver"), SCALARS + VECTORS, INPUTS)}

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        net = pp.from_json_string(params["net_json"])
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
        return {"solver": solver, "index": index, "to_elements": to_elements,
                "cuts": np.cumsum([n_load, n_load, n_sgen])[:3],
                "direct": np.array([line_pos[i] for i in pn.direct_lines], dtype=int),
                "source_index": {}}

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
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
            load_p, load_q, sgen_p, sgen_q = np.split(g["to_elements"] @ x, g["cuts"])
            r = g["solver"].solve(load_p, load_q, sgen_p, sgen_q)
            self.out[eid] = _outputs(r, totals, g["direct"])


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
        "vm_min_pu": float(np.nanmin(r.vm_pu)) if ok else nan,
        "vm_max_pu": float(np.nanmax(r.vm_pu)) if ok else nan,
        "line_loading_max_pct": float(np.nanmax(r.line_loading_pct, initial=0.0)) if ok else nan,
        "trafo_loading_max_pct": float(np.nanmax(r.trafo_loading_pct, initial=0.0)) if ok
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
