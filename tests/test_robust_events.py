"""A scenario's events that lie partly or wholly outside the run are said, not lost."""

from __future__ import annotations

from tests.conftest import ROOT
from twin.scenario import loads

SMALL = (ROOT / "tests" / "scenarios" / "small.yaml").read_text(encoding="utf-8").replace(
    "duration: 365d", "duration: 3d")


def test_events_outside_the_run_are_warned_with_their_dates(tmp_path):
    text = SMALL + """events:
  - {kind: wind_lull, dates: [2027-07-15, 2027-07-16], start: "10:00", end: "14:00", wind_factor: 0.2}
  - {kind: cloud_front, dates: [2027-01-02, 2027-03-01], start: "10:00", end: "14:00", irradiance_factor: 0.3}
  - {kind: heat_wave, dates: [2027-01-01, 2027-01-04], start: "20:00", end: "24:00", temp_delta_c: 5}
  - {kind: ev_surge, dates: [2027-01-02], start: "08:00", end: "10:00", arrival_factor: 2}
"""
    s = loads(text.replace("start: 2027-01-01 00:00", "start: 2027-01-01 21:00"),
              tmp_path / "s.yaml")
    lines = s.warnings
    run = "(2027-01-01 21:00 .. 2027-01-04 21:00)"
    assert len(lines) == 4, lines
    assert f"events[0].dates: every date of this wind_lull lies outside the run {run}: it " \
           "never happens" in lines[0]
    assert f"events[1].dates: 1 of 2 dates lie outside the run {run}, first 2027-03-01" \
           in lines[1]
    assert f"events[2].dates: its window on 2027-01-01 is cut by the run's start {run}" \
           in lines[2]
    assert f"events[2].dates: its window on 2027-01-04 is cut by the run's end {run}" \
           in lines[3]
    assert "events[3]" not in "\n".join(lines)  # inside the run: nothing to say
    assert all(line.startswith(f"{tmp_path / 's.yaml'}:") for line in lines)


def test_a_telemetry_reading_beyond_physical_bounds_is_refused_and_the_twin_goes_on():
    """The live twin holds measured weather to the bounds twin check holds a weather file to
    (a temperature in kelvin, 2500 W/m2 of sun): the reading is refused, the next one used."""
    import pytest
    import yaml

    from twin.live import mapping
    from twin.live.engine import LiveEngine
    from twin.scenario import load

    s = load(ROOT / "tests" / "scenarios" / "small.yaml").with_days(1 / 24)
    tm = mapping.loads(yaml.safe_dump(mapping.default_mapping(s)), s)
    engine = LiveEngine(s, tm)
    tags = {tm.point_of(t): t.tag for t in tm.all_tags}
    for point, bad, good in (("weather.temp_air_c", 293.15, 20.0),
                             ("weather.ghi_w_m2", 2500.0, 300.0)):
        engine.feed(tags[point], s.start_epoch_s, bad)
        assert point not in engine.fresh
        engine.feed(tags[point], s.start_epoch_s, good)
        assert engine.fresh[point] == pytest.approx(good)
    assert engine.n_refused == 2
