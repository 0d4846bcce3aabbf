"""Weather files in and out: EPW and TMY3 (read through pvlib) and the twin's simple CSV.

Every reader returns ``(WeatherSeries, meta)`` in the twin's convention: ``epoch_s`` in UTC at the
start of each interval, each value the mean over ``[t, t + step)``.

Hourly typical-year files (EPW, TMY3) stamp each hour at its END: irradiance is the energy of the
hour before the stamp, temperature, wind and pressure are instants at the stamp. The readers turn
the irradiance stamp into the interval start (one hour earlier) and average the instants at both
ends of the hour. Files that mix years (typical years) are put on the non-leap year
:data:`TYPICAL_YEAR`; :func:`twin.models.weather.resample` then maps them onto any period.

The twin's CSV (:func:`read_csv`, :func:`write_csv`)::

    # wind_height_m = 10
    # roughness_m = 0.1
    time,ghi_w_m2,dni_w_m2,dhi_w_m2,temp_air_c,wind_ms,pressure_pa
    2025-01-01T00:00:00+08:00,0,0,0,-14.2,3.1,102100
    2025-01-01T00:15:00+08:00,0,0,0,-14.3,3.0,102100

* Optional leading ``# key = value`` lines: ``wind_height_m`` and ``roughness_m`` (numbers; default
  the WMO 10 m and the site roughness from ``twin/data/site_shenyang.yaml``), ``altitude_m`` (used
  to fill a missing pressure column); any other key goes into ``meta`` as text.
* ``time``: ISO 8601 start of each interval, with a UTC offset, or naive meaning UTC; the steps
  must be regular. Each row holds the interval mean (interval-start convention).
* ``pressure_pa`` is optional: without it, the standard pressure at ``altitude_m`` (0 m if not
  given) is used and ``meta["pressure_filled"]`` is True.

:func:`read_csv` also accepts a TMY3 CSV (as read by ``pvlib.iotools.read_tmy3``) and tells it by
its header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pvlib

from twin.models.weather import WeatherSeries, site_climate

TYPICAL_YEAR = 2019  # non-leap year that typical-year files are put on

# source column -> (our name, factor to our unit, missing-value marker or None). One per reader.
_EPW_COLUMNS: dict[str, tuple[str, float, float | None]] = {
    "ghi": ("ghi_w_m2", 1.0, 9999.0),
    "dni": ("dni_w_m2", 1.0, 9999.0),
    "dhi": ("dhi_w_m2", 1.0, 9999.0),
    "temp_air": ("temp_air_c", 1.0, 99.9),
    "wind_speed": ("wind_ms", 1.0, 999.0),
    "atmospheric_pressure": ("pressure_pa", 1.0, 999999.0),
}
_TMY3_COLUMNS: dict[str, tuple[str, float, float | None]] = {
    "ghi": ("ghi_w_m2", 1.0, -9900.0),
    "dni": ("dni_w_m2", 1.0, -9900.0),
    "dhi": ("dhi_w_m2", 1.0, -9900.0),
    "temp_air": ("temp_air_c", 1.0, -9900.0),
    "wind_speed": ("wind_ms", 1.0, -9900.0),
    "pressure": ("pressure_pa", 100.0, -9900.0),  # mbar -> Pa
}
_CSV_COLUMNS: dict[str, tuple[str, float, float | None]] = {
    name: (name, 1.0, None) for name in WeatherSeries.VARIABLES
}
_CSV_OPTIONAL = ("pressure_pa",)
_INSTANTS = ("temp_air_c", "wind_ms", "pressure_pa")  # instants at the stamp in hourly files


def _defaults(wind_height_m: float | None, roughness_m: float | None) -> tuple[float, float]:
    climate = site_climate("shenyang")
    return (climate.met_wind_height_m if wind_height_m is None else float(wind_height_m),
            climate.roughness_m if roughness_m is None else float(roughness_m))


def _columns(frame: pd.DataFrame, table: dict, where: str, optional=()) -> tuple[dict, dict]:
    """Our columns from ``frame`` by ``table``; missing markers become gaps filled linearly."""
    missing = [src for src, (ours, _, _) in table.items()
               if src not in frame.columns and ours not in optional]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; expected {list(table)}")
    out, filled = {}, {}
    for src, (ours, factor, marker) in table.items():
        if src not in frame.columns:
            continue
        try:
            values = pd.to_numeric(frame[src], errors="raise").astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: column {src!r} is not numeric ({exc})") from None
        if marker is not None:
            values = values.mask(values == marker)
        n_bad = int(values.isna().sum())
        if n_bad == len(values):
            raise ValueError(f"{where}: column {src!r} has no valid values")
        if n_bad and marker is None:
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise ValueError(f"{where}: column {src!r} has an empty or NaN value (data row {row})")
        if n_bad:
            values = values.interpolate(limit_direction="both")
            filled[ours] = n_bad
        out[ours] = values.to_numpy() * factor
    return out, filled


def _hour_ending(columns: dict, stamp_s: np.ndarray, meta: dict, wind_height_m, roughness_m,
                 where: str) -> tuple[WeatherSeries, dict]:
    """Series from hourly hour-ending data: interval start = stamp - 1 h, instants averaged."""
    epoch = np.asarray(stamp_s, dtype=np.int64) - 3600
    full_year = len(epoch) in (8760, 8784)
    for key in _INSTANTS:
        v = columns[key]
        before = np.concatenate([v[-1:] if full_year else v[:1], v[:-1]])
        columns[key] = (before + v) / 2.0
    for key in WeatherSeries.IRRADIANCE:
        columns[key] = np.maximum(columns[key], 0.0)
    height, rough = _defaults(wind_height_m, roughness_m)
    try:
        series = WeatherSeries(epoch_s=epoch, wind_height_m=height, roughness_m=rough, **columns)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return series, meta


def read_epw(path: str | Path, *, wind_height_m: float | None = None,
             roughness_m: float | None = None) -> tuple[WeatherSeries, dict[str, Any]]:
    """Read an hourly EnergyPlus weather file (EPW) with ``pvlib.iotools.read_epw``.

    Parameters
    ----------
    path : str or Path
        The EPW file.
    wind_height_m, roughness_m : float, optional
        Height of the file's wind (default 10 m, WMO standard) and roughness length (default:
        the site's) (m).

    Returns
    -------
    (WeatherSeries, dict)
        Interval-start hourly series and metadata (``latitude``, ``longitude``, ``altitude_m``,
        ``tz_offset_h``, ``typical_year``, ``filled``, ``source``, the file's own header fields).
    """
    where = f"EPW {path}"
    try:
        frame, head = pvlib.iotools.read_epw(str(path))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{where}: cannot read ({exc})") from None
    columns, filled = _columns(frame, _EPW_COLUMNS, where)
    years = frame["year"].to_numpy()
    typical = len(np.unique(years)) > 1 or len(frame) == 8760 and _is_leap(int(years[0]))
    year = np.full(len(frame), TYPICAL_YEAR) if typical else years
    local = pd.to_datetime({"year": year, "month": frame["month"].to_numpy(),
                            "day": frame["day"].to_numpy(), "hour": frame["hour"].to_numpy() - 1})
    offset_s = round(float(head["TZ"]) * 3600)
    stamp = local.to_numpy().astype("datetime64[s]").astype(np.int64) + 3600 - offset_s
    meta = {**head, "latitude": float(head["latitude"]), "longitude": float(head["longitude"]),
            "altitude_m": float(head["altitude"]), "tz_offset_h": float(head["TZ"]),
            "typical_year": bool(typical), "filled": filled, "source": "epw", "path": str(path)}
    return _hour_ending(columns, stamp, meta, wind_height_m, roughness_m, where)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _read_tmy3(path: Path, wind_height_m, roughness_m) -> tuple[WeatherSeries, dict[str, Any]]:
    where = f"TMY3 {path}"
    try:
        frame, head = pvlib.iotools.read_tmy3(str(path), coerce_year=TYPICAL_YEAR)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{where}: cannot read ({exc})") from None
    columns, filled = _columns(frame, _TMY3_COLUMNS, where)
    stamp = frame.index.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]")
    meta = {**head, "latitude": float(head["latitude"]), "longitude": float(head["longitude"]),
            "altitude_m": float(head["altitude"]), "tz_offset_h": float(head["TZ"]),
            "typical_year": True, "filled": filled, "source": "tmy3", "path": str(path)}
    return _hour_ending(columns, stamp.astype(np.int64), meta, wind_height_m, roughness_m, where)


def _looks_like_tmy3(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as fh:
        first, second = fh.readline(), fh.readline()
    return len(first.split(",")) == 7 and second.startswith("Date (MM/DD/YYYY)")


def _header(path: Path) -> tuple[dict[str, str], int]:
    """Leading ``# key = value`` lines and how many lines they take."""
    info, n = {}, 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
            key, sep, value = line[1:].partition("=")
            if sep:
                info[key.strip()] = value.strip()
    return info, n


#: header keys that are numbers (given to the caller as floats, as the EPW and TMY3 readers do)
_HEADER_NUMBERS = ("wind_height_m", "roughness_m", "latitude", "longitude", "altitude_m")


def _number(info: dict[str, str], key: str, where: str) -> float | None:
    if key not in info:
        return None
    try:
        return float(info[key])
    except ValueError:
        raise ValueError(f"{where}: header {key} = {info[key]!r} is not a number") from None


def read_csv(path: str | Path, *, wind_height_m: float | None = None,
             roughness_m: float | None = None) -> tuple[WeatherSeries, dict[str, Any]]:
    """Read the twin's weather CSV (format in the module docstring) or a TMY3 CSV.

    ``wind_height_m`` and ``roughness_m`` override the file's header and the defaults.
    Raises ValueError naming the file and the problem (missing column, unparsable time, ...).
    """
    path = Path(path)
    if _looks_like_tmy3(path):
        return _read_tmy3(path, wind_height_m, roughness_m)
    where = f"weather CSV {path}"
    info, n_head = _header(path)
    try:
        frame = pd.read_csv(path, skiprows=n_head, skipinitialspace=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where}: cannot read ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if "time" not in frame.columns:
        raise ValueError(f"{where}: missing column 'time'; expected time, {list(_CSV_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{where}: no data rows")
    try:
        times = pd.to_datetime(frame["time"].astype(str).str.strip(), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: column 'time': cannot parse ISO 8601 timestamps ({exc})") \
            from None
    columns, _ = _columns(frame, _CSV_COLUMNS, where, optional=_CSV_OPTIONAL)
    altitude = _number(info, "altitude_m", where)
    filled = "pressure_pa" not in columns
    if filled:
        columns["pressure_pa"] = np.full(len(frame), pvlib.atmosphere.alt2pres(altitude or 0.0))
    height, rough = _defaults(
        _number(info, "wind_height_m", where) if wind_height_m is None else wind_height_m,
        _number(info, "roughness_m", where) if roughness_m is None else roughness_m)
    epoch = times.dt.tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    try:
        series = WeatherSeries(epoch_s=epoch, wind_height_m=height, roughness_m=rough, **columns)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    numbers = {key: _number(info, key, where) for key in _HEADER_NUMBERS if key in info}
    meta = {**info, **numbers, "pressure_filled": filled, "source": "csv", "path": str(path)}
    return series, meta


def write_csv(series: WeatherSeries, path: str | Path, *, meta: dict[str, Any] | None = None,
              timezone: str = "UTC") -> None:
    """Write ``series`` as the twin's weather CSV (times with their UTC offset in ``timezone``)."""
    times = pd.to_datetime(series.epoch_s, unit="s", utc=True).tz_convert(timezone)
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(
        r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)})
    for key in WeatherSeries.VARIABLES:
        frame[key] = getattr(series, key)
    head = {"wind_height_m": series.wind_height_m, "roughness_m": series.roughness_m,
            **(meta or {})}
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        for key, value in head.items():
            fh.write(f"# {key} = {value}\n")
        frame.to_csv(fh, index=False, float_format="%.10g", lineterminator="\n")


# --- checks of a weather file against the park and the period ------------------------------

SITE_TOLERANCE_KM = 50.0      # a file's station this far from the park is another site
NIGHT_GHI_W_M2 = 50.0         # irradiance above this with the sun below the horizon is wrong
NIGHT_SHARE = 0.02            # tolerated share of such intervals among the sunny ones
# Physical bounds of each column: a value outside is a unit or column mistake (kelvin for
# degC, hPa for Pa). Records: -89.2 degC (Vostok), 56.7 degC (Death Valley); the solar constant
# 1361 W/m2 bounds GHI and DNI with margin; pressure at 9000 m is about 30,000 Pa.
PHYSICAL = {"temp_air_c": (-90.0, 60.0, "degC"), "ghi_w_m2": (0.0, 1500.0, "W/m2"),
            "dni_w_m2": (0.0, 1500.0, "W/m2"), "dhi_w_m2": (0.0, 1000.0, "W/m2"),
            "wind_ms": (0.0, 80.0, "m/s"), "pressure_pa": (30000.0, 110000.0, "Pa")}


def sun_elevation_deg(epoch_s: np.ndarray, latitude: float, longitude: float) -> np.ndarray:
    """Solar elevation (deg) at UTC ``epoch_s`` (the low-precision almanac formula, ~0.1 deg)."""
    t = np.asarray(epoch_s, dtype=np.float64) / 86400.0 + 2440587.5 - 2451545.0
    g = np.radians(357.529 + 0.98560028 * t)
    q = 280.459 + 0.98564736 * t
    ecl_lon = np.radians(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    eps = np.radians(23.439 - 0.00000036 * t)
    ra = np.arctan2(np.cos(eps) * np.sin(ecl_lon), np.cos(ecl_lon))
    dec = np.arcsin(np.sin(eps) * np.sin(ecl_lon))
    gmst_deg = (280.46061837 + 360.98564736629 * t) % 360.0
    hour_angle = np.radians(gmst_deg + longitude) - ra
    lat = np.radians(latitude)
    return np.degrees(np.arcsin(np.sin(lat) * np.sin(dec)
                                + np.cos(lat) * np.cos(dec) * np.cos(hour_angle)))


def _night_count(series: WeatherSeries, latitude: float, longitude: float,
                 shift_s: int = 0) -> tuple[int, int, np.ndarray]:
    """(intervals with GHI above the night threshold while the sun is down all through them,
    intervals with GHI above it, the night ones' mask)."""
    step = int(series.step_s)
    sunny = series.ghi_w_m2 > NIGHT_GHI_W_M2
    t = series.epoch_s.astype(np.int64) + shift_s
    up = np.max([sun_elevation_deg(t + k * step // 2, latitude, longitude) for k in (0, 1, 2)],
                axis=0)
    night = sunny & (up < -1.0)
    return int(night.sum()), int(sunny.sum()), night


def check_weather(series: WeatherSeries, meta: dict[str, Any], *, latitude: float,
                  longitude: float, utc_offset_h: float, start_epoch_s: int, duration_s: int,
                  allow_other_site: bool = False) -> tuple[list[str], list[str]]:
    """(errors, notes) of a weather file against the park and the period.

    Errors: a station farther than :data:`SITE_TOLERANCE_KM` or another UTC offset than the
    park's (unless ``allow_other_site``); irradiance while the sun is down at the park (with the
    clock shift that explains it); values outside :data:`PHYSICAL` (kelvin for degC, hPa for
    Pa); a dated file that does not cover the period and is not one full typical year.
    Notes: the count of missing values filled by interpolation.
    """
    errors: list[str] = []
    notes: list[str] = []
    if not allow_other_site:
        try:
            lat, lon = float(meta["latitude"]), float(meta["longitude"])
        except (KeyError, TypeError, ValueError):
            lat = lon = None
        if lat is not None and lon is not None:
            km = _distance_km(lat, lon, latitude, longitude)
            if km > SITE_TOLERANCE_KM:
                errors.append(f"the file's site ({lat:.2f}, {lon:.2f}) is {km:,.0f} km from the "
                              f"park ({latitude:.2f}, {longitude:.2f}); expected a file of the "
                              "park's site (weather.allow_other_site: true to use it anyway)")
        tz = meta.get("tz_offset_h")
        if tz is not None and abs(float(tz) - utc_offset_h) > 1e-6:
            errors.append(f"the file's time zone UTC{float(tz):+g} is not the park's "
                          f"UTC{utc_offset_h:+g} (weather.allow_other_site: true to use it anyway)")
    for key, (low, high, unit) in PHYSICAL.items():
        values = getattr(series, key)
        bad = (values < low) | (values > high)
        if bad.any():
            hint = " (kelvin?)" if key == "temp_air_c" and np.nanmedian(values) > 150 else ""
            errors.append(f"column {key}: {int(bad.sum())} values outside {low:g}..{high:g} "
                          f"{unit}{hint}, e.g. {values[bad][0]:g}; expected {unit}")
    n_night, n_sunny, night = _night_count(series, latitude, longitude)
    if n_sunny and n_night > NIGHT_SHARE * n_sunny:
        counts = {h: _night_count(series, latitude, longitude, h * 3600)[0]
                  for h in range(-14, 15)}
        best = min(counts, key=lambda h: (counts[h], abs(h)))
        first = pd.to_datetime(int(series.epoch_s[night][0]), unit="s", utc=True)
        local = first + pd.Timedelta(hours=utc_offset_h)
        shift = (f"; the file's clock looks shifted by {-best:+d} h" if best else "")
        errors.append(f"irradiance while the sun is down at the park: GHI above "
                      f"{NIGHT_GHI_W_M2:g} W/m2 in {n_night} of {n_sunny} sunny intervals, first "
                      f"{local:%m-%d %H:%M} park time{shift}")
    end = start_epoch_s + duration_s
    step = int(series.step_s)
    covers = series.epoch_s[0] <= start_epoch_s and series.epoch_s[-1] + step >= end
    full_year = len(series.epoch_s) * step in (365 * 86400, 366 * 86400)
    if not covers and not (full_year and meta.get("typical_year", True)):
        span = pd.to_datetime([int(series.epoch_s[0]), int(series.epoch_s[-1]) + step],
                              unit="s", utc=True)
        errors.append(f"the file covers {span[0]:%Y-%m-%d %H:%M} to {span[1]:%Y-%m-%d %H:%M} "
                      "UTC, not the period, and is not one full typical year")
    filled = meta.get("filled") or {}
    if filled:
        notes.append("missing values filled by interpolation: " + ", ".join(
            f"{n} in {k}" for k, n in filled.items()))
    return errors, notes


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return float(2 * 6371.0 * np.arcsin(np.sqrt(min(1.0, a))))
