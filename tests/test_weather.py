"""Weather: calibration of the synthetic Shenyang year, physics of its series, file readers."""

from __future__ import annotations

import dataclasses
import pathlib
import re

import numpy as np
import pandas as pd
import pvlib
import pytest
from scipy import stats

from twin.models.weather import (
    WeatherSeries,
    clearsky,
    day_type_probabilities,
    resample,
    site_climate,
    synthetic_year,
)
from twin.models.weather_io import read_csv, read_epw, write_csv

# Acceptance figures from shared/REFERENCE.md (Shenyang).
GHI_RANGE_KWH_M2 = (1370.0, 1490.0)
TEMP_ANNUAL_C = 8.5
WIND_100M_RANGE_MS = (5.5, 6.5)

LAT, LON = 41.8, 123.4
TZ = "Asia/Shanghai"
START_2025 = int(pd.Timestamp("2025-01-01", tz=TZ).timestamp())
STEP = 900
N_YEAR = 365 * 96
SEEDS = (1, 2, 3)
PVLIB_DATA = pathlib.Path(pvlib.__file__).parent / "data"
TMY3 = PVLIB_DATA / "723170TYA.CSV"


@pytest.fixture(scope="module")
def climate():
    return site_climate("shenyang")


@pytest.fixture(scope="module")
def years(climate):
    return {s: synthetic_year(climate, LAT, LON, START_2025, N_YEAR, STEP, seed=s) for s in SEEDS}


def _local(series: WeatherSeries) -> pd.DatetimeIndex:
    return pd.to_datetime(series.epoch_s, unit="s", utc=True).tz_convert(TZ)


def _annual_kwh(series: WeatherSeries) -> float:
    return float(series.ghi_w_m2.sum() * series.step_s / 3.6e6)


def _elevation(epoch_s, lat, lon) -> np.ndarray:
    times = pd.to_datetime(np.asarray(epoch_s), unit="s", utc=True)
    return pvlib.solarposition.get_solarposition(times, lat, lon)["elevation"].to_numpy()


def _sun_down(series: WeatherSeries, lat, lon, margin_deg=0.5) -> np.ndarray:
    """Intervals with the sun below the horizon at start, middle and end."""
    step = series.step_s
    down = np.ones(len(series), dtype=bool)
    for offset in (0, step // 2, step):
        down &= _elevation(series.epoch_s + offset, lat, lon) < -margin_deg
    return down


def _noon_offset_min(series: WeatherSeries, lat, lon) -> float:
    """GHI-weighted mean hour angle at interval midpoints, in minutes (0 = solar noon)."""
    mid = pd.to_datetime(series.epoch_s + series.step_s / 2, unit="s", utc=True)
    eot = pvlib.solarposition.get_solarposition(mid, lat, lon)["equation_of_time"].to_numpy()
    angle = (pvlib.solarposition.hour_angle(mid, lon, eot) + 180.0) % 360.0 - 180.0
    return float((series.ghi_w_m2 * angle).sum() / series.ghi_w_m2.sum() * 4.0)


# --- synthetic year: calibration --------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_annual_ghi_in_reference_range(years, seed):
    assert GHI_RANGE_KWH_M2[0] <= _annual_kwh(years[seed]) <= GHI_RANGE_KWH_M2[1]


def test_monthly_clear_sky_index_follows_sunshine(years, climate):
    series = years[SEEDS[0]]
    cs_ghi, _, _ = clearsky(series.epoch_s, STEP, LAT, LON, climate.elevation_m)
    month = _local(series).month
    kc = (pd.Series(series.ghi_w_m2).groupby(month).sum()
          / pd.Series(cs_ghi).groupby(month).sum()).to_numpy()
    r = np.corrcoef(kc, climate.sunshine_fraction_monthly)[0, 1]
    assert r > 0.8  # the monsoon July is the dullest month, October among the brightest
    assert kc[6] < kc[9]


def test_day_type_probabilities_match_sunshine(climate):
    probs = day_type_probabilities(climate)
    assert probs.shape == (12, 3)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs @ np.asarray(climate.day_sunshine_fraction),
                               climate.sunshine_fraction_monthly, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_monthly_temperature_normals(years, climate, seed):
    series = years[seed]
    monthly = pd.Series(series.temp_air_c).groupby(_local(series).month).mean().to_numpy()
    assert np.max(np.abs(monthly - np.asarray(climate.temp_monthly_mean_c))) <= 1.5


def test_annual_mean_temperature(years):
    for series in years.values():
        assert abs(series.temp_air_c.mean() - TEMP_ANNUAL_C) <= 1.0


def test_diurnal_temperature_cycle(years, climate):
    series = years[SEEDS[0]]
    idx = _local(series)
    temp = pd.Series(series.temp_air_c, idx)
    hour = pd.Series(idx.hour + idx.minute / 60.0, idx)
    day = idx.date
    hour_max = hour[temp.groupby(day).idxmax().to_numpy()]
    hour_min = hour[temp.groupby(day).idxmin().to_numpy()]
    assert 13.0 <= hour_max.mean() <= 16.0
    assert 5.5 <= hour_min[hour_min.index.month == 1].mean() <= 8.5  # sunrise ~07:15
    assert 3.0 <= hour_min[hour_min.index.month == 7].mean() <= 6.0  # sunrise ~04:20
    daily = temp.groupby(day).agg(["max", "min"])
    months = pd.DatetimeIndex(daily.index).month
    dtr = (daily["max"] - daily["min"]).groupby(months).mean().to_numpy()
    np.testing.assert_allclose(dtr, climate.temp_diurnal_range_c, rtol=0.3)


def test_cloudy_days_cooler_in_daytime(years):
    for series in years.values():
        idx = _local(series)
        frame = pd.DataFrame({"t": series.temp_air_c, "g": series.ghi_w_m2}, idx)
        daily = frame.groupby(idx.date).agg({"t": "max", "g": "mean"})
        daily.index = pd.DatetimeIndex(daily.index)
        summer = daily[daily.index.month.isin([6, 7, 8])]
        anomaly = summer["t"] - summer["t"].groupby(summer.index.month).transform("mean")
        dull = summer["g"] <= summer["g"].quantile(0.25)
        bright = summer["g"] >= summer["g"].quantile(0.75)
        assert anomaly[dull].mean() < anomaly[bright].mean() - 0.5


# --- synthetic year: irradiance physics --------------------------------------------------------


def test_no_irradiance_at_night(years):
    series = years[SEEDS[0]]
    down = _sun_down(series, LAT, LON)
    assert down.mean() > 0.4
    for key in WeatherSeries.IRRADIANCE:
        assert np.all(getattr(series, key)[down] == 0.0), key
    daily = pd.Series(series.ghi_w_m2).groupby(_local(series).date).sum()
    assert np.all(daily > 0)
    assert abs(_noon_offset_min(series, LAT, LON)) < 5.0


def test_ghi_bounded_by_clear_sky(years, climate):
    series = years[SEEDS[1]]
    loc = pvlib.location.Location(LAT, LON, altitude=climate.elevation_m)
    mid = pd.to_datetime(series.epoch_s + STEP / 2, unit="s", utc=True)
    cs = loc.get_clearsky(mid, model="ineichen")["ghi"].to_numpy()
    assert np.all(series.ghi_w_m2 <= 1.1 * cs + 1.0)
    assert np.all(series.ghi_w_m2 >= 0)
    assert np.all(series.dni_w_m2 >= 0)
    assert np.all(series.dhi_w_m2 >= 0)


def test_closure_ghi_dhi_dni(years):
    series = years[SEEDS[2]]
    mid = pd.to_datetime(series.epoch_s + STEP / 2, unit="s", utc=True)
    zenith = pvlib.solarposition.get_solarposition(mid, LAT, LON)["zenith"].to_numpy()
    up = zenith < 87
    rebuilt = series.dhi_w_m2 + series.dni_w_m2 * np.cos(np.radians(zenith))
    np.testing.assert_allclose(rebuilt[up], series.ghi_w_m2[up], atol=1.0)
    assert np.all(series.dni_w_m2 <= pvlib.irradiance.get_extra_radiation(mid).to_numpy())


# --- synthetic year: wind and pressure ------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_wind_statistics(years, seed):
    series = years[seed]
    wind = series.wind_ms
    assert series.wind_height_m == 100.0
    assert 0.05 <= series.roughness_m <= 0.3
    assert WIND_100M_RANGE_MS[0] <= wind.mean() <= WIND_100M_RANGE_MS[1]
    dev = wind - wind.mean()
    lag = 3600 // STEP
    assert 0.85 <= (dev[:-lag] * dev[lag:]).mean() / dev.var() <= 0.95
    shape, _, _ = stats.weibull_min.fit(wind[::lag], floc=0)
    assert 1.6 <= shape <= 2.6
    monthly = pd.Series(wind).groupby(_local(series).month).mean()
    assert monthly[4] > monthly[8]  # windy spring, calm late summer
    assert np.all(wind >= 0)


def test_pressure_plausible(years):
    for series in years.values():
        p = series.pressure_pa
        assert 100_000 <= p.mean() <= 102_000
        assert p.std() < 2_000
        assert p.min() > 95_000
        assert p.max() < 106_000
        monthly = pd.Series(p).groupby(_local(series).month).mean()
        assert monthly[1] > monthly[7]  # Siberian high in winter


# --- synthetic year: determinism, windows, speed ----------------------------------------------------


def test_reproducible_and_seed_sensitive(climate, years):
    again = synthetic_year(climate, LAT, LON, START_2025, N_YEAR, STEP, seed=SEEDS[0])
    for key in WeatherSeries.VARIABLES:
        assert np.array_equal(getattr(again, key), getattr(years[SEEDS[0]], key)), key
        assert not np.array_equal(getattr(years[SEEDS[1]], key), getattr(years[SEEDS[0]], key))
    other = synthetic_year(climate, LAT, LON, START_2025, 96, STEP, seed=SEEDS[0], name="other")
    assert not np.array_equal(other.wind_ms, again.wind_ms[:96])


def test_days_do_not_depend_on_the_window(climate, years):
    full = years[SEEDS[0]]
    start = int(pd.Timestamp("2025-06-01", tz=TZ).timestamp())
    week = synthetic_year(climate, LAT, LON, start, 7 * 96, STEP, seed=SEEDS[0])
    i0 = int(np.searchsorted(full.epoch_s, start))
    np.testing.assert_allclose(week.temp_air_c, full.temp_air_c[i0:i0 + 7 * 96], atol=1e-9)
    day = ((week.epoch_s + STEP / 2 + LON * 240) // 86_400).astype(np.int64)
    e_week = np.bincount(day - day[0], week.ghi_w_m2)[1:-1]
    e_full = np.bincount(day - day[0], full.ghi_w_m2[i0:i0 + 7 * 96])[1:-1]
    np.testing.assert_allclose(e_week, e_full, rtol=0.01)


def test_a_shorter_period_is_the_start_of_a_longer_one(climate, years):
    """``--days 14`` shows the same weather as the first 14 days of the full year."""
    full = years[SEEDS[0]]
    short = synthetic_year(climate, LAT, LON, START_2025, 14 * 96, STEP, seed=SEEDS[0])
    for key in WeatherSeries.VARIABLES:
        np.testing.assert_array_equal(getattr(short, key),
                                      np.asarray(getattr(full, key))[:14 * 96]
                                      if np.ndim(getattr(full, key)) else getattr(full, key),
                                      err_msg=key)


def test_continuous_across_new_year(climate):
    start = int(pd.Timestamp("2025-12-20", tz=TZ).timestamp())
    series = synthetic_year(climate, LAT, LON, start, 20 * 96, STEP, seed=7)
    assert np.max(np.abs(np.diff(series.temp_air_c))) < 1.5
    calm = dataclasses.replace(climate, pressure_anomaly_std_pa=0.0)
    seasonal = synthetic_year(calm, LAT, LON, start, 20 * 96, STEP, seed=7).pressure_pa
    assert np.max(np.abs(np.diff(seasonal))) < 1.0  # the annual cycle runs on over New Year


def test_spec_and_series_validation(climate, years):
    with pytest.raises(ValueError, match="12 values"):
        dataclasses.replace(climate, temp_monthly_mean_c=(1.0, 2.0))
    series = years[SEEDS[0]]
    row = series.row(100)
    assert set(row) == set(WeatherSeries.VARIABLES) | {"wind_height_m", "roughness_m"}
    assert row["temp_air_c"] == series.temp_air_c[100]
    with pytest.raises(ValueError, match="regular"):
        WeatherSeries(np.array([0, 900, 2000]), *([np.zeros(3)] * 6), 10.0, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        WeatherSeries(np.array([0, 900]), *([np.array([0.0, np.nan])] * 6), 10.0, 0.1)


# --- files ----------------------------------------------------------------------------------------


def _write_epw_from_tmy3(path: pathlib.Path) -> pd.DataFrame:
    """Write pvlib's bundled Greensboro TMY3 as an EPW (hour-ending stamps, mixed years)."""
    raw = pd.read_csv(TMY3, skiprows=1)
    date = pd.to_datetime(raw["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
    n = len(raw)
    cols = {
        "year": date.dt.year, "month": date.dt.month, "day": date.dt.day,
        "hour": raw["Time (HH:MM)"].str[:2].astype(int), "minute": 60, "flags": "?9?9?9",
        "temp_air": raw["Dry-bulb (C)"], "temp_dew": raw["Dew-point (C)"],
        "rh": raw["RHum (%)"], "pressure": raw["Pressure (mbar)"] * 100,
        "etr": raw["ETR (W/m^2)"], "etrn": raw["ETRN (W/m^2)"], "ir": 9999,
        "ghi": raw["GHI (W/m^2)"], "dni": raw["DNI (W/m^2)"], "dhi": raw["DHI (W/m^2)"],
    }
    frame = pd.DataFrame(cols)
    for i, name in enumerate(["ghi_lux", "dni_lux", "dhi_lux", "zen_lum"]):
        frame[name] = 0 * i
    frame["wdir"] = raw["Wdir (degrees)"]
    frame["wspd"] = raw["Wspd (m/s)"]
    for name in ["tot", "opq", "vis", "ceil", "pwo", "pwc", "pwat", "aod", "snow", "dsnow",
                 "albedo", "lpd", "lpq"]:
        frame[name] = 0
    assert frame.shape == (n, 35)
    head = [
        "LOCATION,GREENSBORO,NC,USA,TMY3,723170,36.10,-79.95,-5.0,273.0",
        "DESIGN CONDITIONS,0", "TYPICAL/EXTREME PERIODS,0", "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0", "COMMENTS 1,written from pvlib 723170TYA.CSV",
        "COMMENTS 2,test fixture", "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    path.write_text("\n".join(head) + "\n" + frame.to_csv(header=False, index=False))
    return frame


@pytest.fixture(scope="module")
def epw(tmp_path_factory):
    path = tmp_path_factory.mktemp("epw") / "greensboro.epw"
    frame = _write_epw_from_tmy3(path)
    series, meta = read_epw(path)
    return series, meta, frame


def test_read_epw_annual_ghi_matches_file(epw):
    series, meta, frame = epw
    file_kwh = frame["ghi"].sum() / 1000.0
    assert 1200 <= file_kwh <= 2200
    assert _annual_kwh(series) == pytest.approx(file_kwh, rel=1e-9)
    assert len(series) == 8760
    assert series.step_s == 3600
    assert series.wind_height_m == 10.0
    assert meta["typical_year"]
    assert meta["latitude"] == pytest.approx(36.1)
    assert 90_000 < series.pressure_pa.mean() < 105_000


def test_read_epw_interval_start_convention(epw):
    series, meta, _ = epw
    lat, lon = meta["latitude"], meta["longitude"]
    # hour-ending stamps turned into interval starts: the irradiance centroid sits at solar noon
    assert abs(_noon_offset_min(series, lat, lon)) < 10.0
    assert np.all(series.ghi_w_m2[_sun_down(series, lat, lon, margin_deg=1.0)] == 0.0)


def test_resample_keeps_energy_and_sunrise(epw):
    series, meta, frame = epw
    lat, lon = meta["latitude"], meta["longitude"]
    file_kwh = frame["ghi"].sum() / 1000.0
    start = int(pd.Timestamp("2025-01-01", tz="Etc/GMT+5").timestamp())
    plain = resample(series, start, N_YEAR, STEP)
    assert _annual_kwh(plain) == pytest.approx(file_kwh, rel=0.01)
    assert abs(_noon_offset_min(plain, lat, lon)) < 10.0
    shaped = resample(series, start, N_YEAR, STEP, latitude=lat, longitude=lon,
                      elevation_m=meta["altitude_m"])
    assert _annual_kwh(shaped) == pytest.approx(file_kwh, rel=0.01)
    assert np.all(shaped.ghi_w_m2[_sun_down(shaped, lat, lon)] == 0.0)
    assert abs(shaped.temp_air_c.mean() - series.temp_air_c.mean()) < 0.05


def test_resample_leap_year_repeats_feb_28(epw):
    series, _, frame = epw
    start = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp())
    leap = resample(series, start, 366 * 96, STEP)
    feb28 = slice(58 * 96, 59 * 96)
    feb29 = slice(59 * 96, 60 * 96)
    for key in WeatherSeries.VARIABLES:
        np.testing.assert_array_equal(getattr(leap, key)[feb29], getattr(leap, key)[feb28])
    assert _annual_kwh(leap) == pytest.approx(frame["ghi"].sum() / 1000.0, rel=0.01)


def test_resample_aggregates_exactly(years):
    quarter = years[SEEDS[0]]
    hourly = resample(quarter, START_2025, 24 * 365, 3600)
    np.testing.assert_allclose(hourly.ghi_w_m2, quarter.ghi_w_m2.reshape(-1, 4).mean(axis=1),
                               rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(hourly.temp_air_c,
                               quarter.temp_air_c.reshape(-1, 4).mean(axis=1), atol=0.2)


def test_resample_rejects_short_series(years):
    week = resample(years[SEEDS[0]], START_2025, 7 * 96, STEP)
    with pytest.raises(ValueError, match="full year"):
        resample(week, START_2025 + 30 * 86_400, 96, STEP)


def test_csv_round_trip(tmp_path, climate):
    series = synthetic_year(climate, LAT, LON, START_2025 + 180 * 86_400, 2 * 96, STEP, seed=5)
    path = tmp_path / "w.csv"
    write_csv(series, path, meta={"site": "shenyang"}, timezone=TZ)
    back, meta = read_csv(path)
    np.testing.assert_array_equal(back.epoch_s, series.epoch_s)
    for key in WeatherSeries.VARIABLES:
        np.testing.assert_allclose(getattr(back, key), getattr(series, key), rtol=1e-9)
    assert back.wind_height_m == 100.0
    assert back.roughness_m == series.roughness_m
    assert meta["site"] == "shenyang"
    assert not meta["pressure_filled"]


def test_csv_offsets_naive_utc_and_filled_pressure(tmp_path):
    body = ("time,ghi_w_m2,dni_w_m2,dhi_w_m2,temp_air_c,wind_ms\n"
            "{0}T08:00:00{1},10,0,10,1.5,3.0\n{0}T09:00:00{1},200,300,80,2.5,3.5\n"
            "{0}T10:00:00{1},400,500,100,3.5,4.0\n")
    aware = tmp_path / "aware.csv"
    aware.write_text("# wind_height_m = 30\n# altitude_m = 50\n"
                     + body.format("2025-06-01", "+08:00"))
    naive = tmp_path / "naive.csv"
    naive.write_text(body.format("2025-06-01", ""))
    series, meta = read_csv(aware)
    assert series.epoch_s[0] == int(pd.Timestamp("2025-06-01T00:00Z").timestamp())
    assert series.step_s == 3600
    assert series.wind_height_m == 30.0
    assert meta["pressure_filled"]
    assert series.pressure_pa[0] == pytest.approx(pvlib.atmosphere.alt2pres(50.0))
    utc, _ = read_csv(naive)
    assert utc.epoch_s[0] - series.epoch_s[0] == 8 * 3600
    assert utc.wind_height_m == 10.0  # WMO standard when the file does not say


@pytest.mark.parametrize(("edit", "match"), [
    (lambda t: re.sub(r",[^,\n]*$", "", t, flags=re.MULTILINE), "wind_ms"),
    (lambda t: t.replace("2025-06-01T09:00:00", "yesterday"), "time"),
    (lambda t: t.replace("T10:00", "T11:00"), "regular"),
    (lambda t: t.replace(",3.5,4.0", ",,4.0"), "temp_air_c"),
    (lambda t: t.replace("time,", "when,"), "time"),
])
def test_csv_errors_are_clear(tmp_path, edit, match):
    text = ("time,ghi_w_m2,dni_w_m2,dhi_w_m2,temp_air_c,wind_ms\n"
            "2025-06-01T08:00:00,10,0,10,1.5,3.0\n2025-06-01T09:00:00,200,300,80,2.5,3.5\n"
            "2025-06-01T10:00:00,400,500,100,3.5,4.0\n")
    path = tmp_path / "bad.csv"
    path.write_text(edit(text))
    with pytest.raises(ValueError, match=match):
        read_csv(path)


def test_csv_reader_accepts_tmy3():
    series, meta = read_csv(TMY3)
    raw = pd.read_csv(TMY3, skiprows=1)
    assert meta["source"] == "tmy3"
    assert len(series) == 8760
    assert _annual_kwh(series) == pytest.approx(raw["GHI (W/m^2)"].sum() / 1000.0, rel=1e-9)
    assert series.pressure_pa.mean() == pytest.approx(raw["Pressure (mbar)"].mean() * 100,
                                                      rel=1e-3)


def test_a_csv_headers_numbers_reach_the_weather_simulator(tmp_path):
    # the header's altitude and site come back as numbers, so the weather simulator resamples
    # a file with them (its clear-sky shape needs the altitude; a text one failed in pvlib)
    from adapters.weather_sim import weather_and_nwp

    t = pd.date_range("2025-06-01", periods=48, freq="h", tz="+08:00")
    ghi = np.clip(800 * np.sin(np.pi * (t.hour - 5) / 14), 0, None)
    frame = pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%S+08:00"), "ghi_w_m2": ghi,
                          "dni_w_m2": 0.6 * ghi, "dhi_w_m2": 0.3 * ghi, "temp_air_c": 20.0,
                          "wind_ms": 5.0})
    path = tmp_path / "w.csv"
    path.write_text("# altitude_m = 50\n# latitude = 41.8\n# longitude = 123.4\n"
                    + frame.to_csv(index=False))
    _, meta = read_csv(path)
    assert (meta["altitude_m"], meta["latitude"], meta["longitude"]) == (50.0, 41.8, 123.4)
    start = int(t[0].timestamp())
    series, _ = weather_and_nwp("weather", {"source": "csv", "path": str(path)}, start, 96, 900)
    assert len(series.ghi_w_m2) == 96
    assert np.isfinite(series.ghi_w_m2).all()
    assert series.ghi_w_m2.max() > 500.0  # the day's sun came through the resampling
