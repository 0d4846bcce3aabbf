"""Virtual power plant: flexibility envelope, grid requests and the measured response."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.ems import dispatch, vpp
from twin.ems.dispatch import PlanInputs, Shiftable, Storage

BESS = Storage("b", 10.0, 40.0, 0.1, 0.9, 0.95, 0.95)


def test_empty_battery_offers_only_to_stop_charging():
    for p_now in (0.0, 4.0, -2.0):
        env = vpp.envelope([BESS], np.array([0.1]), np.array([p_now]), [], [], np.zeros(0),
                           np.zeros(0))
        np.testing.assert_allclose(env.up_mw, max(p_now, 0.0))
        assert (env.down_mw > 0).all()  # it can charge (more)


def test_storage_envelope_follows_the_energy_it_holds():
    # 0.5 of 40 MWh, 0.4 above soc_min = 16 MWh, x 0.95 = 15.2 MWh at AC
    env = vpp.envelope([BESS], np.array([0.5]), np.array([0.0]), [], [], np.zeros(0),
                       np.zeros(0), durations_h=(0.25, 1.0, 2.0, 4.0))
    np.testing.assert_allclose(env.up_mw, [10.0, 10.0, 7.6, 3.8])
    np.testing.assert_allclose(env.down_mw, [10.0, 10.0, 16 / 0.95 / 2, 16 / 0.95 / 4])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_batteries_flexibility_each_step_is_the_envelopes(seed):
    # what the EMS reports each step (vpp.storage_flex, no arrays) is the envelope's value at
    # that duration, bit for bit: the batteries' own never grows with the duration
    rng = np.random.default_rng(seed)
    storages = [Storage(f"b{i}", rng.uniform(1, 50), rng.uniform(1, 200), 0.1, 0.9,
                        rng.uniform(0.8, 1), rng.uniform(0.8, 1),
                        rng.choice([math.inf, rng.uniform(1, 10)])) for i in range(3)]
    soc, p_st = rng.uniform(0.0, 1.0, 3), rng.uniform(-60, 60, 3)
    durations = (0.25, 1.0, 4.0)
    env = vpp.envelope(storages, soc, p_st, [], [], np.zeros(0), np.zeros(0),
                       durations_h=durations)
    for j, d in enumerate(durations):
        assert vpp.storage_flex(storages, soc.tolist(), p_st.tolist(), d) == (
            env.up_mw[j], env.down_mw[j])


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), H=st.integers(1, 40))
def test_longer_durations_never_give_more(seed, H):
    rng = np.random.default_rng(seed)
    storages = [Storage(f"b{i}", rng.uniform(1, 50), rng.uniform(1, 200), 0.1, 0.9,
                        rng.uniform(0.8, 1), rng.uniform(0.8, 1),
                        rng.choice([math.inf, rng.uniform(1, 10)])) for i in range(2)]
    soc = rng.uniform(0.0, 1.0, 2)
    p_st = rng.uniform(-20, 20, 2)
    evs = [dispatch.ev_demand("e", rng.uniform(0, H * 900 * 2, 8), rng.uniform(0, 0.2, 8),
                              0.05, 0, 900, H, rng.uniform(0, 0.05, H))]
    shs = [Shiftable("s", rng.uniform(0, 20, H), 0.1, 0.2, rng.choice([math.inf, 0.5]))]
    env = vpp.envelope(storages, soc, p_st, evs, shs, rng.uniform(-2, 2, 1),
                       rng.uniform(0, 0.5, 1), durations_h=(0.25, 0.5, 1.0, 2.0, 4.0, 12.0))
    assert (np.diff(env.up_mw) <= 1e-12).all()
    assert (np.diff(env.down_mw) <= 1e-12).all()
    assert (env.up_mw >= 0).all()
    assert (env.down_mw >= 0).all()


def test_ev_and_shiftable_flexibility():
    H = 16
    # one vehicle needing 0.1 MWh at 0.1 MW, leaving after 4 h: can pause, or charge full
    ev = dispatch.ev_demand("e", np.array([4 * 3600.0]), np.array([0.1]), 0.1, 0, 900, H)
    sh = Shiftable("s", np.full(H, 10.0), up_frac=0.1, down_frac=0.2)
    env = vpp.envelope([], [], [], [ev], [sh], np.array([0.0]), np.array([0.05]),
                       durations_h=(0.25, 1.0))
    # EV: stop 0.05 MW; or go to 0.1 MW. Shiftable: down 2 MW (20 % of 10 MW), up 1 MW
    np.testing.assert_allclose(env.up_mw, [0.05 + 2.0, 0.05 + 2.0])
    np.testing.assert_allclose(env.down_mw, [0.05 + 1.0, 0.05 + 1.0])


def _flat(H: int, **kw: object) -> PlanInputs:
    base = dict(dt_h=0.25, pv_mw=np.zeros(H), wind_mw=np.zeros(H), load_mw=np.full(H, 30.0),
                price_import_cny_per_mwh=np.full(H, 600.0), price_export_cny_per_mwh=300.0,
                storages=(BESS,), soc0=np.array([0.5]),
                shiftables=(Shiftable("s", np.full(H, 20.0), 0.1, 0.1),))
    base.update(kw)
    return PlanInputs(**base)  # type: ignore[arg-type]


def test_request_within_the_envelope_is_met_in_the_plan():
    H, step = 32, 900
    inp = _flat(H)
    # baseline: the factory not offering its flexibility (with it, any shift is optimal)
    base = dispatch.plan(_flat(H, shiftables=(Shiftable("s", np.full(H, 20.0), 0.0, 0.0),)))
    assert np.abs(base.p_storage_mw).max() < 1e-9  # flat: nothing moves
    np.testing.assert_allclose(base.p_import_mw, 50.0)
    env = vpp.envelope(inp.storages, base.soc[0], base.p_storage_mw[0], [], inp.shiftables,
                       base.p_shift_mw[0], np.zeros(0), durations_h=(1.0,))
    assert env.up_mw[0] == pytest.approx(10.0 + 2.0)
    req = vpp.Request(start_s=2 * 3600, end_s=3 * 3600, cut_import_mw=env.up_mw[0])
    asked = vpp.apply_requests(inp, 0, step, [req], base.p_import_mw)
    p = dispatch.plan(asked)
    assert p.status == "optimal"
    assert p.shortfall_mw.max() == pytest.approx(0.0, abs=1e-6)
    r = vpp.response(req, base.p_import_mw, p.p_import_mw, step, 0)
    assert r.shortfall_mw == pytest.approx(0.0, abs=1e-6)
    assert r.delivered_mw == pytest.approx(12.0, abs=1e-6)
    assert r.energy_mwh == pytest.approx(12.0, abs=1e-6)
    # beyond the envelope: the shortfall is reported
    big = vpp.Request(start_s=2 * 3600, end_s=3 * 3600, cut_import_mw=env.up_mw[0] + 5.0)
    p = dispatch.plan(vpp.apply_requests(inp, 0, step, [big], base.p_import_mw))
    r = vpp.response(big, base.p_import_mw, p.p_import_mw, step, 0)
    assert r.shortfall_mw == pytest.approx(5.0, abs=1e-6)
    assert p.shortfall_mw.max() == pytest.approx(5.0, abs=1e-6)


def test_apply_requests_sets_caps_and_price_adders_in_the_window_only():
    H, step = 8, 900
    inp = _flat(H)
    base = np.full(H, 30.0)
    reqs = [vpp.Request(1800, 3150, cut_import_mw=5.0),  # steps 2 and 3 (a quarter of it)
            vpp.Request(2700, 3600, cut_import_mw=40.0),  # step 3: cap floors at 0
            vpp.Request(0, 1350, price_adder_cny_per_mwh=100.0)]  # step 0, half of step 1
    out = vpp.apply_requests(inp, 0, step, reqs, base)
    np.testing.assert_array_equal(np.isnan(out.import_cap_mw),
                                  [True, True, False, False, True, True, True, True])
    np.testing.assert_allclose(out.import_cap_mw[2:4], [25.0, 0.0])
    np.testing.assert_allclose(out.price_import_cny_per_mwh[:3], [700.0, 650.0, 600.0])
    assert inp.import_cap_mw is None  # the inputs are not changed


def test_response_measures_mean_cut_and_worst_step():
    req = vpp.Request(900, 2700, cut_import_mw=10.0)
    r = vpp.response(req, np.full(4, 30.0), np.array([30.0, 18.0, 24.0, 30.0]), 900, 0)
    assert (r.asked_mw, r.delivered_mw, r.shortfall_mw) == (10.0, 9.0, 4.0)
    assert r.energy_mwh == pytest.approx(18.0 * 0.25)
    with pytest.raises(ValueError, match="outside"):
        vpp.response(vpp.Request(9000, 9900), np.zeros(4), np.zeros(4), 900, 0)


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="end_s"):
        vpp.Request(100, 100)
    with pytest.raises(ValueError, match="cut_import_mw"):
        vpp.Request(0, 100, cut_import_mw=-1.0)
    with pytest.raises(ValueError, match="ascending"):
        vpp.envelope([], [], [], [], [], [], [], durations_h=(1.0, 0.5))


def test_a_live_request_is_declared_when_received_with_its_offer():
    """Requests sent while the EMS runs: each declared in the step it arrives (24 h ahead of
    its window), the feasible one in full, the one beyond the storage's power with the reason
    and the MW the park can deliver; nothing is asked or offered outside the windows."""
    import dataclasses
    import datetime as dt

    from twin import scenario
    from twin.cosim import ems as cems
    from twin.ems.controller import Measurement
    from twin.models.events import Event, windows

    s = scenario.load("scenarios/park.yaml").with_days(2)
    s = dataclasses.replace(s, events=())
    book: list = []
    ems = cems.build(s, events=book)
    m = Measurement(pv_mw=0.0, wind_mw=50.0, other_mw=20.0,
                    factory_mw={f.name: 30.0 for f in s.factory_loads}, ev_mw=1.0,
                    soc={b.name: 0.5 for b in s.batteries},
                    ev_flex={h.name: None for h in s.ev_hubs})
    for i in range(8):
        assert ems.step(i, m).offered_mw == 0.0
    day2 = dt.date(2027, 1, 2)
    for cut in (20.0, 300.0):
        book.extend(windows([Event(kind="demand_response", dates=(day2,), start=2 * 3600,
                                   end=3 * 3600, cut_import_mw=cut)],
                            s.start_utc, s.park.timezone, s.period.duration_s))
    d = ems.step(8, m)
    assert d.replanned
    assert d.asked_mw == d.offered_mw == 0.0
    small, big = ems.answers
    assert small.declared_s == big.declared_s == 8 * 900
    assert small.offered_mw == 20.0
    assert small.reason == ""
    flexible = sum(f.flex_share * 30.0 for f in ems.flexibles)
    assert 100.0 < big.offered_mw <= 120.0 + flexible + 1e-9
    assert big.reason.startswith("power: 300.0 MW asked")
    assert f"{big.offered_mw:.1f} MW offered" in big.reason
    for i in range(9, 96 + 12):
        d = ems.step(i, m)
        inside = 96 + 8 <= i < 96 + 12
        assert d.asked_mw == (300.0 if inside else 0.0)
        assert d.offered_mw == (big.offered_mw if inside else 0.0)
    assert big.offered_mw == ems.answers[1].offered_mw  # declared once, held


def test_storage_offer_by_hand():
    """Charged from receipt to the window's start, the storage holds a cut as long as its
    energy lasts; the baseline's charging stopped counts, losses come on top, a step whose
    baseline imports less than the cut asks only its import."""
    soc = np.array([0.1])  # empty: 0.95 * 10 * 1 h charged, 40 MWh window 0.1..0.9
    e = (0.1 * 40.0 + 9.5 - 4.0) * 0.95  # AC side at the window's start
    base, none = np.full(8, 50.0), np.zeros(8)
    # 2 h window, 1 MW losses: c + 1 over 2 h from e
    assert vpp.storage_offer([BESS], soc, 1.0, base, none, 1.0, 9.0) == pytest.approx(
        e / 2.0 - 1.0, abs=1e-6)
    assert vpp.storage_offer([BESS], soc, 1.0, base[:2], none[:2], 1.0, 9.0) == 9.0
    # full after 4 h: power binds (10 MW less the losses), unless the baseline charges 3 MW
    assert vpp.storage_offer([BESS], soc, 6.0, base[:2], none[:2], 1.0, 20.0) == \
        pytest.approx(9.0, abs=1e-6)
    assert vpp.storage_offer([BESS], soc, 6.0, base[:2], np.full(2, 3.0), 1.0, 20.0) == \
        pytest.approx(12.0, abs=1e-6)
    # a baseline of 2 MW import asks 2 MW: any cut is held with 3 MW of discharge
    assert vpp.storage_offer([BESS], soc, 1.0, np.full(8, 2.0), none, 1.0, 30.0) == 30.0
    # what the windows before it need is set aside
    assert vpp.storage_offer([BESS], soc, 1.0, base, none, 1.0, 9.0, reserved_mwh=e) == 0.0


def test_an_energy_bound_offer_is_what_the_storage_holds_and_it_is_held():
    """A request an hour ahead for 6 h, beyond what the empty storage can store by then: the
    offer is the storage's energy at the window's start spread evenly over the window (not
    less), and stepping through the window (the storage integrated here) holds it in every
    step."""
    import dataclasses
    import datetime as dt

    from twin import scenario
    from twin.cosim import ems as cems
    from twin.ems.controller import Measurement
    from twin.models.events import Event, windows

    s = scenario.load("scenarios/park.yaml").with_days(2)
    s = dataclasses.replace(s, events=())
    book: list = []
    ems = cems.build(s, events=book)
    soc = {b.name: b.soc_min for b in s.batteries}

    def measure() -> Measurement:
        return Measurement(pv_mw=0.0, wind_mw=50.0, other_mw=60.0,
                           factory_mw={f.name: 30.0 for f in s.factory_loads}, ev_mw=1.0,
                           soc=dict(soc), ev_flex={h.name: None for h in s.ev_hubs})

    def step(i: int):
        d = ems.step(i, measure())
        for b in s.batteries:  # the storage follows its setpoint within its window
            p = d.p_storage_mw[b.name]
            de = p * 0.25 * (b.eta_charge if p > 0 else 1.0 / b.eta_discharge)
            soc[b.name] = min(max(soc[b.name] + de / b.e_max_mwh, b.soc_min), b.soc_max)
        return d

    for i in range(8):
        step(i)
    book.extend(windows([Event(kind="demand_response", dates=(dt.date(2027, 1, 1),),
                               start=3 * 3600, end=9 * 3600, cut_import_mw=100.0)],
                        s.start_utc, s.park.timezone, s.period.duration_s))
    step(8)
    (a,) = ems.answers
    assert a.reason.startswith("energy")
    lead = (a.request.start_s - 8 * 900) / 3600.0
    e = sum((min(b.soc_max, soc_8 + b.p_max_mw * b.eta_charge * lead / b.e_max_mwh)
             - b.soc_min) * b.e_max_mwh * b.eta_discharge
            for b, soc_8 in ((b, b.soc_min) for b in s.batteries))
    # spread evenly over 6 h, the losses (3 % of the planned load) on top, in tenths of a MW
    loss = ems.s.loss_margin * float(np.max(ems.state.inputs.load_mw + sum(
        sh.p_base_mw for sh in ems.state.inputs.shiftables)))
    assert e / 6.0 - loss - 0.1 <= a.offered_mw <= e / 6.0 - loss
    held = []
    for i in range(9, 36):
        d = step(i)
        if d.offered_mw > 0:
            held.append(i)
            m = measure()
            imp = (sum(m.factory_mw.values()) + m.other_mw + m.ev_mw - m.wind_mw
                   + sum(d.p_storage_mw.values()))
            assert d.import_baseline_mw - imp >= a.offered_mw - 1e-6, i
    assert len(held) == 24


def test_a_held_offer_keeps_the_measured_losses_in_hand():
    """The network's losses, measured a step late by the grid and here growing with the square
    of the park's flows (load, 220-255 MW of wind flowing in, the storage's discharge), are
    kept in hand in every step of a window: the import at the meter, losses included, stays
    the offer below the baseline, the window's first step (no discharge in the step before)
    too. A fixed share of the load (3 %, what is used where losses are not measured) would
    miss it: the losses are ~12 MW, 4.5 % of the load."""
    import dataclasses
    import datetime as dt

    from twin import scenario
    from twin.cosim import ems as cems
    from twin.ems.controller import Measurement
    from twin.models.events import Event, windows

    s = dataclasses.replace(scenario.load("scenarios/park.yaml").with_days(2), events=())
    book: list = []
    ems = cems.build(s, events=book)
    soc = {b.name: 0.6 for b in s.batteries}
    k_loss = 5e-5  # MW of losses per (MW of flow)^2
    other, factory, ev = 60.0, {f.name: 30.0 for f in s.factory_loads}, 1.0
    load = other + sum(factory.values()) + ev
    loss = math.nan

    def step(i: int):
        nonlocal loss
        wind = 220.0 + 5.0 * (i % 8)
        d = ems.step(i, Measurement(pv_mw=0.0, wind_mw=wind, other_mw=other,
                                    factory_mw=dict(factory), ev_mw=ev, soc=dict(soc),
                                    ev_flex={h.name: None for h in s.ev_hubs},
                                    grid_loss_mw=loss))
        p = sum(d.p_storage_mw.values())
        for b in s.batteries:
            pb = d.p_storage_mw[b.name]
            de = pb * 0.25 * (b.eta_charge if pb > 0 else 1.0 / b.eta_discharge)
            soc[b.name] = min(max(soc[b.name] + de / b.e_max_mwh, b.soc_min), b.soc_max)
        loss = k_loss * (load + wind + abs(p)) ** 2
        return d, load - wind + p + loss  # the import at the meter

    for i in range(8):
        step(i)
    book.extend(windows([Event(kind="demand_response", dates=(dt.date(2027, 1, 1),),
                               start=3 * 3600, end=4 * 3600, cut_import_mw=20.0)],
                        s.start_utc, s.park.timezone, s.period.duration_s))
    held = []
    for i in range(8, 18):
        d, imp = step(i)
        if d.offered_mw > 0:
            held.append(d.import_baseline_mw - imp - d.offered_mw)
    assert len(held) == 4
    assert ems.answers[0].offered_mw == 20.0
    assert min(held) >= 0.0, held
    assert k_loss * (load + 220.0) ** 2 > 0.03 * load + 3.0  # a fixed 3 % would miss
