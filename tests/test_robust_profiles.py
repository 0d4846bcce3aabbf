"""A measured load profile (mosaik-csv) feeding a factory: bad values refused with their line
and column, and a stated policy where the profile ends before the run."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import CSV_PROFILE, write_profile
from twin import runner
from twin.core.results import open_run
from twin.scenario import ScenarioError, loads

PARK = """park: {name: profile park, latitude: 41.8, longitude: 123.4}
period: {start: 2027-01-01 00:00, duration: 2d, step: 15min}
factory_loads:
  - {name: plant, kind: supplier, p_peak_mw: 30}
""" + CSV_PROFILE

DAY = [10.0 + 0.05 * k for k in range(96)]  # one day, a different value every 15 minutes


def _load(tmp_path, text: str = PARK, on_end: str | None = None):
    if on_end:
        text += f"    on_end: {on_end}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return loads(text, path)


def test_nan_negative_and_unordered_rows_are_refused_with_line_and_column(tmp_path):
    def spoil(rows):
        rows[5] = "2027-01-01 01:15:00,nan"      # line 7 of the file (header first)
        rows[8] = "2027-01-01 02:00:00,-3.0"     # line 10
        rows[10] = "2027-01-01 02:30:00,"        # line 12, empty
        rows[20] = "2027-01-01 00:15:00,12.0"    # line 22, back in time

    write_profile(tmp_path, DAY, spoil)
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3, lines
    assert all("external[0].params.datafile: profile.csv:" in line for line in lines)
    assert "profile.csv:22: 2027-01-01 00:15:00 is not after the previous row's" in lines[0]
    assert "profile.csv:7: column P_mw: expected a finite number, got 'nan' (and 1 more " \
           "rows)" in lines[1]
    assert "profile.csv:10: column P_mw: expected a load's power >= 0 (MW), got '-3.0'" \
           in lines[2]


def test_a_column_no_link_uses_is_not_checked(tmp_path):
    rows = [f"2027-01-01 {k // 4:02d}:{15 * (k % 4):02d}:00,{v},nan,-1" for k, v in
            enumerate(DAY)]
    (tmp_path / "profile.csv").write_text("Date,P_mw,note,temp_c\n" + "\n".join(rows) + "\n")
    s = _load(tmp_path, PARK.replace("duration: 2d", "duration: 1d"))
    assert s.warnings == ()


@pytest.mark.parametrize("on_end", ["hold", "repeat"])
def test_a_short_profile_is_held_or_repeated_as_stated(tmp_path, on_end):
    """A day's profile in a two-day run: the second day holds the last value or repeats the
    first day, row for row, in the recorded load."""
    write_profile(tmp_path, DAY)
    s = _load(tmp_path, on_end=on_end)
    assert len(s.warnings) == 1
    assert "profile.csv ends at 2027-01-01 23:45, before the run's end" in s.warnings[0]
    assert ("its last value is held" if on_end == "hold" else
            "it starts again every 1 days (on_end: repeat)") in s.warnings[0]
    result = runner.run(s, out_dir=tmp_path)
    with open_run(result.path) as run:
        p = run.series("plant", "p_mw")
    assert len(p) == 192
    np.testing.assert_allclose(p[:96], DAY)
    np.testing.assert_allclose(p[96:], DAY if on_end == "repeat" else [DAY[-1]] * 96)


def test_stop_ends_the_run_with_the_profile(tmp_path):
    write_profile(tmp_path, DAY[:72])  # 18 hours
    s = _load(tmp_path, on_end="stop")
    assert s.period.duration_s == 18 * 3600
    assert s.n_steps == 72
    assert "the run stops with it after 0.75 days (72 steps; on_end: stop)" in s.warnings[0]
    assert s.with_days(2).period.duration_s == 18 * 3600  # --days cannot run past it
    assert s.with_days(0.5).period.duration_s == 12 * 3600


def test_errors_name_every_policy_and_stop_needs_a_step(tmp_path):
    write_profile(tmp_path, DAY)
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path)
    assert "on_end: hold (keep its last value), repeat or stop" in str(info.value)
    text = PARK.replace('sim_start: "2027-01-01 00:00:00"', 'sim_start: "2027-01-01 23:50:00"')
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, text.replace("period: {start: 2027-01-01 00:00",
                                     "period: {start: 2027-01-01 23:50"), on_end="stop")
    assert "external[0].on_end" in str(info.value)
    assert "cannot stop there" in str(info.value)


@pytest.mark.parametrize("on_end", ["repeat", "stop"])
def test_repeat_and_stop_are_refused_for_a_simulator_whose_end_is_unknown(tmp_path, on_end):
    text = PARK.replace("python: mosaik_csv:CSV", "python: mosaik.basic_simulators:"
                        "OutputSimulator")
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, text, on_end=on_end)
    message = str(info.value)
    assert "\n" not in message
    assert f"external[0].on_end: {on_end} needs a mosaik-csv profile" in message


def test_a_linked_column_the_file_lacks_is_named(tmp_path):
    write_profile(tmp_path, DAY)
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, PARK.replace("[[P_mw, p_profile_mw]]", "[[P_kw, p_profile_mw]]"))
    assert "profile.csv:1: no column 'P_kw' (the file has P_mw)" in str(info.value)
