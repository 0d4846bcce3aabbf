"""mosaik adapter of the PV plants (:mod:`twin.pv`): many plants at one site per simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator, required, spec_params
from twin import pv
from twin.pv import PVSpec
from twin.wind import wind_at_height

INPUTS = (
    Attr("ghi_w_m2", "W/m2", "global horizontal irradiance"),
    Attr("dni_w_m2", "W/m2", "direct normal irradiance"),
    Attr("dhi_w_m2", "W/m2", "diffuse horizontal irradiance"),
    Attr("temp_air_c", "degC", "air temperature"),
    Attr("wind_ms", "m/s", "wind speed at wind_height_m (for cell temperature)"),
    Attr("wind_height_m", "m", "height of the wind speed"),
    Attr("roughness_m", "m", "surface roughness length"),
)
CELL_WIND_HEIGHT_M = 10.0  # the SAPM cell-temperature model expects the 10 m wind
OUTPUTS = (
    Attr("p_mw", "MW", "AC power, > 0 generating"),
    Attr("p_dc_mw", "MW", "DC power after system losses"),
    Attr("poa_w_m2", "W/m2", "plane-of-array irradiance"),
    Attr("temp_cell_c", "degC", "cell temperature"),
    Attr("p_clipped_mw", "MW", "AC power cut by the inverter limit"),
)
NAMES = tuple(a.name for a in OUTPUTS)
INPUT_NAMES = tuple(a.name for a in INPUTS)


class PVSim(TwinSimulator):
    """PV plants: sun position once per step, then each plant through pvlib."""

    MODELS = {"PVPlant": Model(spec_params(PVSpec), OUTPUTS, INPUTS)}

    def setup(self, latitude: float = 41.8, longitude: float = 123.4,
              altitude_m: float = 0.0) -> None:
        self.site = (float(latitude), float(longitude), float(altitude_m))

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        return PVSpec(**params)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        lat, lon, alt = self.site
        sun = pv.sun_position(epoch_s, lat, lon, alt, dt_s=self.step_s)
        for eid, spec in self.entities.items():
            w = required(inputs, eid, INPUT_NAMES)
            wind_10m = wind_at_height(w["wind_ms"], w["wind_height_m"], CELL_WIND_HEIGHT_M,
                                      w["roughness_m"])
            out = pv.pv_power(spec, sun, w["ghi_w_m2"], w["dni_w_m2"], w["dhi_w_m2"],
                              w["temp_air_c"], wind_10m)
            self.out[eid] = {name: float(getattr(out, name)) for name in NAMES}
