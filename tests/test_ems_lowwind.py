"""Plans judged on a low wind outcome too: the weather model's low quantile of the wind and a
two-stage dispatch that keeps the energy a lull the forecast does not see would need."""

from __future__ import annotations

import numpy as np
import pytest

from twin.ems import dispatch
from twin.ems.forecast import Capacities, History, NWPWind, nwp_wind_mw
from twin.models import weather
from twin.models import weather_nwp as wn
from twin.models.turbines import power_curve
from twin.models.wind import default_wind_farm, wind_power

LAT, LON = 41.8, 123.4
START = 1_798_732_800  # 2027-01-01 00:00 Beijing time
STEP = 900


def _inputs(**kw) -> dispatch.PlanInputs:
    """A day: dear hours 6-12 with a small deficit, a forecast dip at 14-17 (the low outcome
    a deeper one); storage full, charged only from local surplus (there is none)."""
    H = 24
    wind = np.full(H, 45.0)
    wind[14:17] = 40.0
    low = wind.copy()
    low[14:17] = 25.0
    return dispatch.PlanInputs(
        dt_h=1.0, pv_mw=np.zeros(H), wind_mw=wind, load_mw=np.full(H, 50.0),
        price_import_cny_per_mwh=np.r_[np.full(6, 300.0), np.full(6, 900.0),
                                       np.full(12, 500.0)],
        price_export_cny_per_mwh=0.0,
        storages=(dispatch.Storage("b", 20.0, 40.0, 0.1, 0.9, 0.95, 0.95),),
        soc0=np.array([0.9]), demand_charge_cny_per_mw=30_000.0,
        charge_limit_mw=np.zeros(H), **({"wind_low_mw": low} | kw))


def test_low_wind_outcome_holds_energy_before_a_lull():
    forecast_only = dispatch.plan(_inputs(wind_low_mw=None))
    both = dispatch.plan(_inputs(low_shared_steps=12))
    assert forecast_only.status == both.status == "optimal"
    # on the forecast alone the dear hours take the energy the dip does not need ...
    assert forecast_only.soc[12, 0] < 0.8
    # ... judged on the low outcome too, the storage is still full when they end
    assert both.soc[12, 0] > forecast_only.soc[12, 0] + 0.15
    # the plan given is the forecast outcome's, its cost the forecast's objective
    assert both.cost_cny == pytest.approx(dispatch.objective_cny(_inputs(), both))


def test_low_wind_outcome_without_shared_steps_changes_nothing():
    forecast_only = dispatch.plan(_inputs(wind_low_mw=None))
    apart = dispatch.plan(_inputs(low_shared_steps=0))
    np.testing.assert_allclose(apart.soc, forecast_only.soc, atol=1e-6)


def test_low_wind_inputs_checked():
    with pytest.raises(ValueError, match="low_weight"):
        _inputs(low_weight=2.0)
    with pytest.raises(ValueError, match="wind_low_mw"):
        _inputs(wind_low_mw=np.full(3, 1.0))


def test_nwp_low_wind_below_the_forecast_and_further_below_later():
    days = 5
    s = weather.synthetic_year(weather.site_climate(), LAT, LON, START, days * 96, STEP, 3)
    farm = default_wind_farm("wind", 100)
    curve = power_curve(farm.turbine_type)
    nwp = wn.synthetic_nwp(s, LAT, LON, 3)
    power = nwp_wind_mw(nwp, [farm], START, STEP, s.wind_height_m, s.roughness_m)
    assert power.mw_low is not None
    assert np.all(power.mw_low <= power.mw + 1e-9)
    gap = power.mw - power.mw_low
    assert gap[:, 180:].mean() > gap[:, :8].mean() > 0  # the error spread grows with lead
    lower = nwp_wind_mw(nwp, [farm], START, STEP, s.wind_height_m, s.roughness_m,
                        low_quantile=0.05)
    assert np.all(lower.mw_low <= power.mw_low + 1e-9)
    with pytest.raises(ValueError, match="low_quantile"):
        nwp_wind_mw(nwp, [farm], START, STEP, s.wind_height_m, s.roughness_m, low_quantile=1.0)
    # the forecaster hands it out beside its forecast, never above it
    n = (days - 2) * 96
    mw = wind_power(farm, curve, s.wind_ms, s.wind_height_m, s.roughness_m, s.temp_air_c,
                    s.pressure_pa).p_mw
    caps = Capacities(pv_mw=1.0, wind_mw=curve.nominal_mw * 100, load_mw=1.0)
    h = History.of_series(caps, START, STEP, np.zeros(days * 96), np.ones(days * 96),
                          {"pv": np.zeros(n), "wind": mw[:n], "load": np.ones(n)})
    fc = NWPWind(power).forecast(h, 96)
    assert np.all(fc["wind_low"] <= fc["wind"])
    assert fc["wind_low"].sum() < fc["wind"].sum()
