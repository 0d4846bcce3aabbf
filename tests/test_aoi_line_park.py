"""The SMT/AOI line in the park: a grid outage or a demand-response request holds it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from adapters.aoi_sim import AOISim
from twin.models.aoi.calibration import OracleInspector, SyntheticBoards
from twin.models.aoi.line import PERFECT, REFLOW, STATIONS, AOILineSpec, FullLine, StatisticalLine
from twin.models.events import Event, EventBook

TZ = dt.timezone(dt.timedelta(hours=8))
MONDAY = int(dt.datetime(2027, 1, 4, tzinfo=TZ).timestamp())  # a workday, 00:00 local
HOLD = (MONDAY + 10 * 3600, MONDAY + 13 * 3600)  # 10:00-13:00 local, inside the day shift


def _spec(**kw) -> AOILineSpec:
    return AOILineSpec(name="smt", robot="calibrated", mtbf_h=(0.0,) * len(STATIONS), **kw)


def _day(hold: bool | None, step_s: int = 3600) -> tuple[StatisticalLine, list]:
    """A statistical line over Monday; ``hold``: None none, True an outage, False a DR."""
    line = StatisticalLine(_spec(), MONDAY, seed=3, calibration=PERFECT)
    if hold is not None:
        line.clock.holds = lambda t0, t1: [(*HOLD, hold)]
    out = [line.step(MONDAY + i * step_s, step_s) for i in range(86400 // step_s)]
    return line, out


def test_a_hold_stops_production_and_the_oven_goes_to_standby():
    base, _ = _day(None)
    line, out = _day(True)
    spec = line.spec
    assert sum(o.held_s for o in out) == 3 * 3600
    lost = base.summary().boards_out - line.summary().boards_out
    assert lost == pytest.approx(3 * 3600 / line.mean_cycle_s, rel=0.02)
    # 11:00-12:00: drained, the stations in standby; 12:00-13:00: the oven heats up again
    assert out[11].boards_out == 0
    assert out[11].e_kwh == pytest.approx(sum(spec.p_off_kw))
    warm_h = spec.reflow_warmup_s / 3600
    assert out[12].e_kwh == pytest.approx(
        sum(spec.p_off_kw) - spec.p_off_kw[REFLOW] * warm_h + spec.reflow_warmup_kw * warm_h)
    assert line.summary().e_kwh < base.summary().e_kwh


def test_an_outage_costs_availability_a_demand_response_does_not():
    """SEMI E10: a facilities-caused stop is unscheduled downtime (in the planned time); a
    request taking the line out of its schedule is non-scheduled time (out of it)."""
    base, _ = _day(None)
    outage, _ = _day(True)
    dr, _ = _day(False)
    b, o, d = base.summary(), outage.summary(), dr.summary()
    assert o.planned_s == b.planned_s == 16 * 3600
    assert d.planned_s == b.planned_s - 3 * 3600
    assert o.availability == pytest.approx(b.availability * 13 / 16, rel=0.02)
    assert d.availability == pytest.approx(b.availability, rel=0.02)
    for s in (b, o, d):
        assert s.oee == pytest.approx(s.availability * s.performance * s.quality)


def test_a_board_by_board_line_starts_no_board_in_a_hold():
    spec = dataclasses.replace(_spec(fidelity="full"), p_defect=0.1)
    seen = []
    line = FullLine(spec, MONDAY + 8 * 3600, seed=2, calibration=PERFECT,
                    boards=SyntheticBoards(seed=2, pool=4), inspector=OracleInspector(),
                    on_board=seen.append)
    line.clock.holds = lambda t0, t1: [(*HOLD, True)]
    out = [line.step(MONDAY + h * 3600, 3600) for h in range(8, 15)]
    assert sum(o.held_s for o in out) == 3 * 3600
    starts = [b.t_in_s for b in seen]
    assert starts
    assert not [t for t in starts if HOLD[0] <= t < HOLD[1]]
    assert max(b.t_out_s for b in seen if b.t_in_s < HOLD[0]) < HOLD[0] + 1800  # drained
    assert [t for t in starts if t >= HOLD[1]]  # and started again


def _adapter_run(event: Event, hold_on: tuple[str, ...]) -> list[dict]:
    start = dt.datetime.fromtimestamp(MONDAY, TZ)
    book = EventBook((event,), start.astimezone(dt.UTC), "Asia/Shanghai", 86400)
    sim = AOISim()
    sim.init("AOI", start=start.isoformat(), step_s=3600, seed=3, duration_s=86400,
             events=book)
    sim.create(1, "AOILine", **dataclasses.asdict(_spec(hold_on=hold_on)))
    rows = []
    for h in range(24):
        sim.step(h * 3600, {}, 24 * 3600)
        rows.append(dict(sim.out["smt"]))
    return rows


@pytest.mark.parametrize("kind", ["grid_outage", "demand_response", "price_signal"])
def test_the_park_s_events_reach_the_line(kind):
    event = Event(kind=kind, dates=(dt.date(2027, 1, 4),), start=10 * 3600, end=13 * 3600,
                  cut_import_mw=1.0 if kind == "demand_response" else 0.0,
                  price_adder_cny_per_mwh=800.0 if kind == "price_signal" else 0.0)
    held = _adapter_run(event, (kind,))
    ignored = _adapter_run(event, ())
    assert sum(r["held_s"] for r in held) == 3 * 3600
    assert held[11]["boards_out"] == 0 < ignored[11]["boards_out"]
    assert held[11]["p_mw"] < 0.1 * ignored[11]["p_mw"]
    assert sum(r["held_s"] for r in ignored) == 0
    # what a request could take off, offered only by a line that holds on requests
    standby_mw = sum(_spec().p_off_kw) / 1000
    offered = [r["p_flex_mw"] for r in held]
    if kind != "grid_outage":  # a request or a price signal: the line's load is flexible
        assert offered[9] == pytest.approx(held[9]["p_mw"] - standby_mw)
        assert offered[11] == pytest.approx(0.0, abs=1e-12)  # held: nothing left to take off
        # what the hold takes off while in force (the EMS counts it in the park's answer)
        assert [r["p_held_mw"] for r in held[10:13]] == pytest.approx([offered[9]] * 3)
        assert sum(r["p_held_mw"] for r in held) == pytest.approx(3 * offered[9])
    else:
        assert offered == [0.0] * 24
        assert sum(r["p_held_mw"] for r in held) == 0.0
    # the boards the hold cost are counted: its time over the placement's mean cycle
    spec = _spec()
    assert sum(r["boards_held"] for r in held) == pytest.approx(
        3 * 3600 * spec.performance / spec.takt_s)
    lost = sum(r["boards_out"] for r in ignored) - sum(r["boards_out"] for r in held)
    assert lost == pytest.approx(sum(r["boards_held"] for r in held), rel=0.1)
    assert sum(r["boards_held"] for r in ignored) == 0.0


def test_carbon_per_board_follows_the_park_s_hourly_supply():
    """A board made in an hour the park's own wind covers carries no Scope 2; one made in an
    hour of import carries its share of that hour's import (not a fixed grid average)."""
    import numpy as np

    from twin.accounting.assessment import line_carbon
    from twin.accounting.carbon.accounting import emissions, factors
    from twin.accounting.carbon.flows import park_flows

    line = np.array([2.0, 0.5, 1.0])  # MWh in each hour
    factory = np.array([3.0, 3.0, 1.0])
    wind = np.array([5.0, 0.0, 1.0])  # hour 0 covered, hour 1 all imported, hour 2 half
    imp = line + factory - wind
    flows = park_flows(np.arange(3) * 3600, load_mwh={"smt": line, "factory": factory},
                       wind_mwh={"wind": wind}, import_mwh=imp, kind={"smt": "aoi"})
    fac = factors(2023, "northeast")
    em = emissions(flows, fac)
    got = line_carbon(em.by_entity(), {"smt": 300.0})["smt"]
    assert got["electricity_mwh"] == pytest.approx(3.5)
    assert got["location_t"] == pytest.approx(fac.grid_t_per_mwh * (0 + 0.5 + 0.5))
    flat = 3.5 * imp.sum() / (line + factory).sum() * fac.grid_t_per_mwh  # a period average
    assert got["location_t"] != pytest.approx(flat, rel=0.05)


def test_a_product_s_lines_must_be_lines_of_the_scenario():
    from tests.conftest import ROOT
    from twin.scenario import ScenarioError, loads

    park = (ROOT / "scenarios" / "park.yaml").read_text(encoding="utf-8")
    assert [p.lines for p in loads(park).products if p.name == "pcb-board"] == [("aoi-smt-1",)]
    with pytest.raises(ScenarioError, match=r"products\[2\]\.lines\[0\].*nowhere"):
        loads(park.replace("lines: [aoi-smt-1]", "lines: [nowhere]"))


def _lots(fidelity: str, lot: int, hours: int = 8) -> object:
    spec = dataclasses.replace(_spec(fidelity=fidelity), lot_boards=lot, changeover_min=20.0,
                               p_defect=0.05)
    t0 = MONDAY + 8 * 3600
    if fidelity == "full":
        line = FullLine(spec, t0, seed=6, calibration=PERFECT,
                        boards=SyntheticBoards(seed=6, pool=4), inspector=OracleInspector())
    else:
        line = StatisticalLine(spec, t0, seed=6, calibration=PERFECT)
    for h in range(hours):
        line.step(t0 + h * 3600, 3600)
    return line


def test_changeovers_take_production_time_in_both_fidelities():
    one = _lots("statistical", 0).summary()
    stat_line = _lots("statistical", 150)
    stat = stat_line.summary()
    full = _lots("full", 150).summary()
    # 8 h at ~31.6 s a board: ~900 boards, a changeover every 150: about 5 of 20 minutes
    assert 4 <= stat.changeovers <= 6
    assert abs(full.changeovers - stat.changeovers) <= 1
    stopped = one.busy_s - stat.busy_s  # the last changeover may go on after the 8 h
    assert (stat.changeovers - 1) * 1200 < stopped <= stat.changeovers * 1200 + 1e-6
    lost = one.boards_out - stat.boards_out
    assert lost == pytest.approx(stopped / stat_line.mean_cycle_s, abs=3)
    assert full.boards_out == pytest.approx(stat.boards_out, rel=0.03)
    assert stat.availability < one.availability - 0.1  # planned time the line did not use
    assert stat.performance == pytest.approx(one.performance, rel=0.01)


def test_a_sub_second_park_step_is_the_line_s_step():
    """A HIL run's 0.1 s step: the line advances 0.1 s a step, not an hour at its first."""
    start = dt.datetime.fromtimestamp(MONDAY + 8 * 3600, TZ).isoformat()
    sim = AOISim()
    sim.init("AOI", time_resolution=0.001, start=start, step_s=0.1, line_step_s=0.1, seed=3)
    sim.create(1, "AOILine", **dataclasses.asdict(_spec()))
    t = 0
    for _ in range(20):
        nxt = sim.step(t, {}, 10**9)
        assert nxt == t + 100  # ticks of 1 ms
        t = nxt
    line = sim.entities["smt"]
    assert line.t == pytest.approx(MONDAY + 8 * 3600 + 2.0)
    assert line.summary().planned_s == pytest.approx(2.0)
