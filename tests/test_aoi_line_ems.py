"""The EMS plans with the AOI line's flexibility: a held line gives its part of a request."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from adapters.ems_sim import EMSSim
from twin import scenario
from twin.cosim import ems as cems
from twin.ems.controller import Measurement
from twin.models.events import Event, windows

HELD_MW = 0.5  # what the lines' hold takes off in the request (a synthetic measurement)


def _answers(line_held_mw: float) -> list:
    """An EMS over a request 02:00-03:00 on the first day (20 MW cut, sent at the start),
    told that the park's AOI lines are held by ``line_held_mw`` in its window."""
    s = dataclasses.replace(scenario.load("scenarios/park.yaml").with_days(1), events=())
    book: list = []
    ems = cems.build(s, events=book)
    book.extend(windows([Event(kind="demand_response", dates=(dt.date(2027, 1, 1),),
                               start=2 * 3600, end=3 * 3600, cut_import_mw=20.0)],
                        s.start_utc, s.park.timezone, s.period.duration_s))
    out = []
    for i in range(12):
        held = line_held_mw if 8 <= i < 12 else 0.0
        m = Measurement(pv_mw=0.0, wind_mw=20.0, other_mw=20.0 - held,
                        factory_mw={f.name: 30.0 for f in s.factory_loads}, ev_mw=1.0,
                        soc={b.name: 0.8 for b in s.batteries},
                        ev_flex={h.name: None for h in s.ev_hubs},
                        line_flex_mw=0.0 if held else 0.02, line_held_mw=held)
        out.append(ems.step(i, m))
    return out


def test_a_demand_response_request_is_met_partly_by_the_held_line():
    plain, held = _answers(0.0), _answers(HELD_MW)
    for i in range(8, 12):
        a, b = plain[i], held[i]
        # the park would import the line's load too without answering: the baseline holds it
        assert b.import_baseline_mw == pytest.approx(a.import_baseline_mw, abs=1e-6)
        # (the cap keeps a loss margin of the measured load, a few % of the line's part)
        assert b.import_cap_mw == pytest.approx(a.import_cap_mw, abs=0.05 * HELD_MW)
        # so the storage gives that much less of the cut: the line gives its part
        given_a = -sum(a.p_storage_mw.values())
        given_b = -sum(b.p_storage_mw.values())
        assert given_a - given_b == pytest.approx(HELD_MW, rel=0.05)
        assert given_b > 0
    # outside the request the line's flexibility is part of the park's envelope
    assert held[3].up_mw == pytest.approx(plain[3].up_mw)
    assert held[3].up_mw >= 0.02


def test_the_ems_reads_the_lines_flexibility_from_the_aoi_simulator():
    sim = EMSSim()
    sim.kinds = {"smt": "aoi", "smt-2": "aoi", "f1": "factory"}
    m = sim._measurement({"outputs": {"AOI-0": {
        "smt": {"p_mw": 0.014, "p_flex_mw": 0.0136, "p_held_mw": 0.0},
        "smt-2": {"p_mw": 0.0004, "p_flex_mw": 0.0, "p_held_mw": 0.0131}},
        "Loads-0": {"f1": {"p_mw": 3.0}}}})
    assert m.other_mw == pytest.approx(0.0144)
    assert m.line_flex_mw == pytest.approx(0.0136)
    assert m.line_held_mw == pytest.approx(0.0131)
    assert m.factory_mw == {"f1": 3.0}
