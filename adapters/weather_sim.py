"""mosaik adapter of the weather (:mod:`twin.models.weather`): a synthetic year, or an EPW/CSV file.

The whole period is built (or read and mapped onto the period) when the entity is created;
each step hands out that step's values, changed by the weather events in force (cloud front,
wind lull, heat or cold wave) of the ``events`` book (:mod:`twin.models.disturbances`), and the
synthetic NWP forecasts of the wind and GHI 1, 6 and 24 h ahead made by the latest weather-model
run available at the step's start (:mod:`twin.models.weather_nwp`; built from the unchanged
weather, the events are not forecast).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator
from twin.models import weather, weather_io, weather_nwp
from twin.models.disturbances import weather_under
from twin.models.events import EventBook

PARAMS = ("name", "source", "path", "site", "latitude", "longitude", "seed", "altitude_m")
READERS = {"epw": weather_io.read_epw, "csv": weather_io.read_csv}
WEATHER_EVENTS = ("cloud_front", "wind_lull", "heat_wave", "cold_wave")


class WeatherSim(TwinSimulator):
    """Weather of the park site, one entity per weather source."""

    MODELS = {"Weather": Model(PARAMS, weather.OUTPUTS + weather_nwp.OUTPUTS)}

    def setup(self, duration_s: int = 365 * 86400, events: EventBook | None = None) -> None:
        if self.step_s < 1:  # a sub-second run: the weather (hourly data at best) steps
            self.step_s = 1  # every second, its values held over the shorter steps
        self.n_steps = -(-int(duration_s) // self.step_s)
        self.events = events
        # a run restarted inside a longer period (the trainers' page's jump) keeps its weather
        self.anchor_epoch_s = getattr(events, "period_start_epoch_s", None)

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        series, nwp = weather_and_nwp(eid, params, self.start_epoch_s, self.n_steps,
                                      self.step_s, self.anchor_epoch_s)
        if not hasattr(self, "forecasts"):
            self.forecasts: dict[str, dict[str, Any]] = {}
        self.forecasts[eid] = weather_nwp.step_forecasts(nwp, series.epoch_s, series.step_s)
        return series

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        i = self.index(time)
        active = self.events.active(time, *WEATHER_EVENTS) if self.events else []
        for eid, series in self.entities.items():
            k = min(i, len(series) - 1)
            row = series.row(k)
            row = weather_under(row, active) if active else row
            self.out[eid] = row | {key: float(v[k]) for key, v in self.forecasts[eid].items()}


NWP_CALIBRATION_S = 7 * 86400  # the week from a synthetic period's start sizes its NWP errors


def weather_and_nwp(eid: str, params: Mapping[str, Any], start_epoch_s: int, n_steps: int,
                    step_s: int, anchor_epoch_s: int | None = None
                    ) -> tuple[weather.WeatherSeries, weather_nwp.NWPForecast]:
    """The weather of entity ``eid`` (parameters :data:`PARAMS`) over ``n_steps`` of ``step_s``
    from ``start_epoch_s``, and the NWP runs over it (the same for whoever asks)."""
    source = params.get("source", "synthetic")
    seed = int(params.get("seed", 0))
    basis, calibration_s = None, None
    if source == "synthetic":
        lat, lon = float(params["latitude"]), float(params["longitude"])
        alt = float(params.get("altitude_m") or 0.0)
        climate = weather.site_climate(params.get("site", "shenyang"))
        # the runs see the weather beyond the period's end, and their irradiance error is sized
        # on a fixed week from its start: a shorter period is the start of a longer one
        cfg = weather_nwp.nwp_config()
        calibration_s = NWP_CALIBRATION_S
        reach_s = max(n_steps * step_s, calibration_s) + int(
            (cfg.horizon_h + cfg.latency_h + cfg.issue_interval_h) * 3600)
        # the runs forecast 15-minute means at best: a shorter step's runs come from the
        # weather at 15 minutes (a HIL run's 1 s steps over the week: 800,000 sun positions)
        basis_s = weather_nwp.NWP_STEP_S if (
            step_s < weather_nwp.NWP_STEP_S and weather_nwp.NWP_STEP_S % step_s == 0
            and (start_epoch_s - (anchor_epoch_s or start_epoch_s)) % weather_nwp.NWP_STEP_S
            == 0) else step_s
        basis = weather.synthetic_year(climate, lat, lon, start_epoch_s,
                                       -(-reach_s // basis_s), basis_s, seed, name=eid,
                                       anchor_epoch_s=anchor_epoch_s)
        # a synthetic period is the start of a longer one: the run's weather is the basis's head
        series = _head(basis, n_steps, lon) if basis_s == step_s else None
        if series is None:
            series = weather.synthetic_year(climate, lat, lon, start_epoch_s, n_steps, step_s,
                                            seed, name=eid, anchor_epoch_s=anchor_epoch_s)
    elif source in READERS:
        raw, meta = READERS[source](params["path"])
        lat = meta.get("latitude", params.get("latitude"))
        lon = meta.get("longitude", params.get("longitude"))
        alt = meta.get("altitude_m") or params.get("altitude_m") or 0.0
        series = weather.resample(raw, start_epoch_s, n_steps, step_s, latitude=lat,
                                  longitude=lon, elevation_m=alt)
    else:
        raise ValueError(f"unknown weather source {source!r}; expected synthetic, epw, csv")
    nwp = weather_nwp.synthetic_nwp(basis if basis is not None else series, float(lat or 0.0),
                                    float(lon or 0.0), seed, name=eid, elevation_m=float(alt),
                                    calibration_s=calibration_s)
    return series, nwp


def _head(basis: weather.WeatherSeries, n: int, longitude: float) -> weather.WeatherSeries | None:
    """The first ``n`` steps of the synthetic ``basis`` where they are the ``n``-step period's
    weather, bit for bit: each solar day's irradiance is rescaled to its clear-sky energy over
    the steps present, so the period's last solar day must be dark before the period's end or
    after it. None where it is not (or reaches beyond the basis)."""
    step, epoch, ghi = basis.step_s, basis.epoch_s, basis.ghi_w_m2
    end = int(epoch[0]) + n * step
    shift = longitude * 240.0  # local mean solar time - UTC, s
    day_end = math.ceil((end + shift) / weather.DAY_S) * weather.DAY_S - shift
    before = ghi[:n][epoch[:n] + step > day_end - weather.DAY_S]
    after = ghi[n:][epoch[n:] < day_end]
    if n > len(basis) or int(epoch[-1]) + step < day_end or (before.any() and after.any()):
        return None
    return dataclasses.replace(basis, epoch_s=epoch[:n],
                               **{key: getattr(basis, key)[:n] for key in basis.VARIABLES})
