"""The energy management system in the co-simulation: against the rule, requests, fallback."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from twin import runner, scenario
from twin.core.results import open_run
from twin.ems import dispatch
from twin.models.events import Event
from twin.scenario import ScenarioError

DAYS = 14
START = dt.datetime(2027, 3, 8)
REQUEST = Event(kind="demand_response", dates=(dt.date(2027, 3, 10), dt.date(2027, 3, 11)),
                start=18 * 3600, end=19 * 3600, cut_import_mw=25.0, name="evening-cut")
# more than the storage (120 MW) and the flexible load can give: declared with a smaller offer
TOO_MUCH = Event(kind="demand_response", dates=(dt.date(2027, 3, 12),), start=8 * 3600,
                 end=8 * 3600 + 900, cut_import_mw=200.0, name="too-much")


def _park(kind: str) -> scenario.Scenario:
    s = scenario.load("scenarios/park.yaml").with_days(DAYS)
    return dataclasses.replace(
        s, grid=None, period=dataclasses.replace(s.period, start=START), events=(REQUEST,),
        controller=dataclasses.replace(s.controller, kind=kind),
        output=dataclasses.replace(s.output, name=kind))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, runner.RunResult]:
    out = tmp_path_factory.mktemp("ems")
    return {kind: runner.run(_park(kind), out_dir=out) for kind in ("rule", "ems")}


@pytest.fixture(scope="module")
def too_much(tmp_path_factory: pytest.TempPathFactory) -> runner.RunResult:
    """Three days from 11 March with a request beyond the storage's power on the 12th."""
    s = _park("ems").with_days(3)
    s = dataclasses.replace(s, period=dataclasses.replace(s.period, start=dt.datetime(
        2027, 3, 11)), events=(TOO_MUCH,))
    return runner.run(s, out_dir=tmp_path_factory.mktemp("too-much"))


def test_ems_beats_the_rule_on_cost_and_clean_share(runs: dict) -> None:
    rule, ems = runs["rule"].kpis, runs["ems"].kpis
    assert ems["energy_cost_cny"].value < rule["energy_cost_cny"].value
    share = "criterion_clean_energy_share"
    assert ems[share].value > rule[share].value
    assert ems["self_consumption"].value > rule["self_consumption"].value


def test_ems_keeps_the_months_peak_below_the_rules(runs: dict) -> None:
    """The demand charge: the EMS's highest 15-minute import over the two weeks (one billing
    month) stays below the rule's, with storage left for it (not emptied as by the rule)."""
    out = {}
    for kind, res in runs.items():
        with open_run(res.path) as r:
            out[kind] = (r.series("pcc", "p_import_mw").max(),
                         float(np.mean(r.series("bess-station", "soc") < 0.11)))
    assert out["ems"][0] < out["rule"][0]
    assert out["ems"][1] < out["rule"][1]


def test_energy_still_closes_with_the_ems(runs: dict) -> None:
    k = runs["ems"].kpis
    assert abs(k["balance_residual_mwh"].value) < 1e-6 * k["e_load_mwh"].value
    # EVs get their energy about as well as without the EMS (least laxity first under caps)
    assert k["e_ev_unserved_mwh"].value <= runs["rule"].kpis["e_ev_unserved_mwh"].value + \
        0.02 * k["e_ev_mwh"].value


def test_commands_act_one_step_later_and_storage_follows_its_setpoint(runs: dict) -> None:
    with open_run(runs["ems"].path) as r:
        for f in r.entities("factory"):
            sent = r.series(f"cmd-{f}", "p_shift_mw")
            applied = r.series(f, "p_shift_mw")
            np.testing.assert_allclose(applied[1:], sent[:-1], atol=1e-9)
            assert applied[0] == 0.0
        for b in r.entities("battery"):
            p_set, p = r.series(f"cmd-{b}", "p_set_mw"), r.series(b, "p_mw")
            spec = r.spec(b)
            inside = np.abs(p_set) < 0.9 * spec["p_max_mw"]
            soc = r.series(b, "soc")
            free = inside & (soc > spec["soc_min"] + 0.02) & (soc < spec["soc_max"] - 0.02)
            np.testing.assert_allclose(p[free], p_set[free], atol=1e-6)


def test_operator_request_answered_by_the_ems_only(runs: dict) -> None:
    with open_run(runs["rule"].path) as r:
        rule_rows = r.table("vpp/responses")
    with open_run(runs["ems"].path) as r:
        rows = r.table("vpp/responses")
        cap = r.series("ems", "p_import_cap_mw")
        asked = r.series("ems", "vpp_asked_mw")
    assert len(rows) == len(rule_rows) == 2
    assert all(row["answered"].startswith("no") for row in rule_rows)
    assert all(row["offered_mw"] == 0.0 for row in rule_rows)
    in_window = np.isfinite(cap)
    assert in_window.sum() == 8  # two one-hour windows of four steps
    np.testing.assert_array_equal(asked > 0, in_window)  # asked: 0 outside the windows
    assert runs["rule"].kpis["vpp_requests_met"].value == 0.0


def _window_steps(row: dict, n: int) -> np.ndarray:
    start = dt.datetime.strptime(row["start"], "%Y-%m-%d %H:%M")
    a = int((start - START).total_seconds()) // 900
    return np.arange(a, a + n)


def test_a_feasible_request_is_met_in_every_step(runs: dict) -> None:
    """25 MW for an hour is within the storage's power and energy: offered in full, and the
    import (at the point of connection, network losses included) is held at least 25 MW
    below the counterfactual in each 15-minute step."""
    with open_run(runs["ems"].path) as r:
        rows = [row for row in r.table("vpp/responses") if row["event"] == "evening-cut"]
        base = r.series("ems", "p_import_baseline_mw")
        actual = r.series("pcc", "p_import_mw")
        offered = r.series("ems", "vpp_offered_mw")
        for row in rows:
            k = _window_steps(row, 4)
            assert row["answered"] == "yes"
            assert row["offered_mw"] == row["asked_mw"] == 25.0
            np.testing.assert_array_equal(offered[k], 25.0)
            assert np.all(base[k] - actual[k] >= 25.0 - 1e-6), base[k] - actual[k]
            assert row["missed_mw"] == 0.0
            assert row["shortfall_mw"] == 0.0
    assert runs["ems"].kpis["vpp_requests_met"].value == 1.0


def test_an_infeasible_request_is_declared_with_its_offer_and_the_offer_is_held(too_much):
    """200 MW asked for 15 minutes, 120 MW of storage: declared at once with the reason and
    the MW the park can deliver, and that offer is held in the window."""
    with open_run(too_much.path) as r:
        row = next(row for row in r.table("vpp/responses") if row["event"] == "too-much")
        k = _window_steps(row, 1) - 3 * 96
        base = r.series("ems", "p_import_baseline_mw")[k]
        actual = r.series("pcc", "p_import_mw")[k]
        offered = r.series("ems", "vpp_offered_mw")[k]
    assert row["answered"].startswith("infeasible: power")
    assert 60.0 < row["offered_mw"] < 200.0
    np.testing.assert_array_equal(offered, row["offered_mw"])
    assert np.all(base - actual >= row["offered_mw"] - 1e-6), base - actual - row["offered_mw"]
    assert row["missed_mw"] == 0.0
    assert row["shortfall_mw"] > 0.0
    assert too_much.kpis["vpp_offers_held"].value == 1.0


def test_ems_records_forecasts_beside_what_happened(runs: dict) -> None:
    with open_run(runs["ems"].path) as r:
        table = r.array("ems/forecasts")
        pv = sum(r.series(e, "p_mw") for e in r.entities("pv"))
    np.testing.assert_allclose(table[:, 0], pv)
    k = runs["ems"].kpis
    assert 0 < k["forecast_load_1h_nmae"].value < 0.05
    assert k["ems_replans"].value >= DAYS


def test_solver_failure_falls_back_to_the_rule(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "plan", lambda inputs, **kw: dispatch.rule_plan(
        inputs, reason="fallback:test"))
    s = _park("ems").with_days(2)
    result = runner.run(s, out_dir=tmp_path)
    assert result.kpis["ems_fallback_steps"].value == s.n_steps
    assert abs(result.kpis["balance_residual_mwh"].value) < 1e-6


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("controller: {kind: ems, replan: 10min}", "controller.replan: expected a whole number"),
    ("controller: {kind: ems, replan: 1d, horizon: 12h}", "controller.horizon"),
    ("events: [{kind: demand_response, dates: [2027-03-10], start: '19:00', end: '18:00', "
     "cut_import_mw: 5}]", "end must be after start"),
    ("events: [{kind: demand_response, dates: [2027-03-10], start: '25:00', end: '26:00', "
     "cut_import_mw: 5}]", "local clock time"),
])
def test_bad_controller_and_events_are_refused(yaml_text: str, message: str) -> None:
    base = ("park: {name: p, latitude: 41.8, longitude: 123.4}\n"
            "period: {start: 2027-03-08 00:00, duration: 2d}\n")
    with pytest.raises(ScenarioError, match=message):
        scenario.loads(base + yaml_text + "\n")


def test_the_perfect_foresight_bound_beats_both_controllers(runs: dict) -> None:
    """The EMS's LP over the recorded rule run with perfect foresight: its bill is below the
    rule's and the EMS's, and its import is the recorded demand it was built from."""
    from benchmarks.bench_ems import figures, plan_flows, run_flows
    from twin.cosim import ems as cems

    s = _park("rule")
    with open_run(runs["rule"].path) as rule_run, open_run(runs["ems"].path) as ems_run:
        inp = cems.foresight_inputs(rule_run, s)
        bound = dispatch.plan(inp, time_limit_s=60.0)
        rule, ems = figures(run_flows(rule_run), s, inp), figures(run_flows(ems_run), s, inp)
        net = rule_run.series("pcc", "p_import_mw") - rule_run.series("pcc", "p_export_mw")
        storage = sum(rule_run.series(b, "p_mw") for b in rule_run.entities("battery"))
        curtailed = rule_run.series("pcc", "p_curtailed_mw") if rule_run.has(
            "pcc", "p_curtailed_mw") else 0.0
    assert bound.status == "optimal"
    best = figures(plan_flows(inp, bound), s, inp)
    assert best["bill"] < ems["bill"] < rule["bill"]
    assert best["objective"] < ems["objective"] < rule["objective"]
    # the inputs rebuild the rule's own exchange with the grid from its storage power
    rebuilt = inp.load_mw + sum(sh.p_base_mw for sh in inp.shiftables) + storage \
        - (inp.pv_mw + inp.wind_mw - curtailed)
    np.testing.assert_allclose(rebuilt, net, atol=1e-6)


def test_in_real_time_a_plan_never_blocks_a_step(monkeypatch) -> None:
    """Background planning: while a new plan is being made (held here until released) every
    step returns at once on the plan in force; the new one takes over when it is ready."""
    import threading
    import time

    from twin.cosim import ems as cems
    from twin.ems.controller import Measurement

    s = scenario.load("scenarios/park.yaml").with_days(2)
    ems = cems.build(dataclasses.replace(s, events=()), events=[], background=True)
    ems.s = dataclasses.replace(ems.s, replan_steps=4)
    m = Measurement(pv_mw=0.0, wind_mw=50.0, other_mw=20.0,
                    factory_mw={f.name: 30.0 for f in s.factory_loads}, ev_mw=1.0,
                    soc={b.name: 0.5 for b in s.batteries},
                    ev_flex={h.name: None for h in s.ev_hubs})
    assert ems.step(0, m).replanned  # the first plan is made in its step: none to keep
    real, gate = dispatch.plan, threading.Event()

    def slow(inputs, **kw):
        gate.wait(30.0)
        return real(inputs, **kw)

    monkeypatch.setattr(dispatch, "plan", slow)
    for i in range(1, 12):
        t0 = time.perf_counter()
        d = ems.step(i, m)
        assert time.perf_counter() - t0 < 1.0
        assert not d.replanned
        assert ems.state.start == 0
    gate.set()
    ems._pending.result(timeout=30.0)
    d = ems.step(12, m)
    assert d.replanned
    assert ems.state.start == 4  # made with the measurements of step 4


def test_bench_ems_cost_noise_perturbs_each_cost_by_at_most_eps_and_is_undone() -> None:
    """``bench_ems.py --cost-noise``: inside it, each cost of an LP handed to the solver is
    within ``eps`` (relative) of its own and not all equal to it; outside, the LP is as built."""
    from benchmarks.bench_ems import cost_noise
    from twin.ems.lp import LP

    m = LP()
    x = m.cols(200, 0.0, 1.0, np.linspace(1.0, 2.0, 200))
    m.coef(m.rows(1, 1.0, 1.0), x, 1.0)
    built = m.csc()[0]
    with cost_noise(1e-6, seed=3):
        noisy = m.csc()[0]
    np.testing.assert_array_equal(m.csc()[0], built)
    assert np.all(np.abs(noisy / built - 1.0) <= 1e-6)
    assert np.mean(noisy != built) > 0.9
    with cost_noise(0.0, seed=3):
        np.testing.assert_array_equal(m.csc()[0], built)


def test_bench_ems_set_changes_the_ems_settings_inside_only_and_refuses_bad_pairs() -> None:
    """``bench_ems.py --set NAME=VALUE``: each value read as its field's type; inside, the
    EMS built for a scenario has the fields changed and the rest as the scenario gives them;
    outside, as before; an unknown field or a value not of its type is refused, naming it."""
    from benchmarks.bench_ems import ems_settings, parse_settings
    from twin.cosim import ems as cems

    s = scenario.load("scenarios/park.yaml")
    given = parse_settings(["fine_steps=48", "low_wind_weight=0.25",
                            "terminal_quantile=none", "grid_charging=true"])
    assert given == {"fine_steps": 48, "low_wind_weight": 0.25, "terminal_quantile": None,
                     "grid_charging": True}
    assert isinstance(given["fine_steps"], int)
    kept = cems.settings(s)
    with ems_settings(given):
        changed = cems.settings(s)
    assert cems.settings(s) == kept
    assert dataclasses.replace(kept, **given) == changed != kept
    for bad, said in (("fine_step=48", "fine_steps"), ("fine_steps=4.5", "int"),
                      ("grid_charging=yes", "bool"), ("fine_steps", "NAME=VALUE"),
                      ("step_s=60", "scenario"), ("fine_steps=-1", "at least 0"),
                      ("soc_drift=nan", "at least 0"), ("replan_steps=0", "at least 1")):
        with pytest.raises(ValueError, match=said):
            parse_settings([bad])


def test_bench_ems_noise_seeds_reads_ranges_and_lists_and_refuses_others() -> None:
    """``--noise-seeds``: ``1-3,7`` is seeds 1, 2, 3 and 7, each once; a word or an empty
    list is refused naming the forms; the mean's standard error is the sample's / sqrt(n)."""
    import argparse

    from benchmarks.bench_ems import mean_se, seeds, shares

    assert seeds("1-3,7") == [1, 2, 3, 7]
    assert seeds("2,2,1") == [2, 1]
    for bad in ("one", "1-", ",", "3-1x"):
        with pytest.raises(argparse.ArgumentTypeError, match="1-6 or 1,3,5|no seed"):
            seeds(bad)
    m, se = mean_se([0.68, 0.70, 0.69])
    assert m == pytest.approx(0.69)
    assert se == pytest.approx(0.01 / np.sqrt(3))
    got = shares({"bill": 100.0, "objective": 200.0}, {"bill": 70.0, "objective": 190.0},
                 {"bill": 60.0, "objective": 200.0})
    assert got["bill"] == pytest.approx(0.75)
    assert np.isnan(got["objective"])


def test_bench_ems_noise_seeds_gives_each_seed_the_share_of_its_own_run() -> None:
    """A seed's row of ``--noise-seeds`` is what the single run with ``--noise-seed`` of that
    seed prints, on a day of the reference park: the years are made alike, and a seed's
    perturbation does not carry over into the next seed's year."""
    import re
    import subprocess
    import sys

    def run(*extra: str) -> str:
        cmd = [sys.executable, "benchmarks/bench_ems.py", "--days", "1", "--cost-noise",
               "1e-6", *extra]
        return subprocess.run(cmd, capture_output=True, text=True, check=True,
                              timeout=600).stdout

    judged = run("--noise-seeds", "1,2")
    rows = dict(re.findall(r"^\| (\d) \| ([\d.]+%) \|", judged, re.M))
    single = run("--noise-seed", "2")
    assert re.search(r"energy bill: .* = ([\d.]+%) captured", single).group(1) == rows["2"]
    assert rows["1"] != rows["2"]  # the noise of each seed
    assert "mean ± its standard error" in judged


@pytest.mark.parametrize("warm", [False, True])
def test_warm_start_hands_each_plan_the_bases_kept_by_the_ems(monkeypatch, warm: bool) -> None:
    """``warm_start``: every plan of the EMS gets its store of bases (one store for all), and
    a basis of the first plan's size is kept there for the next; without it, none."""
    from twin.cosim import ems as cems
    from twin.ems.controller import Measurement

    s = scenario.load("scenarios/park.yaml").with_days(2)
    own = cems.settings
    monkeypatch.setattr(cems, "settings", lambda sc: dataclasses.replace(
        own(sc), replan_steps=2, warm_start=warm))
    ems = cems.build(dataclasses.replace(s, events=()), events=[])
    real, given = dispatch.plan, []

    def spy(inputs, **kw):
        given.append(kw.get("warm"))
        return real(inputs, **kw)

    monkeypatch.setattr(dispatch, "plan", spy)
    m = Measurement(pv_mw=0.0, wind_mw=50.0, other_mw=20.0,
                    factory_mw={f.name: 30.0 for f in s.factory_loads}, ev_mw=1.0,
                    soc={b.name: 0.5 for b in s.batteries},
                    ev_flex={h.name: None for h in s.ev_hubs})
    for i in range(5):
        ems.step(i, m)
    assert len(given) >= 3
    if warm:
        assert all(g is ems._bases for g in given)
        assert ems._bases.by_size
    else:
        assert given == [None] * len(given)
