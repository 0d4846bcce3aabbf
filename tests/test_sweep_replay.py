"""A study's cases of one weather year share the weather, loads and AOI lines' blocks
(adapters.replay): each case's run stays the whole run of its own scenario, equal to the
stand-alone ``twin run`` of that case in every recorded series and KPI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters import replay
from tests.conftest import ROOT
from twin import runner
from twin.core.results import open_run
from twin.studies import spec, sweep

STUDY = f"""\
name: replay
base: {ROOT / "scenarios" / "park.yaml"}
fixed: {{grid: null}}
parameters:
  wind_farms[*].n_turbines: {{values: [1.0, 2.0], scale: true}}
  batteries[0].e_max_mwh: {{values: [0.5, 2.0], scale: true, also: ["batteries[0].p_max_mw"]}}
  park.seed: [11, 12]
options: {{days: 2, keep_runs: true}}
"""


def _same_run(path: Path, other: Path) -> None:
    """Every recorded series and every KPI of the two runs equal (NaN where NaN)."""
    with open_run(path) as a, open_run(other) as b:
        keys = a.series_keys()
        assert len(keys) > 100
        assert sorted(keys) == sorted(b.series_keys())
        for key in keys:
            assert np.array_equal(a.series(*key), b.series(*key), equal_nan=True), key
        ka, kb = a.kpis(), b.kpis()
        assert ka.keys() == kb.keys()
        assert all(np.array_equal(ka[k].value, kb[k].value, equal_nan=True) for k in ka)


@pytest.fixture
def study(tmp_path):
    replay.forget()
    yield spec.loads(STUDY, tmp_path / "replay.yaml")
    replay.forget()


def test_cases_of_a_weather_year_replay_and_equal_their_stand_alone_runs(study, tmp_path):
    cases = study.cases()
    first, other = cases[0], [c for c in cases if c.shared == cases[0].shared][-1]
    assert first.params["park.seed"] == other.params["park.seed"]
    assert first.params != other.params
    assert len({c.shared for c in cases}) == 2  # one per weather year
    job = study.job(tmp_path / "runs")
    assert sweep.replayed(spec.case_scenario(job, first)) == ("Weather", "Loads", "AOI")
    rows = [sweep.run_case(job, first)]
    before = replay.stats()
    rows.append(sweep.run_case(job, other))
    after = replay.stats()
    assert after["replayed"] - before["replayed"] == 3 * 2  # three simulators, two day-blocks
    assert after["computed"] == before["computed"]  # none computed again
    assert [(r["status"], r["replay"]) for r in rows] == [("ok", "first"), ("ok", "replayed")]
    for case, row in zip((first, other), rows, strict=True):
        alone = runner.run(spec.case_scenario(job, case), out_dir=tmp_path / "alone")
        _same_run(Path(row["run"]), alone.path)
    assert rows[0]["kpis"]["e_wind_mwh"] != rows[1]["kpis"]["e_wind_mwh"]


def test_a_block_whose_inputs_differ_is_not_replayed(study, tmp_path, monkeypatch):
    cases = study.cases()
    first, other = cases[0], [c for c in cases if c.shared == cases[0].shared][-1]
    job = study.job(tmp_path / "runs")
    sweep.run_case(job, first)
    for key, kept in replay._KEPT.items():  # the loads' first inputs as if they were others
        if "ReplayLoadsSim" in key:
            first_block = min(kept["blocks"])
            digest, out, n = kept["blocks"][first_block]
            kept["blocks"][first_block] = (b"other inputs", out, n)
    before = replay.stats()
    row = sweep.run_case(job, other)
    assert (row["status"], row["replay"]) == ("ok", "alone")
    assert replay.stats()["mismatched"] == before["mismatched"] + 1  # then run again, whole
    alone = runner.run(spec.case_scenario(job, other), out_dir=tmp_path / "alone")
    _same_run(Path(row["run"]), alone.path)
