"""The reference park (scenarios/park.yaml) validates and runs at its full size."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tests.conftest import ENERGY_CLOSURE_REL, SCENARIOS
from twin import runner, scenario
from twin.core.results import open_run


def test_reference_park_runs_two_winter_workdays(tmp_path):
    s = scenario.load(SCENARIOS / "park.yaml")
    assert s.n_steps == 35040
    assert len(s.pv_plants) > 1  # the PV fleet path is exercised with several plants
    # Tuesday 2 and Wednesday 3 March 2027: workdays, still in the heating season
    march = dataclasses.replace(s.period, start=dt.datetime(2027, 3, 2))
    result = runner.run(dataclasses.replace(s, period=march).with_days(2), out_dir=tmp_path)
    k = result.kpis
    assert abs(k["balance_residual_mwh"].value) <= ENERGY_CLOSURE_REL * k["e_load_mwh"].value
    # hundreds of MW of load, as the real park
    assert 150 < k["p_load_peak_mw"].value < 600
    with open_run(result.path) as run:
        assert run.complete
        pv = sum(run.series(e, "p_mw") for e in run.entities("pv"))
        assert pv.max() > 0  # the sun rose
        assert len(run.entities("pv")) == len(s.pv_plants)
        # heat pumps run first in winter; gas covers the rest
        assert k["q_heat_pump_mwh"].value > 0
        assert k["gas_nm3"].value > 0
