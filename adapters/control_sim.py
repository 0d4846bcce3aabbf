"""mosaik adapter of the simple storage controller (:func:`twin.control.rule_setpoints`).

One ``Rule`` entity receives the park's generation and load; it has one ``Port`` child per
battery, whose ``p_set_mw`` output is connected to that battery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import CreateResult, InputData, ModelName

from adapters.base import Attr, Model, TwinSimulator, total
from twin.control import rule_setpoints

RULE_INPUTS = (
    Attr("p_gen_mw", "MW", "generation of the park (sum of all sources)"),
    Attr("p_load_mw", "MW", "load of the park without storage (sum of all sources)"),
)
RULE_OUTPUTS = (Attr("p_surplus_mw", "MW", "generation minus load"),)
PORT_OUTPUTS = (Attr("p_set_mw", "MW", "setpoint for the connected battery, > 0 charging"),)


class ControlSim(TwinSimulator):
    """The rule controller: surplus charges storage, deficit discharges it."""

    MODELS = {
        "Rule": Model(("name", "batteries"), RULE_OUTPUTS, RULE_INPUTS),
        "Port": Model((), PORT_OUTPUTS, public=False),
    }

    def create(self, num: int, model: ModelName, **model_params: Any) -> list[CreateResult]:
        created = super().create(num, model, **model_params)
        for entity in created:
            rule = self.entities[entity["eid"]]
            entity["children"] = [{"eid": port, "type": "Port"} for port in rule["ports"]]
        return created

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        batteries = list(params.get("batteries", []))
        ports = [f"{eid}.{b['name']}" for b in batteries]
        for port in ports:
            self.out[port] = {"p_set_mw": 0.0}
            self.model_of[port] = "Port"
        return {"ports": ports, "p_max_mw": [float(b["p_max_mw"]) for b in batteries]}

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        for eid, model in list(self.model_of.items()):
            if model != "Rule":
                continue
            rule = self.entities[eid]
            data = inputs.get(eid, {})
            gen, load = total(data.get("p_gen_mw")), total(data.get("p_load_mw"))
            setpoints = rule_setpoints(gen, load, rule["p_max_mw"])
            self.out[eid] = {"p_surplus_mw": gen - load}
            for port, p in zip(rule["ports"], setpoints, strict=True):
                self.out[port] = {"p_set_mw": p}
