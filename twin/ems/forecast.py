"""Forecasts of the park's PV, wind and load, 15 min to 4 h ahead (and up to 2 days for plans).

The operator's view: at the end of step ``i`` the measured means of steps ``0 .. i`` are known
(:class:`History`), together with what is known in advance for every step (clear-sky PV of the
park, working days); a :class:`Forecaster` returns the means of steps ``i+1 .. i+n`` in MW.

* :class:`Persistence`: the last value held (PV set to 0 where the clear sky is dark).
* :class:`SmartPersistence`: PV from clear-sky-index persistence, wind persistence, load from
  the same time on the last day of the same kind (working day / rest day) plus the current
  offset. Each decays toward climatology with an e-folding time (``tau_*_s``): the clear-sky
  index toward its running mean, wind toward its running mean capacity factor, the load offset
  toward 0. An AR(1) process with correlation time T is forecast best by exactly this decay
  with tau = T; the default, 8 h for all three, gives an RMSE over horizons 1..16 within 2 %
  of the best tau of each target on the training year (seed 1).
* :class:`NWPWind`: wind from the latest weather-model (NWP) run available at the origin, its
  wind speed through the farms' power curves (:func:`nwp_wind_mw`), corrected by the run's
  current error (measured minus NWP power over the last hour), which decays with ``tau_s``;
  PV and load from another forecaster (SmartPersistence by default).
* :class:`Learned`: a small MLP per target (trained in PyTorch by :mod:`twin.studies.learned`,
  run here in numpy) that corrects SmartPersistence for horizons 1..:data:`HORIZON`; only
  where its validation skill is positive; beyond :data:`HORIZON` the correction fades out.

Every forecaster also has ``forecast_many(history, origins, n)``: the forecasts made at many
past steps at once (shape ``(len(origins), n)``), using only data up to each origin; a test
checks that it equals forecasting from a history cut at the origin.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.models.loads.calendar import WORKDAY, ParkCalendar
from twin.models.pv import PVSpec, pv_power, sun_position
from twin.models.turbines import power_curve
from twin.models.weather import clearsky
from twin.models.weather_nwp import nwp_config
from twin.models.wind import wind_power

TARGETS = ("pv", "wind", "load")  # park totals, MW (load: factories + heat supply, no EV)
HORIZON = 16  # horizons of the learned model: 1..16 steps ahead (15 min .. 4 h)
DAY_S = 86_400
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "forecast"
# NOCT conditions (IEC 61215): 20 degC ambient air and 1 m/s wind, for the clear-sky PV.
NOCT_AIR_C, NOCT_WIND_MS = 20.0, 1.0


@dataclass(frozen=True)
class Capacities:
    """Normalisation of errors and model inputs: installed PV AC, rated wind, peak load (MW)."""

    pv_mw: float
    wind_mw: float
    load_mw: float

    def __post_init__(self) -> None:
        for name in ("pv_mw", "wind_mw", "load_mw"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Capacities.{name} must be positive, got {getattr(self, name)}")

    def of(self, target: str) -> float:
        """The capacity (MW) of ``target`` (one of :data:`TARGETS`)."""
        return float(getattr(self, f"{target}_mw"))


def park_capacities(pv_plants: Sequence[Any], wind_farms: Sequence[Any],
                    factory_loads: Sequence[Any]) -> Capacities:
    """Capacities of a park from its specs: sum of PV ``p_ac_mw``, rated power of the wind
    farms (turbine nominal power x number), sum of the factories' ``p_peak_mw``.

    The learned model was trained with these definitions; use the same in the EMS.
    """
    return Capacities(
        pv_mw=sum(float(p.p_ac_mw) for p in pv_plants) or 1.0,
        wind_mw=sum(power_curve(w.turbine_type).nominal_mw * w.n_turbines
                    for w in wind_farms) or 1.0,
        load_mw=sum(float(f.p_peak_mw) for f in factory_loads) or 1.0)


@dataclass(frozen=True)
class Priors:
    """What a forecaster assumes before the history says otherwise (running means start here).

    Defaults: means of the synthetic Shenyang year (seed 1) of the reference park.
    """

    k_pv: float = 0.75  # clear-sky index of PV (mean over steps bright enough)
    wind_cf: float = 0.30  # wind capacity factor
    load_frac: float = 0.67  # load / load capacity
    k_recent_steps: float = 24.0  # EWMA of the clear-sky index over ~24 bright steps
    clim_days: float = 14.0  # running means (climatology) forget with this e-folding time
    prior_days: float = 1.0  # weight of the prior in the running means, in days of data
    cs_min_frac: float = 0.05  # clear-sky index only where clear-sky PV > this x PV capacity


class History:
    """Measured values up to the current step, plus what is known in advance for every step of
    the run and a margin after it (clear-sky PV, working days).

    ``clearsky_pv_mw`` and ``workday`` cover steps ``0 .. N-1`` (the run plus at least the
    longest forecast); step ``k`` starts at ``epoch0_s + k * step_s`` (UTC s). Measured values
    are appended one step at a time; a non-finite value repeats the previous one (a lost
    reading). Running statistics (clear-sky index, its recent and climatological means, the
    mean wind capacity factor) are updated on append, so a forecast costs O(n).
    ``max_lag`` (steps) bounds how far back forecasters look for a reference day.
    """

    def __init__(self, capacities: Capacities, epoch0_s: int, step_s: int,
                 clearsky_pv_mw: np.ndarray, workday: np.ndarray, max_lag: int = 96 * 7,
                 utc_offset_s: int = 8 * 3600, priors: Priors | None = None) -> None:
        cs = np.asarray(clearsky_pv_mw, dtype=float)
        wd = np.asarray(workday, dtype=float)
        if cs.ndim != 1 or wd.shape != cs.shape:
            raise ValueError(f"History: clearsky_pv_mw {cs.shape} and workday {wd.shape} must "
                             "be 1-d arrays of the same length")
        if not np.all(np.isfinite(cs)) or np.any(cs < 0):
            raise ValueError("History: clearsky_pv_mw must be finite and >= 0")
        if step_s <= 0 or DAY_S % step_s:
            raise ValueError(f"History: step_s={step_s} must divide a day")
        self.capacities, self.priors = capacities, priors or Priors()
        self.epoch0_s, self.step_s, self.utc_offset_s = int(epoch0_s), int(step_s), int(utc_offset_s)
        self.clearsky_pv_mw, self.workday = cs, wd
        self.steps_per_day = DAY_S // self.step_s
        self.max_lag = max(int(max_lag), self.steps_per_day)
        self.n = len(cs)
        self.values = {t: np.full(self.n, np.nan) for t in TARGETS}
        # running statistics per step (see Priors)
        self.k_pv = np.full(self.n, np.nan)  # clear-sky index of the step (NaN: too dark)
        self.k_recent = np.full(self.n, np.nan)
        self.k_clim = np.full(self.n, np.nan)
        self.wind_clim = np.full(self.n, np.nan)
        p = self.priors
        self._decay = math.exp(-self.step_s / (p.clim_days * DAY_S))
        self._n0 = p.prior_days * self.steps_per_day
        self._sums = [0.0, 0.0, 0.0, 0.0]  # k sum, k weight, wind-cf sum, wind weight
        self._recent = [0.0, 0.0]  # EWMA of the clear-sky index: sum, weight
        self._i = -1

    @property
    def i(self) -> int:
        """Index of the last appended step (-1 when empty)."""
        return self._i

    def append(self, pv_mw: float, wind_mw: float, load_mw: float) -> None:
        """Record the measured means (MW) of the next step."""
        j = self._i + 1
        if j >= self.n:
            raise IndexError(f"History: clear-sky and workday data end at step {self.n - 1}")
        for t, v in zip(TARGETS, (pv_mw, wind_mw, load_mw), strict=True):
            v = float(v)
            if not math.isfinite(v):
                v = self.values[t][j - 1] if j > 0 else 0.0
            self.values[t][j] = max(v, 0.0)
        self._update_stats(j)
        self._i = j

    def _update_stats(self, j: int) -> None:
        p, s, g = self.priors, self._sums, self._decay
        cs = self.clearsky_pv_mw[j]
        s[:] = [s[0] * g, s[1] * g, s[2] * g, s[3] * g]
        if cs > p.cs_min_frac * self.capacities.pv_mw:
            k = self.values["pv"][j] / cs
            self.k_pv[j] = k
            s[0] += k
            s[1] += 1.0
            r, a = self._recent, 1.0 - 1.0 / p.k_recent_steps  # EWMA over bright steps
            r[:] = [r[0] * a + k, r[1] * a + 1.0]
        s[2] += self.values["wind"][j] / self.capacities.wind_mw
        s[3] += 1.0
        n0 = self._n0 * 0.4  # about 40 % of the steps are bright enough for an index
        self.k_recent[j] = self._recent[0] / self._recent[1] if self._recent[1] else p.k_pv
        self.k_clim[j] = (n0 * p.k_pv + s[0]) / (n0 + s[1])
        self.wind_clim[j] = (self._n0 * p.wind_cf + s[2]) / (self._n0 + s[3])

    @classmethod
    def of_series(cls, capacities: Capacities, epoch0_s: int, step_s: int,
                  clearsky_pv_mw: np.ndarray, workday: np.ndarray,
                  series: dict[str, np.ndarray], **kwargs: Any) -> History:
        """A history with whole measured series appended (for evaluation and training)."""
        h = cls(capacities, epoch0_s, step_s, clearsky_pv_mw, workday, **kwargs)
        for row in zip(*(np.asarray(series[t], dtype=float) for t in TARGETS), strict=True):
            h.append(*row)
        return h

    def stat(self, name: str, idx: np.ndarray) -> np.ndarray:
        """Running statistic ``name`` at steps ``idx`` (the prior where ``idx`` < 0)."""
        prior = {"k_recent": self.priors.k_pv, "k_clim": self.priors.k_pv,
                 "wind_clim": self.priors.wind_cf}[name]
        idx = np.asarray(idx)
        return np.where(idx >= 0, getattr(self, name)[np.maximum(idx, 0)], prior)

    def local_time(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fraction of the local day and of the year (0..1) at the start of steps ``idx``."""
        local_s = self.epoch0_s + self.utc_offset_s + np.asarray(idx, dtype=float) * self.step_s
        return (local_s % DAY_S) / DAY_S, (local_s / DAY_S % 365.2425) / 365.2425


def _check(history: History, origins: np.ndarray, n: int) -> np.ndarray:
    origins = np.atleast_1d(np.asarray(origins, dtype=np.int64))
    if n < 1:
        raise ValueError(f"forecast: n must be >= 1, got {n}")
    if origins.size and (origins.max() > history.i or origins.min() < -1):
        raise ValueError(f"forecast: origins must lie in -1 .. {history.i} (the history)")
    if origins.size and origins.max() + n >= history.n:
        raise ValueError(f"forecast: step {origins.max() + n} is beyond the clear-sky and "
                         f"workday data (steps 0 .. {history.n - 1})")
    return origins


class Forecaster:
    """Base of the forecasters: :meth:`forecast` for the EMS, :meth:`forecast_many` for
    evaluation; subclasses implement ``_raw`` (vectorised over origins)."""

    name = "forecaster"

    def forecast(self, history: History, n: int) -> dict[str, np.ndarray]:
        """MW for steps ``i+1 .. i+n`` for each of :data:`TARGETS` (never NaN or negative)."""
        out = self.forecast_many(history, np.array([history.i]), n)
        return {t: v[0] for t, v in out.items()}

    def forecast_many(self, history: History, origins: np.ndarray,
                      n: int) -> dict[str, np.ndarray]:
        """Forecasts made at each of ``origins`` (steps <= ``history.i``), shape (m, n)."""
        origins = _check(history, origins, n)
        raw = self._raw(history, origins, n)
        ahead = origins[:, None] + np.arange(1, n + 1)
        cs = history.clearsky_pv_mw[ahead]
        caps = history.capacities
        out = {t: np.where(np.isfinite(raw[t]) & (raw[t] > 0), raw[t], 0.0) for t in TARGETS}
        out["pv"] = np.where(cs > 0, np.minimum(out["pv"], caps.pv_mw), 0.0)
        out["wind"] = np.minimum(out["wind"], caps.wind_mw)
        if "wind_low" in raw:  # a low outcome of the wind, where the forecaster gives one
            out["wind_low"] = np.clip(np.nan_to_num(raw["wind_low"]), 0.0, out["wind"])
        return out

    def _raw(self, history: History, origins: np.ndarray, n: int) -> dict[str, np.ndarray]:
        raise NotImplementedError


def _last(history: History, target: str, origins: np.ndarray) -> np.ndarray:
    """Value at each origin (NaN for origin -1)."""
    v = history.values[target][np.maximum(origins, 0)]
    return np.where(origins >= 0, v, np.nan)


def _climate(history: History, origins: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The running climatology at each origin for steps ahead: k x clear sky, mean wind, load."""
    ahead = origins[:, None] + np.arange(1, n + 1)
    caps = history.capacities
    return {"pv": history.stat("k_clim", origins)[:, None] * history.clearsky_pv_mw[ahead],
            "wind": np.broadcast_to(history.stat("wind_clim", origins)[:, None] * caps.wind_mw,
                                    ahead.shape),
            "load": np.full(ahead.shape, history.priors.load_frac * caps.load_mw)}


class Persistence(Forecaster):
    """The last value held (PV 0 where the clear sky is dark); the priors with no history."""

    name = "persistence"

    def _raw(self, history: History, origins: np.ndarray, n: int) -> dict[str, np.ndarray]:
        clim = _climate(history, origins, n)
        return {t: np.where(np.isnan(last := _last(history, t, origins))[:, None], clim[t],
                            last[:, None]) for t in TARGETS}


@dataclass(frozen=True)
class SmartPersistence(Forecaster):
    """Clear-sky-index persistence for PV, persistence for wind, same-kind-day for load, each
    decaying toward climatology (e-folding times in s; defaults tuned on the training year).

    The clear-sky index now is the mean of the last ``k_window`` steps bright enough
    (:attr:`Priors.cs_min_frac`); where none is (night, sunrise) the recent EWMA of the index
    is used. Load for step t: the value at the same time on the latest past day of t's kind
    (working day or not, within ``history.max_lag``), plus the offset between the last value
    and its own reference, decaying with ``tau_load_s``.
    """

    name: str = "smart-persistence"
    tau_pv_s: float = 8 * 3600.0
    tau_wind_s: float = 8 * 3600.0
    tau_load_s: float = 8 * 3600.0
    k_window: int = 4
    k_max: float = 1.5

    def _raw(self, history: History, origins: np.ndarray, n: int) -> dict[str, np.ndarray]:
        h_s = np.arange(1, n + 1) * float(history.step_s)
        ahead = origins[:, None] + np.arange(1, n + 1)
        clim = _climate(history, origins, n)
        # PV: clear-sky index
        window = origins[:, None] - np.arange(self.k_window)[None, :]
        k = np.where(window >= 0, history.k_pv[np.maximum(window, 0)], np.nan)
        count = np.sum(~np.isnan(k), axis=1)
        k_now = np.where(count > 0, np.nansum(k, axis=1) / np.maximum(count, 1),
                         history.stat("k_recent", origins))
        k_now = np.clip(k_now, 0.0, self.k_max)[:, None]
        k_clim = history.stat("k_clim", origins)[:, None]
        k_h = k_clim + (k_now - k_clim) * np.exp(-h_s / self.tau_pv_s)
        pv = k_h * history.clearsky_pv_mw[ahead]
        # wind: persistence toward the mean capacity factor
        w_last = _last(history, "wind", origins)[:, None]
        wind = clim["wind"] + (w_last - clim["wind"]) * np.exp(-h_s / self.tau_wind_s)
        wind = np.where(np.isnan(w_last), clim["wind"], wind)
        return {"pv": pv, "wind": wind, "load": self._load(history, origins, ahead, h_s)}

    def _load(self, history: History, origins: np.ndarray, ahead: np.ndarray,
              h_s: np.ndarray) -> np.ndarray:
        load = history.values["load"]
        last = _last(history, "load", origins)[:, None]
        ref_t = reference_steps(history, ahead, origins[:, None])
        ref_i = reference_steps(history, origins[:, None], origins[:, None])
        offset = last - np.where(ref_i >= 0, load[np.maximum(ref_i, 0)], np.nan)
        fc = load[np.maximum(ref_t, 0)] + offset * np.exp(-h_s / self.tau_load_s)
        ok = (ref_t >= 0) & (ref_i >= 0)
        fc = np.where(ok, fc, last)
        return np.where(np.isnan(last), history.priors.load_frac * history.capacities.load_mw, fc)


def reference_steps(history: History, t: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """For steps ``t`` seen from ``origin`` (<= t): the same time on the latest day at or
    before ``origin`` of the same kind as t's day (working day or not), at most ``max_lag``
    back; else the same time on the latest day before ``origin``; -1 if there is none."""
    spd = history.steps_per_day
    t, origin = np.broadcast_arrays(np.asarray(t), np.asarray(origin))
    d_min = np.maximum(1, -(-(t - origin) // spd))
    days = np.arange(1, history.max_lag // spd + 1)
    cand = t[..., None] - days * spd
    ok = ((days >= d_min[..., None]) & (cand >= 0)
          & (history.workday[np.maximum(cand, 0)] == history.workday[t][..., None]))
    first = np.take_along_axis(cand, ok.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    ref = np.where(ok.any(axis=-1), first, -1)
    fallback = t - d_min * spd
    return np.where((ref < 0) & (fallback >= 0), fallback, ref)


# --- wind from a weather model -------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class NWPPower:
    """Wind power (MW, park total) and clear-sky index of the GHI of each NWP run on the steps
    of a :class:`History`.

    Run ``j`` is available at the end of step ``avail_step[j]`` and on; ``mw[j, k]`` and
    ``k_ghi[j, k]`` (NaN while the clear sky is dark; None: not given) are its forecasts of
    step ``first_step[j] + k`` (steps counted from ``History.epoch0_s``); ``mw_low[j, k]``
    (None: not given) a low outcome of the wind power, at a quantile of the run's error.
    """

    first_step: np.ndarray
    avail_step: np.ndarray
    mw: np.ndarray
    k_ghi: np.ndarray | None = None
    mw_low: np.ndarray | None = None

    def at(self, origins: np.ndarray, steps: np.ndarray, values: np.ndarray | None = None
           ) -> np.ndarray:
        """The forecast of ``steps`` (m, n) by the latest run available at each origin (m,):
        of the wind power, or of ``values`` (e.g. ``k_ghi``)."""
        values = self.mw if values is None else values
        j = np.maximum(np.searchsorted(self.avail_step, origins, side="right") - 1, 0)[:, None]
        k = np.clip(steps - self.first_step[j], 0, values.shape[1] - 1)
        return values[j, k]


WIND_LOW_QUANTILE = 0.3  # the low wind outcome: this quantile of the NWP's speed error


def nwp_wind_mw(nwp: Any, wind_farms: Sequence[Any], epoch0_s: int, step_s: int,
                wind_height_m: float, roughness_m: float, temp_air_c: float = 8.0,
                pressure_pa: float = 100_500.0,
                site: tuple[float, float, float] | None = None,
                low_quantile: float | None = None) -> NWPPower:
    """:class:`NWPPower` of ``nwp`` (:class:`twin.models.weather_nwp.NWPForecast`, on the
    History's step grid) through the farms' power curves and losses
    (:func:`twin.models.wind.wind_power`), at a fixed air temperature and pressure (defaults:
    Shenyang's annual means, the density correction being small). Given the ``site``
    (latitude, longitude, altitude), also the clear-sky index of the runs' GHI. The low
    outcome ``mw_low``: the speeds less the ``low_quantile`` (default
    :data:`WIND_LOW_QUANTILE`) of a normal error whose standard deviation grows with lead
    time as the weather model's (``twin/data/nwp.yaml``)."""
    if int(nwp.step_s) != int(step_s):
        raise ValueError(f"nwp_wind_mw: NWP step {nwp.step_s} s, history step {step_s} s")
    q = WIND_LOW_QUANTILE if low_quantile is None else float(low_quantile)
    if not 0 < q < 1:
        raise ValueError(f"nwp_wind_mw: low_quantile must be in (0, 1), got {q}")
    lead_h = np.arange(nwp.wind_ms.shape[1]) * int(step_s) / 3600.0
    low_ms = np.maximum(nwp.wind_ms + statistics.NormalDist().inv_cdf(q)
                        * nwp_config().wind_sigma(lead_h)[None, :], 0.0)
    mw, mw_low = np.zeros(nwp.wind_ms.shape), np.zeros(nwp.wind_ms.shape)
    for farm in wind_farms:
        for out, ms in ((mw, nwp.wind_ms), (mw_low, low_ms)):
            out += wind_power(farm, power_curve(farm.turbine_type), ms, wind_height_m,
                              roughness_m, temp_air_c, pressure_pa).p_mw
    first = (np.asarray(nwp.issue_epoch_s) - int(epoch0_s)) // int(step_s)
    # available at the end of the step in which it arrives (the end of step i is (i+1) steps)
    avail = -(-(np.asarray(nwp.available_epoch_s) - int(epoch0_s)) // int(step_s)) - 1
    k_ghi = None
    if site is not None:
        n_lead = nwp.ghi_w_m2.shape[1]
        grid = int(nwp.issue_epoch_s[0]) + int(step_s) * np.arange(
            (int(nwp.issue_epoch_s[-1]) - int(nwp.issue_epoch_s[0])) // int(step_s) + n_lead)
        cs = clearsky(grid, int(step_s), *site)[0]
        cs = cs[(first - first[0])[:, None] + np.arange(n_lead)[None, :]]
        k_ghi = np.where(cs > 0, nwp.ghi_w_m2 / np.where(cs > 0, cs, 1.0), np.nan)
    return NWPPower(first_step=first, avail_step=avail, mw=mw, k_ghi=k_ghi,
                    mw_low=np.minimum(mw_low, mw))


@dataclass(frozen=True)
class NWPWind(Forecaster):
    """Wind from the latest NWP run available at the origin, plus the run's current error
    (measured minus NWP power, mean of the last ``error_steps``) decaying with ``tau_s``.
    PV, where the runs give the GHI's clear-sky index: ``base``'s PV blended into clear-sky PV
    x the run's index, ``base`` weighing exp(-h / ``tau_pv_s``) at h ahead. Load (and PV
    without GHI) from ``base`` (smart persistence, or the learned model). Where the runs give
    a low outcome (:attr:`NWPPower.mw_low`), also ``wind_low``: the forecast less the run's
    spread at h ahead times 1 - exp(-h / ``tau_s``) (near the origin the measured error
    holds the forecast).

    ``tau_s`` = 8 h gave the lowest wind RMSE over horizons 1..96 of 1, 2, 3, 4, 6, 8 and 12 h
    on 8 synthetic weeks of seed 1; ``tau_pv_s`` = 8 h the lowest PV RMSE over horizons 1..96
    of 0.5, 1, 2, 3, 4, 6, 8, 12 and 24 h on 4 weeks of the reference park with seed 1 (6 h
    was within 0.3 %; tests evaluate other seeds)."""

    power: NWPPower
    base: Forecaster = field(default_factory=SmartPersistence)
    tau_s: float = 8 * 3600.0
    tau_pv_s: float = 8 * 3600.0
    error_steps: int = 4
    k_max: float = 1.5
    name: str = "nwp"

    def _raw(self, history: History, origins: np.ndarray, n: int) -> dict[str, np.ndarray]:
        out = dict(self.base._raw(history, origins, n))
        ahead = origins[:, None] + np.arange(1, n + 1)
        past = origins[:, None] - np.arange(self.error_steps)[None, :]
        measured = history.values["wind"][np.maximum(past, 0)]
        err = np.where(past >= 0, measured - self.power.at(origins, past), np.nan)
        count = np.sum(~np.isnan(err), axis=1)
        offset = np.where(count > 0, np.nansum(err, axis=1) / np.maximum(count, 1), 0.0)
        h_s = np.arange(1, n + 1) * float(history.step_s)
        run = self.power.at(origins, ahead)
        out["wind"] = run + offset[:, None] * np.exp(-h_s / self.tau_s)[None, :]
        if self.power.mw_low is not None:  # the low outcome: as far below, the run's spread
            gap = run - self.power.at(origins, ahead, self.power.mw_low)  # ... growing as
            # the measured error's correction fades
            out["wind_low"] = out["wind"] - gap * (1.0 - np.exp(-h_s / self.tau_s))[None, :]
        if self.power.k_ghi is not None:
            k = np.clip(self.power.at(origins, ahead, self.power.k_ghi), 0.0, self.k_max)
            nwp_pv = np.where(np.isnan(k), out["pv"], k * history.clearsky_pv_mw[ahead])
            w = np.exp(-h_s / self.tau_pv_s)[None, :]
            out["pv"] = w * out["pv"] + (1.0 - w) * nwp_pv
        return out


# --- the learned model ---------------------------------------------------------------------

def input_layout(target: str) -> list[tuple[str, int]]:
    """Blocks of the learned model's inputs for ``target``: (name, width), in order."""
    n = HORIZON
    blocks = [("past", n), ("smart", n), ("clearsky_past", n), ("clearsky_next", n),
              ("time", 4), ("workday", 3)]
    extra = {"pv": [("k_past", n), ("k_stats", 2)], "wind": [("wind_clim", 1)],
             "load": [("load_day_ago", n)]}
    return blocks + extra[target]


def learned_inputs(history: History, origins: np.ndarray, target: str,
                   smart: np.ndarray) -> np.ndarray:
    """Inputs of the learned model at ``origins`` (each >= HORIZON - 1), shape (m, n_inputs).

    Powers are divided by the target's capacity (clear sky by the PV capacity); ``smart`` is
    SmartPersistence's forecast (m, HORIZON) in MW.
    """
    n, caps = HORIZON, history.capacities
    o = np.asarray(origins, dtype=np.int64)[:, None]
    past, nxt = o - np.arange(n - 1, -1, -1), o + np.arange(1, n + 1)
    cap = caps.of(target)
    values = history.values[target]
    tod, doy = history.local_time(o[:, 0])
    blocks = {
        "past": lambda: values[past] / cap,
        "smart": lambda: smart[:, :n] / cap,
        "clearsky_past": lambda: history.clearsky_pv_mw[past] / caps.pv_mw,
        "clearsky_next": lambda: history.clearsky_pv_mw[nxt] / caps.pv_mw,
        "time": lambda: np.stack([np.sin(2 * np.pi * tod), np.cos(2 * np.pi * tod),
                                  np.sin(2 * np.pi * doy), np.cos(2 * np.pi * doy)], axis=1),
        "workday": lambda: history.workday[np.concatenate(
            [o, o + n, np.maximum(o - history.steps_per_day, 0)], axis=1)],
        "k_past": lambda: np.nan_to_num(np.clip(history.k_pv[past], 0.0, 1.5), nan=0.0),
        "k_stats": lambda: np.stack([history.stat("k_recent", o[:, 0]),
                                     history.stat("k_clim", o[:, 0])], axis=1),
        "wind_clim": lambda: history.stat("wind_clim", o)[:, :1],
        "load_day_ago": lambda: values[np.maximum(nxt - history.steps_per_day, 0)] / cap,
    }
    return np.concatenate([blocks[name]() for name, _ in input_layout(target)], axis=1)


def mlp(x: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Forward pass of a ReLU MLP: ``layers`` are (W (out, in), b (out,)) as in torch.nn.Linear."""
    for k, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if k < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


@dataclass(frozen=True)
class Net:
    """The network of one target: input standardisation, then the MLP; outputs are corrections
    to SmartPersistence for horizons 1..HORIZON, in units of the target's capacity."""

    x_mean: np.ndarray
    x_std: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Corrections (m, HORIZON) for raw inputs ``x`` (m, n_inputs)."""
        return mlp((x - self.x_mean) / self.x_std, self.layers)


@dataclass(frozen=True)
class Learned(Forecaster):
    """SmartPersistence corrected by a small network per target, where it has validation skill.

    ``skill[target][h-1]`` is 1 - RMSE / RMSE(SmartPersistence) on the validation year; the
    correction is used only where it is > ``min_skill``. Beyond HORIZON the correction of the
    last horizon fades linearly to 0 over ``fade_steps``. Needs a day of history (as in
    training), else it is SmartPersistence.
    """

    nets: dict[str, Net]
    skill: dict[str, np.ndarray]
    smart: SmartPersistence = field(default_factory=SmartPersistence)
    meta: dict[str, Any] = field(default_factory=dict)
    fade_steps: int = HORIZON
    min_skill: float = 0.0
    name: str = "learned"

    def _raw(self, history: History, origins: np.ndarray, n: int) -> dict[str, np.ndarray]:
        m = max(n, HORIZON)
        if origins.size and origins.max() + m >= history.n:  # no room for HORIZON steps
            return self.smart.forecast_many(history, origins, n)
        sp = self.smart.forecast_many(history, origins, m)
        ok = origins >= max(HORIZON - 1, history.steps_per_day)
        out = {t: v.copy() for t, v in sp.items()}
        fade = np.clip(1.0 - (np.arange(HORIZON + 1, m + 1) - HORIZON) / self.fade_steps, 0, 1)
        for target, net in self.nets.items():
            use = np.asarray(self.skill[target]) > self.min_skill
            if not use.any() or not ok.any():
                continue
            x = learned_inputs(history, origins[ok], target, sp[target][ok])
            corr = net(x) * history.capacities.of(target) * use
            out[target][ok, :HORIZON] += corr
            out[target][ok, HORIZON:] += corr[:, -1:] * fade
        return {t: v[:, :n] for t, v in out.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Learned:
        """The model from its weights (``<target>.x_mean``, ``.x_std``, ``.W<k>``, ``.b<k>``)
        and meta (``skill``, ``smart_persistence`` parameters)."""
        nets = {}
        for t in meta["targets"]:
            n_layers = sum(1 for key in arrays if key.startswith(f"{t}.W"))
            layers = tuple((np.asarray(arrays[f"{t}.W{k}"], dtype=float),
                            np.asarray(arrays[f"{t}.b{k}"], dtype=float))
                           for k in range(n_layers))
            nets[t] = Net(np.asarray(arrays[f"{t}.x_mean"], dtype=float),
                          np.asarray(arrays[f"{t}.x_std"], dtype=float), layers)
        skill = {t: np.asarray(meta["skill"][t], dtype=float) for t in nets}
        return cls(nets=nets, skill=skill, smart=SmartPersistence(**meta["smart_persistence"]),
                   meta=meta)


def load_learned(path: str | Path | None = None) -> Learned:
    """The learned forecaster from ``forecast.npz`` + ``forecast.json`` in folder ``path``
    (or the .npz file itself); default: the shipped weights in ``twin/data/forecast/``."""
    p = Path(path) if path is not None else DATA_DIR
    npz = p if p.suffix == ".npz" else p / "forecast.npz"
    meta = json.loads(npz.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    return Learned.from_arrays(arrays, meta)


# --- what is known in advance ---------------------------------------------------------------

def clearsky_pv_mw(pv_specs: Sequence[PVSpec], latitude: float, longitude: float,
                   altitude_m: float, epoch_s: np.ndarray, step_s: int) -> np.ndarray:
    """Clear-sky AC power of the park's PV plants (MW, summed) for steps starting at
    ``epoch_s`` (UTC s): Ineichen clear sky (:func:`twin.models.weather.clearsky`) through each
    plant's PVWatts chain (:func:`twin.models.pv.pv_power`) at NOCT air temperature and wind."""
    epoch = np.asarray(epoch_s, dtype=np.int64)
    ghi, dni, zenith = clearsky(epoch, step_s, latitude, longitude, altitude_m)
    dhi = np.maximum(ghi - dni * np.cos(np.radians(zenith)), 0.0)
    sun = sun_position(epoch, latitude, longitude, altitude_m, dt_s=step_s)
    total = np.zeros(len(epoch))
    for spec in pv_specs:
        total += pv_power(spec, sun, ghi, dni, dhi, NOCT_AIR_C, NOCT_WIND_MS).p_mw
    return total


def workday_flags(epoch_s: np.ndarray, timezone: str = "Asia/Shanghai") -> np.ndarray:
    """1.0 for steps on working days of the park calendar, 0.0 on weekends, holidays and the
    Spring Festival shutdown (default window), per step starting at ``epoch_s`` (UTC s)."""
    epoch = np.asarray(epoch_s, dtype=np.int64)
    years = {int(str(np.datetime64(int(s), "s").astype("datetime64[Y]"))) for s in
             (epoch.min(), epoch.max())} if epoch.size else {2027}
    cal = ParkCalendar(timezone, years=range(min(years), max(years) + 1))
    local_day = (epoch + np.array([cal.utc_offset_s(int(s)) for s in epoch])) // DAY_S
    days, inverse = np.unique(local_day, return_inverse=True)
    codes = np.array([cal.day_code(int(d)) for d in days])
    return (codes[inverse] == WORKDAY).astype(float)


def park_history(pv_plants: Sequence[PVSpec], wind_farms: Sequence[Any],
                 factory_loads: Sequence[Any], latitude: float, longitude: float,
                 altitude_m: float, timezone: str, start_epoch_s: int, n_steps: int,
                 step_s: int, margin_steps: int = 192, **kwargs: Any) -> History:
    """An empty :class:`History` for a park run of ``n_steps`` from ``start_epoch_s``, with
    clear-sky PV and working days for the run plus ``margin_steps``."""
    epoch = int(start_epoch_s) + int(step_s) * np.arange(n_steps + margin_steps, dtype=np.int64)
    cal = ParkCalendar(timezone, years=[int(str(np.datetime64(int(epoch[0]), "s")
                                                .astype("datetime64[Y]")))])
    return History(park_capacities(pv_plants, wind_farms, factory_loads), int(start_epoch_s),
                   int(step_s), clearsky_pv_mw(pv_plants, latitude, longitude, altitude_m,
                                               epoch, step_s),
                   workday_flags(epoch, timezone), utc_offset_s=cal.utc_offset_s(int(epoch[0])),
                   **kwargs)
