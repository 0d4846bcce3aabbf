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
  wind_farms[*].n_turbines:  # and the PV alike
    {{values: [1.0, 3.0], scale: true, also: ["pv_plants[*].p_dc_mwp", "pv_plants[*].p_ac_mw"]}}
  batteries[0].e_max_mwh: {{values: [0.5, 2.0], scale: true, also: ["batteries[0].p_max_mw"]}}
  park.seed: [11, 12]
options: {{days: 2, keep_runs: true}}
"""


def _same_run(path: Path, other: Path, rtol: float = 0.0) -> None:
    """Every recorded series and every KPI of the two runs equal (NaN where NaN), or within
    ``rtol`` of the larger of the other's value and 1."""
    with open_run(path) as a, open_run(other) as b:
        keys = a.series_keys()
        assert len(keys) > 100
        assert sorted(keys) == sorted(b.series_keys())
        pairs = [(key, a.series(*key), b.series(*key)) for key in keys]
        ka, kb = a.kpis(), b.kpis()
        assert ka.keys() == kb.keys()
        pairs += [(k, np.float64(ka[k].value), np.float64(kb[k].value)) for k in ka]
    for key, x, y in pairs:
        assert np.array_equal(np.isnan(x), np.isnan(y)), key
        if rtol == 0.0:
            assert np.array_equal(x, y, equal_nan=True), key
        else:
            ok = ~np.isnan(y)
            assert np.all(np.abs(x[ok] - y[ok]) <= rtol * np.maximum(np.abs(y[ok]), 1.0)), key


@pytest.fixture
def study(tmp_path):
    replay.forget()
    yield spec.loads(STUDY, tmp_path / "replay.yaml")
    replay.forget()


def test_cases_of_a_weather_year_replay_and_equal_their_stand_alone_runs(study, tmp_path):
    cases = study.cases()
    year = [c for c in cases if c.shared == cases[0].shared]
    assert len({c.shared for c in cases}) == 2  # one per weather year
    assert len(year) == 4
    assert len({c.params["park.seed"] for c in year}) == 1
    first, storage, larger = year[0], year[1], year[3]  # larger: more of everything
    assert storage.params["wind_farms[*].n_turbines"] == first.params["wind_farms[*].n_turbines"]
    assert larger.params["wind_farms[*].n_turbines"] == 3.0
    job = study.job(tmp_path / "runs")
    assert sweep.replayed(spec.case_scenario(job, first)) == ("Weather", "Loads", "AOI", "PV",
                                                              "Wind")
    rows = [sweep.run_case(job, first)]
    before = replay.stats()
    rows += [sweep.run_case(job, storage), sweep.run_case(job, larger)]
    after = replay.stats()
    assert after["replayed"] - before["replayed"] == 2 * 5 * 2  # 5 simulators, 2 day-blocks
    assert after["computed"] == before["computed"]  # none computed again
    assert [(r["status"], r["replay"]) for r in rows] == [("ok", "first"), ("ok", "replayed"),
                                                          ("ok", "replayed")]
    # the same turbines and PV: every value as computed; more: the farms' and plants' power
    # scaled from the first run's (as the models say), every value within 1e-9
    for case, row, rtol in zip((first, storage, larger), rows, (0.0, 0.0, 1e-9), strict=True):
        alone = runner.run(spec.case_scenario(job, case), out_dir=tmp_path / "alone")
        _same_run(Path(row["run"]), alone.path, rtol)
    for kpi in ("e_wind_mwh", "e_pv_mwh"):
        assert rows[2]["kpis"][kpi] == pytest.approx(3 * rows[0]["kpis"][kpi], rel=1e-12)


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
