"""mosaik adapter of the battery model (:mod:`twin.models.battery`): many batteries per simulator.

A battery follows its ``p_set_mw`` input when one is connected (from an energy management
system). Without one it follows the simulator's local rule (:func:`twin.models.control.
rule_setpoints`): a ``Rule`` entity receives the park's generation and load and shares the
surplus or deficit over the batteries in proportion to their power ratings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator, spec_params, total
from twin.models import battery
from twin.models.battery import BatterySpec
from twin.models.control import rule_setpoints

OUTPUTS = (
    Attr("p_mw", "MW", "power at the AC terminals, > 0 charging"),
    Attr("p_loss_mw", "MW", "conversion and self-discharge losses"),
    Attr("soc", "1", "state of charge at the end of the step"),
    Attr("e_mwh", "MWh", "stored energy at the end of the step"),
    Attr("efc", "1", "equivalent full cycles so far"),
)
INPUTS = (Attr("p_set_mw", "MW", "power setpoint, > 0 charging (sum of all sources)"),)
RULE_INPUTS = (
    Attr("p_gen_mw", "MW", "generation of the park (sum of all sources)"),
    Attr("p_load_mw", "MW", "load of the park without storage (sum of all sources)"),
)
RULE_OUTPUTS = (Attr("p_surplus_mw", "MW", "generation minus load"),)


class BatterySim(TwinSimulator):
    """Batteries: clip setpoints to power, energy and SOC limits; account for losses."""

    MODELS = {
        "Battery": Model(spec_params(BatterySpec), OUTPUTS, INPUTS),
        "Rule": Model(("name",), RULE_OUTPUTS, RULE_INPUTS),
    }

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        if model == "Rule":
            return None
        spec = BatterySpec(**params)
        self.out[eid] = {"p_mw": 0.0, "p_loss_mw": 0.0, "soc": spec.soc_init,
                         "e_mwh": spec.soc_init * spec.e_max_mwh, "efc": 0.0}
        return [spec, battery.initial_state(spec)]

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        batteries = {eid: e for eid, e in self.entities.items() if self.model_of[eid] == "Battery"}
        rule_set = self._rule_setpoints(inputs, batteries)
        for eid, entity in batteries.items():
            spec, state = entity
            data = inputs.get(eid, {})
            p_set = total(data["p_set_mw"]) if "p_set_mw" in data else rule_set.get(eid, 0.0)
            entity[1], r = battery.step(spec, state, p_set, self.step_s)
            self.out[eid] = {"p_mw": r.p_mw, "p_loss_mw": r.p_loss_mw, "soc": r.soc,
                             "e_mwh": r.e_mwh, "efc": r.efc}

    def _rule_setpoints(self, inputs: InputData, batteries: dict[str, Any]) -> dict[str, float]:
        """Setpoints of the local rule for the batteries without a p_set_mw input."""
        setpoints: dict[str, float] = {}
        free = [eid for eid in batteries if "p_set_mw" not in inputs.get(eid, {})]
        for eid, model in self.model_of.items():
            if model != "Rule":
                continue
            data = inputs.get(eid, {})
            gen, load = total(data.get("p_gen_mw")), total(data.get("p_load_mw"))
            self.out[eid] = {"p_surplus_mw": gen - load}
            p_set = rule_setpoints(gen, load, [batteries[b][0].p_max_mw for b in free])
            setpoints.update(zip(free, p_set, strict=True))
        return setpoints
