"""Planners' studies: study files, cases, a real Dask LocalCluster end to end (a failing case,
an interruption and a restart), the study report, and the sizing search."""

from __future__ import annotations

import itertools
import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from twin.apps.cli import main
from twin.scenario import ScenarioError
from twin.studies import analysis as sweep_analysis
from twin.studies import report as sweep_report
from twin.studies import sweep
from twin.studies.size import Outcome, search
from twin.studies.spec import StudyError, case_scenario, loads

PARK = ROOT / "scenarios" / "park.yaml"

# 6 cases of 2 days without the grid: 2 battery sizes x 2 weather years run, and a storage
# size that is not valid (-1 MWh) in both years: reported, not fatal.
STUDY = f"""\
name: tiny
base: {PARK}
fixed: {{grid: null}}
parameters:
  batteries[0].e_max_mwh: [400, 1600, -1]
  park.seed: [1, 2]
kpis: [criterion_clean_energy_share, e_import_mwh]
options: {{days: 2, keep_runs: true}}
"""


def _study(text: str = STUDY, tmp_path: Path | None = None):
    return loads(text, (tmp_path or ROOT / "studies") / "study.yaml")


# --- study files ------------------------------------------------------------------------------


VARIED = textwrap.dedent(f"""\
    base: {PARK}
    parameters:
      wind_farms[*].n_turbines: {{from: 0.5, to: 1.5, step: 0.5, scale: true}}
      pv_plants[*].p_dc_mwp: {{values: [2], scale: true, also: ["pv_plants[*].p_ac_mw"]}}
      batteries[0].e_max_mwh: {{from: 200, to: 800, step: 300}}
      economics.discount_rate: {{sample: 3, low: 0.04, high: 0.08, seed: 5}}
    options: {{days: 2}}
    """)


def test_values_ranges_samples_and_scale():
    s = _study(VARIED)
    values = {p.path: p.values for p in s.parameters}
    assert values["wind_farms[*].n_turbines"] == (0.5, 1.0, 1.5)
    assert values["batteries[0].e_max_mwh"] == (200, 500, 800)
    rates = values["economics.discount_rate"]
    assert len(rates) == 3
    assert all(0.04 <= r <= 0.08 for r in rates)
    cases = s.cases()
    assert len(cases) == 3 * 1 * 3 * 3
    assert len({c.case_id for c in cases}) == len(cases)
    again = _study(VARIED)  # seeded samples, hashed ids: the same cases every time
    assert [c.case_id for c in again.cases()] == [c.case_id for c in cases]
    scenario = case_scenario(s.job(), cases[-1])
    assert [w.n_turbines for w in scenario.wind_farms] == [90, 60]  # 60 and 40 turbines x 1.5
    assert scenario.pv_plants[0].p_dc_mwp == 120
    assert scenario.pv_plants[0].p_ac_mw == 100
    assert scenario.batteries[0].e_max_mwh == 800
    assert scenario.n_steps == 192
    assert scenario.output.name == cases[-1].case_id


def test_the_example_study_is_valid():
    from twin.studies.spec import load

    s = load(ROOT / "studies" / "sizing-2027.yaml")
    assert len(s.cases()) == 5 * 4 * 4 * 3
    assert s.base.grid is None
    assert s.base_path == PARK


@pytest.mark.parametrize(("body", "line", "message"), [
    ("parameters:\n  wind_farms[0].n_turbine: [1]\n", 3, r"wind_farms\[0\].n_turbine: "
     r"WindFarmSpec has no field 'n_turbine'"),
    ("parameters:\n  wind_farms[5].n_turbines: [1]\n", 3, r"has 2 wind_farms, no \[5\]"),
    ("parameters:\n  batteries[0].e_max_mwh: {from: 5, to: 1, step: 1}\n", 3,
     r"\.to: expected >= from"),
    ("parameters:\n  economics.tariff: {values: [a], scale: true}\n", 3, r"not a number"),
    ("parameters:\n  park.seed: [1]\nfoo: 1\n", 4, r"foo: unknown key"),
    ("parameters:\n  park.seed: [1, 2]\n  batteries[0].e_max_mwh: [1]\n"
     "options: {combine: zip}\n", 5, r"zip needs the same number"),
    ("parameters:\n  park.seed: {sample: 0, low: 1, high: 2}\n", 3, r"sample: expected"),
])
def test_study_errors_are_one_line_with_file_line_and_path(body, line, message):
    with pytest.raises(StudyError) as err:
        loads(f"base: {PARK}\n" + body, "bad.yaml")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"bad.yaml:{line}: ")
    assert re.search(message, text), text


def test_bad_case_value_is_an_invalid_row_not_a_crash():
    s = _study()
    bad = [c for c in s.cases() if c.params["batteries[0].e_max_mwh"] == -1][0]
    with pytest.raises(ScenarioError, match=r"^batteries\[0\]\.e_max_mwh: expected a number > 0"):
        case_scenario(s.job(), bad)
    row = sweep.run_case(s.job(), bad)
    assert row["status"] == sweep.INVALID
    assert "e_max_mwh" in row["error"]


def test_a_run_that_raises_is_a_failed_row(monkeypatch):
    from twin import runner

    def boom(*args, **kwargs):
        raise RuntimeError("solver exploded\nsecond line")

    monkeypatch.setattr(runner, "run", boom)
    s = _study()
    row = sweep.run_case(s.job(), s.cases()[0])
    assert row["status"] == sweep.FAILED
    assert row["error"] == "RuntimeError: solver exploded"
    assert row["wind_mw"] == pytest.approx(420.0)  # capacities known before the run


def test_cli_user_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {PARK}\nparameters:\n  nope.x: [1]\n")
    assert main(["sweep", str(bad)]) == 2
    assert re.match(r"error: .*bad.yaml:3: parameters\.nope\.x: Scenario has no field 'nope'",
                    capsys.readouterr().err)
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert main(["study-report", str(tmp_path / "none.parquet")]) == 2


# --- analysis and report on a made-up table ---------------------------------------------------


def _table(passing: bool) -> tuple[pd.DataFrame, dict]:
    rows = []
    for wind, seed in itertools.product((1, 2, 3), (1, 2)):
        clean = 0.5 + 0.15 * wind + 0.01 * seed
        rows.append({"case_id": f"c{wind}{seed}", "status": sweep.OK, "error": "", "wall_s": 1.0,
                     "w": wind, "park.seed": seed, "seed": seed, sweep.COST: 100.0 + 10 * wind,
                     sweep.CLEAN: clean, sweep.CORE: 1.0 - 0.2 * wind,
                     "criteria_met": passing and clean >= 0.9, "shortfall": max(0, 0.9 - clean),
                     "met_clean_energy_share": clean >= 0.9, "criterion_clean_energy_share":
                     clean, "threshold_clean_energy_share": 0.9,
                     "wind_mw": 100.0 * wind, "pv_mwp": 10.0, "storage_mw": 1.0,
                     "storage_mwh": 4.0})
    rows.append({"case_id": "bad", "status": sweep.INVALID, "error": "w: expected > 0",
                 "w": -1, "park.seed": 1, "seed": 1})
    meta = {"name": "made-up", "base": "park.yaml", "parameters": ["w", "park.seed"],
            "criteria": ["clean_energy_share"], "cost": sweep.COST_DEFINITION, "days": 365}
    return pd.DataFrame(rows), meta


def test_pareto_and_the_cheapest_passing_configuration():
    df, meta = _table(passing=True)
    configs = sweep_analysis.configurations(df, meta)
    assert list(configs["w"]) == [1, 2, 3]
    assert list(configs["years"]) == [2, 2, 2]
    front = sweep_analysis.pareto(configs, sweep.COST, sweep.CLEAN, maximise=True)
    assert list(front["w"]) == [1, 2, 3]  # each step up costs more and is cleaner
    a = sweep_analysis.answer(configs)
    assert a.passes
    assert a.config["w"] == 3
    html = sweep_report.study_report(df, meta)
    assert "Pareto front" in html
    assert "Cheapest configuration" in html
    assert "w=3" in html
    assert "<script" not in html
    assert "invalid" in html


def test_report_says_plainly_when_nothing_passes():
    df, meta = _table(passing=False)
    a = sweep_analysis.answer(sweep_analysis.configurations(df, meta))
    assert not a.passes
    assert a.config["w"] == 3
    html = sweep_report.study_report(df, meta)
    assert "No configuration in this study meets every criterion" in html


# --- sizing on a stand-in objective -----------------------------------------------------------


def _standin(seed: int, threshold: float):
    """Capacities w, p, s: cost = capex (linear) + energy (convex, falling); clean share rises."""
    r = np.random.default_rng(seed)
    a, b = r.uniform(0.5, 2.0, 3), r.uniform(0.3, 1.5, 3)
    capex, energy = r.uniform(3, 12, 3), r.uniform(20, 60)
    axes = [np.linspace(0, 3, 10), np.linspace(0, 3, 10), np.linspace(0, 2, 8)]

    def evaluate(point):
        x = np.array([axes[i][k] for i, k in enumerate(point)])
        clean = 1 - math.exp(-(a @ x + 0.3 * x[0] * x[2]))
        return Outcome(float(capex @ x + energy * math.exp(-(b @ x))), clean >= threshold,
                       max(0.0, threshold - clean), clean < threshold)

    return tuple(len(ax) for ax in axes), evaluate


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("threshold", [0.8, 0.9, 0.99])
def test_size_within_5_percent_of_the_grid_in_a_quarter_of_its_runs(seed, threshold):
    shape, f = _standin(seed, threshold)
    grid = {p: f(p) for p in itertools.product(*map(range, shape))}
    best = min(o.cost for o in grid.values() if o.feasible)
    calls = []
    result = search(shape, lambda points: [calls.append(p) or f(p) for p in points])
    assert result.outcome.feasible
    assert result.outcome.cost <= 1.05 * best
    assert len(calls) == result.evaluations <= 0.25 * len(grid)


def test_size_when_nothing_can_pass_says_so_after_one_run():
    shape, f = _standin(0, 1.01)
    result = search(shape, lambda points: [f(p) for p in points])
    assert not result.outcome.feasible
    assert result.evaluations == 1
    assert result.best == tuple(n - 1 for n in shape)


# --- a real LocalCluster: sweep, interruption, restart, report, size ---------------------------


@pytest.fixture(scope="module")
def scheduler():
    """A Dask LocalCluster of 2 worker processes (as `twin sweep` starts by default)."""
    from distributed import Client

    with sweep.local_cluster(2) as cluster, Client(cluster) as client:
        client.run(sweep.warm)
        yield cluster.scheduler_address


def _stored(table: Path) -> list[Path]:
    return sorted(sweep.paths(table)["cases"].glob("*.json"))


def test_sweep_end_to_end_with_a_failing_case_an_interruption_and_a_restart(
        scheduler, tmp_path, capsys):
    from distributed import Client

    study_path = tmp_path / "tiny.yaml"
    study_path.write_text(STUDY)
    table = tmp_path / "out" / "tiny.parquet"
    study = loads(STUDY, study_path)
    store = sweep.CaseStore(sweep.paths(table)["cases"])

    def stop(row):
        raise KeyboardInterrupt

    with Client(scheduler) as client, pytest.raises(KeyboardInterrupt):  # interrupted
        sweep.run_cases(client, study.job(sweep.paths(table)["runs"]), study.cases(), store,
                        on_row=stop)
    assert len(_stored(table)) == 1  # the first finished case is kept

    assert main(["sweep", str(study_path), "--scheduler", scheduler, "-o", str(table),
                 "-q"]) == 0
    out = capsys.readouterr().out
    assert "ran 5 case(s)" in out
    assert "(1 done before)" in out
    df = sweep.read_table(table)
    assert len(df) == 6
    assert list(df["status"]).count("invalid") == 2
    assert all("e_max_mwh" in e for e in df.loc[df["status"] == "invalid", "error"])
    ok = df[df["status"] == "ok"]
    assert set(ok["seed"]) == {1, 2}
    assert (ok["e_import_mwh"] > 0).all()
    opex = ok[sweep.COST] - ok["capex_annuity_cny_per_year"] - ok["energy_cost_cny_per_year"]
    assert (opex > 0).all()  # cost = capex annuity + opex + energy cost per year
    # every finished case keeps its run (a run cut off by the interruption may leave one more)
    assert set(ok["case_id"]) <= {p.stem for p in sweep.paths(table)["runs"].glob("*.h5")}
    html = sweep.paths(table)["report"].read_text()
    assert "Pareto front" in html
    assert "Weather years" in html
    assert ("Cheapest configuration" in html) or ("No configuration in this study" in html)

    _stored(table)[0].unlink()  # as if that case had not finished: the restart runs only it
    assert main(["sweep", str(study_path), "--scheduler", scheduler, "-o", str(table),
                 "-q"]) == 0
    assert "ran 1 case(s)" in capsys.readouterr().out
    again = sweep.read_table(table)
    pd.testing.assert_series_equal(again["case_id"], df["case_id"])
    report = tmp_path / "again.html"
    assert main(["study-report", str(table), "-o", str(report)]) == 0
    assert "Pareto front" in report.read_text()


SIZE = f"""\
name: size
base: {PARK}
fixed: {{grid: null}}
parameters:
  wind_farms[*].n_turbines: {{values: [0.5, 1.0, 2.0], scale: true}}
  batteries[0].e_max_mwh: [100, 400]
criteria: [net_annual_balance]
options: {{days: 4}}  # windy enough from the 3rd day on
"""


def test_size_with_real_runs_matches_the_grid(scheduler, tmp_path, capsys):
    study_path = tmp_path / "size.yaml"
    study_path.write_text(SIZE)
    table = tmp_path / "size.csv"
    assert main(["size", str(study_path), "--scheduler", scheduler, "-o", str(table),
                 "-q"]) == 0
    out = capsys.readouterr().out
    runs = int(re.search(r"runs:\s+(\d+) configuration", out).group(1))
    assert runs < 6
    found = float(re.search(r"; ([\d,.]+) M CNY/yr", out).group(1).replace(",", ""))
    assert main(["sweep", str(study_path), "--scheduler", scheduler, "-o", str(table),
                 "-q"]) == 0  # the rest of the grid (the size runs are reused)
    assert f"({runs} done before)" in capsys.readouterr().out
    df = sweep.read_table(table)
    best = df.loc[df["criteria_met"], sweep.COST].min() / 1e6
    assert found <= 1.05 * best
    meta = json.loads(sweep.paths(table)["meta"].read_text())
    assert meta["criteria"] == ["net_annual_balance"]
