"""PV plant model: agreement with pvlib's ModelChain, physics and bounds."""

from __future__ import annotations

import dataclasses
import inspect
import pathlib

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pvlib import inverter, location, modelchain, pvsystem, solarposition, temperature

from twin.data import load
from twin.models import pv
from twin.models.pv import SAPM_MOUNTS, PVSpec, pv_power, sun_position

TMY3 = pathlib.Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"  # Greensboro NC, hourly


@pytest.fixture(scope="module")
def tmy():
    """Hourly typical year shipped with pvlib; labels are interval ends (local standard time)."""
    data, meta = pvlib.iotools.read_tmy3(TMY3, coerce_year=1990, map_variables=True)
    end_utc = data.index.tz_convert("UTC").tz_localize(None)
    start_s = (end_utc - pd.Timedelta("1h") - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    mid = (end_utc - pd.Timedelta("30min")).tz_localize("UTC")
    weather = pd.DataFrame(
        {
            "ghi": data["ghi"].to_numpy(float),
            "dni": data["dni"].to_numpy(float),
            "dhi": data["dhi"].to_numpy(float),
            "temp_air": data["temp_air"].to_numpy(float),
            "wind_speed": data["wind_speed"].to_numpy(float),
        },
        index=mid,
    )
    sun = sun_position(
        np.asarray(start_s, dtype=float),
        meta["latitude"],
        meta["longitude"],
        meta["altitude"],
        dt_s=3600.0,
    )
    return weather, meta, sun


def _run(spec: PVSpec, tmy):
    weather, _, sun = tmy
    return pv_power(
        spec,
        sun,
        weather["ghi"].to_numpy(),
        weather["dni"].to_numpy(),
        weather["dhi"].to_numpy(),
        weather["temp_air"].to_numpy(),
        weather["wind_speed"].to_numpy(),
    )


def _modelchain_ac(spec: PVSpec, tmy) -> pd.Series:
    weather, meta, _ = tmy
    site = location.Location(
        meta["latitude"], meta["longitude"], tz="UTC", altitude=meta["altitude"]
    )
    system = pvsystem.PVSystem(
        surface_tilt=spec.tilt_deg,
        surface_azimuth=spec.azimuth_deg,
        albedo=spec.albedo,
        module_parameters={"pdc0": spec.p_dc_mwp, "gamma_pdc": spec.gamma_pdc_per_c},
        inverter_parameters={
            "pdc0": spec.p_ac_mw / spec.eta_inv_nom,
            "eta_inv_nom": spec.eta_inv_nom,
        },
        temperature_model_parameters=temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][
            SAPM_MOUNTS[spec.mount]
        ],
    )
    chain = modelchain.ModelChain(
        system,
        site,
        transposition_model="perez",
        aoi_model="physical",
        spectral_model="no_loss",
        temperature_model="sapm",
        dc_model="pvwatts",
        ac_model="pvwatts",
        losses_model="pvwatts",
    )
    chain.run_model(weather)
    return chain.results.ac.fillna(0.0)


def test_spec_defaults_match_reference_data():
    data = load("pv_defaults")
    defaults = {f.name: f.default for f in dataclasses.fields(PVSpec)}
    for key, value in data.items():
        assert defaults[key] == value, key
    # the losses default is PVWatts' own figure
    assert data["losses_pct"] == pytest.approx(pvsystem.pvwatts_losses(), abs=0.01)


@pytest.mark.parametrize(("mount", "dc_ac"), [("open_rack", 1.2), ("roof", 1.5)])
def test_annual_energy_matches_pvlib_modelchain(tmy, mount, dc_ac):
    spec = PVSpec(
        name="pv",
        p_dc_mwp=10.0,
        p_ac_mw=10.0 / dc_ac,
        losses_pct=pvsystem.pvwatts_losses(),
        mount=mount,
    )
    e_twin = float(_run(spec, tmy).p_mw.sum())
    e_chain = float(_modelchain_ac(spec, tmy).sum())
    assert e_twin == pytest.approx(e_chain, rel=0.005)


def test_sun_position_close_to_nrel_spa(tmy):
    weather, meta, sun = tmy
    spa = solarposition.get_solarposition(
        weather.index,
        meta["latitude"],
        meta["longitude"],
        altitude=meta["altitude"],
        method="nrel_numpy",
    )
    up = spa["apparent_zenith"].to_numpy() < 89.0
    d_zen = np.abs(sun.apparent_zenith_deg - spa["apparent_zenith"].to_numpy())[up]
    d_az = np.abs((sun.azimuth_deg - spa["azimuth"].to_numpy() + 180.0) % 360.0 - 180.0)[up]
    assert d_zen.max() < 0.45  # Spencer (1971) fits drift by up to ~0.4 deg over a leap cycle
    assert d_az.max() < 0.5
    cos_twin = np.cos(np.radians(sun.apparent_zenith_deg[up]))
    cos_spa = np.cos(np.radians(spa["apparent_zenith"].to_numpy()[up]))
    assert cos_twin.sum() == pytest.approx(cos_spa.sum(), rel=5e-4)
    assert np.isfinite(sun.airmass_rel[sun.apparent_zenith_deg < 90]).all()
    assert (sun.dni_extra_w_m2 > 1300).all()
    assert (sun.dni_extra_w_m2 < 1420).all()


def test_sun_azimuth_equals_pvlib_analytical_and_midpoint_rule():
    t = 1.7e9 + np.arange(0, 86400 * 3, 900.0)
    sun = sun_position(t, 41.8, 123.4, dt_s=900.0)
    same = sun_position(t + 450.0, 41.8, 123.4, dt_s=0.0)
    np.testing.assert_allclose(sun.apparent_zenith_deg, same.apparent_zenith_deg)
    np.testing.assert_allclose(sun.azimuth_deg, same.azimuth_deg)
    # azimuth equals pvlib's analytical formula given the same hour angle and declination
    lat = np.radians(41.8)
    zen = np.radians(sun.zenith_deg)
    doy = (t + 450.0 - np.datetime64("2023-01-01", "s").astype(float)) / 86400.0 + 1.0
    decl = solarposition.declination_spencer71(doy)
    eot = solarposition.equation_of_time_spencer71(doy)
    hour_angle = np.radians(
        (15.0 * (((t + 450.0) % 86400.0) / 3600.0 - 12.0) + 123.4 + eot / 4.0 + 180.0) % 360.0
        - 180.0
    )
    ref = np.degrees(solarposition.solar_azimuth_analytical(lat, hour_angle, decl, zen))
    np.testing.assert_allclose(sun.azimuth_deg, ref % 360.0, atol=1e-6)
    # scalar and array paths agree
    one = sun_position(float(t[40]), 41.8, 123.4, dt_s=900.0)
    assert one.apparent_zenith_deg.shape == ()
    assert float(one.apparent_zenith_deg) == pytest.approx(sun.apparent_zenith_deg[40])


def test_incidence_angle_modifier_equals_pvlib_physical():
    """The lean Fresnel IAM is pvlib's ``iam.physical`` (its defaults), front and back."""
    aoi = np.concatenate([np.linspace(-10.0, 190.0, 4001), [0.0, 89.999, 90.0, 90.001]])
    np.testing.assert_allclose(pv._iam_physical(aoi), pvlib.iam.physical(aoi), rtol=0,
                               atol=1e-12)
    assert pv._iam_physical(np.array([95.0]))[0] == 0.0  # light from behind never enters


def test_no_power_at_night(tmy):
    out = _run(PVSpec(name="pv", p_dc_mwp=10.0, p_ac_mw=8.0), tmy)
    _, _, sun = tmy
    night = sun.apparent_zenith_deg >= 90.0
    assert night.sum() > 3000
    assert (out.p_mw[night] == 0).all()
    assert (out.p_dc_mw[night] == 0).all()
    # sun below the horizon gives nothing even when the inputs claim irradiance
    midnight = sun_position(1.7e9 - 1.7e9 % 86400 + 16 * 3600, 41.8, 123.4)  # 00:00 local
    spec = PVSpec(name="pv", p_dc_mwp=10.0, p_ac_mw=8.0)
    dark = pv_power(spec, midnight, 500.0, 600.0, 100.0, 10.0, 2.0)
    assert float(dark.p_mw) == 0.0
    assert float(dark.temp_cell_c) == 10.0


def test_ac_never_exceeds_rating_and_clipping_balances(tmy):
    spec = PVSpec(name="pv", p_dc_mwp=10.0, p_ac_mw=10.0 / 1.6)
    out = _run(spec, tmy)
    assert (out.p_mw <= spec.p_ac_mw).all()
    assert (out.p_mw >= 0).all()
    assert out.p_clipped_mw.sum() > 0.01 * out.p_mw.sum()  # high DC/AC ratio clips
    clipped = out.p_clipped_mw > 0
    np.testing.assert_allclose(out.p_mw[clipped], spec.p_ac_mw)
    # unclipped AC: the same PVWatts efficiency curve with its limit lifted (both efficiencies
    # scaled alike keep eta(pdc) and move the AC cap out of reach)
    k = 1e3
    eta_ref = inspect.signature(inverter.pvwatts).parameters["eta_inv_ref"].default
    unclipped = inverter.pvwatts(
        out.p_dc_mw, spec.p_ac_mw / spec.eta_inv_nom, spec.eta_inv_nom * k, eta_ref * k
    )
    assert out.p_mw.sum() + out.p_clipped_mw.sum() == pytest.approx(unclipped.sum(), rel=1e-9)
    # a generous inverter clips (almost) nothing
    roomy = _run(dataclasses.replace(spec, p_ac_mw=12.0), tmy)
    assert roomy.p_clipped_mw.sum() < 1e-6 * roomy.p_mw.sum()


def test_hotter_cells_give_less_power():
    sun = sun_position(1.7e9 - 1.7e9 % 86400 + 4 * 3600, 41.8, 123.4)  # local noon
    spec = PVSpec(name="pv", p_dc_mwp=10.0, p_ac_mw=9.0)
    cold = pv_power(spec, sun, 800.0, 700.0, 120.0, 0.0, 2.0)
    hot = pv_power(spec, sun, 800.0, 700.0, 120.0, 35.0, 2.0)
    assert float(hot.temp_cell_c) > float(cold.temp_cell_c) + 30.0
    assert float(hot.p_mw) < float(cold.p_mw)
    roof = pv_power(dataclasses.replace(spec, mount="roof"), sun, 800.0, 700.0, 120.0, 20.0, 2.0)
    rack = pv_power(spec, sun, 800.0, 700.0, 120.0, 20.0, 2.0)
    assert float(roof.temp_cell_c) > float(rack.temp_cell_c)
    assert float(roof.p_mw) < float(rack.p_mw)
    windy = pv_power(spec, sun, 800.0, 700.0, 120.0, 20.0, 10.0)
    assert float(windy.p_mw) > float(rack.p_mw)


def test_specific_yield_plausible(tmy):
    spec = PVSpec(name="pv", p_dc_mwp=10.0, p_ac_mw=10.0 / 1.25)
    e_mwh = float(_run(spec, tmy).p_mw.sum())  # hourly steps: MW x 1 h
    kwh_per_kwp = e_mwh / spec.p_dc_mwp
    assert 900.0 < kwh_per_kwp < 1700.0
    ghi_kwh_m2 = tmy[0]["ghi"].sum() / 1000.0
    assert 0.7 < kwh_per_kwp / ghi_kwh_m2 < 1.0  # plausible performance ratio on a tilted plane


def test_scalar_and_array_agree(tmy):
    weather, _, sun = tmy
    spec = PVSpec(name="pv", p_dc_mwp=5.0, p_ac_mw=4.0, tilt_deg=15.0, azimuth_deg=200.0)
    out = _run(spec, tmy)
    for i in (4000, 4012, 4020, 100):
        one = pv_power(
            spec,
            type(sun)(*(np.asarray(getattr(sun, f.name)[i]) for f in dataclasses.fields(sun))),
            *(float(weather[c].iloc[i]) for c in ("ghi", "dni", "dhi", "temp_air", "wind_speed")),
        )
        assert float(one.p_mw) == pytest.approx(out.p_mw[i], abs=1e-12)
        assert float(one.poa_w_m2) == pytest.approx(out.poa_w_m2[i], abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    t=st.floats(946_684_800, 2_524_608_000),
    ghi=st.floats(-10, 1400),
    dni_share=st.floats(0, 1.2),
    dhi=st.floats(-10, 800),
    temp=st.floats(-40, 50),
    wind=st.floats(0, 40),
    dc_ac=st.floats(0.8, 2.5),
    tilt=st.floats(0, 90),
    azimuth=st.floats(0, 360),
)
def test_power_within_bounds_for_random_weather(
    t, ghi, dni_share, dhi, temp, wind, dc_ac, tilt, azimuth
):
    spec = PVSpec(name="pv", p_dc_mwp=3.0, p_ac_mw=3.0 / dc_ac, tilt_deg=tilt, azimuth_deg=azimuth)
    sun = sun_position(t, 41.8, 123.4, 50.0)
    out = pv_power(spec, sun, ghi, dni_share * 1100.0, dhi, temp, wind)
    p = float(out.p_mw)
    assert np.isfinite(p)
    assert 0.0 <= p <= spec.p_ac_mw
    assert float(out.p_clipped_mw) >= 0.0


def test_fleet_equals_plants_one_by_one():
    """A PVFleet call gives each plant exactly what its own call gives."""
    specs = [
        pv.PVSpec(name="a", p_dc_mwp=10.0, p_ac_mw=8.0, tilt_deg=10.0, mount="roof"),
        pv.PVSpec(name="b", p_dc_mwp=3.0, p_ac_mw=1.5, tilt_deg=35.0, azimuth_deg=150.0),
        pv.PVSpec(name="c", p_dc_mwp=50.0, p_ac_mw=45.0, tilt_deg=0.0, albedo=0.6),
    ]
    fleet = pv.PVFleet.of(specs)
    # a clear noon in June, a low winter sun and a night
    for epoch, ghi, dni, dhi in ((1780286400, 900.0, 850.0, 120.0),
                                 (1767254400 + 6 * 3600, 150.0, 300.0, 60.0),
                                 (1767225600, 0.0, 0.0, 0.0)):
        sun = pv.sun_position(epoch, 41.8, 123.4, 50.0)
        together = pv.pv_power(fleet, sun, ghi, dni, dhi, 12.0, 2.0)
        for i, spec in enumerate(specs):
            alone = pv.pv_power(spec, sun, ghi, dni, dhi, 12.0, 2.0)
            for field in ("p_mw", "p_dc_mw", "poa_w_m2", "temp_cell_c", "p_clipped_mw"):
                assert np.asarray(getattr(together, field))[i] == pytest.approx(
                    float(getattr(alone, field)), rel=1e-12, abs=1e-12)
