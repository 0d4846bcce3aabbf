"""Synthetic NWP forecasts: error growth as configured, no look at later data, and a wind
forecaster from them that beats smart persistence on weeks of a seed it was not tuned on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from twin.ems.forecast import Capacities, History, NWPWind, SmartPersistence, nwp_wind_mw
from twin.models import weather
from twin.models import weather_nwp as wn
from twin.models.turbines import power_curve
from twin.models.wind import default_wind_farm, wind_power

LAT, LON = 41.8, 123.4  # Shenyang
START = 1_798_732_800  # 2027-01-01 00:00 Beijing time (16:00 UTC)
STEP = 900
TUNED_SEED, HELD_OUT_SEED = 1, 11  # NWPWind.tau_s was chosen on seed 1
STAT_REL_TOL = 0.12  # RMSE per lead within 12 % of the configured value (about 240 runs)


def _weather(seed: int, days: int, start: int = START) -> weather.WeatherSeries:
    return weather.synthetic_year(weather.site_climate(), LAT, LON, start, days * 96, STEP, seed)


def _lead_errors(series, nwp, values, variable):
    """Errors (run, lead) of ``variable`` against the series (NaN outside it)."""
    idx = (nwp.issue_epoch_s[:, None] - series.epoch_s[0]) // STEP + np.arange(values.shape[1])
    inside = (idx >= 0) & (idx < len(series))
    truth = getattr(series, variable)[np.clip(idx, 0, len(series) - 1)]
    return np.where(inside, values - truth, np.nan), np.clip(idx, 0, len(series) - 1)


@pytest.fixture(scope="module")
def sixty_days():
    s = _weather(7, 60)
    return s, wn.synthetic_nwp(s, LAT, LON, 7)


def test_nwp_errors_grow_with_lead_time_as_configured(sixty_days):
    s, nwp = sixty_days
    cfg = wn.nwp_config()
    cs, _, _ = weather.clearsky(s.epoch_s, STEP, LAT, LON, 0.0)
    e_wind, _ = _lead_errors(s, nwp, nwp.wind_ms, "wind_ms")
    e_ghi, idx = _lead_errors(s, nwp, nwp.ghi_w_m2, "ghi_w_m2")
    e_ghi[cs[idx] <= 0] = np.nan
    mean_day = s.ghi_w_m2[cs > 0].mean()
    got_w, got_g = [], []
    for lead_h in (1, 6, 12, 24, 36, 48):
        k = slice(lead_h * 4 - 2, lead_h * 4 + 2)  # the hour about the lead
        lead = np.array([lead_h])
        rmse_w = np.sqrt(np.nanmean(e_wind[:, k] ** 2))
        nrmse_g = np.sqrt(np.nanmean(e_ghi[:, k] ** 2)) / mean_day
        assert rmse_w == pytest.approx(cfg.wind_sigma(lead)[0], rel=STAT_REL_TOL), lead_h
        assert nrmse_g == pytest.approx(cfg.ghi_sigma(lead)[0], rel=STAT_REL_TOL), lead_h
        got_w.append(rmse_w)
        got_g.append(nrmse_g)
    assert got_w[-1] > 1.5 * got_w[0]  # errors grow with lead
    assert got_g[-1] > 1.3 * got_g[0]
    # errors of a run are correlated along its lead time (AR(1)), not white
    a, b = e_wind[:, 40:120], e_wind[:, 44:124]  # 1 h apart
    ok = np.isfinite(a) & np.isfinite(b)
    assert np.corrcoef(a[ok], b[ok])[0, 1] > 0.7


def test_nwp_runs_issue_every_6_hours_and_cover_the_next_day(sixty_days):
    s, nwp = sixty_days
    cfg = wn.nwp_config()
    assert set(np.diff(nwp.issue_epoch_s)) == {int(cfg.issue_interval_h * 3600)}
    assert set(nwp.issue_epoch_s % 86_400) == {0, 21_600, 43_200, 64_800}  # 00/06/12/18 UTC
    assert np.all(nwp.available_epoch_s - nwp.issue_epoch_s == cfg.latency_h * 3600)
    # at every step the latest available run reaches to the end of the next local day
    j = nwp.latest(s.epoch_s)
    assert np.all(j >= 0)
    local_day_end = ((s.epoch_s + 8 * 3600) // 86_400 + 2) * 86_400 - 8 * 3600
    assert np.all(nwp.issue_epoch_s[j] + nwp.wind_ms.shape[1] * STEP >= local_day_end)


def test_nwp_is_deterministic_and_a_run_does_not_depend_on_the_period():
    long = _weather(3, 10)
    short = weather.synthetic_year(weather.site_climate(), LAT, LON, START + 3 * 86_400,
                                   4 * 96, STEP, 3, anchor_epoch_s=START)
    a, b = wn.synthetic_nwp(long, LAT, LON, 3), wn.synthetic_nwp(short, LAT, LON, 3)
    again = wn.synthetic_nwp(long, LAT, LON, 3)
    assert np.array_equal(a.wind_ms, again.wind_ms)
    # the run issued 4 days in: same errors, so the same forecasts of steps inside both periods
    t = START + 5 * 86_400 - 16 * 3600  # 00 UTC on the 5th day
    ja = int(np.flatnonzero(a.issue_epoch_s == t)[0])
    jb = int(np.flatnonzero(b.issue_epoch_s == t)[0])
    assert np.allclose(a.wind_ms[ja, :96], b.wind_ms[jb, :96])
    other = wn.synthetic_nwp(long, LAT, LON, 4)
    assert not np.allclose(other.wind_ms, a.wind_ms)


def test_weather_simulator_forecasts_come_from_the_latest_run_available(sixty_days):
    s, nwp = sixty_days
    fc = wn.step_forecasts(nwp, s.epoch_s, STEP)
    j = nwp.latest(s.epoch_s)
    for h in wn.FC_LEADS_H:
        k = (s.epoch_s + h * 3600 - nwp.issue_epoch_s[j]) // STEP
        assert np.array_equal(fc[f"wind_ms_fc_{h}h"], nwp.wind_ms[j, k])
    # a run is used only once it has arrived, and the next one has not yet
    assert np.all(nwp.available_epoch_s[j] <= s.epoch_s)
    nxt = np.minimum(j + 1, len(nwp.issue_epoch_s) - 1)
    assert np.all((nwp.available_epoch_s[nxt] > s.epoch_s) | (nxt == j))


def _park(seed: int, days: int):
    """Weather, a 100-turbine farm's measured power and its NWP power on the history's grid."""
    n, m = days * 96, days * 96 + 2 * 96
    s = _weather(seed, days + 2)
    farm = default_wind_farm("wind", 100)
    curve = power_curve(farm.turbine_type)
    mw = wind_power(farm, curve, s.wind_ms, s.wind_height_m, s.roughness_m, s.temp_air_c,
                    s.pressure_pa).p_mw
    caps = Capacities(pv_mw=1.0, wind_mw=curve.nominal_mw * 100, load_mw=1.0)
    series = {"pv": s.ghi_w_m2[:n] / 1000.0, "wind": mw[:n], "load": np.ones(n)}
    cs_ghi = weather.clearsky(s.epoch_s[:m], STEP, LAT, LON, 0.0)[0]
    h = History.of_series(caps, START, STEP, cs_ghi / 1000.0, np.ones(m), series)  # PV 1 MW
    power = nwp_wind_mw(wn.synthetic_nwp(s, LAT, LON, seed), [farm], START, STEP,
                        s.wind_height_m, s.roughness_m, site=(LAT, LON, 0.0))
    return h, mw, power, series


def test_nwp_forecaster_reads_nothing_after_its_origin():
    h, _, power, series = _park(5, 6)
    origin = 3 * 96 + 17
    f = NWPWind(power)
    before = f.forecast_many(h, np.array([origin]), 96)
    # measured values after the origin changed: the forecast made at the origin is the same
    changed = {t: v.copy() for t, v in series.items()}
    for v in changed.values():
        v[origin + 1:] *= 0.3
    h2 = History.of_series(h.capacities, START, STEP, h.clearsky_pv_mw, h.workday, changed)
    after = f.forecast_many(h2, np.array([origin]), 96)
    # runs that arrive after the origin changed: no effect either
    later = power.avail_step > origin
    assert later.any()
    mw, k_ghi = power.mw.copy(), power.k_ghi.copy()
    mw[later] += 50.0
    k_ghi[later] *= 0.5
    f3 = NWPWind(dataclasses.replace(power, mw=mw, k_ghi=k_ghi))
    after_runs = f3.forecast_many(h, np.array([origin]), 96)
    for t in before:
        assert np.array_equal(before[t], after[t])
        assert np.array_equal(before[t], after_runs[t])
    # ...while a change of the run in force does change it (the check can fail)
    mw[~later] += 50.0
    assert not np.allclose(NWPWind(dataclasses.replace(power, mw=mw))
                           .forecast_many(h, np.array([origin]), 96)["wind"], before["wind"])


@pytest.mark.parametrize("lead_h", [6, 24])
def test_nwp_forecaster_beats_smart_persistence_on_held_out_weeks(lead_h):
    h, mw, power, _ = _park(HELD_OUT_SEED, 28)
    origins = np.arange(96, 28 * 96 - 96)
    k = lead_h * 4
    truth = mw[origins + k]

    def rmse(f):
        return np.sqrt(np.mean((f.forecast_many(h, origins, k)["wind"][:, -1] - truth) ** 2))

    skill = 1.0 - rmse(NWPWind(power)) / rmse(SmartPersistence())
    assert skill > 0.1, skill


def test_ems_with_the_nwp_forecaster_forecasts_the_park_wind_better(tmp_path):
    from pathlib import Path

    from adapters.weather_sim import weather_and_nwp
    from twin import runner, scenario
    from twin.core.results import open_run
    from twin.cosim import ems

    park = scenario.load(Path(__file__).resolve().parents[1] / "scenarios" / "park.yaml")
    base = dataclasses.replace(park.with_days(3), grid=None)
    rmse = {}
    for name in ("learned", "nwp"):
        s = dataclasses.replace(base, controller=dataclasses.replace(
            base.controller, kind="ems", forecaster=name),
            output=dataclasses.replace(base.output, name=name))
        with open_run(runner.run(s, out_dir=tmp_path).path) as run:
            table = ems.forecast_table(run, s)  # replays what the EMS's forecaster saw
            recorded = {key: run.series(run.entities("weather")[0], key)
                        for key in ("wind_ms_fc_6h", "ghi_w_m2_fc_24h")}
        # the weather simulator handed out the runs the EMS read
        p = s.park
        series, nwp = weather_and_nwp("weather", {
            "source": "synthetic", "site": s.weather.site, "latitude": p.latitude,
            "longitude": p.longitude, "seed": p.seed}, s.start_epoch_s, s.n_steps,
            s.period.step_s)
        fc = wn.step_forecasts(nwp, series.epoch_s, series.step_s)
        for key, values in recorded.items():
            assert np.allclose(values, fc[key][:len(values)]), key
        cols = ems.FORECAST_COLUMNS
        e = table[4:, cols.index("wind_1h")] - table[4:, cols.index("wind")]
        rmse[name] = float(np.sqrt(np.mean(e ** 2)))
    assert rmse["nwp"] < 0.8 * rmse["learned"], rmse


def test_skill_table_nwp_beats_smart_persistence_for_wind_and_pv_on_a_held_out_seed():
    from pathlib import Path

    from twin import scenario
    from twin.studies import learned

    park = scenario.load(Path(__file__).resolve().parents[1] / "scenarios" / "park.yaml")
    data = learned.dataset(park, HELD_OUT_SEED, 10)
    assert data.nwp is not None
    rows = learned.evaluate(data, [SmartPersistence(), NWPWind(data.nwp)],
                            horizon=learned.NWP_HORIZON)
    skill = {(r["target"], r["horizon"]): r["skill"] for r in rows if r["forecaster"] == "nwp"}
    for target in ("wind", "pv"):
        for k in (24, 96):  # 6 h and 24 h ahead
            assert skill[target, k] > 0.1, (target, k, skill[target, k])
    assert all(skill["load", k] == 0.0 for k in (24, 96))  # load: smart persistence's
