"""mosaik adapter of the park balance at the point of common coupling (:mod:`twin.models.balance`).

During a ``grid_outage`` of the ``events`` book the park is an island: the exchange is 0 and
what generation and storage cannot balance is shed (or curtailed), :func:`twin.models.disturbances.
island`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator, total
from twin.models import balance
from twin.models.balance import pcc_flow
from twin.models.disturbances import island
from twin.models.events import EventBook


class BalanceSim(TwinSimulator):
    """The PCC: what the public grid must give or take so that the park balances."""

    MODELS = {"PCC": Model(("name",), balance.OUTPUTS + balance.ISLAND, balance.INPUTS)}

    def setup(self, events: EventBook | None = None) -> None:
        self.events = events

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        return None

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        for eid in self.entities:
            data = inputs.get(eid, {})
            gen = total(data.get("p_gen_mw"))
            load = total(data.get("p_load_mw"))
            storage = total(data.get("p_storage_mw"))
            shed = curtailed = 0.0
            islanded = bool(self.events and self.events.active(time, "grid_outage"))
            if islanded:  # what the island serves: the exchange closes to 0
                isle = island([load, storage], [gen])
                f = pcc_flow(float(isle.p_gen_mw.sum()), *(float(x) for x in isle.p_load_mw))
                shed, curtailed = isle.p_shed_mw, isle.p_curtailed_mw
            else:
                f = pcc_flow(gen, load, storage)
            self.out[eid] = {"p_net_mw": f.p_net_mw, "p_import_mw": f.p_import_mw,
                             "p_export_mw": f.p_export_mw, "p_gen_mw": gen,
                             "p_load_mw": load, "p_storage_mw": storage, "p_shed_mw": shed,
                             "p_curtailed_mw": curtailed, "islanded": float(islanded)}
