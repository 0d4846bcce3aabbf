"""A jump's catch-up (twin.models.catchup through the adapters): the EV hubs and statistical AOI
lines of a run started inside a longer period reach the same state from a week already run to
as from the period's start, and the AOI line's catch-up counts the events before the jump."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from adapters.aoi_sim import AOISim
from adapters.loads_sim import LoadsSim
from tests.conftest import ROOT
from twin import scenario
from twin.models import catchup
from twin.models.aoi.line import AOILineSpec
from twin.models.events import Event, EventBook

TZ = "Asia/Shanghai"
PERIOD = dt.datetime(2027, 1, 4, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a Monday
DAYS = 17  # the jump: 2027-01-21, two whole weeks kept on the way


def _book(events: tuple[Event, ...], start: dt.datetime) -> EventBook:
    return EventBook(events, start.astimezone(dt.UTC), TZ, 86400,
                     period_start_utc=PERIOD.astimezone(dt.UTC))


def _jump(kind: str, events: tuple[Event, ...] = (), days: int = DAYS
          ) -> tuple[Any, list[dict[str, Any]]]:
    """The entity of a run from PERIOD + ``days`` (one day, its period's start PERIOD) and
    its first 12 hours."""
    start = PERIOD + dt.timedelta(days=days)
    if kind == "aoi":
        sim: Any = AOISim()
        sim.init("AOI", start=start.isoformat(), step_s=3600, seed=3, duration_s=86400,
                 events=_book(events, start))
        spec = AOILineSpec(name="smt", takt_s=30, shifts=2, p_defect=0.04,
                           hold_on=("grid_outage",), lot_boards=10**6)  # counts boards made
        sim.create(1, "AOILine", **dataclasses.asdict(spec))
        eid, step = "smt", 3600
    else:
        s = scenario.load(ROOT / "tests" / "scenarios" / "dashboard.yaml")
        sim = LoadsSim()
        sim.init("Loads", start=start.isoformat(), step_s=900, seed=3, duration_s=86400,
                 events=_book(events, start))
        sim.create(1, "EVHub", **dataclasses.asdict(s.ev_hubs[0]))
        eid, step = s.ev_hubs[0].name, 900
    rows = []
    for k in range(12 * 3600 // step):
        sim.step(k * step, {}, 86400)
        rows.append({a: v for a, v in sim.out[eid].items() if isinstance(v, float | int)})
    return sim.entities[eid], rows


@pytest.mark.parametrize("kind", ["aoi", "ev"])
def test_a_catch_up_from_a_kept_week_equals_one_from_the_period_start(kind: str) -> None:
    catchup._kept.clear()
    catchup._made.clear()
    _, cold = _jump(kind)  # from the period's start, keeping each week's end
    assert [len(weeks) for weeks in catchup._kept.values()] == [2]
    _, kept = _jump(kind)  # from the second week's end
    assert kept == cold
    catchup._kept.clear()
    catchup.warm(lambda per_week: 3 * per_week)  # run ahead, as the page does after opening
    assert [len(weeks) for weeks in catchup._kept.values()] == [3]
    _, warmed = _jump(kind)
    assert warmed == cold
    assert any(r.get("boards_out", 0) > 0 or r.get("n_connected", 0) > 0 for r in cold)


@pytest.mark.parametrize("kind", ["aoi", "ev"])
def test_a_run_from_the_period_start_lets_the_background_run_ahead(kind: str) -> None:
    """The page opened at the period's start (nothing to catch up): its background catch-up
    knows the model all the same and keeps its weeks, and a later jump equals one from the
    period's start."""
    catchup._kept.clear()
    catchup._made.clear()
    _, cold = _jump(kind)
    catchup._kept.clear()
    catchup._made.clear()
    _jump(kind, days=0)
    assert [key[0] for key in catchup._made] == [kind]
    catchup.warm(lambda per_week: 3 * per_week)
    assert [len(weeks) for weeks in catchup._kept.values()] == [3]
    _, warmed = _jump(kind)
    assert warmed == cold


def test_the_aoi_catch_up_counts_the_events_before_the_jump() -> None:
    """A grid outage the line holds on, and a defect burst, both before the jump: the line
    reached by the jump has made fewer boards (held three hours) and drawn other outcomes."""
    catchup._kept.clear()
    plain, _ = _jump("aoi")
    day = (PERIOD + dt.timedelta(days=DAYS - 3)).date()
    outage = Event(kind="grid_outage", dates=(day,), start=10 * 3600, end=13 * 3600)
    burst = Event(kind="defect_burst", dates=(day,), start=14 * 3600, end=18 * 3600,
                  p_defect=0.5)
    held, _ = _jump("aoi", (outage,))
    per_h = 3600 / plain.mean_cycle_s  # boards an hour running
    assert 0.6 * 3 * per_h < plain._made - held._made <= 3 * per_h  # less its stops
    burst_line, _ = _jump("aoi", (burst,))
    assert burst_line._made == plain._made  # the burst holds nothing
    assert burst_line.rng.bit_generator.state != plain.rng.bit_generator.state


def test_a_hubs_skip_draws_what_its_steps_draw_at_every_rate() -> None:
    """A jump's catch-up of an EV hub (its draws over many steps at once) leaves the generator
    where drawing step by step leaves it: a busy hub (more than ten arrivals in some steps)
    and a quiet one, over nine days with a weekend, and both go on alike."""
    from twin.core.rng import generator
    from twin.models.loads.calendar import ParkCalendar
    from twin.models.loads.ev import EVHub, EVHubSpec

    cal = ParkCalendar(timezone=TZ, years=range(2027, 2028))
    e0, n, step = int(PERIOD.timestamp()), 9 * 96, 900
    for per_day in (3000.0, 30.0):
        spec = EVHubSpec(name="ev_rate", kind="public", n_chargers=40, arrivals_per_day=per_day)
        hubs = [EVHub(spec, cal, generator(7, spec.name)) for _ in range(2)]
        means = [hubs[0].expected_arrivals(e0 + k * step, step) for k in range(n)]
        assert (max(means) > 12 if per_day > 100 else max(means) < 2)  # both Poisson methods
        for k in range(n):
            hubs[0]._draw(e0 + k * step, step)
        hubs[1].skip(n, step, e0 + n * step, stepped=0)
        assert hubs[1]._rng.bit_generator.state == hubs[0]._rng.bit_generator.state
        after = [[h.step(e0 + (n + k) * step, step).n_arrivals for k in range(96)] for h in hubs]
        assert after[0] == after[1]
        assert sum(after[0]) > 0
