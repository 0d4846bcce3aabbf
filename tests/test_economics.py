"""Economics: time-of-use energy cost, capex/opex, NPV, LCOE, payback (Hypothesis properties)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin import data
from twin.accounting import appraisal, economics
from twin.accounting.appraisal import Finance, Investment
from twin.accounting.economics import Asset, Tariff

REL = 1e-12

FLAT = Tariff(
    name="flat", periods=("flat",) * 24, prices_cny_per_mwh={"flat": 550.0},
    critical_peak_uplift=0.0, export_price_cny_per_mwh=300.0,
)


def _year_calendar(dt_s: int = 900) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    epoch = np.arange(1_735_660_800, 1_735_660_800 + 365 * 86400, dt_s)  # 2025-01-01 00:00 +08
    hour, month = economics.local_hour_month(epoch)
    return epoch, hour, month


def test_local_calendar_is_shanghai_time():
    hour, month = economics.local_hour_month([0, 16 * 3600 - 1, 16 * 3600])
    assert hour.tolist() == [8, 23, 0]  # UTC+8: 1970-01-01 08:00, 23:59, 1970-01-02 00:00
    assert month.tolist() == [1, 1, 1]
    _, hour, month = _year_calendar()
    assert hour[0] == 0
    assert month[0] == 1
    assert month[-1] == 12


def test_flat_tariff_reproduces_price_times_energy():
    _, hour, month = _year_calendar()
    rng = np.random.default_rng(1)
    imp = rng.uniform(0, 5, hour.size)
    exp = rng.uniform(0, 1, hour.size)
    c = economics.energy_cost(imp, exp, hour, month, FLAT)
    assert c.import_cny == pytest.approx(550.0 * imp.sum(), rel=REL)
    assert c.export_revenue_cny == pytest.approx(300.0 * exp.sum(), rel=REL)
    assert c.demand_cny == 0.0
    assert c.total_cny == pytest.approx(c.import_cny - c.export_revenue_cny, rel=REL)
    assert c.by_period_mwh == {"flat": pytest.approx(imp.sum(), rel=REL)}


def test_tou_cost_equals_hand_sum_of_hourly_price_times_energy():
    t = economics.tariff()
    _, hour, month = _year_calendar()
    rng = np.random.default_rng(2)
    imp = rng.uniform(0, 8, hour.size)
    by_hand = 0.0
    for h, m, e in zip(hour.tolist(), month.tolist(), imp.tolist(), strict=True):
        price = t.prices_cny_per_mwh[t.periods[h]]
        if m in t.critical_peak_months and h in t.critical_peak_hours:
            price = t.prices_cny_per_mwh["peak"] * (1 + t.critical_peak_uplift)
        by_hand += price * e
    c = economics.energy_cost(imp, np.zeros_like(imp), hour, month, t)
    assert c.import_cny == pytest.approx(by_hand, rel=1e-9)
    # the breakdown by period closes on the totals
    assert sum(c.by_period_mwh.values()) == pytest.approx(imp.sum(), rel=1e-9)
    assert sum(c.by_period_cny.values()) == pytest.approx(c.import_cny, rel=1e-9)
    assert set(c.by_period_mwh) == {"peak", "flat", "valley", "critical_peak"}


def test_critical_peak_only_in_its_months_and_hours_and_at_least_20_percent_above_peak():
    t = economics.tariff()
    assert t.has_critical_peak
    hour, month = np.meshgrid(np.arange(24), np.arange(1, 13))
    price = economics.hourly_prices(t, hour, month)
    peak = t.prices_cny_per_mwh["peak"]
    critical = np.isin(month, t.critical_peak_months) & np.isin(hour, t.critical_peak_hours)
    assert critical.any()
    assert not critical.all()
    assert np.all(price[critical] >= 1.2 * peak - 1e-9)
    base = np.array([t.prices_cny_per_mwh[p] for p in t.periods])[hour]
    np.testing.assert_array_equal(price[~critical], base[~critical])
    assert price.max() == pytest.approx(peak * (1 + t.critical_peak_uplift))


def test_shipped_tariffs_follow_the_national_rule():
    for name in economics.tariff_names():
        t = economics.tariff(name)
        prices = t.prices_cny_per_mwh
        if "peak" in prices and "valley" in prices:
            assert prices["peak"] / prices["valley"] >= 3.0, name
            assert prices["peak"] > prices["flat"] > prices["valley"], name
        if t.has_critical_peak:
            assert t.critical_peak_uplift >= 0.2, name
        assert "source" in data.entries("tariff")[name]


def test_tariff_checks_and_unknown_name():
    with pytest.raises(ValueError, match="liaoning-illustrative"):
        economics.tariff("no-such-tariff")
    with pytest.raises(ValueError, match="0.2"):
        Tariff(name="x", periods=("peak",) * 24, prices_cny_per_mwh={"peak": 1.0},
               critical_peak_months=(1,), critical_peak_hours=(18,), critical_peak_uplift=0.1)
    with pytest.raises(ValueError, match="no price"):
        Tariff(name="x", periods=("peak",) * 23 + ("valley",), prices_cny_per_mwh={"peak": 1.0})
    with pytest.raises(ValueError, match="24"):
        Tariff(name="x", periods=("flat",) * 23, prices_cny_per_mwh={"flat": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        economics.energy_cost([-1.0], [0.0], [3], [1], FLAT)


def test_demand_charge_is_the_sum_of_monthly_peaks():
    t = economics.tariff()
    _, hour, month = _year_calendar(3600)
    rng = np.random.default_rng(3)
    p_mw = rng.uniform(0, 20, hour.size)
    peaks = economics.monthly_peak_import_mw(p_mw, month)
    assert sorted(peaks) == list(range(1, 13))
    for m, v in peaks.items():
        assert v == p_mw[month == m].max()
    c = economics.energy_cost(p_mw, np.zeros_like(p_mw), hour, month, t, peaks)
    assert c.demand_cny == pytest.approx(
        sum(peaks.values()) * 1000 * t.demand_charge_cny_per_kw_month, rel=REL)
    assert c.total_cny == pytest.approx(c.import_cny + c.demand_cny, rel=REL)


def test_capex_and_opex_are_linear_in_size_and_checked():
    costs = economics.unit_costs()
    assert {"wind", "pv", "battery", "heat_pump", "gas_boiler", "line_66kv"} <= set(costs)
    for c in costs.values():
        assert c.capex_cny_per_kw >= 0
        assert c.capex_cny_per_kwh >= 0
        assert c.lifetime_years > 0
    one = [Asset("w", "wind", 1000.0), Asset("b", "battery", 500.0, 1000.0)]
    two = [Asset("w", "wind", 2000.0), Asset("b", "battery", 1000.0, 2000.0)]
    assert economics.capex_cny(two) == pytest.approx(2 * economics.capex_cny(one), rel=REL)
    assert economics.opex_cny_per_year(two) == pytest.approx(
        2 * economics.opex_cny_per_year(one), rel=REL)
    expected = (1000 * costs["wind"].capex_cny_per_kw + 500 * costs["battery"].capex_cny_per_kw
                + 1000 * costs["battery"].capex_cny_per_kwh)
    assert economics.capex_cny(one) == pytest.approx(expected, rel=REL)
    with pytest.raises(ValueError, match="wind"):
        economics.capex_cny([Asset("x", "fusion", 1.0)])
    with pytest.raises(ValueError, match="energy_kwh"):
        economics.capex_cny([Asset("b", "battery", 1.0)])
    assert 0 < economics.default_discount_rate() < 0.2


def test_npv_of_an_annuity_equals_the_closed_form():
    invest, pay, rate, years = 1e6, 1.5e5, 0.07, 12
    closed = -invest + pay * (1 - (1 + rate) ** -years) / rate
    assert economics.npv([-invest] + [pay] * years, rate) == pytest.approx(closed, rel=1e-12)
    assert economics.npv([0, 0, 0, 121.0], 0.1) == pytest.approx(121.0 / 1.331, rel=1e-12)
    assert economics.npv([1.0, 2.0, 3.0], 0.0) == 6.0


def test_lcoe_of_constant_output_equals_the_annuity_formula():
    # a plant living exactly the period: no replacement, no residual value
    capex, opex, energy, rate, years = 4.2e8, 1.0e7, 2.6e5, 0.08, 20
    crf = rate / (1 - (1 + rate) ** -years)
    inv = [Investment("w", "wind", 1.0, "kW", capex, opex, years, 0.0, "illustrative: test")]
    lcoe = appraisal.lcoe_cny_per_mwh(inv, energy, Finance(rate=rate, years=years))
    assert lcoe == pytest.approx(capex * crf / energy + opex / energy, rel=1e-12)
    assert appraisal.lcoe_cny_per_mwh(inv, energy, Finance(rate=0.0, years=years)) == (
        pytest.approx((capex / years + opex) / energy, rel=1e-12))
    # an NPV of zero at the LCOE price: it is the break-even price
    flows = [-capex] + [lcoe * energy - opex] * years
    assert economics.npv(flows, rate) == pytest.approx(0.0, abs=1e-6 * capex)


@settings(max_examples=100, deadline=None)
@given(
    imp=st.lists(st.floats(0, 100), min_size=1, max_size=48),
    extra=st.lists(st.floats(0, 100), min_size=48, max_size=48),
    hour0=st.integers(0, 23),
    month=st.integers(1, 12),
)
def test_energy_cost_is_monotone_in_import(imp, extra, hour0, month):
    t = economics.tariff()
    a = np.asarray(imp)
    b = a + np.asarray(extra[: a.size])
    hour = (hour0 + np.arange(a.size)) % 24
    months = np.full(a.size, month)
    zero = np.zeros_like(a)
    ca = economics.energy_cost(a, zero, hour, months, t)
    cb = economics.energy_cost(b, zero, hour, months, t)
    assert cb.import_cny >= ca.import_cny - 1e-9 * max(1.0, ca.import_cny)
    assert cb.total_cny >= ca.total_cny - 1e-9 * max(1.0, ca.total_cny)


@settings(max_examples=100, deadline=None)
@given(
    flows=st.lists(st.floats(0.01, 1e6), min_size=1, max_size=30),
    cf0=st.floats(-1e6, 1e6),
    r1=st.floats(-0.5, 1.0),
    dr=st.floats(1e-3, 1.0),
)
def test_npv_decreases_with_rate_for_positive_future_flows(flows, cf0, r1, dr):
    cash = [cf0, *flows]
    hi = economics.npv(cash, r1)
    lo = economics.npv(cash, r1 + dr)
    assert lo < hi


# --------------------------------------------------------------------------- appraisal
# Small cases whose cash flows, NPV, IRR, LCOE are worked out by hand in the comments.


def _inv(capex: float, opex: float, life: int, kind: str = "pv", d: float = 0.0) -> Investment:
    return Investment("x", kind, 1.0, "kW", capex, opex, life, d, "illustrative: test")


def test_replacement_and_residual_cash_flows_by_hand():
    # capex 1000 bought at 0 and again at 4 (life 4), O&M 10, saving 400, 6 years at 10 %:
    # residual at 6 = 1000 x 2/4 = 500; project flows by hand:
    f = Finance(rate=0.10, years=6)
    cf = appraisal.cash_flows([400.0] * 6, f, add=[_inv(1000.0, 10.0, 4)])
    hand = [-1000.0, 390.0, 390.0, 390.0, 390.0 - 1000.0, 390.0, 390.0 + 500.0]
    np.testing.assert_allclose(cf.project, hand, rtol=1e-12)
    assert cf.replacement.tolist() == [0, 0, 0, 0, 1000.0, 0, 0]
    assert cf.residual[-1] == pytest.approx(500.0)
    # NPV by hand: -1000 + 390/1.1 + 390/1.21 + 390/1.331 - 610/1.4641 + 390/1.61051
    #              + 890/1.771561 = 297.7752
    assert cf.npv_cny == pytest.approx(297.7752, abs=1e-4)
    # payback: cumulative -1000, -610, -220, +170, then -440 at the replacement,
    # -50, +840: the last crossing counts, 5 + 50/890 years
    assert cf.payback_years == pytest.approx(5 + 50 / 890)
    assert appraisal.payback_years([-100.0, 50.0, 30.0]) == math.inf


def test_irr_by_hand():
    assert appraisal.irr([-100.0, 110.0]) == pytest.approx(0.10, abs=1e-10)
    assert appraisal.irr([-1000.0, 0.0, 1210.0]) == pytest.approx(0.10, abs=1e-10)
    # -1000 then 600 twice: 600 x A(r, 2) = 1000 -> r = 0.13066 (quadratic by hand:
    # 1000 x^2 - 600 x - 600 = 0, x = 1 + r = (600 + sqrt(600^2 + 4 x 1000 x 600)) / 2000)
    x = (600 + math.sqrt(600**2 + 4 * 1000 * 600)) / 2000
    assert appraisal.irr([-1000.0, 600.0, 600.0]) == pytest.approx(x - 1, abs=1e-10)
    assert math.isnan(appraisal.irr([100.0, 10.0]))  # never negative: no rate


def test_tax_and_debt_by_hand():
    # capex 1000 (life 2), saving 700 for 2 years, tax 25 %, half of it borrowed at 10 % over 2
    # years. Depreciation 500/yr -> tax 0.25 x (700 - 500) = 50 -> project 650 a year.
    # Annuity 500 / A(0.1, 2) = 288.095; interest 50.0 then 26.190; the equity's tax is
    # lower by 0.25 x interest.
    f = Finance(rate=0.08, years=2, tax_rate=0.25, debt_share=0.5, debt_rate=0.10, debt_years=2)
    cf = appraisal.cash_flows([700.0, 700.0], f, add=[_inv(1000.0, 0.0, 2)])
    np.testing.assert_allclose(cf.project, [-1000.0, 650.0, 650.0], rtol=1e-12)
    pay = 500 / (1 - 1.1**-2) * 0.1
    np.testing.assert_allclose(cf.interest, [0.0, 50.0, (500 - (pay - 50)) * 0.1], rtol=1e-9)
    np.testing.assert_allclose(cf.equity, [-500.0, 650 - pay + 0.25 * 50,
                                           650 - pay + 0.25 * cf.interest[2]], rtol=1e-9)
    assert cf.debt.sum() == pytest.approx(0.0, abs=1e-9)  # all repaid


def test_lcoe_by_hand():
    f = Finance(rate=0.10, years=10)
    # capex 1000, no O&M, 100 MWh a year for 10 years: 1000 / (100 x A(0.1, 10))
    a = (1 - 1.1**-10) / 0.1
    assert appraisal.lcoe_cny_per_mwh([_inv(1000.0, 0.0, 10)], 100.0, f) == pytest.approx(
        1000 / (100 * a), rel=1e-12)
    # with 1 %/yr degradation the energy of year t is 100 x 0.99^(t-1)
    e = sum(100 * 0.99 ** (t - 1) / 1.1**t for t in range(1, 11))
    assert appraisal.lcoe_cny_per_mwh([_inv(1000.0, 0.0, 10, d=0.01)], 100.0, f) == (
        pytest.approx(1000 / e, rel=1e-12))


def test_storage_replacement_escalates_and_resets_fade():
    f = Finance(rate=0.08, years=20, escalation_storage_capex=-0.03)
    bat = _inv(1000.0, 0.0, 15, kind="battery", d=0.02)
    assert appraisal.purchases(bat, f) == [(0, 1000.0), (15, pytest.approx(1000 * 0.97**15))]
    cf = appraisal.cash_flows([0.0] * 20, f, add=[bat])
    assert cf.replacement[15] == pytest.approx(1000 * 0.97**15)
    assert cf.residual[20] == pytest.approx(1000 * 0.97**15 * 10 / 15)
    left = appraisal.degradation_factors(0.02, 15, 20)
    assert left[0] == 1.0
    assert left[14] == pytest.approx(0.98**14)
    assert left[15] == 1.0


def test_degraded_flows_take_export_first_then_import():
    imp, exp = appraisal.degraded_flows(np.array([0.0, 5.0, 1.0]), np.array([3.0, 0.0, 0.0]),
                                        np.array([4.0, 1.0, -3.0]))
    assert imp.tolist() == [1.0, 6.0, 0.0]
    assert exp.tolist() == [0.0, 0.0, 2.0]


def test_cost_data_has_a_source_or_is_illustrative():
    for kind, c in economics.unit_costs().items():
        assert c.source, kind
    f = appraisal.finance()
    assert 0 < f.tax_rate < 0.5
    assert 0 <= f.debt_share <= 1
    kinds = set(economics.unit_costs())
    assert {"direct_line_220kv", "substation_220kv", "substation_66kv", "ev_charger_ac",
            "line_10kv", "heat_pump", "gas_boiler"} <= kinds


def test_demand_is_metered_on_15_minute_means():
    # 5-minute steps over two months: a single 5-minute spike of 30 MW in January is a
    # 15-minute mean of 10 MW; 20 MW held over a whole window in February stays 20 MW
    month = np.repeat([1, 2], 288)
    p = np.zeros(576)
    p[100] = 30.0
    p[288 + 99: 288 + 102] = 20.0  # steps 99..101: the window 99..101 (starts at 0)
    assert economics.monthly_peak_import_mw(p, month, step_s=300) == {1: 10.0, 2: 20.0}
    hourly = p.reshape(-1, 12).mean(axis=1)
    assert economics.monthly_peak_import_mw(hourly, month[::12]) == {1: 2.5, 2: 5.0}
    assert economics.monthly_peak_import_mw(p, month) == {1: 30.0, 2: 20.0}  # already means
    with pytest.raises(ValueError, match="demand window"):
        economics.monthly_peak_import_mw(p, month, step_s=420)


def test_capacity_option_and_direct_line_fee():
    t = economics.tariff()
    cap = dataclasses.replace(t, basic_charge="capacity")
    hour, month = np.array([0, 1, 2]), np.array([1, 1, 2])
    zero = np.zeros(3)
    c = economics.energy_cost(zero, zero, hour, month, cap, {1: 5.0, 2: 5.0},
                              capacity_kva=1000.0, direct_line_mwh=10.0)
    # two months of 1000 kVA at the capacity charge; the demand charge is not billed
    assert c.demand_cny == pytest.approx(2 * 1000.0 * t.capacity_charge_cny_per_kva_month)
    assert c.direct_line_fee_cny == pytest.approx(10.0 * t.direct_line_fee_cny_per_mwh)
    assert c.total_cny == pytest.approx(c.demand_cny + c.direct_line_fee_cny)
    with pytest.raises(ValueError, match="basic_charge"):
        dataclasses.replace(t, basic_charge="both")


def test_a_scenario_sets_the_financing_else_the_data_file():
    from twin import scenario

    base = appraisal.finance()
    mine = appraisal.finance(0.05, 25, {"debt_share": 0.0, "tax_rate": None, "tariff": "x"})
    assert (mine.rate, mine.years, mine.debt_share) == (0.05, 25, 0.0)
    assert mine.tax_rate == base.tax_rate  # None keeps the data file's
    # no debt: the equity's cash flows are the project's
    cf = appraisal.cash_flows([400.0] * 25, mine, add=[_inv(1000.0, 10.0, 10)])
    np.testing.assert_allclose(cf.equity, cf.project)
    path = Path(__file__).parent / "scenarios" / "small.yaml"
    good = path.read_text(encoding="utf-8")
    s = scenario.loads(good + "economics: {debt_share: 0.5, debt_years: 10}\n", path)
    assert (s.economics.debt_share, s.economics.debt_years) == (0.5, 10)
    # bad input: one line naming the file, the line and the field
    with pytest.raises(scenario.ScenarioError, match=r"small.yaml:\d+: economics.debt_share"):
        scenario.loads(good + "economics: {debt_share: 1.5}\n", path)


def test_a_sweeps_yearly_energy_cost_scales_the_demand_charge_by_months():
    from twin import scenario
    from twin.studies import sweep

    path = Path(__file__).parent / "scenarios" / "small.yaml"
    s = scenario.load(path).with_days(14)  # 14 January days: one month of demand charge
    assert sweep.months_touched(s) == 1
    assert sweep.months_touched(scenario.load(path)) == 12
    kpis = {"capex_cny": 0.0, "opex_cny_per_year": 0.0, "energy_cost_cny": 1.4e6,
            "demand_charge_cny": 1.0e6}
    c = sweep.costs(s, kpis, 14 / 365)
    # 0.4 M of energy over 14 days to a year, the month's 1 M demand charge twelve times
    assert c["energy_cost_cny_per_year"] == pytest.approx(0.4e6 * 365 / 14 + 12e6)
