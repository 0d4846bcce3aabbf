"""mosaik adapter of the weather (:mod:`twin.models.weather`): a synthetic year, or an EPW/CSV file.

The whole period is built (or read and mapped onto the period) when the entity is created;
each step hands out that step's values, changed by the weather events in force (cloud front,
wind lull, heat or cold wave) of the ``events`` book (:mod:`twin.models.disturbances`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator
from twin.models import weather, weather_io
from twin.models.disturbances import weather_under
from twin.models.events import EventBook

PARAMS = ("name", "source", "path", "site", "latitude", "longitude", "seed", "altitude_m")
READERS = {"epw": weather_io.read_epw, "csv": weather_io.read_csv}
WEATHER_EVENTS = ("cloud_front", "wind_lull", "heat_wave", "cold_wave")


class WeatherSim(TwinSimulator):
    """Weather of the park site, one entity per weather source."""

    MODELS = {"Weather": Model(PARAMS, weather.OUTPUTS)}

    def setup(self, duration_s: int = 365 * 86400, events: EventBook | None = None) -> None:
        if self.step_s < 1:  # a sub-second run: the weather (hourly data at best) steps
            self.step_s = 1  # every second, its values held over the shorter steps
        self.n_steps = -(-int(duration_s) // self.step_s)
        self.events = events
        # a run restarted inside a longer period (the trainers' page's jump) keeps its weather
        self.anchor_epoch_s = getattr(events, "period_start_epoch_s", None)

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        source = params.get("source", "synthetic")
        if source == "synthetic":
            return weather.synthetic_year(
                weather.site_climate(params.get("site", "shenyang")),
                float(params["latitude"]), float(params["longitude"]), self.start_epoch_s,
                self.n_steps, self.step_s, int(params.get("seed", 0)), name=eid,
                anchor_epoch_s=self.anchor_epoch_s)
        if source not in READERS:
            raise ValueError(f"unknown weather source {source!r}; expected synthetic, epw, csv")
        series, meta = READERS[source](params["path"])
        return weather.resample(
            series, self.start_epoch_s, self.n_steps, self.step_s,
            latitude=meta.get("latitude", params.get("latitude")),
            longitude=meta.get("longitude", params.get("longitude")),
            elevation_m=meta.get("altitude_m") or params.get("altitude_m") or 0.0)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        i = self.index(time)
        active = self.events.active(time, *WEATHER_EVENTS) if self.events else []
        for eid, series in self.entities.items():
            row = series.row(min(i, len(series) - 1))
            self.out[eid] = weather_under(row, active) if active else row
