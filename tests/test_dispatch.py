"""EMS dispatch LP and its fallback rule: limits, balances and economics (Hypothesis properties).

Limits are checked independently of the LP: the SOC is re-simulated from the planned AC
power with the efficiencies, the EV windows from the cumulative planned charging.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.ems import dispatch, lookahead, lp
from twin.ems.dispatch import EVDemand, PlanInputs, Shiftable, Storage
from twin.models.battery import BatterySpec

BALANCE_ABS_MW = 1e-6  # power balance of every step
LIMIT_ABS = 1e-6  # MW / MWh on every limit
COST_REL = 1e-6  # LP objective vs re-evaluation, LP vs rule

# --------------------------------------------------------------------------- helpers


def _profile(rng: np.random.Generator, H: int, level: float) -> np.ndarray:
    """Random non-negative series with runs of zeros and occasional spikes."""
    x = level * rng.uniform(0.0, 1.0, H)
    x[rng.random(H) < 0.2] = 0.0
    x[rng.random(H) < 0.05] *= 10.0
    return x


def _random_inputs(seed: int, H: int, n_st: int, n_ev: int, n_sh: int, ramps: bool,
                   cap: bool, limits: bool) -> PlanInputs:
    rng = np.random.default_rng(seed)
    dt_h = 0.25
    storages = tuple(
        Storage(f"b{i}", rng.uniform(1, 60), rng.uniform(2, 200), rng.uniform(0, 0.3),
                rng.uniform(0.7, 1.0), rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0),
                rng.uniform(1, 20) if ramps else math.inf)
        for i in range(n_st))
    evs = []
    for j in range(n_ev):
        n = int(rng.integers(0, 12))
        dep = rng.uniform(0.0, H * 900 * 1.5, n)
        evs.append(dispatch.ev_demand(
            f"ev{j}", dep, rng.uniform(0, 0.2, n), 0.05, 0, 900, H,
            rng.uniform(0, 0.1, H) if rng.random() < 0.5 else None,
            p_hub_max_mw=rng.choice([0.1, 0.4, math.inf])))
    shiftables = tuple(
        Shiftable(f"s{i}", _profile(rng, H, rng.uniform(1, 30)), rng.uniform(0, 0.3),
                  rng.uniform(0, 0.3), rng.uniform(0.1, 3) if ramps else math.inf)
        for i in range(n_sh))
    cap_mw = None
    if cap:
        cap_mw = np.where(rng.random(H) < 0.4, rng.uniform(0, 40, H), np.nan)
    return PlanInputs(
        dt_h=dt_h, pv_mw=_profile(rng, H, 40), wind_mw=_profile(rng, H, 60),
        load_mw=_profile(rng, H, 50), price_import_cny_per_mwh=_profile(rng, H, 1000),
        price_export_cny_per_mwh=float(rng.uniform(0, 500)), storages=storages,
        soc0=np.array([rng.uniform(s.soc_min, s.soc_max) if rng.random() < 0.8
                       else rng.uniform(0, 1) for s in storages]),  # may start outside
        evs=tuple(evs), shiftables=shiftables,
        import_limit_mw=float(rng.uniform(0, 80)) if limits else math.inf,
        export_limit_mw=float(rng.uniform(0, 40)) if limits else math.inf,
        demand_charge_cny_per_mw=float(rng.choice([0.0, 33000.0])),
        peak_import_so_far_mw=float(rng.uniform(0, 50)),
        direct_min_share=float(rng.choice([0.0, 0.6, 0.9])),
        carbon_price_cny_per_t=float(rng.choice([0.0, 100.0])), grid_factor_t_per_mwh=0.5,
        import_cap_mw=cap_mw)


def _resim_e(inp: PlanInputs, p: np.ndarray) -> np.ndarray:
    """Stored energy [H+1, n] from the AC power, independently of the LP."""
    e = np.zeros((inp.H + 1, len(inp.storages)))
    for i, s in enumerate(inp.storages):
        e[0, i] = inp.soc0[i] * s.e_max_mwh
        for k in range(inp.H):
            pk = p[k, i]
            e[k + 1, i] = e[k, i] + (s.eta_charge * max(pk, 0) - max(-pk, 0)
                                     / s.eta_discharge) * inp.dt_h
    return e


def check_plan(inp: PlanInputs, p: dispatch.Plan) -> None:
    """Every limit holds and the balance closes."""
    H, tol = inp.H, LIMIT_ABS
    assert p.p_storage_mw.shape == (H, len(inp.storages))
    assert p.soc.shape == (H + 1, len(inp.storages))
    e = _resim_e(inp, p.p_storage_mw)
    for i, s in enumerate(inp.storages):
        lo = min(s.soc_min, inp.soc0[i]) * s.e_max_mwh
        hi = max(s.soc_max, inp.soc0[i]) * s.e_max_mwh
        assert e[:, i].min() >= lo - 1e-5, s
        assert e[:, i].max() <= hi + 1e-5, s
        np.testing.assert_allclose(p.soc[:, i] * s.e_max_mwh, e[:, i], atol=1e-5)
        assert np.abs(p.p_storage_mw[:, i]).max() <= s.p_max_mw + tol
        assert np.abs(np.diff(p.p_storage_mw[:, i])).max(initial=0) <= s.ramp_mw_per_step + tol
    for name in ("p_import_mw", "p_export_mw", "p_curtail_pv_mw", "p_curtail_wind_mw",
                 "unserved_mw", "shortfall_mw"):
        assert getattr(p, name).shape == (H,)
        assert getattr(p, name).min() >= -tol, name
    assert p.p_import_mw.max() <= inp.import_limit_mw + tol
    assert p.p_export_mw.max() <= inp.export_limit_mw + tol
    assert (p.p_curtail_pv_mw <= inp.pv_mw + tol).all()
    assert (p.p_curtail_wind_mw <= inp.wind_mw + tol).all()
    for j, ev in enumerate(inp.evs):
        cum = np.cumsum(p.p_ev_mw[:, j]) * inp.dt_h
        assert p.p_ev_mw[:, j].min() >= -tol
        assert (p.p_ev_mw[:, j] <= ev.p_max_mw + tol).all()
        assert (cum <= ev.e_max_cum_mwh + 1e-5).all()
        assert (cum + p.ev_shortfall_mwh[:, j] >= ev.e_min_cum_mwh - 1e-5).all()
    for j, sh in enumerate(inp.shiftables):
        x = p.p_shift_mw[:, j]
        assert (x >= -sh.down_frac * sh.p_base_mw - tol).all()
        assert (x <= sh.up_frac * sh.p_base_mw + tol).all()
        assert abs(x.sum() * inp.dt_h - sh.target_mwh(inp.dt_h)) <= 1e-5
        assert np.abs(np.diff(x)).max(initial=0) <= sh.ramp_mw_per_step + tol
    if inp.import_cap_mw is not None:
        want = np.nan_to_num(np.maximum(p.p_import_mw - inp.import_cap_mw, 0), nan=0.0)
        np.testing.assert_allclose(p.shortfall_mw, want, atol=tol)
    supply = inp.pv_mw + inp.wind_mw - p.p_curtail_pv_mw - p.p_curtail_wind_mw \
        + p.p_import_mw + p.unserved_mw
    demand = inp.load_mw + p.p_storage_mw.sum(1) + p.p_ev_mw.sum(1) + p.p_export_mw \
        + sum((s.p_base_mw for s in inp.shiftables), np.zeros(H)) + p.p_shift_mw.sum(1)
    np.testing.assert_allclose(supply, demand, atol=BALANCE_ABS_MW, rtol=0)


def _flat(H: int = 16, **kw: object) -> PlanInputs:
    base = dict(dt_h=0.25, pv_mw=np.zeros(H), wind_mw=np.zeros(H), load_mw=np.full(H, 20.0),
                price_import_cny_per_mwh=np.full(H, 600.0), price_export_cny_per_mwh=300.0,
                storages=(Storage("b", 10.0, 40.0, 0.1, 0.9, 0.95, 0.95),),
                soc0=np.array([0.5]))
    base.update(kw)
    return PlanInputs(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

cases = st.builds(
    _random_inputs, seed=st.integers(0, 2**32 - 1), H=st.integers(1, 24),
    n_st=st.integers(0, 2), n_ev=st.integers(0, 2), n_sh=st.integers(0, 3),
    ramps=st.booleans(), cap=st.booleans(), limits=st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inp=cases)
def test_plan_and_rule_obey_every_limit_and_the_lp_is_cheaper(inp):
    p = dispatch.plan(inp)
    assert p.status == "optimal"
    check_plan(inp, p)
    r = dispatch.rule_plan(inp)
    assert r.status == "rule"
    check_plan(inp, r)
    scale = 1.0 + abs(p.cost_cny) + abs(r.cost_cny)
    assert p.cost_cny == pytest.approx(dispatch.objective_cny(inp, p), abs=COST_REL * scale)
    assert r.cost_cny == pytest.approx(dispatch.objective_cny(inp, r), abs=COST_REL * scale)
    assert p.cost_cny <= r.cost_cny + COST_REL * scale


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), H=st.integers(1, 30), hub=st.floats(0.05, 5.0))
def test_ev_demand_windows_are_feasible(seed, H, hub):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 20))
    dep = rng.uniform(-900, H * 900 * 2, n)
    ev = dispatch.ev_demand("h", dep, rng.uniform(0, 0.3, n), rng.uniform(0.007, 0.15, n),
                            0, 900, H, rng.uniform(0, 0.1, H), p_hub_max_mw=hub)
    fast = ev.fastest_cum_mwh(0.25)
    assert (ev.e_min_cum_mwh <= fast + 1e-12).all()
    assert (ev.e_min_cum_mwh <= ev.e_max_cum_mwh + 1e-12).all()
    assert (np.diff(ev.e_min_cum_mwh) >= -1e-12).all()
    assert (ev.p_max_mw <= hub + 1e-12).all()


def test_ev_demand_vehicle_leaving_in_the_horizon_gets_its_energy():
    # one vehicle, 0.1 MWh wanted, 50 kW, leaves after 4 h: due in full by the end of step 15
    ev = dispatch.ev_demand("h", np.array([4 * 3600.0]), np.array([0.1]), 0.05, 0, 900, 24)
    assert ev.e_min_cum_mwh[15] == pytest.approx(0.1)
    assert ev.e_min_cum_mwh[:8].max() == 0.0  # 2 h of slack before it must start
    assert ev.p_max_mw[:16] == pytest.approx(0.05)
    assert ev.p_max_mw[16:].max() == 0.0
    p = dispatch.plan(_flat(24, evs=(ev,)))
    assert p.p_ev_mw.sum() * 0.25 == pytest.approx(0.1, abs=1e-6)
    assert p.ev_shortfall_mwh.max() == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------- economics


def test_lp_charges_in_the_valley_and_discharges_at_the_peak():
    H = 16
    price = np.r_[np.full(8, 200.0), np.full(8, 1000.0)]  # spread >> round-trip loss
    inp = _flat(H, price_import_cny_per_mwh=price, soc0=np.array([0.3]))
    p = dispatch.plan(inp)
    check_plan(inp, p)
    assert p.p_storage_mw[:8].sum() > 1.0
    assert p.p_storage_mw[:8].min() >= -1e-9
    assert p.p_storage_mw[8:].sum() < -1.0
    assert p.p_storage_mw[8:].max() <= 1e-9


def test_no_cycling_with_flat_prices_and_no_surplus():
    p = dispatch.plan(_flat(32))
    assert np.abs(p.p_storage_mw).max() < 1e-9


def test_surplus_above_the_export_limit_goes_into_storage_before_curtailment():
    H = 16
    inp = _flat(H, wind_mw=np.full(H, 80.0), export_limit_mw=30.0, direct_min_share=0.0,
                storages=(Storage("b", 20.0, 60.0, 0.1, 0.9, 0.95, 0.95),),
                soc0=np.array([0.1]))
    p = dispatch.plan(inp)
    check_plan(inp, p)
    curtailed = (p.p_curtail_wind_mw + p.p_curtail_pv_mw).sum() * inp.dt_h
    assert curtailed > 1.0  # 30 MW surplus over export for 4 h, storage holds only 48 MWh
    room_mwh = (0.9 - 0.1) * 60.0 / 0.95  # AC energy to fill it
    assert p.p_storage_mw.sum() * inp.dt_h == pytest.approx(room_mwh, rel=1e-6)
    assert curtailed == pytest.approx(30.0 * 4 - room_mwh, rel=1e-6)


def test_direct_line_share_holds():
    H = 16
    kw = dict(wind_mw=np.full(H, 300.0), load_mw=np.full(H, 100.0),
              price_export_cny_per_mwh=500.0, terminal_value_cny_per_mwh=0.0,
              storages=(Storage("b", 150.0, 2000.0, 0.0, 1.0, 0.95, 0.95),),
              soc0=np.array([0.0]))
    free = dispatch.plan(_flat(H, direct_min_share=0.0, **kw))
    ruled = _flat(H, direct_min_share=0.6, **kw)
    p = dispatch.plan(ruled)
    check_plan(ruled, p)

    def consumed(q):  # wind not curtailed, not exported (pro rata with PV)
        w = ruled.wind_mw
        return float((w - q.p_curtail_wind_mw - q.p_export_mw * w / (w + ruled.pv_mw)).sum())

    assert consumed(free) < 0.6 * ruled.wind_mw.sum()  # exporting pays without the rule
    assert consumed(p) >= 0.6 * ruled.wind_mw.sum() - 1e-6
    assert p.direct_shortfall_mwh == pytest.approx(0.0, abs=1e-9)


def test_battery_never_charges_and_discharges_at_once_to_burn_wind(monkeypatch):
    # far more wind than the park can use: burning it in one battery's losses would count as
    # "consumed" for the direct-line share; the plan is re-solved without that credit
    calls = []
    build = dispatch._build

    def spy(inp, strict=False):
        calls.append(strict)
        return build(inp, strict)

    monkeypatch.setattr(dispatch, "_build", spy)
    H = 16
    inp = _flat(H, wind_mw=np.full(H, 100.0), load_mw=np.full(H, 10.0), direct_min_share=0.9,
                storages=(Storage("b", 20.0, 40.0, 0.1, 0.9, 0.9, 0.9),), soc0=np.array([0.5]))
    p = dispatch.plan(inp)
    assert calls == [False, True]
    assert p.status == "optimal"
    check_plan(inp, p)  # the SOC re-simulated from the net power matches the plan's
    assert p.direct_shortfall_mwh > 0.0
    assert p.cost_cny == pytest.approx(dispatch.objective_cny(inp, p))


def test_soft_import_cap_met_when_possible_and_shortfall_reported_when_not():
    H = 16
    cap = np.full(H, np.nan)
    cap[4:8] = 15.0  # 5 MW below the load: the 10 MW battery can do it
    p = dispatch.plan(_flat(H, import_cap_mw=cap))
    assert p.p_import_mw[4:8].max() <= 15.0 + 1e-6
    assert p.shortfall_mw.max() == pytest.approx(0.0, abs=1e-9)
    cap[4:8] = 2.0  # 18 MW below: 8 MW short in each step
    inp = _flat(H, import_cap_mw=cap)
    p = dispatch.plan(inp)
    check_plan(inp, p)
    np.testing.assert_allclose(p.shortfall_mw[4:8], 8.0, atol=1e-6)
    assert p.shortfall_mw.sum() == pytest.approx(32.0, abs=1e-6)


def test_import_limit_that_cannot_be_met_sheds_load_and_reports_it():
    inp = _flat(8, import_limit_mw=5.0, soc0=np.array([0.1]))
    p = dispatch.plan(inp)
    assert p.status == "optimal"
    check_plan(inp, p)
    np.testing.assert_allclose(p.unserved_mw, 15.0, atol=1e-6)


def test_shift_backlog_from_earlier_horizons_is_made_up_as_far_as_possible():
    H = 16
    base = np.r_[0.0, np.full(H - 2, 10.0), 0.0]

    def shifted_mwh(backlog, ramp=math.inf):
        sh = Shiftable("f", base, 0.1, 0.1, ramp, e_backlog_mwh=backlog)
        inp = _flat(H, shiftables=(sh,))
        p = dispatch.plan(inp)
        check_plan(inp, p)
        return p.p_shift_mw.sum() * inp.dt_h

    assert shifted_mwh(2.0) == pytest.approx(-2.0, abs=1e-6)  # consumed extra: now less
    assert shifted_mwh(-1.5) == pytest.approx(1.5, abs=1e-6)
    assert shifted_mwh(10.0) == pytest.approx(-3.5, abs=1e-6)  # at most 1 MW x 14 steps
    # ramp 0.25 MW/step from 0 at both ends: 0, .25, .5, .75, 1 x 8, .75, .5, .25, 0
    assert shifted_mwh(10.0, ramp=0.25) == pytest.approx(-11.0 * 0.25, abs=1e-6)


def test_demand_charge_flattens_the_peak():
    load = np.r_[np.full(6, 10.0), np.full(4, 30.0), np.full(6, 10.0)]
    kw = dict(load_mw=load, peak_import_so_far_mw=10.0)
    p0 = dispatch.plan(_flat(16, **kw))
    p1 = dispatch.plan(_flat(16, demand_charge_cny_per_mw=33000.0, **kw))
    assert p0.p_import_mw.max() == pytest.approx(30.0, abs=1e-6)
    assert p1.p_import_mw.max() <= 20.0 + 1e-6  # the 10 MW battery shaves the peak


# --------------------------------------------------------------------------- failure


def test_time_out_falls_back_to_the_rule():
    inp = _flat(16)
    p = dispatch.plan(inp, time_limit_s=1e-9)
    assert p.status.startswith("fallback:")
    check_plan(inp, p)


def test_solver_error_falls_back_to_the_rule(monkeypatch):
    class Broken:
        def __init__(self) -> None:
            raise RuntimeError("licence server on fire")

    monkeypatch.setattr(lp.highspy, "Highs", Broken)
    inp = _random_inputs(1, 12, 2, 1, 2, True, True, False)
    p = dispatch.plan(inp)
    assert p.status == "fallback:error:RuntimeError"
    check_plan(inp, p)


def test_infeasible_or_non_optimal_status_falls_back(monkeypatch):
    real = lp.highspy.Highs

    class Stuck(real):  # type: ignore[misc, valid-type]
        def getModelStatus(self):  # noqa: N802 - highspy's name
            return lp.highspy.HighsModelStatus.kInfeasible

    monkeypatch.setattr(lp.highspy, "Highs", Stuck)
    p = dispatch.plan(_flat(8))
    assert p.status == "fallback:infeasible"


# --------------------------------------------------------------------------- inputs


def test_storage_from_battery_spec():
    spec = BatterySpec(name="bess", p_max_mw=100.0, e_max_mwh=400.0)
    s = Storage.from_spec(spec, ramp_mw_per_step=25.0)
    assert (s.name, s.p_max_mw, s.e_max_mwh, s.ramp_mw_per_step) == ("bess", 100.0, 400.0, 25.0)
    assert (s.soc_min, s.soc_max, s.eta_charge) == (spec.soc_min, spec.soc_max, spec.eta_charge)


@pytest.mark.parametrize(("change", "message"), [
    ({"pv_mw": np.zeros(3)}, "pv_mw: expected 16"),
    ({"load_mw": np.r_[np.full(15, 1.0), np.nan]}, "load_mw: not finite"),
    ({"price_import_cny_per_mwh": np.full(16, -1.0)}, "must be >= 0"),
    ({"soc0": np.array([0.5, 0.5])}, "soc0: expected 1"),
    ({"direct_min_share": 1.5}, "direct_min_share"),
    ({"shiftables": (Shiftable("f", np.ones(4), 0.1, 0.1),)}, "shiftable f"),
    ({"evs": (EVDemand("e", np.ones(3), np.zeros(3), np.ones(3)),)}, "ev e"),
])
def test_bad_inputs_are_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        _flat(16, **change)


def test_plan_is_fast_enough_for_a_year_of_replans():
    inp = _random_inputs(7, 96, 2, 3, 7, True, False, True)
    inp = dataclasses.replace(inp, demand_charge_cny_per_mw=33000.0)
    times = []
    for _ in range(5):  # CPU time: the other work of a shared machine does not count
        t0 = time.process_time()
        dispatch.plan(inp)
        times.append(time.process_time() - t0)
    assert float(np.median(times)) < 0.25  # generous (bench: ~30 ms)


def test_warm_start_takes_the_last_basis_of_that_size_and_finds_the_same_optimum(monkeypatch):
    """Plans of the same size one after the other (other data, as a rolling horizon gives):
    each one after the first starts from the last one's basis, and each is as cheap as the
    same plan solved cold and keeps every limit."""
    real, handed = lp.highspy.Highs, []

    class Spy(real):  # type: ignore[misc, valid-type]
        def setBasis(self, basis):  # noqa: N802 - highspy's name
            handed.append(basis)
            return super().setBasis(basis)

    monkeypatch.setattr(lp.highspy, "Highs", Spy)
    bases = lp.Bases()
    for n, seed in enumerate(range(10)):
        inp = _random_inputs(seed, 48, 2, 1, 2, True, False, False)
        inp = dataclasses.replace(inp, import_cap_mw=None, demand_charge_cny_per_mw=33000.0,
                                  direct_min_share=0.6)  # the same LP's size each time
        cold = dispatch.plan(inp)
        kept = dict(bases.by_size)
        warm = dispatch.plan(inp, warm=bases)
        assert cold.status == warm.status == "optimal"
        assert warm.cost_cny == pytest.approx(cold.cost_cny, rel=1e-7, abs=1e-6)
        check_plan(inp, warm)
        assert len(bases.by_size) == 1  # one size throughout, its basis replaced each time
        (size, basis), = bases.by_size.items()
        assert basis.alien
        assert len(basis.col_status) == size[0]
        if n:  # the one kept from the plan before is the one handed over
            assert any(b is kept[size] for b in handed)
    assert len(handed) >= 9  # (and a re-solve without burning wind: its first solve's)


def test_a_warm_start_from_a_basis_that_does_not_fit_still_finds_the_optimum():
    """A basis of another LP of the same size (here: the first plan's, for data so different
    that most of it is wrong) is repaired, not trusted."""
    bases = lp.Bases()
    first = _random_inputs(3, 24, 1, 0, 1, False, False, False)
    dispatch.plan(first, warm=bases)
    other = dataclasses.replace(first, load_mw=first.load_mw[::-1] * 3, pv_mw=first.wind_mw,
                                wind_mw=first.pv_mw, soc0=1.0 - first.soc0)
    cold, warm = dispatch.plan(other), dispatch.plan(other, warm=bases)
    assert warm.status == "optimal"
    assert warm.cost_cny == pytest.approx(cold.cost_cny, rel=1e-7, abs=1e-6)
    check_plan(other, warm)


def test_a_lull_after_the_horizon_keeps_the_energy_holding_its_peak_needs():
    """A dear hour in the horizon tempts the storage; an hour without wind after it (the tail)
    would raise the month's peak by 10 MW without it. Looking past the horizon the plan keeps
    the energy (and says so in its first ``H`` steps), without it the plan spends half."""
    wind = np.array([20, 20, 20, 10, 10, 20, 20, 20], dtype=float)
    price = np.where(wind < 20, 3000.0, 600.0)
    inp = PlanInputs(dt_h=0.25, pv_mw=np.zeros(8), wind_mw=wind, load_mw=np.full(8, 20.0),
                     price_import_cny_per_mwh=price, price_export_cny_per_mwh=0.0,
                     storages=(Storage("b", 10.0, 10.0, 0.0, 1.0, 1.0, 1.0),),
                     soc0=np.array([1.0]), demand_charge_cny_per_mw=33000.0,
                     peak_import_so_far_mw=10.0, charge_limit_mw=np.zeros(8))
    short = dispatch.plan(inp)
    assert short.soc[-1, 0] == pytest.approx(0.5, abs=1e-6)  # 10 MW for the dear half hour
    looking = lookahead.with_tail(inp, 4, np.full(4, 600.0))
    assert looking.H == 12
    assert looking.wind_mw[8:].sum() == 0.0
    p = dispatch.plan(looking).head(inp.H)
    assert p.p_import_mw.shape == (8,)
    assert p.soc.shape == (9, 1)
    assert p.soc[-1, 0] == pytest.approx(1.0, abs=1e-6)  # the lull's hour at 10 MW needs it all
    assert p.p_import_mw.max() <= 10.0 + 1e-6


# --------------------------------------------------------------------------- perfect foresight


def test_perfect_foresight_over_two_billing_months_costs_what_hand_arithmetic_says():
    """Two months of four hours, a flat 100 CNY/MWh and 1000 CNY per MW of each month's peak.

    By hand: the 10 MW / 20 MWh storage (lossless, half full, stored energy worth nothing at
    the end) cuts month 1's peak 80 -> 70 MW with its 10 MWh, refills 10 MWh in month 2 under
    that month's peak and cuts it 90 -> 80 MW. Import 470 - 10 = 460 MWh: 46,000 CNY; demand
    1000 x (70 + 80) = 150,000 CNY. One peak for both months (no ``month``) would give 80.
    """
    load = np.array([50, 80, 50, 50, 50, 50, 50, 90], dtype=float)
    inp = PlanInputs(
        dt_h=1.0, pv_mw=np.zeros(8), wind_mw=np.zeros(8), load_mw=load,
        price_import_cny_per_mwh=np.full(8, 100.0), price_export_cny_per_mwh=0.0,
        storages=(Storage("b", 10.0, 20.0, 0.0, 1.0, 1.0, 1.0),), soc0=np.array([0.5]),
        demand_charge_cny_per_mw=1000.0, direct_min_share=0.0, cycle_cost_cny_per_mwh=0.0,
        terminal_value_cny_per_mwh=0.0, month=np.array([1, 1, 1, 1, 2, 2, 2, 2]))
    for method in ("simplex", "ipm"):
        p = dispatch.plan(inp, method=method)
        assert p.status == "optimal"
        assert p.cost_cny == pytest.approx(46_000 + 150_000, rel=1e-7)
        assert dispatch.objective_cny(inp, p) == pytest.approx(p.cost_cny, rel=1e-7)
        assert p.p_import_mw[:4].max() == pytest.approx(70.0, abs=1e-6)
        assert p.p_import_mw[4:].max() == pytest.approx(80.0, abs=1e-6)
    one = dispatch.plan(dataclasses.replace(inp, month=None))
    assert one.cost_cny == pytest.approx(46_000 + 1000 * 80, rel=1e-7)


def test_shifts_neutral_within_each_block():
    """A flexible load neutral by day may not move energy from one day to the next."""
    H = 8
    price = np.array([100, 100, 100, 100, 900, 900, 900, 900], dtype=float)
    inp = PlanInputs(
        dt_h=1.0, pv_mw=np.zeros(H), wind_mw=np.zeros(H), load_mw=np.zeros(H),
        price_import_cny_per_mwh=price, price_export_cny_per_mwh=0.0,
        shiftables=(Shiftable("f", np.full(H, 10.0), 0.5, 0.5),), direct_min_share=0.0)
    free = dispatch.plan(inp)
    assert free.p_shift_mw[:4].sum() == pytest.approx(20.0)  # all moved to the cheap day
    sh = dataclasses.replace(inp.shiftables[0], neutral_steps=4)
    held = dispatch.plan(dataclasses.replace(inp, shiftables=(sh,)))
    np.testing.assert_allclose(held.p_shift_mw.reshape(2, 4).sum(axis=1), 0.0, atol=1e-9)
    assert held.cost_cny == pytest.approx(10 * 4 * 100 + 10 * 4 * 900, rel=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hourly_steps_after_the_first_cost_what_the_quarter_hours_cost(seed):
    """Where the inputs hold still within each hour after the first 8 steps, merging those
    steps into hours (:func:`twin.ems.lookahead.coarse`) loses nothing: the merged plan costs
    what the plan in quarter hours costs, and given back in quarter hours
    (:func:`~twin.ems.lookahead.expand`) it keeps every limit and the balance of each step."""
    fine, blocks = 8, 6
    base = _random_inputs(seed, fine + blocks, 2, 0, 2, False, False, True)
    idx = np.r_[np.arange(fine), fine + np.repeat(np.arange(blocks), 4)]

    def held(a: np.ndarray) -> np.ndarray:
        return a[idx]

    inp = dataclasses.replace(
        base, pv_mw=held(base.pv_mw), wind_mw=held(base.wind_mw), load_mw=held(base.load_mw),
        price_import_cny_per_mwh=held(base.price_import_cny_per_mwh),
        price_export_cny_per_mwh=held(base.price_export_cny_per_mwh),
        shiftables=tuple(dataclasses.replace(sh, p_base_mw=held(sh.p_base_mw),
                                             e_backlog_mwh=(-1.0) ** j * 1e3)  # owed: all
                         for j, sh in enumerate(base.shiftables)),  # the bounds allow
        demand_charge_cny_per_mw=33000.0)
    merged, rows = lookahead.coarse(inp, fine, 4)
    assert fine + blocks == merged.H
    np.testing.assert_allclose(merged.dt, np.r_[np.full(fine, 0.25), np.ones(blocks)])
    p_fine, p_merged = dispatch.plan(inp), dispatch.plan(merged)
    assert p_fine.status == p_merged.status == "optimal"
    assert p_merged.cost_cny == pytest.approx(p_fine.cost_cny, rel=COST_REL, abs=1e-3)
    back = lookahead.expand(p_merged, rows, inp)
    check_plan(inp, back)
    assert dispatch.objective_cny(inp, back) == pytest.approx(p_fine.cost_cny, rel=COST_REL,
                                                               abs=1e-3)
