"""Wind farm model and turbine library: agreement with windpowerlib, physics and bounds."""

from __future__ import annotations

import dataclasses
import inspect
import math
import socket

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from windpowerlib import power_output
from windpowerlib import wind_speed as wpl_wind_speed

from twin.data import load
from twin.models import turbines
from twin.models.wind import (
    PowerCurve,
    WindFarmSpec,
    default_wind_farm,
    turbine_power_mw,
    wind_at_height,
    wind_power,
)

REF = load("wind_defaults")


@pytest.fixture(scope="module")
def ref_curve() -> PowerCurve:
    return turbines.power_curve(REF["reference_turbine_type"])


@pytest.fixture(scope="module")
def farm() -> WindFarmSpec:
    return default_wind_farm("wf", n_turbines=12)


def test_defaults_match_reference_data():
    defaults = {f.name: f.default for f in dataclasses.fields(WindFarmSpec)}
    for key in ("availability", "wake_loss", "electrical_loss", "shear", "hellman_exponent"):
        assert defaults[key] == REF[key], key
    kw = inspect.signature(wind_power).parameters
    assert kw["temp_height_m"].default == REF["temp_height_m"]
    assert kw["pressure_height_m"].default == REF["pressure_height_m"]
    assert (
        inspect.signature(wind_at_height).parameters["hellman_exponent"].default
        == REF["hellman_exponent"]
    )


def test_library_offline_and_reference_type(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr("requests.get", no_network)
    turbines._types.cache_clear()
    turbines.power_curve.cache_clear()
    types = turbines.turbine_types()
    assert len(types) >= 60
    assert REF["reference_turbine_type"] in types
    curve = turbines.power_curve(REF["reference_turbine_type"])
    assert curve.nominal_mw == pytest.approx(4.2)
    assert REF["reference_hub_height_m"] in curve.hub_heights_m
    assert curve.max_mw == pytest.approx(curve.nominal_mw)
    for name in types:  # every listed type loads, in MW with a plausible peak
        c = turbines.power_curve(name)
        assert 0.1 < c.max_mw < 1.05 * c.nominal_mw
        assert c.max_mw > 0.95 * c.nominal_mw


def test_unknown_type_gives_key_error_with_suggestions():
    with pytest.raises(KeyError, match="unknown turbine type 'E141/4200'.*E-141/4200"):
        turbines.power_curve("E141/4200")
    with pytest.raises(KeyError, match="close matches"):
        turbines.power_curve("no such turbine")


def test_power_bounded_by_rating_and_losses(farm, ref_curve):
    rng = np.random.default_rng(3)
    n = 20_000
    wind = rng.uniform(0.0, 40.0, n)
    temp = rng.uniform(-35.0, 40.0, n)
    pressure = rng.uniform(90_000.0, 105_000.0, n)
    out = wind_power(farm, ref_curve, wind, 100.0, 0.1, temp, pressure)
    cap = farm.n_turbines * ref_curve.nominal_mw * farm.loss_factor
    assert out.p_mw.max() <= cap * (1 + 1e-12)
    assert out.p_mw.max() > 0.99 * cap  # rated power is reached in strong wind
    assert out.p_mw.min() >= 0.0
    for name in turbines.turbine_types():  # any curve: bounded by its own peak
        c = turbines.power_curve(name)
        spec = WindFarmSpec(name="x", turbine_type=name, n_turbines=3, hub_height_m=100.0)
        p = wind_power(spec, c, wind[:2000], 100.0, 0.1, temp[:2000], pressure[:2000]).p_mw
        assert p.max() <= 3 * c.max_mw * spec.loss_factor * (1 + 1e-12)


def test_zero_below_cut_in_and_above_cut_out(ref_curve):
    rho = 1.225
    below = np.linspace(0.0, ref_curve.cut_in_ms, 50)
    above = np.linspace(ref_curve.cut_out_ms + 0.01, 60.0, 50)
    assert (turbine_power_mw(ref_curve, below, rho) == 0).all()
    assert (turbine_power_mw(ref_curve, above, rho) == 0).all()
    assert float(turbine_power_mw(ref_curve, ref_curve.cut_in_ms + 0.2, rho)) > 0
    assert float(turbine_power_mw(ref_curve, ref_curve.cut_out_ms - 0.5, rho)) > 0


def test_monotone_between_cut_in_and_rated(ref_curve):
    rated_ms = ref_curve.wind_ms[int(np.argmax(np.asarray(ref_curve.p_mw) >= ref_curve.max_mw))]
    v = np.linspace(ref_curve.cut_in_ms, rated_ms, 500)
    p = turbine_power_mw(ref_curve, v, 1.18)
    assert (np.diff(p) >= 0).all()
    assert p[-1] > p[0]


def test_lower_density_gives_less_power(farm, ref_curve):
    wind = np.linspace(3.0, 11.0, 30)  # partial load, measured at hub height
    h = farm.hub_height_m
    cold_dense = wind_power(farm, ref_curve, wind, h, 0.1, -20.0, 102_000.0)
    warm_thin = wind_power(farm, ref_curve, wind, h, 0.1, 35.0, 95_000.0)
    assert (warm_thin.density_kg_m3 < cold_dense.density_kg_m3).all()
    assert (warm_thin.p_mw < cold_dense.p_mw).all()
    # the ideal-gas density is about right at standard conditions
    std = wind_power(farm, ref_curve, 8.0, h, 0.1, 15.0, 101_325.0)
    assert 1.19 < float(std.density_kg_m3) < 1.225
    # on the rated plateau density does not matter
    strong = wind_power(farm, ref_curve, 20.0, h, 0.1, np.array([-20.0, 35.0]), 100_000.0)
    assert strong.p_mw[0] == pytest.approx(strong.p_mw[1])


def test_hub_height_extrapolation_matches_windpowerlib():
    wind = np.linspace(0.0, 25.0, 26)
    np.testing.assert_allclose(
        wind_at_height(wind, 10.0, 120.0, 0.05),
        wpl_wind_speed.logarithmic_profile(wind, 10.0, 120.0, 0.05),
    )
    np.testing.assert_allclose(
        wind_at_height(wind, 10.0, 120.0, 0.05, shear="hellman", hellman_exponent=0.2),
        wpl_wind_speed.hellman(wind, 10.0, 120.0, hellman_exponent=0.2),
    )
    up = wind_at_height(6.0, 100.0, 150.0, 0.1)
    assert float(up) > 6.0
    with pytest.raises(ValueError, match="shear"):
        wind_at_height(6.0, 100.0, 150.0, 0.1, shear="linear")


@pytest.mark.parametrize("type_name", ["E-141/4200", "V126/3450", "S152/6330", "E-126/7580"])
def test_farm_output_equals_windpowerlib_power_curve(type_name):
    curve = turbines.power_curve(type_name)
    spec = WindFarmSpec(name="wf", turbine_type=type_name, n_turbines=7, hub_height_m=120.0)
    speeds = np.arange(0.0, 36.0, 0.05)
    for temp_c, pressure_pa in ((15.0, 101_325.0), (-25.0, 103_000.0), (30.0, 96_000.0)):
        out = wind_power(spec, curve, speeds, spec.hub_height_m, 0.1, temp_c, pressure_pa)
        assert np.allclose(out.wind_hub_ms, speeds)
        ref = power_output.power_curve(
            speeds,
            np.asarray(curve.wind_ms),
            np.asarray(curve.p_mw),
            density=np.broadcast_to(out.density_kg_m3, speeds.shape),
            density_correction=True,
        )
        np.testing.assert_allclose(out.p_mw, ref * 7 * spec.loss_factor, rtol=1e-12, atol=1e-12)
        for i in (0, 150, 203, 400, 719):  # per-step scalar path gives the same numbers
            one = wind_power(spec, curve, speeds[i], spec.hub_height_m, 0.1, temp_c, pressure_pa)
            assert one.p_mw.shape == ()
            assert float(one.p_mw) == pytest.approx(out.p_mw[i], rel=1e-12, abs=1e-12)


def test_capacity_factor_plausible_for_weibull_wind(farm, ref_curve):
    rng = np.random.default_rng(7)
    k, mean_ms = 2.0, 6.0
    scale = mean_ms / math.gamma(1.0 + 1.0 / k)
    wind_100m = scale * rng.weibull(k, 35_040)
    out = wind_power(farm, ref_curve, wind_100m, 100.0, 0.1, 8.5, 100_500.0)
    cf = out.p_mw.mean() / (farm.n_turbines * ref_curve.nominal_mw)
    assert 0.20 < cf < 0.40


def test_specs_and_curves_are_checked(ref_curve):
    with pytest.raises(ValueError, match="increasing"):
        PowerCurve("bad", (0.0, 5.0, 4.0), (0.0, 1.0, 2.0), 2.0)
    spec = WindFarmSpec(name="wf", turbine_type="V126/3450", n_turbines=1, hub_height_m=120.0)
    with pytest.raises(ValueError, match="curve is for"):
        wind_power(spec, ref_curve, 8.0, 100.0, 0.1, 10.0, 101_000.0)


@settings(max_examples=150, deadline=None)
@given(
    wind=st.floats(0.0, 60.0),
    height=st.floats(2.0, 200.0),
    roughness=st.floats(0.0002, 1.0),
    temp=st.floats(-45.0, 45.0),
    pressure=st.floats(80_000.0, 108_000.0),
    n=st.integers(1, 200),
    shear=st.sampled_from(["log", "hellman"]),
)
def test_power_within_bounds_for_random_weather(
    ref_curve, wind, height, roughness, temp, pressure, n, shear
):
    spec = WindFarmSpec(
        name="wf",
        turbine_type=ref_curve.turbine_type,
        n_turbines=n,
        hub_height_m=129.0,
        shear=shear,
    )
    out = wind_power(spec, ref_curve, wind, height, roughness, temp, pressure)
    p = float(out.p_mw)
    assert np.isfinite(p)
    assert 0.0 <= p <= n * ref_curve.nominal_mw * spec.loss_factor * (1 + 1e-12)
