"""An EV hub over a block of steps at once gives, to the last bit, what its steps give one at
a time: every output, the hub's chargers, queue and totals after it, with surges, a queue,
rejections, vehicles leaving when full, the hub's limit binding (the block then steps) and
steps that do not divide an hour."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from twin.core.rng import generator
from twin.models.loads import EVHub, EVHubSpec, ParkCalendar
from twin.models.loads import ev as ev_model
from twin.models.loads.ev_block import np_sum

NAMES = [q.name for q in ev_model.OUTPUTS]
E0 = int(dt.datetime(2027, 1, 4, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())


@pytest.fixture(scope="module")
def cal() -> ParkCalendar:
    return ParkCalendar(timezone="Asia/Shanghai", years=range(2026, 2028))


def _pair(spec: EVHubSpec, cal: ParkCalendar) -> tuple[EVHub, EVHub]:
    return (EVHub(spec, cal, generator(11, spec.name)),
            EVHub(spec, cal, generator(11, spec.name)))


def _state(hub: EVHub) -> tuple:
    return (hub._occ.tolist(), hub._t_plug.tolist(), hub._t_dep.tolist(),
            hub._e_rem.tolist(), list(hub._queue), hub.e_requested_mwh, hub.e_delivered_mwh,
            hub.e_unserved_mwh, hub.n_arrivals, hub.n_rejected)


SPECS = [
    EVHubSpec(name="work", kind="workplace", n_chargers=60, arrivals_per_day=70.0),
    EVHubSpec(name="fleet", kind="fleet", n_chargers=12, arrivals_per_day=30.0),
    EVHubSpec(name="public", kind="public", n_chargers=6, arrivals_per_day=120.0),
    EVHubSpec(name="capped", kind="fleet", n_chargers=10, p_max_mw=0.4, arrivals_per_day=40.0),
]


@pytest.mark.parametrize("dt_s", [900, 420])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_block_gives_the_steps_numbers(spec: EVHubSpec, dt_s: int, cal: ParkCalendar,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    stepped, blocked = _pair(spec, cal)
    n, block = 8 * 86400 // dt_s, 86400 // dt_s
    factors = np.where(np.arange(n) % 50 < 6, 2.5, 1.0).tolist()  # surges now and then
    shared = []
    least = ev_model._least_laxity_first

    def counted(*args: object) -> np.ndarray:
        shared.append(1)
        return least(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ev_model, "_least_laxity_first", counted)
    want = {q: [] for q in NAMES}
    for k in range(n):
        out = stepped.step(E0 + k * dt_s, dt_s, arrival_factor=factors[k])
        for q in NAMES:
            want[q].append(getattr(out, q))
    limit_bound = bool(shared)
    got = {q: [] for q in NAMES}
    for k0 in range(0, n, block):
        ks = range(k0, min(k0 + block, n))
        out = blocked.step_block([E0 + k * dt_s for k in ks], dt_s, [factors[k] for k in ks])
        for q in NAMES:
            got[q].extend(out[q])
    assert got == want
    assert _state(blocked) == _state(stepped)
    assert sum(want["n_arrivals"]) > 50
    assert max(want["n_connected"]) > 0
    if spec.name == "capped":
        assert limit_bound
    if spec.name == "public":  # a full queue turns vehicles away
        assert max(want["n_queued"]) > 0
        assert sum(want["n_rejected"]) > 0


def test_block_then_steps_go_on_alike(cal: ParkCalendar) -> None:
    """A block leaves the hub as its steps do: stepping on after it gives the same."""
    spec = SPECS[0]
    stepped, blocked = _pair(spec, cal)
    for k in range(96):
        stepped.step(E0 + k * 900, 900)
    blocked.step_block([E0 + k * 900 for k in range(96)], 900)
    for k in range(96, 150):
        assert blocked.step(E0 + k * 900, 900) == stepped.step(E0 + k * 900, 900)


@pytest.mark.parametrize("spec", SPECS[1:3], ids=lambda s: s.name)
def test_arrivals_drawn_ahead_give_the_steps_numbers_under_a_cap(spec: EVHubSpec,
                                                                 cal: ParkCalendar) -> None:
    """A hub whose cap changes every step (an EMS's), its arrivals drawn a block ahead
    (``draw_ahead``, ``step_drawn``), gives what its steps give to the last bit."""
    stepped, ahead = _pair(spec, cal)
    n, block = 4 * 96, 96
    caps = np.random.default_rng(3).uniform(0.0, 1.2 * spec.n_chargers * 0.05, n).tolist()
    caps[5] = None  # no cap in a step
    factors = np.where(np.arange(n) % 40 < 5, 3.0, 1.0).tolist()
    want, got = [], []
    for k0 in range(0, n, block):
        drawn = ahead.draw_ahead([E0 + k * 900 for k in range(k0, k0 + block)], 900,
                                 factors[k0:k0 + block])
        for k in range(k0, k0 + block):
            want.append(stepped.step(E0 + k * 900, 900, p_limit_mw=caps[k],
                                     arrival_factor=factors[k]))
            got.append(ahead.step_drawn(E0 + k * 900, 900, drawn[k - k0], p_limit_mw=caps[k]))
    assert got == want
    assert _state(ahead) == _state(stepped)
    assert sum(o.n_arrivals for o in want) > 50
    assert any(abs(o.p_mw - c) < 1e-9 for o, c in zip(want, caps, strict=True) if c)  # caps that bind


@pytest.mark.parametrize("size", [1, 3, 7, 8, 9, 31, 200])
def test_np_sum_is_numpys(size: int) -> None:
    values = np.random.default_rng(size).lognormal(0.0, 3.0, size).tolist()
    assert np_sum(values) == float(np.array(values).sum())
