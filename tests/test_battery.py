"""Battery physics: limits, SOC window, losses, energy bookkeeping (Hypothesis properties)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import BATTERY_ENERGY_ABS_MWH
from twin.models import battery
from twin.models.battery import BatterySpec

SPEC = BatterySpec(name="b", p_max_mw=50.0, e_max_mwh=200.0, soc_min=0.1, soc_max=0.9,
                   soc_init=0.5, eta_charge=0.95, eta_discharge=0.95,
                   self_discharge_per_day=0.001)

specs = st.builds(
    BatterySpec,
    name=st.just("b"),
    p_max_mw=st.floats(0.1, 500),
    e_max_mwh=st.floats(0.1, 2000),
    soc_min=st.floats(0.0, 0.4),
    soc_max=st.floats(0.6, 1.0),
    soc_init=st.floats(0.4, 0.6),
    eta_charge=st.floats(0.5, 1.0),
    eta_discharge=st.floats(0.5, 1.0),
    self_discharge_per_day=st.floats(0.0, 0.05),
)


@settings(max_examples=200, deadline=None)
@given(spec=specs, setpoints=st.lists(st.floats(-1000, 1000), min_size=1, max_size=60),
       dt_s=st.sampled_from([60, 300, 900, 3600]))
def test_soc_stays_in_window_and_energy_is_conserved(spec, setpoints, dt_s):
    state = battery.initial_state(spec)
    for p_set in setpoints:
        old = state
        state, r = battery.step(spec, state, p_set, dt_s)
        dt_h = dt_s / 3600
        assert abs(r.p_mw) <= spec.p_max_mw + 1e-9
        if r.p_mw < 0:  # discharging never takes the SOC below its window (self-discharge may)
            assert r.soc >= spec.soc_min - 1e-9
        assert r.soc <= spec.soc_max + 1e-9
        assert r.p_loss_mw >= -1e-12
        # p * dt = ΔE + losses * dt, exactly
        assert math.isclose(r.p_mw * dt_h, (state.e_mwh - old.e_mwh) + r.p_loss_mw * dt_h,
                            abs_tol=BATTERY_ENERGY_ABS_MWH * max(1.0, spec.e_max_mwh))


def test_charging_stops_at_soc_max_with_round_trip_losses():
    state = battery.initial_state(SPEC)
    charged = 0.0
    for _ in range(200):
        state, r = battery.step(SPEC, state, 50.0, 900)
        charged += r.p_mw * 0.25
    assert r.soc == pytest.approx(SPEC.soc_max, abs=1e-3)
    discharged = 0.0
    for _ in range(200):
        state, r = battery.step(SPEC, state, -50.0, 900)
        discharged -= r.p_mw * 0.25
    assert r.soc == pytest.approx(SPEC.soc_min, abs=1e-3)
    # from soc_max to soc_min we get out less than the window's energy
    window = (SPEC.soc_max - SPEC.soc_min) * SPEC.e_max_mwh
    assert discharged < window * SPEC.eta_discharge + 1e-6
    assert discharged > window * SPEC.eta_discharge * 0.95


def test_power_limit_and_efc():
    state = battery.initial_state(SPEC)
    state, r = battery.step(SPEC, state, 1e6, 900)
    assert r.p_mw == pytest.approx(SPEC.p_max_mw)
    assert r.efc == pytest.approx(SPEC.p_max_mw * 0.25 / (2 * SPEC.e_max_mwh))


def test_self_discharge_loses_energy_at_rest():
    state = battery.initial_state(SPEC)
    for _ in range(96):
        state, r = battery.step(SPEC, state, 0.0, 900)
    assert state.e_mwh == pytest.approx(100.0 * (1 - SPEC.self_discharge_per_day), rel=1e-9)
    assert r.p_mw == 0.0


@pytest.mark.parametrize("dt_s", [900, 60])
def test_step_block_gives_the_steps_numbers(dt_s: int) -> None:
    """A block of setpoints in one call: the numbers and the state of the steps one by one,
    through both SOC limits and the power limit."""
    spec = BatterySpec(name="b", p_max_mw=10.0, e_max_mwh=8.0, soc_min=0.1, soc_max=0.9,
                       soc_init=0.5, self_discharge_per_day=0.01)
    setpoints = [12.0 * math.sin(k / 7.0) + (25.0 if k % 40 < 5 else 0.0) for k in range(400)]
    state = battery.initial_state(spec)
    want: dict[str, list[float]] = {q.name: [] for q in battery.OUTPUTS}
    for p in setpoints:
        state, r = battery.step(spec, state, p, dt_s)
        for name in want:
            want[name].append(getattr(r, name))
    end, got = battery.step_block(spec, battery.initial_state(spec), setpoints, dt_s)
    assert got == want
    assert end == state
    assert any(abs(r) < abs(p) - 1e-9 for r, p in zip(want["p_mw"], setpoints, strict=True))
    if dt_s == 900:  # the SOC window clips too
        assert max(want["soc"]) == pytest.approx(0.9)
        assert min(want["soc"]) < 0.1 + 1e-3
