"""mosaik adapter of the battery model (:mod:`twin.battery`): many batteries per simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator, spec_params, total
from twin import battery
from twin.battery import BatterySpec

OUTPUTS = (
    Attr("p_mw", "MW", "power at the AC terminals, > 0 charging"),
    Attr("p_loss_mw", "MW", "conversion and self-discharge losses"),
    Attr("soc", "1", "state of charge at the end of the step"),
    Attr("e_mwh", "MWh", "stored energy at the end of the step"),
    Attr("efc", "1", "equivalent full cycles so far"),
)
INPUTS = (Attr("p_set_mw", "MW", "power setpoint, > 0 charging (sum of all sources)"),)


class BatterySim(TwinSimulator):
    """Batteries: clip setpoints to power, energy and SOC limits; account for losses."""

    MODELS = {"Battery": Model(spec_params(BatterySpec), OUTPUTS, INPUTS)}

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        spec = BatterySpec(**params)
        self.out[eid] = {"p_mw": 0.0, "p_loss_mw": 0.0, "soc": spec.soc_init,
                         "e_mwh": spec.soc_init * spec.e_max_mwh, "efc": 0.0}
        return [spec, battery.initial_state(spec)]

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        for eid, entity in self.entities.items():
            spec, state = entity
            p_set = total(inputs.get(eid, {}).get("p_set_mw"))
            entity[1], r = battery.step(spec, state, p_set, self.step_s)
            self.out[eid] = {"p_mw": r.p_mw, "p_loss_mw": r.p_loss_mw, "soc": r.soc,
                             "e_mwh": r.e_mwh, "efc": r.efc}
