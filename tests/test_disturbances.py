"""Events a trainer triggers (twin.models.events, twin.models.disturbances): what the simulators make of them.

Checked on their physics: irradiance and power balances close, an island exchanges nothing
with the public grid, a tripped line carries nothing and sheds what it fed (the fast solver
against pandapower.runpp on the tripped network), and each event moves what it should.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin import runner, scenario
from twin.core.results import open_run
from twin.models.disturbances import cloud_irradiance, island
from twin.models.events import Event, EventBook, live_events
from twin.scenario import ScenarioError

HERE = Path(__file__).parent
DASHBOARD = HERE / "scenarios" / "dashboard.yaml"
SMALL = HERE / "scenarios" / "small.yaml"
BALANCE_ABS_MW = 1e-6  # power balances per step
HOURS = (6, 14)  # the events' window: hours after the start


# ----------------------------------------------------------------------------- pure parts
@given(st.floats(0, 1000), st.floats(0, 500), st.floats(0, 1), st.floats(0, 1))
def test_cloud_front_keeps_the_irradiance_balance(dni: float, dhi: float, cos_z: float,
                                                  f: float) -> None:
    ghi = dhi + dni * cos_z
    g, n, d = cloud_irradiance(ghi, dni, dhi, f)
    assert g == pytest.approx(f * ghi)
    assert min(g, n, d) >= 0
    assert d + n * cos_z == pytest.approx(g, abs=1e-6)
    assert n <= f * dni + 1e-9  # the beam falls at least as fast as the global


@given(st.lists(st.floats(-20, 50), min_size=1, max_size=6),
       st.lists(st.floats(0, 60), min_size=1, max_size=4))
def test_an_island_balances(loads: list[float], gens: list[float]) -> None:
    isle = island(loads, gens)
    served = float(isle.p_load_mw.sum()) - float(isle.p_gen_mw.sum())
    assert served == pytest.approx(0.0, abs=1e-6)
    assert isle.p_shed_mw >= 0
    assert isle.p_curtailed_mw >= 0
    assert not (isle.p_shed_mw > 1e-9 and isle.p_curtailed_mw > 1e-9)
    before = sum(loads) - sum(gens)
    assert before == pytest.approx(isle.p_shed_mw - isle.p_curtailed_mw, abs=1e-6)


def test_live_events_split_at_midnight() -> None:
    start = dt.datetime(2027, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    found = live_events("wind_lull", 22 * 3600, 4 * 3600, start, "Asia/Shanghai",
                        wind_factor=0.3)
    assert [(e.dates[0].day, e.start, e.end) for e in found] == [(1, 22 * 3600, 86400),
                                                                 (2, 0, 2 * 3600)]
    book = EventBook((), start, "Asia/Shanghai", 3 * 86400)
    for e in found:
        book.add(e)
    assert [w.event.kind for w in book.active(23 * 3600)] == ["wind_lull"]
    assert book.active(26 * 3600 - 1)
    assert not book.active(26 * 3600)
    assert len(book[0:]) == 2
    assert book[1].start_s == 86400


@pytest.mark.parametrize(("kind", "params"), [
    ("cloud_front", {}), ("wind_lull", {"wind_factor": 1.0}), ("heat_wave", {}),
    ("cold_wave", {"temp_delta_c": 5}), ("line_trip", {}), ("ev_surge", {}),
    ("defect_burst", {})])
def test_an_event_without_its_parameter_is_refused(kind: str, params: dict) -> None:
    with pytest.raises(ValueError, match=f"a {kind} needs"):
        Event(kind=kind, dates=(dt.date(2027, 1, 1),), start=0, end=3600, **params)


def test_scenario_events_of_the_new_kinds() -> None:
    text = DASHBOARD.read_text() + """
events:
  - {kind: cloud_front, dates: [2027-03-09], start: "18:00", end: "20:00", irradiance_factor: 0.3}
  - {kind: line_trip, dates: [2027-03-10], start: "08:00", end: "09:00", line: plant/f1s1}
  - {kind: ev_surge, dates: [2027-03-10], start: "08:00", end: "09:00", arrival_factor: 3,
     target: ev}
"""
    s = scenario.loads(text, DASHBOARD)
    assert [e.kind for e in s.events] == ["cloud_front", "line_trip", "ev_surge"]
    with pytest.raises(ScenarioError, match=r"events\[0\].target"):
        scenario.loads(DASHBOARD.read_text() + """
events: [{kind: ev_surge, dates: [2027-03-10], start: "08:00", end: "09:00",
          arrival_factor: 3, target: nobody}]
""", DASHBOARD)
    with pytest.raises(ScenarioError, match="needs the scenario's grid"):
        scenario.loads(SMALL.read_text() + """
events: [{kind: line_trip, dates: [2027-01-01], start: "08:00", end: "09:00", line: x}]
""", SMALL)


# ----------------------------------------------------------------------------- in a run
def _run(path: Path, out: Path, name: str, *events: tuple[str, dict], **changes: object
         ) -> runner.RunResult:
    s = scenario.load(path).with_days(1)
    s = dataclasses.replace(s, output=dataclasses.replace(s.output, name=name), **changes)
    book = EventBook(s.events, s.start_utc, s.park.timezone, s.period.duration_s)
    for kind, params in events:
        for e in live_events(kind, HOURS[0] * 3600, (HOURS[1] - HOURS[0]) * 3600, s.start_utc,
                             s.park.timezone, **params):
            book.add(e)
    return runner.run(s, out_dir=out, events=book)


def _window(run: object) -> slice:
    step = run.step_s  # type: ignore[attr-defined]
    return slice(HOURS[0] * 3600 // step, HOURS[1] * 3600 // step)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("events")
    weather = {"wind_lull": {"wind_factor": 0.2}, "heat_wave": {"temp_delta_c": 10.0},
               "cloud_front": {"irradiance_factor": 0.2}, "ev_surge": {"arrival_factor": 6.0}}
    runs = {"base": _run(SMALL, out, "base").path}
    runs["weather"] = _run(SMALL, out, "weather", *weather.items()).path
    runs["outage"] = _run(SMALL, out, "outage", ("grid_outage", {})).path
    return runs


def test_weather_events_and_ev_surge_move_the_park(small_runs: dict[str, Path]) -> None:
    with open_run(small_runs["base"]) as base, open_run(small_runs["weather"]) as ev:
        w = _window(base)
        assert np.allclose(ev.series("weather", "wind_ms")[w], 0.2 * base.series(
            "weather", "wind_ms")[w])
        assert np.allclose(ev.series("weather", "temp_air_c")[w],
                           base.series("weather", "temp_air_c")[w] + 10.0)
        assert ev.series("wind", "p_mw")[w].sum() < 0.2 * base.series("wind", "p_mw")[w].sum()
        assert ev.series("pv", "p_mw")[w].sum() < 0.5 * base.series("pv", "p_mw")[w].sum()
        assert ev.series("ev", "n_arrivals")[w].sum() > 3 * base.series("ev", "n_arrivals")[
            w].sum()
        outside = slice(0, w.start)
        assert np.array_equal(ev.series("wind", "p_mw")[outside],
                              base.series("wind", "p_mw")[outside])


def test_an_island_exchanges_nothing_and_curtails_what_it_cannot_take(
        small_runs: dict[str, Path]) -> None:
    with open_run(small_runs["outage"]) as run:
        w = _window(run)
        net, shed = run.series("pcc", "p_net_mw"), run.series("pcc", "p_shed_mw")
        curtailed = run.series("pcc", "p_curtailed_mw")
        assert (run.series("pcc", "islanded")[w] == 1).all()
        assert np.abs(net[w]).max() < BALANCE_ABS_MW
        demand = (run.series("pcc", "p_load_mw") + run.series("pcc", "p_storage_mw")
                  - run.series("pcc", "p_gen_mw"))
        assert np.allclose(demand[w], shed[w] - curtailed[w], atol=BALANCE_ABS_MW)
        full = run.series("bess", "soc")[w] >= 0.9 - 1e-6  # the battery's soc_max
        at_limit = run.series("bess", "p_mw")[w] >= 10.0 - 1e-6  # charging at its p_max_mw
        assert curtailed[w].sum() > 0
        # curtailed only what the battery cannot take: once it is full or charging flat out
        assert (full | at_limit)[curtailed[w] > 1e-6].all()
        kpis = run.kpis()
        assert kpis["e_shed_mwh"].value == pytest.approx(shed.sum() * 0.25)
        assert abs(kpis["balance_residual_mwh"].value) < 1e-6 * kpis["e_load_mwh"].value


def test_the_ems_holds_an_island_on_storage(tmp_path: Path) -> None:
    s = scenario.load(SMALL)
    ems = dataclasses.replace(s.controller, kind="ems", forecaster="smart_persistence")
    run = _run(SMALL, tmp_path, "ems-outage", ("grid_outage", {}), controller=ems)
    with open_run(run.path) as r:
        w = _window(r)
        assert np.abs(r.series("pcc", "p_net_mw")[w]).max() < BALANCE_ABS_MW
        soc, p = r.series("bess", "soc")[w], r.series("bess", "p_mw")[w]
        shed, curtailed = r.series("pcc", "p_shed_mw")[w], r.series("pcc", "p_curtailed_mw")[w]
        # the storage balances the island: anything left over only at one of its limits
        at_top = (soc >= 0.9 - 1e-6) | (p >= 10.0 - 1e-6)
        at_bottom = (soc <= 0.1 + 1e-6) | (p <= -10.0 + 1e-6)
        assert at_top[curtailed > 1e-6].all()
        assert at_bottom[shed > 1e-6].all()
        assert np.abs(p).max() > 1.0  # it did work


def test_a_tripped_line_carries_nothing_and_sheds_its_load(tmp_path: Path) -> None:
    trip = ("line_trip", {"line": "plant/f1s1"})
    runs = {solver: _run(DASHBOARD, tmp_path, f"trip-{solver}", trip,
                         grid=dataclasses.replace(scenario.load(DASHBOARD).grid, solver=solver))
            for solver in ("lightsim2grid", "pandapower")}
    base = _run(DASHBOARD, tmp_path, "no-trip")
    with open_run(runs["lightsim2grid"].path) as fast, open_run(runs["pandapower"].path) as ref, \
            open_run(base.path) as b:
        w = _window(fast)
        lines = list(fast.info("grid", "line_p_from_mw").columns)
        k = lines.index("plant/f1s1")
        assert np.abs(fast.series("grid", "line_p_from_mw")[w, k]).max() == 0.0
        assert np.abs(b.series("grid", "line_p_from_mw")[w, k]).min() > 0.1
        shed = fast.series("grid", "p_shed_mw")[w]
        n_feeders = sum(1 for n in lines if n.startswith("plant/f") and n.endswith("s1"))
        plant = fast.series("plant", "p_mw")[w]
        assert np.allclose(shed, plant / n_feeders, rtol=1e-9)  # one of its equal feeders
        assert np.allclose(fast.series("grid", "p_net_mw")[w], ref.series("grid", "p_net_mw")[w],
                           atol=1e-5)
        assert np.allclose(fast.series("grid", "p_net_mw")[: w.start],
                           b.series("grid", "p_net_mw")[: w.start])
