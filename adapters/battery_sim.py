"""mosaik adapter of the battery model (:mod:`twin.models.battery`): many batteries per simulator.

A battery follows its ``p_set_mw`` input when one is connected (from an energy management
system). Without one it follows the simulator's local rule (:func:`twin.models.control.
rule_setpoints`): a ``Rule`` entity receives the park's generation and load and shares the
surplus or deficit over the batteries in proportion to their power ratings, or, in the hours
its ``schedule_mw`` covers (a total setpoint per hour from the start, > 0 charge), shares that.

A battery whose ``soc_measured`` input is connected (hardware in the loop: the state of charge
a device measured, a step earlier) starts each step from that state of charge, so whatever
controls it - the local rule's clipping, an EMS reading the simulator's snapshot - works on
the measured state, not on a state of its own. Unconnected or NaN, the model keeps its own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator, as_values, hourly, single, spec_params, total
from twin.models import battery, control
from twin.models.battery import BatterySpec
from twin.models.control import rule_setpoints

BATTERY = Model(spec_params(BatterySpec), battery.OUTPUTS, battery.INPUTS)


class BatterySim(TwinSimulator):
    """Batteries: clip setpoints to power, energy and SOC limits; account for losses."""

    MODELS = {
        "Battery": BATTERY,
        "Rule": Model(("name", "schedule_mw"), control.OUTPUTS, control.INPUTS),
    }

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        if model == "Rule":
            return [float(p) for p in params.get("schedule_mw") or ()]
        spec = BatterySpec(**params)
        idle = battery.BatteryStep(p_mw=0.0, p_loss_mw=0.0, soc=spec.soc_init,
                                   e_mwh=spec.soc_init * spec.e_max_mwh, efc=0.0)
        self.out[eid] = as_values(idle, BATTERY.output_names)
        return [spec, battery.initial_state(spec)]

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        batteries = {eid: e for eid, e in self.entities.items() if self.model_of[eid] == "Battery"}
        rule_set = self._rule_setpoints(time, inputs, batteries)
        for eid, entity in batteries.items():
            spec, state = entity
            data = inputs.get(eid, {})
            p_set = total(data["p_set_mw"]) if "p_set_mw" in data else rule_set.get(eid, 0.0)
            soc = float(single(data.get("soc_measured"), math.nan))
            if math.isfinite(soc):
                state = dataclasses.replace(state, e_mwh=min(max(soc, 0.0), 1.0) * spec.e_max_mwh)
            entity[1], r = battery.step(spec, state, p_set, self.step_s)
            self.out[eid] = as_values(r, BATTERY.output_names)

    def _rule_setpoints(self, time: float, inputs: InputData, batteries: dict[str, Any]
                        ) -> dict[str, float]:
        """Setpoints of the local rule (or its hour's schedule) for the batteries without a
        p_set_mw input."""
        setpoints: dict[str, float] = {}
        free = [eid for eid in batteries if "p_set_mw" not in inputs.get(eid, {})]
        for eid, model in self.model_of.items():
            if model != "Rule":
                continue
            data = inputs.get(eid, {})
            gen, load = total(data.get("p_gen_mw")), total(data.get("p_load_mw"))
            self.out[eid] = {"p_surplus_mw": gen - load}
            scheduled = hourly(self.entities[eid], time, math.nan)
            if not math.isnan(scheduled):  # the hour's scheduled total as a surplus to absorb
                gen, load = scheduled, 0.0
            p_set = rule_setpoints(gen, load, [batteries[b][0].p_max_mw for b in free])
            setpoints.update(zip(free, p_set, strict=True))
        return setpoints
