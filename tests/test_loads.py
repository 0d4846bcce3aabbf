"""Physics and calibration checks of the park loads (calendar, factories, EV hubs, heat)."""

from __future__ import annotations

import datetime as dt
import math

import holidays
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.core.rng import generator
from twin.models.loads import (
    EVHub,
    EVHubSpec,
    FactoryLoad,
    FactorySpec,
    HeatSupply,
    HeatSupplySpec,
    ParkCalendar,
    factory_params,
)

CST = dt.timezone(dt.timedelta(hours=8))
NCV_GB2589_MJ_NM3 = 38.93  # GB/T 2589-2020, natural gas net calorific value


def local_epoch(y: int, m: int, d: int, h: float = 0.0) -> int:
    """UTC epoch of a Shenyang local time."""
    return int(dt.datetime(y, m, d, tzinfo=CST).timestamp() + h * 3600)


@pytest.fixture(scope="module")
def cal() -> ParkCalendar:
    return ParkCalendar(timezone="Asia/Shanghai", years=range(2025, 2028))


# ---------------------------------------------------------------- calendar
def test_spring_festival_dates(cal: ParkCalendar) -> None:
    # 正月初一: 2026-02-17 (year of the horse), 2027-02-06 (year of the goat)
    assert cal.spring_festival(2026) == dt.date(2026, 2, 17)
    assert cal.spring_festival(2027) == dt.date(2027, 2, 6)
    for year in (2026, 2027):
        sf = cal.spring_festival(year)
        e = local_epoch(sf.year, sf.month, sf.day, 12)
        assert cal.day_type(e, "datacentre") == "holiday"  # continuous process: no shutdown
        assert cal.day_type(e, "automotive") == "shutdown"


def test_shutdown_window_edges(cal: ParkCalendar) -> None:
    for kind in ("automotive", "supplier", "electronics"):
        lo, hi = cal.shutdown_window(kind)
        sf = cal.spring_festival(2026)
        for k in range(lo, hi + 1):
            d = sf + dt.timedelta(days=k)
            assert cal.day_type(local_epoch(d.year, d.month, d.day, 10), kind) == "shutdown"
        after = sf + dt.timedelta(days=hi + 1)
        while after.weekday() >= 5:
            after += dt.timedelta(days=1)
        assert cal.day_type(local_epoch(after.year, after.month, after.day, 10), kind) == "workday"
    # continuous-process kinds never shut down
    day0 = local_epoch(2026, 1, 1, 12)
    for kind in ("biopharma", "datacentre"):
        assert all(cal.day_type(day0 + i * 86400, kind) != "shutdown" for i in range(365))


def test_official_2026_spring_festival_block(cal: ParkCalendar) -> None:
    # State Council 2026: Spring Festival off 15-23 February (9 days), including the weekends
    for day in range(15, 24):
        assert cal.day_type(local_epoch(2026, 2, day, 12), "datacentre") == "holiday"


@pytest.mark.parametrize("year", [2026, 2027])
def test_national_day_week(cal: ParkCalendar, year: int) -> None:
    for day in range(1, 8):
        assert cal.day_type(local_epoch(year, 10, day, 12)) == "holiday", (year, day)


def test_sundays_and_plain_weekdays(cal: ParkCalendar) -> None:
    assert cal.day_type(local_epoch(2026, 3, 8, 12)) == "weekend"  # Sunday
    assert cal.day_type(local_epoch(2026, 3, 7, 12)) == "weekend"  # Saturday
    assert cal.day_type(local_epoch(2026, 3, 9, 12)) == "workday"  # Monday
    assert cal.day_type(local_epoch(2027, 6, 13, 12)) == "weekend"  # Sunday
    # local day boundary: 23:59 local Sunday is weekend, 00:00 Monday is workday
    assert cal.day_type(local_epoch(2026, 3, 8, 23.99)) == "weekend"
    assert cal.day_type(local_epoch(2026, 3, 9, 0.0)) == "workday"


def test_makeup_workdays(cal: ParkCalendar) -> None:
    if dt.date(2026, 2, 14) not in holidays.China(years=2026).weekend_workdays:
        pytest.skip("holidays package does not list the 2026 make-up working days")
    # 调休 2026: Sat 14 Feb and Sat 28 Feb (Spring Festival), Sun 20 Sep and Sat 10 Oct
    for d in (dt.date(2026, 2, 14), dt.date(2026, 2, 28), dt.date(2026, 9, 20),
              dt.date(2026, 10, 10)):
        assert d.weekday() >= 5
        assert cal.day_type(local_epoch(d.year, d.month, d.day, 12), "datacentre") == "workday"


def test_local_hour() -> None:
    cal = ParkCalendar(years=[2026])
    utc_midnight = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
    assert cal.local_hour(utc_midnight) == pytest.approx(8.0)
    assert cal.local_hour(utc_midnight + 16 * 3600 + 1800) == pytest.approx(0.5)
    berlin = ParkCalendar(timezone="Europe/Berlin", years=[2026], shutdown_windows={})
    assert berlin.local_hour(utc_midnight) == pytest.approx(1.0)
    summer = int(dt.datetime(2026, 7, 1, tzinfo=dt.UTC).timestamp())
    assert berlin.local_hour(summer) == pytest.approx(2.0)  # CEST


# ---------------------------------------------------------------- factories
def day_energy(model: FactoryLoad, y: int, m: int, d: int, temp: float, dt_s: int = 900) -> float:
    """Energy (MWh) over a local day at a constant temperature."""
    e0 = local_epoch(y, m, d)
    return sum(model.step(e0 + i * dt_s, dt_s, temp).p_mw for i in range(86400 // dt_s)) * dt_s / 3600


def factory(cal: ParkCalendar, kind: str, peak: float = 100.0, seed: int = 1, **kw) -> FactoryLoad:
    spec = FactorySpec(name=f"f_{kind}", kind=kind, p_peak_mw=peak, **kw)
    return FactoryLoad(spec, cal, generator(seed, spec.name))


def test_automotive_spring_festival_shutdown_far_below_workday(cal: ParkCalendar) -> None:
    work = day_energy(factory(cal, "automotive"), 2026, 3, 4, 0.0)  # Wednesday
    shut = day_energy(factory(cal, "automotive"), 2026, 2, 19, 0.0)  # 初三
    assert shut < 0.4 * work
    assert shut > 0.1 * work  # a base load remains (ovens, compressed air, lighting)


@pytest.mark.parametrize("kind", ["automotive", "supplier"])
def test_weekday_above_weekend(cal: ParkCalendar, kind: str) -> None:
    wed = day_energy(factory(cal, kind), 2026, 3, 4, 5.0)
    sun = day_energy(factory(cal, kind), 2026, 3, 8, 5.0)
    assert sun < 0.8 * wed


def test_datacentre_flat_across_day_types(cal: ParkCalendar) -> None:
    wed = day_energy(factory(cal, "datacentre"), 2026, 3, 4, 5.0)
    sun = day_energy(factory(cal, "datacentre"), 2026, 3, 8, 5.0)
    assert sun == pytest.approx(wed, rel=0.05)


def test_three_shift_profile_has_breaks(cal: ParkCalendar) -> None:
    m = factory(cal, "automotive", noise_pct=0.0)
    e0 = local_epoch(2026, 3, 4)
    levels = [m.process_level(e0 + i * 300, 300) for i in range(288)]
    assert min(levels) < 0.8 * max(levels)  # breaks show in 5-min steps
    assert np.mean(levels) > 0.8 * max(levels)  # but three shifts keep it running


@pytest.mark.parametrize("kind", ["automotive", "supplier", "electronics", "biopharma",
                                  "datacentre"])
def test_hvac_rises_away_from_balance_points(cal: ParkCalendar, kind: str) -> None:
    p = factory_params(kind)
    mid = 0.5 * (p.t_heat_balance_c + p.t_cool_balance_c)
    e = local_epoch(2026, 3, 4, 10)

    def hvac(temp: float) -> float:  # fresh model per temperature: same noise draw
        return factory(cal, kind).step(e, 900, temp).p_hvac_mw

    base = hvac(mid)
    hot = [hvac(t) for t in (p.t_cool_balance_c + 3, p.t_cool_balance_c + 8, 30.0)]
    assert base < hot[0] < hot[1] < hot[2]
    if p.hvac_heat_design > p.hvac_base:
        cold = [hvac(t) for t in (p.t_heat_balance_c - 3, p.t_heat_balance_c - 12, -18.0)]
        assert base < cold[0] < cold[1] < cold[2]


@pytest.mark.parametrize("kind", ["automotive", "electronics", "datacentre"])
def test_factory_bounds_and_parts(cal: ParkCalendar, kind: str) -> None:
    m = factory(cal, kind, peak=50.0, noise_pct=10.0)
    e0 = local_epoch(2026, 7, 20)
    for i in range(2 * 96):
        out = m.step(e0 + i * 900, 900, 25.0 + 10 * math.sin(i / 10))
        assert 0.0 <= out.p_mw <= 50.0 + 1e-9
        assert out.p_mw == pytest.approx(out.p_process_mw + out.p_hvac_mw, rel=1e-12)
        assert out.p_process_mw >= 0.0
        assert out.p_hvac_mw >= 0.0


@pytest.mark.parametrize("dt_s", [45, 300, 900, 3600, 86400])
def test_factory_energy_independent_of_step(cal: ParkCalendar, dt_s: int) -> None:
    # noise off: the energy over two days must not depend on the step length
    ref = factory(cal, "automotive", noise_pct=0.0)
    m = factory(cal, "automotive", noise_pct=0.0)
    e0 = local_epoch(2026, 3, 6, 0)  # Friday + Saturday
    e_ref = sum(ref.step(e0 + i * 60, 60, 5.0).p_mw for i in range(2 * 1440)) * 60
    e_dt = sum(m.step(e0 + i * dt_s, dt_s, 5.0).p_mw for i in range(2 * 86400 // dt_s)) * dt_s
    assert e_dt == pytest.approx(e_ref, rel=1e-9)


# ---------------------------------------------------------------- EV hubs
def run_hub(hub: EVHub, e0: int, n_steps: int, dt_s: int) -> list:
    return [hub.step(e0 + i * dt_s, dt_s) for i in range(n_steps)]


def check_hub(hub: EVHub, outs: list, dt_s: int) -> None:
    cap = min(hub.spec.n_chargers * hub.p_charger_mw,
              math.inf if hub.spec.p_max_mw is None else hub.spec.p_max_mw)
    e_sum = 0.0
    for o in outs:
        assert 0.0 <= o.p_mw <= cap * (1 + 1e-9) + 1e-12
        assert 0 <= o.n_connected <= hub.spec.n_chargers
        assert o.e_unserved_mwh >= 0.0
        assert o.p_mw * dt_s / 3600 == pytest.approx(o.e_delivered_mwh, rel=1e-12, abs=1e-15)
        e_sum += o.e_delivered_mwh
    assert e_sum == pytest.approx(hub.e_delivered_mwh, rel=1e-9, abs=1e-12)
    assert hub.e_requested_mwh == pytest.approx(
        hub.e_delivered_mwh + hub.e_unserved_mwh + hub.e_pending_mwh(), rel=1e-9, abs=1e-9)
    assert sum(o.n_arrivals for o in outs) == hub.n_arrivals


def test_ev_congested_hub_conserves_energy_and_respects_limits(cal: ParkCalendar) -> None:
    spec = EVHubSpec(name="ev_busy", kind="public", n_chargers=8, p_charger_kw=120.0,
                     p_max_mw=0.5, arrivals_per_day=150.0, e_mean_kwh=40.0)
    hub = EVHub(spec, cal, generator(3, spec.name))
    outs = run_hub(hub, local_epoch(2026, 5, 11), 7 * 96, 900)
    check_hub(hub, outs, 900)
    assert max(o.p_mw for o in outs) == pytest.approx(0.5, rel=1e-6)  # the limit binds
    assert hub.n_rejected > 0
    assert hub.e_unserved_mwh > 0
    assert max(o.n_queued for o in outs) > 0


def test_ev_skip_draws_as_the_steps_it_leaves_out(cal: ParkCalendar) -> None:
    """A hub that skips four days (the last two stepped) has drawn what a hub stepping them
    drew, and goes on with the same vehicles and power."""
    spec = EVHubSpec(name="ev_jump", kind="public", n_chargers=10, arrivals_per_day=80.0)
    e0, n = local_epoch(2026, 5, 11), 4 * 96
    stepped = EVHub(spec, cal, generator(5, spec.name))
    run_hub(stepped, e0, n, 900)
    skipped = EVHub(spec, cal, generator(5, spec.name))
    skipped.skip(n, 900, e0 + n * 900, stepped=2 * 96)
    assert skipped._rng.bit_generator.state == stepped._rng.bit_generator.state
    assert skipped.n_arrivals == 0  # the totals count from the jump
    assert skipped.e_delivered_mwh == 0.0
    after = [run_hub(h, e0 + n * 900, 96, 900) for h in (stepped, skipped)]
    assert sum(o.n_arrivals for o in after[0]) > 50
    assert [o.p_mw for o in after[0]] == [o.p_mw for o in after[1]]


def test_ev_power_setpoint_respected(cal: ParkCalendar) -> None:
    spec = EVHubSpec(name="ev_fleet", kind="fleet", n_chargers=20, arrivals_per_day=40.0)
    hub = EVHub(spec, cal, generator(3, spec.name))
    e0 = local_epoch(2026, 5, 11, 16)
    outs = [hub.step(e0 + i * 900, 900, p_limit_mw=0.3) for i in range(48)]
    assert max(o.p_mw for o in outs) <= 0.3 + 1e-9
    check_hub(hub, outs, 900)
    flex = hub.flex_state()
    assert flex.t_depart_s.shape == flex.e_remaining_mwh.shape
    assert (flex.e_remaining_mwh >= 0).all()
    assert (flex.t_depart_s > e0).all()


def test_ev_monthly_arrivals_match_configured_mean(cal: ParkCalendar) -> None:
    apd = 120.0
    spec = EVHubSpec(name="ev_work", kind="workplace", n_chargers=150, arrivals_per_day=apd)
    hub = EVHub(spec, cal, generator(5, spec.name))
    e0, dt_s = local_epoch(2026, 3, 1), 900  # March 2026: no public holidays
    n_work, arr_work, expected = 0, 0, 0.0
    for day in range(31):
        wd = cal.day_type(e0 + day * 86400 + 43200) == "workday"
        n_work += wd
        for i in range(96):
            e = e0 + day * 86400 + i * dt_s
            expected += hub.expected_arrivals(e, dt_s)
            o = hub.step(e, dt_s)
            arr_work += o.n_arrivals if wd else 0
    assert n_work == 22
    mean = apd * n_work
    assert abs(arr_work - mean) < 4 * math.sqrt(mean)
    assert abs(hub.n_arrivals - expected) < 4 * math.sqrt(expected)
    assert hub.n_arrivals - arr_work < 0.5 * apd * (31 - n_work)  # few on days off


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(["workplace", "fleet", "public"]),
    n_chargers=st.integers(1, 40),
    p_charger_kw=st.floats(3.0, 350.0),
    p_max_mw=st.one_of(st.none(), st.floats(0.005, 5.0)),
    arrivals_per_day=st.floats(0.0, 400.0),
    e_mean_kwh=st.floats(1.0, 250.0),
    dt_s=st.sampled_from([300, 900, 3600]),
    seed=st.integers(0, 2**31),
)
def test_ev_property_bounded_and_conserving(
    kind: str, n_chargers: int, p_charger_kw: float, p_max_mw: float | None,
    arrivals_per_day: float, e_mean_kwh: float, dt_s: int, seed: int,
) -> None:
    cal = _CAL
    spec = EVHubSpec(name="ev_prop", kind=kind, n_chargers=n_chargers, p_charger_kw=p_charger_kw,
                     p_max_mw=p_max_mw, arrivals_per_day=arrivals_per_day, e_mean_kwh=e_mean_kwh)
    hub = EVHub(spec, cal, generator(seed, spec.name))
    outs = run_hub(hub, local_epoch(2026, 2, 13, 6), 2 * 86400 // dt_s, dt_s)
    check_hub(hub, outs, dt_s)


_CAL = ParkCalendar(years=range(2025, 2028))


# ---------------------------------------------------------------- heat supply
def heat(cal: ParkCalendar, **kw) -> HeatSupply:
    spec = HeatSupplySpec(**{"name": "heat", "q_design_mw": 100.0, "hp_q_max_mw": 30.0,
                             "noise_pct": 0.0, **kw})
    return HeatSupply(spec, cal, generator(1, spec.name))


def test_heat_balance_pump_power_and_gas(cal: ParkCalendar) -> None:
    h = heat(cal, noise_pct=3.0, boiler_eff=0.9)
    e0 = local_epoch(2026, 12, 1)
    for i, temp in enumerate(np.linspace(-25, 20, 200)):
        o = h.step(e0 + i * 900, 900, float(temp))
        assert o.q_hp_mw + o.q_boiler_mw == pytest.approx(o.q_heat_mw, rel=1e-14, abs=1e-12)
        assert 0.0 <= o.q_hp_mw <= 30.0
        assert o.q_boiler_mw >= 0.0
        assert o.p_hp_mw == pytest.approx(o.q_hp_mw / o.cop, rel=1e-12)
        assert o.p_mw == pytest.approx(o.p_hp_mw + o.p_pump_mw, rel=1e-12)
        assert o.cop > 1.0
        gas_ref = o.q_boiler_mw * 900 / (0.9 * NCV_GB2589_MJ_NM3)
        assert o.gas_nm3 == pytest.approx(gas_ref, rel=1e-3, abs=1e-9)


def test_heat_design_point_and_cop_trend(cal: ParkCalendar) -> None:
    h = heat(cal)
    e = local_epoch(2027, 1, 15, 3)
    assert h.step(e, 900, h.t_design_c).q_heat_mw == pytest.approx(100.0, rel=1e-12)
    cold, mild = h.step(e, 900, -15.0), h.step(e, 900, 5.0)
    assert cold.t_supply_c > mild.t_supply_c
    assert cold.cop < mild.cop
    fixed = heat(cal, cop_nominal=4.0).step(e, 900, -5.0)
    assert fixed.p_hp_mw == pytest.approx(fixed.q_hp_mw / 4.0, rel=1e-12)


def test_no_space_heat_outside_season(cal: ParkCalendar) -> None:
    h = heat(cal, dhw_share=0.1)
    start, end = h.season
    # a cold snap one day after the season end and one day before its start: DHW only
    after = dt.date(2026, end[0], end[1]) + dt.timedelta(days=1)
    before = dt.date(2026, start[0], start[1]) - dt.timedelta(days=1)
    for d in (after, before, dt.date(2026, 7, 15)):
        o = h.step(local_epoch(d.year, d.month, d.day, 6), 900, 0.0)
        assert o.q_heat_mw == pytest.approx(10.0, rel=1e-12)
    inside = h.step(local_epoch(2026, start[0], start[1], 6), 900, 0.0)
    assert inside.q_heat_mw > 10.0 * 2
    warm = h.step(local_epoch(2027, 1, 20, 12), 900, h.t_base_c + 2.0)
    assert warm.q_heat_mw == pytest.approx(10.0, rel=1e-12)


def test_heat_scales_with_heating_degree_days(cal: ParkCalendar) -> None:
    e0, dt_s = local_epoch(2026, 11, 1), 3600
    n = 151 * 24  # 1 Nov - 31 Mar
    hours = np.arange(n)
    base = -8.0 + 10.0 * np.cos(2 * np.pi * (hours / 24 - 75) / 302) ** 2 - 4 * np.cos(
        2 * np.pi * hours / 24)
    energies, hdds = [], []
    for shift in (0.0, 3.0):  # the warmer winter is 3 K milder
        h = heat(cal, dhw_share=0.0)
        temp = base + shift
        energies.append(sum(h.step(e0 + i * dt_s, dt_s, float(temp[i])).q_heat_mw
                            for i in range(n)))  # MWh (1 h steps)
        hdds.append(np.clip(h.t_base_c - temp, 0, None).sum() / 24)  # K d
    assert energies[0] > energies[1]
    assert energies[0] / energies[1] == pytest.approx(hdds[0] / hdds[1], rel=1e-9)
    per_kd = 100.0 / (h.t_base_c - h.t_design_c) * 24  # MWh per K d at q_design 100 MW
    assert energies[0] == pytest.approx(per_kd * hdds[0], rel=1e-9)


# ---------------------------------------------------------------- reproducibility
def series(cal: ParkCalendar, name: str, seed: int) -> tuple[list, list, list]:
    f = FactoryLoad(FactorySpec(name=name, kind="supplier", p_peak_mw=20.0), cal,
                    generator(seed, name))
    ev = EVHub(EVHubSpec(name=name, kind="public", n_chargers=10), cal, generator(seed, name))
    h = HeatSupply(HeatSupplySpec(name=name, q_design_mw=20.0, hp_q_max_mw=5.0), cal,
                   generator(seed, name))
    e0 = local_epoch(2026, 12, 7)
    fs, es, hs = [], [], []
    for i in range(192):
        e = e0 + i * 900
        fs.append(f.step(e, 900, -5.0).p_mw)
        es.append(ev.step(e, 900).p_mw)
        hs.append(h.step(e, 900, -5.0).q_heat_mw)
    return fs, es, hs


@pytest.mark.parametrize("n", [0, 1, 1022, 1023, 2500])
def test_noise_advanced_as_stepped(n: int) -> None:
    """A factory's and heat supply's noise over the steps a jump leaves out (advance) ends
    where stepping them ends, to the bit, across blocks of draws, and goes on alike."""
    from twin.core.rng import AR1Noise

    skipped, stepped = (AR1Noise(generator(7, "noise"), 0.05, 3600.0) for _ in range(2))
    stepped.step(900)  # mid-block, as after some steps
    skipped.step(900)
    skipped.advance(n, 900)
    for _ in range(n):
        stepped.step(900)
    assert skipped.x == stepped.x
    assert [skipped.step(600) for _ in range(1500)] == [stepped.step(600) for _ in range(1500)]


@pytest.mark.parametrize("n", [0, 1, 1023, 2500])
def test_noise_steps_are_the_steps_values(n: int) -> None:
    """``steps`` gives the values of as many ``step`` calls, to the bit, across blocks of
    draws, and ends in the same state."""
    from twin.core.rng import AR1Noise

    block, stepped = (AR1Noise(generator(9, "noise"), 0.05, 3600.0) for _ in range(2))
    block.step(900)
    stepped.step(900)
    values = block.steps(n, 900)
    assert values == [stepped.step(900) for _ in range(n)]
    assert len(set(values)) == n
    assert block.step(600) == stepped.step(600)


def test_reproducible_by_seed_and_name(cal: ParkCalendar) -> None:
    a, b = series(cal, "ent_a", 42), series(cal, "ent_a", 42)
    assert a == b
    c = series(cal, "ent_b", 42)
    for x, y in zip(a, c, strict=True):
        assert x != y
