"""mosaik adapter of co-simulation FMUs (:mod:`twin.models.fmu`, through fmpy): each entity
one FMU instance, advanced by ``doStep`` over each park step.

An entity's inputs are the FMU's input variables by name (``any_inputs``: ``world.connect(
weather, fmu, ("temp_air_c", "T_air"))``), in the twin's units; its outputs are the park
quantities its scenario entry maps (``p_mw``, ``q_heat_mw`` in MW; ``gas_nm3`` per step),
each the value the FMU gives at the end of the step. The FMU's own clock starts at 0 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mosaik_api_v3

from twin.models.fmu import QUANTITIES, FMUModel, FMUSpec

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"FMU": {"public": True, "params": ["spec", "input_units"], "any_inputs": True,
                       "attrs": [q.name for q in QUANTITIES]}},
}


class FMUSim(mosaik_api_v3.Simulator):
    """FMUs stepped at the park's step (``step_s`` seconds)."""

    def __init__(self) -> None:
        super().__init__(META)
        self.models: dict[str, FMUModel] = {}
        self.values: dict[str, dict[str, float]] = {}
        self.ticks = 1
        self.step_s = 900.0

    def init(self, sid: str, time_resolution: float = 1.0, step_s: float = 900,
             **_: Any) -> dict[str, Any]:
        self.step_s = float(step_s)
        self.ticks = max(1, round(self.step_s / time_resolution))
        return self.meta

    def create(self, num: int, model: str, spec: FMUSpec,
               input_units: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        if num != 1:
            raise ValueError("one FMU instance per entity: create(1, ...) per FMU")
        eid = spec.name
        self.models[eid] = FMUModel(spec, 0.0, self.step_s, input_units or {})
        self.values[eid] = {}
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: dict[str, dict[str, dict[str, Any]]],
             max_advance: int) -> int:
        for eid, fmu in self.models.items():
            given = {var: sum(float(v) for v in by_source.values())
                     for var, by_source in inputs.get(eid, {}).items()}
            self.values[eid] = fmu.step(given)
        return time + self.ticks

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        return {eid: {a: self.values[eid].get(a) for a in attrs} for eid, attrs in outputs.items()}

    def finalize(self) -> None:
        for fmu in self.models.values():
            fmu.close()
