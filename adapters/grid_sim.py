"""mosaik adapter of the park grid (:mod:`twin.models.grid`): an AC power flow every step.

The ``Grid`` entity is a :class:`twin.models.grid.topology.ParkGrid` built from a pandapower
network (passed as pandapower JSON text) whose loads and static generators are named
``<entity>/<k>``. It takes the same inputs as the lossless PCC balance (``p_gen_mw``,
``p_load_mw``, ``p_storage_mw``, one value per source entity), sums them per entity, steps
the model, and outputs the exchange at the PCC, losses, extremes and the per-bus, per-line
and per-transformer results.

A power flow that does not converge is flagged (``converged`` = 0): that step's PCC exchange
falls back to the lossless balance, the network results are NaN, and the run goes on.

Events of the ``events`` book: the lines of the ``line_trip`` events in force go to the model
as tripped, a ``grid_outage`` as an outage; what they do to the network (lost supply,
islanding) is the model's (:mod:`twin.models.grid.topology`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandapower as pp
from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator
from twin.models.events import EventBook
from twin.models.grid import quantities as grid_quantities
from twin.models.grid.checks import entity_errors, number_errors
from twin.models.grid.network import element_names
from twin.models.grid.solver import GridError
from twin.models.grid.topology import GridStep, ParkGrid

MODEL = Model(("name", "net_json", "net", "solver", "control", "units"),
              grid_quantities.OUTPUTS,
              grid_quantities.INPUTS)
INPUT_NAMES = MODEL.input_names
log = logging.getLogger(__name__)


class GridSim(TwinSimulator):
    """The park network: one ``Grid`` entity per network."""

    MODELS = {"Grid": MODEL}

    def setup(self, events: EventBook | None = None) -> None:
        self.events = events
        self.source_index: dict[str, dict[str, int]] = {}  # per entity: source -> position
        self.unknown_lines: dict[str, set[str]] = {}  # per entity: tripped, not in it; warned

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        # ``net``: a pandapower network object (in-process runs; copied), or ``net_json``
        if params.get("net") is not None:
            net = copy.deepcopy(params["net"])
        elif params.get("net_json"):
            net = pp.from_json_string(params["net_json"])
        else:
            raise ValueError("Grid needs net_json (pandapower JSON) or net (a pandapowerNet)")
        _refuse(eid, number_errors(net))  # a network that did not come through twin check
        self.source_index[eid], self.unknown_lines[eid] = {}, set()
        return ParkGrid(net, params.get("solver"), params.get("control"),
                        params.get("units"))

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        book = self.events
        outage = bool(book and book.active(time, "grid_outage"))
        trips = frozenset(w.event.line for w in book.active(time, "line_trip")) if book \
            else frozenset()
        for eid, grid in self.entities.items():
            unknown = trips - grid.lines - self.unknown_lines[eid]
            if unknown:  # once per name
                self.unknown_lines[eid] |= unknown
                log.warning("line_trip: no line named %s in the network; ignored",
                            ", ".join(sorted(unknown)))
            x = [0.0] * len(grid.names)  # summed as floats, an array once
            totals = dict.fromkeys(INPUT_NAMES, 0.0)
            cache = self.source_index[eid]
            for attr, sources in inputs.get(eid, {}).items():
                subtotal = 0.0
                for src, value in sources.items():
                    k = cache.get(src)
                    if k is None:
                        k = cache[src] = self.tie(eid, src)
                    x[k] += value
                    subtotal += value
                totals[attr] = subtotal
            lossless = totals["p_load_mw"] + totals["p_storage_mw"] - totals["p_gen_mw"]
            self.out[eid] = _outputs(grid.step(np.array(x, dtype=float), lossless, trips,
                                               outage), totals)

    def tie(self, eid: str, src: str) -> int:
        """The position of source entity ``src`` (mosaik's full id) in the power vector of
        grid ``eid``, on its first step: its elements must carry its power whole (in service,
        on a bus in service, scaling 1; :func:`twin.models.grid.checks.entity_errors`), as
        ``twin check`` demands of the twin's own networks; :class:`GridError` names the
        elements otherwise."""
        grid, name = self.entities[eid], src.split(".", 1)[-1]
        _refuse(eid, entity_errors(grid.net, [name]), f" (sent by {src})")
        return grid.index[name]


def _refuse(eid: str, errors: list[str], where: str = "") -> None:
    """:class:`GridError` with the first of ``errors`` and their count, if any."""
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise GridError(f"{eid}: {errors[0]}{more}{where}")


def _outputs(step: GridStep, totals: dict[str, float]) -> dict[str, Any]:
    r, ok = step.flow, step.converged
    taps = step.taps if step.taps is not None else np.zeros(0)
    nan = float("nan")
    return {
        "p_net_mw": step.p_net_mw,
        "p_import_mw": step.p_import_mw,
        "p_export_mw": step.p_export_mw,
        "p_loss_mw": step.p_loss_mw,
        **totals,
        "p_direct_line_mw": step.p_direct_line_mw,
        # fmin/fmax skip NaN (buses out of service) as nanmin/nanmax, at a fraction of the cost
        "vm_min_pu": float(np.fmin.reduce(r.vm_pu)) if ok else nan,
        "vm_max_pu": float(np.fmax.reduce(r.vm_pu)) if ok else nan,
        "line_loading_max_pct": float(np.fmax.reduce(r.line_loading_pct, initial=0.0)) if ok
        else nan,
        "trafo_loading_max_pct": float(np.fmax.reduce(r.trafo_loading_pct, initial=0.0)) if ok
        else nan,
        "converged": 1.0 if ok else 0.0,
        "q_inverter_mvar": step.q_inverter_mvar,
        "trafo_tap_pos": taps.tolist(),
        "vm_pu": r.vm_pu.tolist(),
        "line_loading_pct": r.line_loading_pct.tolist(),
        "trafo_loading_pct": r.trafo_loading_pct.tolist(),
        "line_p_from_mw": r.line_p_from_mw.tolist(),
        "p_shed_mw": step.p_shed_mw,
        "p_curtailed_mw": step.p_curtailed_mw,
        "islanded": float(step.islanded),
    }


def vector_columns(net: Any) -> dict[str, list[str]]:
    """Names of the parts of each vector output (buses, lines, transformers)."""
    return {"vm_pu": element_names(net, "bus"),
            "line_loading_pct": element_names(net, "line"),
            "trafo_loading_pct": element_names(net, "trafo"),
            "line_p_from_mw": element_names(net, "line"),
            "trafo_tap_pos": element_names(net, "trafo")}
