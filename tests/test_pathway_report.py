"""The pathway's report: the headline and the note on where the LP and the run differ, from
stand-in roads (no LP solved, no run made)."""

from __future__ import annotations

from tests.test_pathway import _profiles


def test_the_gap_note_names_storage_charged_and_discharged_in_one_hour() -> None:
    # the LP may charge and discharge in the same hour (losses count as energy use); the
    # note says so, with the LP's amount, only where it does
    from types import SimpleNamespace

    from twin.studies.pathway import report

    run = {"import_mwh": 120.0, "export_mwh": 10.0, "discharge_mwh": 5.0, "both_mwh": 0.0,
           "electricity_mwh": 1000.0, "gas_nm3": 0.0, "energy_tce": 123.0, "co2_t": 90.0}
    lp_flows = {**run, "import_mwh": 100.0, "co2_t": 75.0, "discharge_mwh": 9000.0,
                "both_mwh": 4000.0}
    road = SimpleNamespace(final=SimpleNamespace(solution=SimpleNamespace(flows=lp_flows),
                                                 flows_run=run),
                           profiles=_profiles())
    assert "same hour (4.0 GWh)" in report.gap_note(road)  # type: ignore[arg-type]
    lp_flows["both_mwh"] = 0.0
    assert "same hour" not in report.gap_note(road)  # type: ignore[arg-type]
    rows = {r[0]: r[1:3] for r in report.gap_rows(road)}  # type: ignore[arg-type]
    assert rows["grid import"] == ["0.1", "0.1"]
    assert rows["storage discharge"] == ["9.0", "0.0"]


def test_a_proven_road_is_said_proven_when_the_tightened_lp_could_not_reach() -> None:
    # round 2's LP, asked for more than the criteria, took the least relaxation of the
    # tightened thresholds; its run met every criterion: the road is proven
    from types import SimpleNamespace

    from twin.studies.pathway import report

    sol = SimpleNamespace(status="infeasible", binding=["core_carbon_intensity"],
                          relaxation={"core_carbon_intensity": 0.07})
    final = SimpleNamespace(solution=sol, missed={}, tighten={"core_carbon_intensity": 0.27},
                            proven={"core_carbon_intensity": 0.19})
    first = SimpleNamespace(solution=SimpleNamespace(status="optimal"), missed={"c": 0.18})
    road = SimpleNamespace(final=final, rounds=[first, final], proven=True)
    text = report.headline(road)  # type: ignore[arg-type]
    assert text.startswith("The portfolio meets every computed criterion, proven by "
                           "co-simulation after 2 rounds")
    road.proven = False
    final.missed = {"core_carbon_intensity": 0.01}
    text = report.headline(road)  # type: ignore[arg-type]
    assert text.startswith("No portfolio")
    # the LP's relaxation and what the co-simulation of its portfolio missed, both said
    assert "in the LP: core indicator (tCO2/tce) by 0.07" in text
    assert "co-simulated, that portfolio misses core indicator (tCO2/tce) by 0.01" in text
