"""mosaik adapter of the battery model (:mod:`twin.models.battery`): many batteries per simulator.

A battery follows its ``p_set_mw`` input when one is connected (from an energy management
system). Without one it follows the simulator's local rule (:func:`twin.models.control.
rule_setpoints`): a ``Rule`` entity receives the park's generation and load and shares the
surplus or deficit over the batteries in proportion to their power ratings, or, in the hours
its ``schedule_mw`` covers (a total setpoint per hour from the start, > 0 charge), shares that;
where its ``grid_mw`` covers the hour too (the park's planned net export of each hour), the
surplus less that export instead, so that the storage takes the hour's deviations from the
plan, step by step, and the grid exchange follows it (:func:`scheduled`).

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


def scheduled(schedule: list[float], exchange: list[float], t: float, gen: float,
              load: float) -> tuple[float, float]:
    """The generation and load the rule shares at ``t`` (s from the start): the park's own
    outside the storage's schedule; in it, the hour's scheduled total as a surplus to absorb,
    or, where the planned net export of the hour is given too, the surplus less that export."""
    total_mw = hourly(schedule, t, math.nan)
    if math.isnan(total_mw):
        return gen, load
    export = hourly(exchange, t, math.nan)
    return (total_mw, 0.0) if math.isnan(export) else (gen - export, load)


class BatterySim(TwinSimulator):
    """Batteries: clip setpoints to power, energy and SOC limits; account for losses."""

    exchange: dict[str, list[float]]

    def setup(self, **sim_params: Any) -> None:
        super().setup(**sim_params)
        self.exchange = {}  # each rule's planned net export of each hour

    MODELS = {
        "Battery": BATTERY,
        "Rule": Model(("name", "schedule_mw", "grid_mw"), control.OUTPUTS, control.INPUTS),
    }

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        if model == "Rule":
            self.exchange[eid] = [float(p) for p in params.get("grid_mw") or ()]
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
            gen, load = scheduled(self.entities[eid], self.exchange.get(eid, ()), time, gen,
                                  load)
            p_set = rule_setpoints(gen, load, [batteries[b][0].p_max_mw for b in free])
            setpoints.update(zip(free, p_set, strict=True))
        return setpoints
