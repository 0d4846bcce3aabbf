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


def test_ems_beats_the_rule_on_cost_and_clean_share(runs: dict) -> None:
    rule, ems = runs["rule"].kpis, runs["ems"].kpis
    assert ems["energy_cost_cny"].value < rule["energy_cost_cny"].value
    share = "criterion_clean_energy_share"
    assert ems[share].value > rule[share].value
    assert ems["self_consumption"].value > rule["self_consumption"].value


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
        actual = r.series("pcc", "p_import_mw")
    assert len(rows) == len(rule_rows) == 2
    assert all(row["answered"].startswith("no") for row in rule_rows)
    in_window = np.isfinite(cap)
    assert in_window.sum() == 8  # two one-hour windows of four steps
    for j, row in enumerate(rows):
        assert row["answered"] == "yes"
        assert row["shortfall_mw"] >= 0.0
        steps = np.flatnonzero(in_window)[4 * j:4 * j + 4]
        over = np.max(actual[steps] - np.maximum(cap[steps], 0.0))
        # the reported shortfall is the import left above the cap
        assert row["shortfall_mw"] == pytest.approx(max(over, 0.0), abs=1e-6)
    # the first evening the park imports: the cut is prepared (grid energy stored) and met
    assert rows[0]["delivered_mw"] >= rows[0]["asked_mw"]
    met = sum(row["shortfall_mw"] <= 0.5 for row in rows) / len(rows)
    assert runs["ems"].kpis["vpp_requests_met"].value == met >= 0.5
    assert runs["rule"].kpis["vpp_requests_met"].value == 0.0


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
