"""Synthetic numerical-weather-prediction (NWP) forecasts of a weather series.

A weather model's runs are issued every ``issue_interval_h`` (00, 06, 12, 18 UTC), reach the
park ``latency_h`` later and cover ``horizon_h`` from their issue time, so every run covers at
least the next local day (the day-ahead forecast) and later runs update it (intraday). Each run
forecasts the step means of the wind speed (at the series' ``wind_height_m``) and the GHI:

* wind: actual + e, with e an AR(1) along the run's lead time (e-folding ``wind_error_tau_h``)
  whose standard deviation grows with lead time as ``wind_rmse_ms`` (``twin/data/nwp.yaml``);
  speeds below 0 are set to 0;
* GHI: actual + s(lead) x clear-sky GHI x z, z an AR(1) along lead time (``ghi_error_tau_h``),
  limited to 0 .. ``kc_max`` x clear sky; s is set so that the RMSE over daylight steps divided
  by the period's mean daylight GHI follows ``ghi_nrmse``.

The errors of a run come from the stream ``generator(seed, f"{name}:nwp:{variable}:{issue}")``,
so a run does not depend on the period asked for. A synthetic NWP is built from the actual
weather (truth + error); what a forecaster may read of it is a run that has reached the park
(:meth:`NWPForecast.latest`), never the actual weather after its own time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin import data
from twin.core.quantities import Quantity
from twin.core.rng import generator
from twin.models.weather import WeatherSeries, _ar1, clearsky

#: leads (h) of the forecasts the weather simulator hands out every step
FC_LEADS_H = (1, 6, 24)
OUTPUTS = tuple(
    Quantity(f"{var}_fc_{h}h", unit, f"NWP forecast of the {what} of the step {h} h ahead "
             "(latest run available)")
    for h in FC_LEADS_H
    for var, unit, what in (("wind_ms", "m/s", "wind speed"), ("ghi_w_m2", "W/m2", "GHI")))
KC_MAX = 1.3  # largest forecast clear-sky index
NWP_STEP_S = 900  # the finest step an NWP run forecasts


@dataclass(frozen=True)
class NWPConfig:
    """Issue times and error growth of the synthetic NWP (values and sources in
    ``twin/data/nwp.yaml``)."""

    issue_interval_h: float
    latency_h: float
    horizon_h: float
    lead_h: tuple[float, ...]
    wind_rmse_ms: tuple[float, ...]
    wind_error_tau_h: float
    ghi_nrmse: tuple[float, ...]
    ghi_error_tau_h: float

    def __post_init__(self) -> None:
        n = len(self.lead_h)
        if n < 1 or list(self.lead_h) != sorted(self.lead_h):
            raise ValueError("NWPConfig.lead_h: need increasing lead times")
        for key in ("wind_rmse_ms", "ghi_nrmse"):
            if len(getattr(self, key)) != n or min(getattr(self, key)) < 0:
                raise ValueError(f"NWPConfig.{key}: need {n} values >= 0 (one per lead_h)")
        if not (self.issue_interval_h > 0 and self.latency_h >= 0
                and self.horizon_h >= self.issue_interval_h + self.latency_h + 24):
            raise ValueError("NWPConfig: need issue_interval_h > 0, latency_h >= 0 and "
                             "horizon_h >= issue_interval_h + latency_h + 24")

    def wind_sigma(self, lead_h: np.ndarray) -> np.ndarray:
        """Standard deviation (m/s) of the wind error at ``lead_h``."""
        return np.interp(lead_h, self.lead_h, self.wind_rmse_ms)

    def ghi_sigma(self, lead_h: np.ndarray) -> np.ndarray:
        """Relative RMSE of the GHI at ``lead_h`` (of the mean daylight GHI)."""
        return np.interp(lead_h, self.lead_h, self.ghi_nrmse)


def nwp_config(name: str = "nwp") -> NWPConfig:
    """The :class:`NWPConfig` of ``twin/data/<name>.yaml``."""
    values = data.load(name)
    return NWPConfig(**{k: (tuple(float(x) for x in v) if isinstance(v, tuple) else float(v))
                        for k, v in values.items()})


@dataclass(frozen=True, eq=False)
class NWPForecast:
    """The runs of a synthetic NWP over a weather series.

    Run ``j`` is issued at ``issue_epoch_s[j]`` (UTC s) and available from
    ``available_epoch_s[j]``; ``wind_ms[j, k]`` and ``ghi_w_m2[j, k]`` forecast the mean of the
    series step starting at ``issue_epoch_s[j] + k * step_s`` (steps after the series' end hold
    its last value).
    """

    issue_epoch_s: np.ndarray
    available_epoch_s: np.ndarray
    step_s: int
    wind_ms: np.ndarray
    ghi_w_m2: np.ndarray

    def latest(self, epoch_s: np.ndarray | int) -> np.ndarray:
        """Index of the latest run available at ``epoch_s`` (-1 where none is)."""
        return np.searchsorted(self.available_epoch_s, np.asarray(epoch_s), side="right") - 1

    def at(self, variable: str, now_epoch_s: np.ndarray, target_epoch_s: np.ndarray
           ) -> np.ndarray:
        """Forecast of ``variable`` for the steps starting at ``target_epoch_s``, as known at
        ``now_epoch_s``: from the latest run available then (its first step before any run;
        its last step beyond its horizon)."""
        now, target = np.broadcast_arrays(np.asarray(now_epoch_s, dtype=np.int64),
                                          np.asarray(target_epoch_s, dtype=np.int64))
        j = np.maximum(self.latest(now), 0)
        values = getattr(self, variable)
        k = np.clip((target - self.issue_epoch_s[j]) // self.step_s, 0, values.shape[1] - 1)
        return values[j, k]


def synthetic_nwp(series: WeatherSeries, latitude: float, longitude: float, seed: int,
                  name: str = "weather", elevation_m: float = 0.0,
                  config: NWPConfig | None = None,
                  calibration_s: int | None = None) -> NWPForecast:
    """The NWP runs over ``series`` (every run available at some step of it, from the last one
    available at its start), errors calibrated by ``config`` (default ``twin/data/nwp.yaml``).

    The irradiance error's size is set from the weather of the first ``calibration_s`` seconds
    of ``series`` (all of it if None) and the runs issued in them: given a series that reaches
    the horizon beyond them, a shorter and a longer period from one start get the same runs."""
    cfg = config or nwp_config()
    step = int(series.step_s)
    epoch, wind_ms, ghi_w_m2 = series.epoch_s, series.wind_ms, series.ghi_w_m2
    if step < NWP_STEP_S:  # an NWP forecasts 15-minute means at best: average short steps
        r = -(-NWP_STEP_S // step)
        pad = -len(epoch) % r
        wind_ms, ghi_w_m2 = (np.pad(v, (0, pad), mode="edge").reshape(-1, r).mean(axis=1)
                             for v in (wind_ms, ghi_w_m2))
        step *= r
        epoch = epoch[0] + step * np.arange(len(wind_ms), dtype=np.int64)
    interval, latency = int(cfg.issue_interval_h * 3600), int(cfg.latency_h * 3600)
    t0, n = int(epoch[0]), len(epoch)
    first = (t0 - latency) // interval * interval
    issues = np.arange(first, t0 + n * step, interval, dtype=np.int64)
    n_lead = int(math.ceil(cfg.horizon_h * 3600 / step))
    lead_h = ((np.arange(n_lead) + 0.5) * step) / 3600.0
    # series index of each (run, lead) step, held at the ends
    idx = (issues[:, None] - t0) // step + np.arange(n_lead)[None, :]
    inside = (idx >= 0) & (idx < n)
    idx = np.clip(idx, 0, n - 1)

    def noise(variable: str, tau_h: float) -> np.ndarray:
        phi = math.exp(-step / (tau_h * 3600.0))
        return _ar1(np.stack([generator(seed, f"{name}:nwp:{variable}:{int(t)}")
                              .standard_normal(n_lead) for t in issues]), phi)

    wind = np.maximum(wind_ms[idx] + cfg.wind_sigma(lead_h) * noise(
        "wind", cfg.wind_error_tau_h), 0.0)
    cs, _, _ = clearsky(epoch, step, latitude, longitude, elevation_m)
    ghi_true, cs_r = ghi_w_m2[idx], cs[idx]
    n_cal = n if calibration_s is None else min(n, max(1, -(-int(calibration_s) // step)))
    day = cs > 0
    day_cal = day & (np.arange(n) < n_cal)
    mean_day = float(ghi_w_m2[day_cal].mean()) if day_cal.any() else 0.0
    z = noise("ghi", cfg.ghi_error_tau_h)
    target = cfg.ghi_sigma(lead_h) * mean_day
    gain = np.ones(n_lead)
    rms_cs = float(np.sqrt(np.mean(cs[day_cal] ** 2))) if day_cal.any() else 1.0
    in_cal = inside & (cs_r > 0) & (issues < t0 + n_cal * step)[:, None]
    ghi = ghi_true
    for _ in range(3):  # the limits shrink the error: rescale to the configured RMSE per lead
        s = gain * target / rms_cs
        ghi = np.clip(ghi_true + s * cs_r * z, 0.0, KC_MAX * cs_r)
        err = np.where(in_cal, ghi - ghi_true, np.nan)
        n_ok = np.isfinite(err).sum(axis=0)  # a lead that never sees the sun keeps its gain
        got = np.where(n_ok > 0, np.sqrt(np.nansum(err ** 2, axis=0) / np.maximum(n_ok, 1)),
                       target)
        gain *= np.where(got > 0, target / np.where(got > 0, got, 1.0), 1.0)
    for arr in (issues, wind, ghi):
        arr.setflags(write=False)
    available = issues + latency
    available.setflags(write=False)
    return NWPForecast(issue_epoch_s=issues, available_epoch_s=available, step_s=step,
                       wind_ms=wind, ghi_w_m2=ghi)


def step_forecasts(nwp: NWPForecast, epoch_s: np.ndarray, step_s: int) -> dict[str, np.ndarray]:
    """The forecasts :data:`OUTPUTS` per step starting at ``epoch_s``: at the step's start, the
    latest run's forecast of the step ``h`` hours ahead."""
    now = np.asarray(epoch_s, dtype=np.int64)
    out = {}
    for h in FC_LEADS_H:
        target = now + (h * 3600 // step_s) * step_s
        for var in ("wind_ms", "ghi_w_m2"):
            out[f"{var}_fc_{h}h"] = nwp.at(var, now, target)
    return out
