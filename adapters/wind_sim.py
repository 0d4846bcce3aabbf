"""mosaik adapter of the wind farms (:mod:`twin.models.wind`): many farms per simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator, required, spec_params
from twin.models import wind
from twin.models.turbines import power_curve
from twin.models.wind import WindFarmSpec

MODEL = Model(spec_params(WindFarmSpec), wind.OUTPUTS, wind.INPUTS)


class WindSim(TwinSimulator):
    """Wind farms from real turbine power curves."""

    MODELS = {"WindFarm": MODEL}

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        spec = WindFarmSpec(**params)
        return spec, power_curve(spec.turbine_type)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        for eid, (spec, curve) in self.entities.items():
            w = required(inputs, eid, MODEL.input_names)
            out = wind.wind_power(spec, curve, w["wind_ms"], w["wind_height_m"],
                                  w["roughness_m"], w["temp_air_c"], w["pressure_pa"])
            self.out[eid] = {name: float(getattr(out, name)) for name in MODEL.output_names}
