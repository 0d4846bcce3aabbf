"""Site weather: a synthetic typical year, and mapping of a typical year onto a scenario period.

``epoch_s`` is UTC seconds at the start of each interval; every value is the mean over
``[t, t + step_s)`` (docs/CONTRACT.md).

:func:`synthetic_year` (calibration in :class:`SiteClimate`, ``twin/data/site_<site>.yaml``):

* Sky: every local solar day is clear, mixed or overcast, a Markov chain (keep yesterday's type
  with probability ``day_type_persistence``, else draw from the month's probabilities, which
  reproduce the sourced monthly sunshine fraction). Days get a daily clear-sky index; each month
  is scaled to its expected index and each calendar year to ``ghi_annual_kwh_m2`` (a typical
  year, like a TMY). An AR(1) moves the step index about the daily one, each day keeping its
  energy. GHI = index x Ineichen clear sky (pvlib, Linke turbidity climatology, offline); the
  Erbs split gives DNI/DHI with ``GHI = DHI + DNI cos(zenith)`` at the interval midpoint.
* Temperature: smooth seasonal curve with the monthly normals as monthly means, AR(1) day-to-day
  anomalies with zero monthly means, and a diurnal cycle from a minimum at sunrise to a maximum at
  ``temp_max_hour_solar_h`` whose range shrinks on cloudy days.
* Wind: Gaussian AR(1) mapped to Weibull, mean following monthly factors and a mild daily cycle.
* Pressure: mean, annual cycle and AR(1) synoptic anomalies.

Day-level weather (day types, daily index, temperature anomalies) comes from per-year streams
``generator(seed, f"{name}:sky:{year}")`` etc., so a day does not depend on the window asked for;
sub-daily noise, wind and pressure anomalies are drawn for the window.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np
import pandas as pd
import pvlib
from scipy.interpolate import CubicSpline, PchipInterpolator
from scipy.special import log_ndtr

from twin import data
from twin.core.fields import param
from twin.core.quantities import Quantity, names
from twin.core.rng import generator

DAY_S = 86_400
YEAR_S = 365 * DAY_S
_SUBSAMPLE_S = 900  # clear sky is averaged from sub-samples at most this far apart


def _ar1(noise: np.ndarray, phi: float) -> np.ndarray:
    """Stationary unit-variance AR(1) driven by standard normal ``noise`` (first value = start),
    along its last axis (each row of a 2-D ``noise`` a series of its own)."""
    drive = noise * math.sqrt(max(1.0 - phi * phi, 0.0))
    drive[..., 0] = noise[..., 0]
    # y[n] = drive[n] + phi y[n-1]: scipy.signal.lfilter([1], [1, -phi], drive) bit for bit,
    # without importing scipy.signal (a second of a run's start)
    if drive.ndim == 1:
        return np.fromiter(itertools.accumulate(drive.tolist(), lambda y, x: x + phi * y),
                           float, len(drive))
    for k in range(1, drive.shape[-1]):  # the rows side by side
        drive[..., k] += phi * drive[..., k - 1]
    return drive


@dataclass(frozen=True)
class SiteClimate:
    """Calibration of the synthetic weather year (values and sources in twin/data/site_<site>.yaml).

    Monthly tuples run January..December; per-day-type tuples run (clear, mixed, overcast).
    """

    name: str = param(doc="site name")
    latitude_deg: float = param("deg", doc="site latitude", ge=-90, le=90)
    longitude_deg: float = param("deg", doc="site longitude", ge=-180, le=180)
    elevation_m: float = param("m", doc="site elevation above sea level")
    timezone: str = param(doc="IANA time zone of the local calendar")
    temp_monthly_mean_c: tuple[float, ...] = param("degC", doc="monthly mean air temperature")
    temp_diurnal_range_c: tuple[float, ...] = param("degC", doc="mean daily max minus daily min")
    temp_max_hour_solar_h: float = param("h", doc="solar hour of the daily maximum", gt=12, lt=20)
    temp_anomaly_std_c: tuple[float, ...] = param("degC", doc="std of daily mean anomalies")
    temp_anomaly_autocorr_1d: float = param("1", doc="lag-1-day autocorrelation", ge=0, lt=1)
    temp_cloud_range_sensitivity: float = param("1", doc="diurnal range change per unit kc", ge=0)
    ghi_annual_kwh_m2: float = param("kWh/m2/yr", doc="annual global horizontal irradiation", gt=0)
    sunshine_fraction_monthly: tuple[float, ...] = param("1", doc="fraction of possible sunshine")
    day_sunshine_fraction: tuple[float, ...] = param("1", doc="sunshine fraction per day type")
    day_prob_mixed: float = param("1", doc="probability of a mixed day", ge=0, le=1)
    day_type_persistence: float = param("1", doc="probability of repeating yesterday", ge=0, lt=1)
    kc_day_mean: tuple[float, ...] = param("1", doc="mean daily clear-sky index per day type")
    kc_day_std: tuple[float, ...] = param("1", doc="std of the daily clear-sky index per type")
    kc_intraday_std: tuple[float, ...] = param("1", doc="std of the step index about the day")
    kc_intraday_tau_s: float = param("s", doc="decorrelation time of the step index", gt=0)
    kc_max: float = param("1", doc="largest step clear-sky index (cloud enhancement)", ge=1)
    kc_min: float = param("1", doc="smallest step clear-sky index", ge=0)
    wind_mean_ms: float = param("m/s", doc="annual mean wind speed at wind_height_m", gt=0)
    wind_height_m: float = param("m", doc="height of the synthetic wind", gt=0)
    wind_weibull_k: float = param("1", doc="Weibull shape of the wind at fixed season/hour", gt=0)
    wind_autocorr_time_s: float = param("s", doc="e-folding time of wind anomalies", gt=0)
    wind_monthly_factor: tuple[float, ...] = param("1", doc="relative monthly mean wind")
    wind_diurnal_amplitude: float = param("1", doc="relative amplitude of the daily cycle", ge=0)
    wind_diurnal_peak_hour_solar_h: float = param("h", doc="solar hour of the windiest time")
    met_wind_height_m: float = param("m", doc="wind height assumed for weather files", gt=0)
    roughness_m: float = param("m", doc="surface roughness length", gt=0)
    pressure_mean_pa: float = param("Pa", doc="mean station pressure", gt=0)
    pressure_seasonal_amplitude_pa: float = param("Pa", doc="amplitude of the annual cycle", ge=0)
    pressure_peak_day_of_year: float = param("d", doc="day of year of the pressure maximum")
    pressure_anomaly_std_pa: float = param("Pa", doc="std of synoptic anomalies", ge=0)
    pressure_autocorr_time_s: float = param("s", doc="e-folding time of anomalies", gt=0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if str(f.type).startswith("tuple"):
                value = tuple(float(v) for v in getattr(self, f.name))
                want = 3 if f.name.startswith(("kc_", "day_")) else 12  # per day type / month
                if len(value) != want:
                    raise ValueError(f"SiteClimate.{f.name}: expected {want} values, "
                                     f"got {len(value)}")
                object.__setattr__(self, f.name, value)
        if self.kc_min >= self.kc_max:
            raise ValueError("SiteClimate: kc_min must be below kc_max")
        s_c, _, s_o = self.day_sunshine_fraction
        if not s_c > s_o:
            raise ValueError("SiteClimate.day_sunshine_fraction: clear must exceed overcast")


def site_climate(site: str = "shenyang") -> SiteClimate:
    """Return the :class:`SiteClimate` of ``twin/data/site_<site>.yaml``."""
    values = data.load(f"site_{site}")
    names = {f.name for f in dataclasses.fields(SiteClimate)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise data.DataError(f"twin/data/site_{site}.yaml: unknown keys {unknown}")
    return SiteClimate(**values)


def day_type_probabilities(climate: SiteClimate) -> np.ndarray:
    """Monthly probabilities of (clear, mixed, overcast) days, shape (12, 3).

    Chosen so that the expected sunshine fraction of a day equals the month's sourced
    ``sunshine_fraction_monthly`` given ``day_sunshine_fraction`` per type and a fixed
    ``day_prob_mixed``.
    """
    s_c, s_m, s_o = climate.day_sunshine_fraction
    p_m = climate.day_prob_mixed
    s = np.asarray(climate.sunshine_fraction_monthly)
    p_c = np.clip((s - s_m * p_m - s_o * (1.0 - p_m)) / (s_c - s_o), 0.0, 1.0 - p_m)
    return np.column_stack([p_c, np.full(12, p_m), 1.0 - p_m - p_c])


# What the weather gives each step (every model that reads the weather picks its inputs here).
SERIES = (  # means over the step, one value per step
    Quantity("ghi_w_m2", "W/m2", "global horizontal irradiance"),
    Quantity("dni_w_m2", "W/m2", "direct normal irradiance"),
    Quantity("dhi_w_m2", "W/m2", "diffuse horizontal irradiance"),
    Quantity("temp_air_c", "degC", "air temperature"),
    Quantity("wind_ms", "m/s", "wind speed at wind_height_m"),
    Quantity("pressure_pa", "Pa", "air pressure"),
)
SITE = (  # constants of the weather source, handed out with every step
    Quantity("wind_height_m", "m", "height of the wind speed above ground"),
    Quantity("roughness_m", "m", "surface roughness length"),
)
OUTPUTS = SERIES + SITE


@dataclass(frozen=True, eq=False)
class WeatherSeries:
    """Weather on a regular time grid; each value is the mean over ``[t, t + step_s)``.

    ``epoch_s`` (int64, UTC s, interval starts); irradiance ``ghi_w_m2``, ``dni_w_m2``,
    ``dhi_w_m2`` (W/m2); ``temp_air_c`` (degC); ``wind_ms`` (m/s at ``wind_height_m`` m above
    ground); ``pressure_pa`` (station pressure, Pa); ``roughness_m`` (roughness length for height
    extrapolation, m); ``step_s`` (s; 0 = infer from ``epoch_s``, needs two or more values).
    Arrays are stored read-only.
    """

    epoch_s: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    temp_air_c: np.ndarray
    wind_ms: np.ndarray
    pressure_pa: np.ndarray
    wind_height_m: float
    roughness_m: float
    step_s: int = field(default=0)

    VARIABLES: ClassVar[tuple[str, ...]] = names(SERIES)
    IRRADIANCE: ClassVar[tuple[str, ...]] = names(q for q in SERIES if q.unit == "W/m2")

    def __post_init__(self) -> None:
        epoch = np.array(self.epoch_s, dtype=np.int64).ravel()
        n = len(epoch)
        if n == 0:
            raise ValueError("WeatherSeries: empty")
        step = int(self.step_s)
        if n > 1:
            diffs = np.diff(epoch)
            if diffs.min() != diffs.max() or diffs[0] <= 0:
                raise ValueError("WeatherSeries: epoch_s must be a regular increasing grid")
            if step and step != diffs[0]:
                raise ValueError(f"WeatherSeries: step_s={step} but epoch_s steps by {diffs[0]}")
            step = int(diffs[0])
        if step <= 0:
            raise ValueError("WeatherSeries: a one-value series needs step_s > 0")
        epoch.setflags(write=False)
        object.__setattr__(self, "epoch_s", epoch)
        object.__setattr__(self, "step_s", step)
        for key in self.VARIABLES:
            arr = np.array(getattr(self, key), dtype=np.float64).ravel()
            if len(arr) != n:
                raise ValueError(f"WeatherSeries.{key}: {len(arr)} values for {n} times")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"WeatherSeries.{key}: contains NaN or infinite values")
            arr.setflags(write=False)
            object.__setattr__(self, key, arr)
        object.__setattr__(self, "wind_height_m", float(self.wind_height_m))
        object.__setattr__(self, "roughness_m", float(self.roughness_m))

    def __len__(self) -> int:
        return len(self.epoch_s)

    def row(self, i: int) -> dict[str, float]:
        """Values of step ``i`` by name (:data:`OUTPUTS`: the series, plus ``wind_height_m`` and
        ``roughness_m``)."""
        out = {key: float(getattr(self, key)[i]) for key in self.VARIABLES}
        out["wind_height_m"] = self.wind_height_m
        out["roughness_m"] = self.roughness_m
        return out


# --- sun ---------------------------------------------------------------------------------------


def _sun_points(points_s: np.ndarray, lat: float, lon: float, elev: float):
    """Clear-sky GHI, DNI (W/m2) and true zenith (deg) at instants ``points_s`` (UTC seconds)."""
    times = pd.DatetimeIndex(pd.to_datetime(np.asarray(points_s, dtype=np.float64), unit="s",
                                            utc=True))
    loc = pvlib.location.Location(lat, lon, tz="UTC", altitude=elev)
    sun = loc.get_solarposition(times)
    cs = loc.get_clearsky(times, model="ineichen", solar_position=sun)
    return cs["ghi"].to_numpy(), cs["dni"].to_numpy(), sun["zenith"].to_numpy()


def clearsky(epoch_s: np.ndarray, step_s: int, latitude: float, longitude: float,
             elevation_m: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval means of Ineichen clear-sky GHI and DNI (W/m2), and midpoint true zenith (deg).

    Means come from an odd number of sub-samples at most 15 min apart; the zenith is the one the
    Erbs split of :func:`synthetic_year` uses (closure ``GHI = DHI + DNI cos(zenith)``).
    """
    epoch = np.asarray(epoch_s, dtype=np.float64)
    k = max(1, math.ceil(step_s / _SUBSAMPLE_S))
    k += 1 - k % 2
    points = epoch[:, None] + ((np.arange(k) + 0.5) * step_s / k)[None, :]
    ghi, dni, zen = (a.reshape(len(epoch), k)
                     for a in _sun_points(points.ravel(), latitude, longitude, elevation_m))
    return ghi.mean(axis=1), dni.mean(axis=1), zen[:, k // 2]


@lru_cache(maxsize=16)
def _daily_clearsky_wh(lat: float, lon: float, elev: float, first_day: int, n_days: int):
    """Clear-sky GHI energy (Wh/m2) of local solar days ``first_day .. first_day + n_days``."""
    t0 = first_day * DAY_S - lon * 240.0
    points = t0 + (np.arange(n_days * 24) + 0.5) * 3600.0
    out = _sun_points(points, lat, lon, elev)[0].reshape(n_days, 24).sum(axis=1)
    out.setflags(write=False)
    return out


def _sunrise_solar_h(day_of_year: np.ndarray, lat: float) -> np.ndarray:
    decl = pvlib.solarposition.declination_spencer71(day_of_year)
    cos_w = np.clip(-np.tan(np.radians(lat)) * np.tan(decl), -0.99, 0.99)
    return 12.0 - np.degrees(np.arccos(cos_w)) / 15.0


# --- calendar ------------------------------------------------------------------------------------


def _year_first_day(year: int) -> int:
    return int((np.datetime64(f"{year:04d}-01-01", "D") - np.datetime64("1970-01-01", "D"))
               .astype(int))


@lru_cache(maxsize=4)
def _month_operators(n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(month index per day, month-mean matrix M (12, n), curve operator P (n, 12)).

    ``P @ m`` is a smooth periodic daily curve (cubic spline through mid-month nodes) whose
    monthly means are exactly ``m``.
    """
    lengths = np.array([31, 29 if n_days == 366 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    edges = np.concatenate([[0], np.cumsum(lengths)])
    month = np.repeat(np.arange(12), lengths)
    mid = (edges[:-1] + edges[1:]) / 2.0
    knots = np.concatenate([mid, [mid[0] + n_days]])
    unit = np.vstack([np.eye(12), np.eye(12)[:1]])
    days = np.arange(n_days) + 0.5
    basis = CubicSpline(knots, unit, bc_type="periodic", axis=0)(
        np.where(days < mid[0], days + n_days, days))
    mean = np.zeros((12, n_days))
    mean[month, np.arange(n_days)] = 1.0 / lengths[month]
    curve = basis @ np.linalg.inv(mean @ basis)
    for arr in (month, mean, curve):
        arr.setflags(write=False)
    return month, mean, curve


# --- synthetic year: day level -------------------------------------------------------------------


def _sky_year(climate: SiteClimate, lat: float, lon: float, year: int, rng) -> dict:
    """Day types, daily clear-sky index and its expected monthly value for one calendar year."""
    first = _year_first_day(year)
    n_days = _year_first_day(year + 1) - first
    month, _, _ = _month_operators(n_days)
    probs = day_type_probabilities(climate)
    cum = np.cumsum(probs[month], axis=1)
    fresh = np.minimum((rng.random(n_days)[:, None] > cum).sum(axis=1), 2)
    keep = rng.random(n_days) < climate.day_type_persistence
    keep[0] = False
    types = fresh[np.maximum.accumulate(np.where(keep, 0, np.arange(n_days)))]
    mean, std = np.asarray(climate.kc_day_mean), np.asarray(climate.kc_day_std)
    kday = np.clip(mean[types] + std[types] * rng.standard_normal(n_days),
                   climate.kc_min, climate.kc_max)
    energy = _daily_clearsky_wh(lat, lon, climate.elevation_m, first, n_days)
    # typical months: rescale the cloudy days so that each month has its expected index
    expected = probs @ mean
    cloudy = types > 0
    clear_part = np.bincount(month, np.where(cloudy, 0.0, kday * energy), 12)
    cloudy_part = np.bincount(month, np.where(cloudy, kday * energy, 0.0), 12)
    want = expected * np.bincount(month, energy, 12)
    ratio = np.clip((want - clear_part) / np.maximum(cloudy_part, 1e-9), 0.6, 1.5)
    kday = np.clip(np.where(cloudy, kday * ratio[month], kday), climate.kc_min, mean[0])
    ratio = np.clip(want / np.bincount(month, kday * energy, 12), 0.8, 1.25)  # rest: all days
    kday = np.clip(kday * ratio[month], climate.kc_min, climate.kc_max)
    target = climate.ghi_annual_kwh_m2 * 1000.0 * n_days / 365.0
    scale = 1.0
    for _ in range(4):  # scale to the annual target; repeat because of the clip
        factor = target / float(kday @ energy)
        scale *= factor
        kday = np.clip(kday * factor, climate.kc_min, climate.kc_max)
    kbar = expected[month] * scale
    return {"types": types, "kday": kday, "kbar": kbar}


def _temp_year(climate: SiteClimate, year: int, rng) -> np.ndarray:
    """Daily mean temperature anomalies (degC) of one year, zero mean in every month."""
    n_days = _year_first_day(year + 1) - _year_first_day(year)
    _, mean, curve = _month_operators(n_days)
    std = curve @ np.asarray(climate.temp_anomaly_std_c)
    anomaly = _ar1(rng.standard_normal(n_days), climate.temp_anomaly_autocorr_1d) * std
    return anomaly - curve @ (mean @ anomaly)


def _day_table(climate: SiteClimate, lat: float, lon: float, seed: int, name: str,
               years: range) -> dict[str, np.ndarray]:
    """Day-level weather for consecutive calendar ``years`` (local solar days)."""
    parts: dict[str, list[np.ndarray]] = {}
    phi = climate.temp_anomaly_autocorr_1d
    prev_end = _temp_year(climate, years[0] - 1, generator(seed, f"{name}:temp:{years[0] - 1}"))
    for year in years:
        n_days = _year_first_day(year + 1) - _year_first_day(year)
        _, _, curve = _month_operators(n_days)
        sky = _sky_year(climate, lat, lon, year, generator(seed, f"{name}:sky:{year}"))
        anomaly = _temp_year(climate, year, generator(seed, f"{name}:temp:{year}"))
        # continue the previous year's last anomaly into January (no jump at New Year), then
        # take the fade's mean out of January with a bump that is zero at both ends
        fade = (prev_end[-1] - anomaly[0]) * phi ** np.arange(31)
        bump = 2.0 * np.sin(np.pi * (np.arange(31) + 0.5) / 31) ** 2
        anomaly[:31] += fade - fade.mean() * bump
        prev_end = anomaly
        doy = np.arange(n_days) + 1.0
        cols = {
            **sky,
            "temp_anomaly": anomaly,
            "temp_season": curve @ np.asarray(climate.temp_monthly_mean_c),
            "temp_range": curve @ np.asarray(climate.temp_diurnal_range_c),
            "wind_season": curve @ (np.asarray(climate.wind_monthly_factor)
                                    / np.mean(climate.wind_monthly_factor)),
            "sunrise_h": _sunrise_solar_h(doy, lat),
            "doy": doy,
        }
        for key, value in cols.items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(value) for key, value in parts.items()}


# --- synthetic year: step level ------------------------------------------------------------------


def _clear_sky_index(climate, days, day_idx, cs_ghi, z) -> np.ndarray:
    """Step clear-sky index: daily value plus AR(1) noise, each day rescaled to its energy."""
    kday = days["kday"][day_idx]
    sigma = np.asarray(climate.kc_intraday_std)[days["types"][day_idx]]
    kc = np.clip(kday + sigma * z, climate.kc_min, climate.kc_max)
    n_days = len(days["kday"])
    want = days["kday"] * np.bincount(day_idx, cs_ghi, minlength=n_days)
    for _ in range(4):  # repeat because of the clip
        num = np.bincount(day_idx, cs_ghi * kc, minlength=n_days)
        ratio = np.where(num > 0, want / np.where(num > 0, num, 1.0), 1.0)
        kc = np.clip(kc * ratio[day_idx], climate.kc_min, climate.kc_max)
    return kc


def _temperature(climate, days, day_f, hour) -> np.ndarray:
    centres = days["_centres"]
    kdev = days["kday"] - days["kbar"]
    gain = np.clip(1.0 + climate.temp_cloud_range_sensitivity * kdev, 0.2, 2.0)
    season = np.interp(day_f, centres, days["temp_season"] + days["temp_anomaly"])
    swing = np.interp(day_f, centres, days["temp_range"] * gain)
    rise_h = days["sunrise_h"][np.floor(day_f).astype(np.int64)]
    peak_h = climate.temp_max_hour_solar_h
    rising = (hour >= rise_h) & (hour < peak_h)
    shape_up = -0.5 * np.cos(np.pi * (hour - rise_h) / (peak_h - rise_h))
    span = 24.0 - (peak_h - rise_h)
    shape_down = 0.5 * np.cos(np.pi * np.mod(hour - peak_h, 24.0) / span)
    return season + swing * np.where(rising, shape_up, shape_down)


def _wind(climate, days, day_f, hour, z) -> np.ndarray:
    season = np.interp(day_f, days["_centres"], days["wind_season"])
    diurnal = 1.0 + climate.wind_diurnal_amplitude * np.cos(
        2.0 * np.pi * (hour - climate.wind_diurnal_peak_hour_solar_h) / 24.0)
    k = climate.wind_weibull_k
    scale = climate.wind_mean_ms * season * diurnal / math.gamma(1.0 + 1.0 / k)
    return scale * (-log_ndtr(-z)) ** (1.0 / k)


def synthetic_year(climate: SiteClimate, latitude: float, longitude: float, start_epoch_s: int,
                   n_steps: int, step_s: int, seed: int, name: str = "weather",
                   anchor_epoch_s: int | None = None) -> WeatherSeries:
    """Synthetic weather for ``n_steps`` intervals of ``step_s`` (1 .. 86,400 s) from
    ``start_epoch_s`` (UTC s) at ``latitude``/``longitude`` (deg, east positive).

    ``climate`` is e.g. ``site_climate("shenyang")``; ``seed`` and ``name`` select the random
    streams (``twin.core.rng.generator``): the same arguments give identical arrays. Returns interval
    means, wind at ``climate.wind_height_m``.

    ``anchor_epoch_s``: the start of a longer period this one lies inside, a whole number of
    steps before ``start_epoch_s``: the random streams start there, so the steps are those of
    the longer period's weather (a run restarted inside a year sees that year's weather).
    """
    if n_steps < 1 or not 0 < step_s <= DAY_S:
        raise ValueError(f"synthetic_year: need n_steps >= 1 and 0 < step_s <= {DAY_S}")
    epoch = int(start_epoch_s) + np.arange(n_steps, dtype=np.int64) * int(step_s)
    anchor = int(start_epoch_s) if anchor_epoch_s is None else int(anchor_epoch_s)
    skip = (int(start_epoch_s) - anchor) // int(step_s)
    if skip < 0 or anchor + skip * int(step_s) != int(start_epoch_s):
        raise ValueError("synthetic_year: the anchor must be a whole number of steps before "
                         "the start")
    if step_s > 3600:  # long steps: average a finer series (the diurnal cycles are not linear)
        k = next(k for k in range(-(-step_s // 900), step_s + 1) if step_s % k == 0)
        fine = synthetic_year(climate, latitude, longitude, start_epoch_s, n_steps * k,
                              step_s // k, seed, name, anchor)
        means = {key: getattr(fine, key).reshape(n_steps, k).mean(axis=1)
                 for key in WeatherSeries.VARIABLES}
        return dataclasses.replace(fine, epoch_s=epoch, step_s=int(step_s), **means)
    solar_day_f = (epoch + step_s / 2.0 + longitude * 240.0) / DAY_S  # local mean solar time
    day_num = np.floor(solar_day_f).astype(np.int64)
    first_year = int(np.datetime64(int(day_num[0]), "D").astype("datetime64[Y]").astype(int))
    last_year = int(np.datetime64(int(day_num[-1]), "D").astype("datetime64[Y]").astype(int))
    years = range(first_year + 1970, last_year + 1971)
    days = _day_table(climate, latitude, longitude, seed, name, years)
    first_day = _year_first_day(years[0])
    day_f = solar_day_f - first_day
    day_idx = day_num - first_day
    days["_centres"] = np.arange(len(days["kday"])) + 0.5
    hour = (solar_day_f - day_num) * 24.0

    def noise(variable: str, tau_s: float) -> np.ndarray:
        # one stream per variable, so that a shorter period is the start of a longer one
        rng = generator(seed, f"{name}:steps:{variable}:{anchor}:{int(step_s)}")
        return _ar1(rng.standard_normal(skip + n_steps), math.exp(-step_s / tau_s))[skip:]

    z_kc = noise("kc", climate.kc_intraday_tau_s)
    z_wind = noise("wind", climate.wind_autocorr_time_s)
    z_p = noise("pressure", climate.pressure_autocorr_time_s)

    cs_ghi, _, zenith = clearsky(epoch, step_s, latitude, longitude, climate.elevation_m)
    ghi = cs_ghi * _clear_sky_index(climate, days, day_idx, cs_ghi, z_kc)
    doy = days["doy"][day_idx]
    split = pvlib.irradiance.erbs(ghi, zenith, doy)

    season = np.cos(2.0 * np.pi * (day_f + 1.0 - climate.pressure_peak_day_of_year) / 365.2425)
    pressure = (climate.pressure_mean_pa + climate.pressure_seasonal_amplitude_pa * season
                + climate.pressure_anomaly_std_pa * z_p)
    return WeatherSeries(
        epoch_s=epoch,
        ghi_w_m2=ghi,
        dni_w_m2=np.asarray(split["dni"]),
        dhi_w_m2=np.asarray(split["dhi"]),
        temp_air_c=_temperature(climate, days, day_f, hour),
        wind_ms=_wind(climate, days, day_f, hour, z_wind),
        pressure_pa=pressure,
        wind_height_m=climate.wind_height_m,
        roughness_m=climate.roughness_m,
        step_s=int(step_s),
    )


# --- resampling ------------------------------------------------------------------------------------


def year_phase_s(epoch_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since 1 January 00:00 UTC on a 365-day calendar, and a Feb-29 mask.

    In leap years 29 February maps onto 28 February (the day repeats) and later days move back
    by one day, so the phase always lies in ``[0, 365 * 86400)``.
    """
    epoch = np.asarray(epoch_s, dtype=np.int64)
    year = (epoch // DAY_S).astype("datetime64[D]").astype("datetime64[Y]")
    sec = epoch - year.astype("datetime64[D]").astype(np.int64) * DAY_S
    year = year.astype(np.int64) + 1970
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    feb29 = leap & (sec >= 59 * DAY_S) & (sec < 60 * DAY_S)
    return sec - np.where(leap & (sec >= 59 * DAY_S), DAY_S, 0), feb29


def _mean_cumulative_pchip(x0, dt, values, a, b) -> np.ndarray:
    """Interval means over [a, b) of a non-negative step series, energy-preserving and smooth.

    A monotone cubic (PCHIP) through the running integral keeps every source interval's energy,
    stays flat (zero) across zero intervals, and never goes negative.
    """
    knots = x0 + np.arange(len(values) + 1) * dt
    running = np.concatenate([[0.0], np.cumsum(np.maximum(values, 0.0) * dt)])
    curve = PchipInterpolator(knots, running, extrapolate=False)
    return np.maximum((curve(b) - curve(a)) / (b - a), 0.0)


def _mean_linear(x0, dt, values, a, b) -> np.ndarray:
    """Interval means over [a, b) of the line through the source interval midpoints."""
    n = len(values)
    xs = np.concatenate([[x0], x0 + (np.arange(n) + 0.5) * dt, [x0 + n * dt]])
    ys = np.concatenate([values[:1], values, values[-1:]])
    slope = np.diff(ys) / np.diff(xs)
    area = np.concatenate([[0.0], np.cumsum((ys[1:] + ys[:-1]) / 2.0 * np.diff(xs))])

    def integral(x: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2)
        dx = x - xs[i]
        return area[i] + ys[i] * dx + 0.5 * slope[i] * dx * dx

    return (integral(b) - integral(a)) / (b - a)


def _coords(starts: np.ndarray, absolute: bool) -> np.ndarray:
    return starts.astype(np.float64) if absolute else year_phase_s(starts)[0].astype(np.float64)


def _source_grid(series: WeatherSeries, starts: np.ndarray, step_s: int):
    """Source coordinates: absolute time when the target lies inside the series, else year phase.

    Returns (x0, order of the source values from x0 on, whether the coordinate is absolute).
    """
    dt, t = series.step_s, series.epoch_s
    if t[0] <= starts[0] and starts[-1] + step_s <= t[-1] + dt:
        return float(t[0]), np.arange(len(t)), True
    phase, feb29 = year_phase_s(t)
    keep = np.flatnonzero(~feb29)
    order = keep[np.argsort(phase[keep], kind="stable")]
    if (len(order) * dt != YEAR_S or np.any(np.diff(phase[order]) != dt)
            or DAY_S % dt != 0):
        raise ValueError(
            "resample: the series neither covers the target period nor is one full year "
            f"({len(t)} steps of {dt} s from epoch {int(t[0])}); a typical year needs "
            f"{YEAR_S // dt} steps (8,760 hourly) without gaps")
    # three copies of the year so that intervals may run across New Year
    x0 = float(phase[order[0]] - YEAR_S)
    return x0, np.concatenate([order, order, order]), False


def _clear_sky_shaped(series, grid, start, n_steps, step_s, loc) -> dict | None:
    """Irradiance spread within each source interval like the clear sky (None if not aligned).

    Needs a target step that divides the source step on the source's grid: each source interval
    then gets exactly its energy, zero where the sun is down, shaped by the clear sky.
    """
    dt = series.step_s
    if dt % step_s or step_s >= dt:
        return None
    r = dt // step_s
    x0, order, absolute = grid
    first = _coords(np.array([start], dtype=np.int64), absolute)[0] - x0
    if first % step_s:
        return None
    pre = int(first % dt) // step_s  # target steps before the window in its first interval
    n_pad = -(-(pre + n_steps) // r) * r
    starts = start - pre * step_s + np.arange(n_pad, dtype=np.int64) * step_s
    a = _coords(starts, absolute)
    src = order[np.floor((a[::r] + step_s / 2 - x0) / dt).astype(np.int64)]
    cs_ghi, cs_dni, _ = clearsky(starts, step_s, *loc)
    out = {}
    for key in WeatherSeries.IRRADIANCE:
        shape = (cs_dni if key == "dni_w_m2" else cs_ghi).reshape(-1, r)
        total = shape.sum(axis=1)
        energy = np.maximum(getattr(series, key)[src], 0.0) * r
        ratio = np.where(total > 0, energy / np.where(total > 0, total, 1.0), 0.0)
        out[key] = (shape * ratio[:, None]).ravel()[pre:pre + n_steps]
    return out


def resample(series: WeatherSeries, start_epoch_s: int, n_steps: int, step_s: int, *,
             latitude: float | None = None, longitude: float | None = None,
             elevation_m: float = 0.0) -> WeatherSeries:
    """Map ``series`` onto ``n_steps`` intervals of ``step_s`` from ``start_epoch_s``.

    If the series covers the target period, values are taken at the same times; otherwise the
    series must be one full (typical) year and is mapped by UTC day of year and time of day
    (wrapping round the year; 29 February repeats 28 February, see :func:`year_phase_s`).

    Irradiance keeps the energy of every source interval. Given the site (``latitude``,
    ``longitude``) and a step that divides the source step, it is spread within each source
    interval like the clear sky (zero while the sun is down); otherwise it is interpolated through
    its running integral with a monotone cubic (zero across zero hours, but the sunrise and sunset
    hours' energy spreads over the whole hour). Temperature, wind and pressure are averaged from
    the line through the source interval midpoints.
    """
    if n_steps < 1 or step_s <= 0:
        raise ValueError("resample: need n_steps >= 1 and step_s > 0")
    start, step_s = int(start_epoch_s), int(step_s)
    starts = start + np.arange(n_steps, dtype=np.int64) * step_s
    grid = _source_grid(series, starts, step_s)
    x0, order, absolute = grid
    a = _coords(starts, absolute)
    out = {}
    if latitude is not None and longitude is not None:
        out = _clear_sky_shaped(series, grid, start, n_steps, step_s,
                                (latitude, longitude, elevation_m)) or {}
    for key in WeatherSeries.VARIABLES:
        if key not in out:
            mean = _mean_cumulative_pchip if key in WeatherSeries.IRRADIANCE else _mean_linear
            out[key] = mean(x0, series.step_s, getattr(series, key)[order], a, a + step_s)
    return WeatherSeries(epoch_s=starts, wind_height_m=series.wind_height_m,
                         roughness_m=series.roughness_m, step_s=step_s, **out)
