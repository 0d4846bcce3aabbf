"""mosaik adapter of the PV plants (:mod:`twin.models.pv`): many plants at one site per simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator, required_columns, spec_params
from twin.models import pv
from twin.models.pv import PVSpec
from twin.models.wind import wind_at_height

CELL_WIND_HEIGHT_M = 10.0  # the SAPM cell-temperature model expects the 10 m wind
SUN_BLOCK_STEPS = 96  # sun positions computed per block of steps

MODEL = Model(spec_params(PVSpec), pv.OUTPUTS, pv.INPUTS)


class PVSim(TwinSimulator):
    """PV plants: sun position once per step, then all plants in one vectorised pvlib call."""

    MODELS = {"PVPlant": MODEL}

    def setup(self, latitude: float = 41.8, longitude: float = 123.4,
              altitude_m: float = 0.0) -> None:
        self.site = (float(latitude), float(longitude), float(altitude_m))
        self._sun_day: pv.SunPosition | None = None
        self._sun_start = 0

    def _sun(self, epoch_s: int) -> pv.SunPosition:
        """Sun position of the step, computed a day of steps at a time (it depends on time
        and site only)."""
        i = self.sun_index(epoch_s)
        assert self._sun_day is not None
        return self._sun_day.at(i)

    def sun_index(self, epoch_s: int) -> int:
        """The step's instant in ``_sun_day``, the day of sun positions from ``_sun_start``
        (computed anew from the step where the step is not in it)."""
        i = self.index(epoch_s - self._sun_start) if self._sun_day is not None else -1
        if not 0 <= i < SUN_BLOCK_STEPS:
            lat, lon, alt = self.site
            self._sun_start, i = epoch_s, 0
            times = epoch_s + self.step_s * np.arange(SUN_BLOCK_STEPS)
            self._sun_day = pv.sun_position(times, lat, lon, alt, dt_s=self.step_s)
        return int(i)

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        self.fleet: pv.PVFleet | None = None  # rebuilt on the next step
        return PVSpec(**params)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        if self.fleet is None:
            self.fleet = pv.PVFleet.of(list(self.entities.values()))
        eids = self.fleet.names
        w = required_columns(inputs, eids, MODEL.input_names)
        sun = self._sun(epoch_s)
        heights, roughness = w["wind_height_m"], w["roughness_m"]
        if (heights == heights[0]).all() and (roughness == roughness[0]).all():  # one source
            wind_10m = wind_at_height(w["wind_ms"], float(heights[0]), CELL_WIND_HEIGHT_M,
                                      float(roughness[0]))
        else:
            wind_10m = np.array([float(wind_at_height(u, h, CELL_WIND_HEIGHT_M, z))
                                 for u, h, z in zip(w["wind_ms"], heights, roughness,
                                                    strict=True)])
        out = pv.pv_power(self.fleet, sun, w["ghi_w_m2"], w["dni_w_m2"], w["dhi_w_m2"],
                          w["temp_air_c"], wind_10m)
        columns = [getattr(out, name).tolist() for name in MODEL.output_names]
        for i, eid in enumerate(eids):
            self.out[eid] = {name: col[i]
                             for name, col in zip(MODEL.output_names, columns, strict=True)}
