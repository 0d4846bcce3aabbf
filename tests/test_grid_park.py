"""The park network of record: built from the scenario, exported, solved every step."""

from __future__ import annotations

import json

import numpy as np
import pandapower as pp
import pytest

from tests.conftest import ROOT, SCENARIOS
from twin import runner, scenario
from twin.core.results import open_run
from twin.cosim import network
from twin.models.grid.solver import FastSolver, RunppSolver
from twin.models.grid.violations import find_violations

VM_TOL = 1e-6  # p.u., agreement with pandapower.runpp
LOADING_TOL = 1e-3  # percent


@pytest.fixture(scope="module")
def park_net():
    return network.build_grid(scenario.load(SCENARIOS / "park.yaml"))


def test_reference_network_size_and_direct_lines(park_net):
    net = park_net.net
    assert len(net.bus) >= 120
    assert set(net.bus.vn_kv) == {220.0, 66.0, 35.0, 10.0}
    assert len(park_net.direct_lines) == 2  # one 绿电直连 line per wind farm
    assert len(park_net.elements) == 22  # every park entity has elements


def test_fast_solver_matches_runpp_on_50_park_states(park_net):
    """|Δ vm| < 1e-6 p.u. and |Δ loading| < 1e-3 % on 50 states, stressed ones included."""
    net = park_net.net
    fast, ref = FastSolver(net), RunppSolver(net)
    rng = np.random.default_rng(7)
    lp0, lq0 = net.load.p_mw.to_numpy(), net.load.q_mvar.to_numpy()
    sp0 = net.sgen.p_mw.to_numpy()
    stressed = overloaded = 0
    for k in range(50):
        load_scale = rng.uniform(0.0, 1.0) if k < 30 else rng.uniform(1.0, 2.2)  # 20 stressed
        gen_scale = rng.uniform(0.0, 1.2, size=len(sp0))
        lp = lp0 * load_scale * rng.uniform(0.8, 1.2, size=len(lp0))
        lq = lq0 * load_scale
        sp = sp0 * gen_scale
        a, b = fast.solve(lp, lq, sp, 0 * sp), ref.solve(lp, lq, sp, 0 * sp)
        assert a.converged
        assert b.converged
        np.testing.assert_allclose(a.vm_pu, b.vm_pu, atol=VM_TOL, rtol=0)
        np.testing.assert_allclose(a.line_loading_pct, b.line_loading_pct, atol=LOADING_TOL,
                                   rtol=0)
        np.testing.assert_allclose(a.trafo_loading_pct, b.trafo_loading_pct, atol=LOADING_TOL,
                                   rtol=0)
        assert a.p_ext_grid_mw == pytest.approx(b.p_ext_grid_mw, abs=1e-4)
        assert a.p_loss_mw == pytest.approx(b.p_loss_mw, abs=1e-4)
        stressed += bool(np.nanmin(b.vm_pu) < 0.95)
        overloaded += bool(max(np.nanmax(b.line_loading_pct), np.nanmax(b.trafo_loading_pct))
                           > 100)
    assert stressed >= 5  # the states really leave the voltage band ...
    assert overloaded >= 5  # ... and overload equipment


def test_export_is_a_pandapower_network(tmp_path):
    from twin.apps.cli import main

    out = tmp_path / "net.json"
    assert main(["grid", str(SCENARIOS / "park.yaml"), "--export", str(out)]) == 0
    net = pp.from_json(str(out))
    pp.runpp(net)  # anyone can check it with pandapower itself
    assert net.converged
    assert len(net.bus) >= 120


def _json_scenario(tmp_path, net) -> str:
    path = tmp_path / "net.json"
    pp.to_json(net, str(path))
    text = (ROOT / "tests" / "scenarios" / "small.yaml").read_text()
    return text + f"grid:\n  source: json\n  path: {path}\n"


def _small_net():
    """A small network whose loads and sgens are named after tests/scenarios/small.yaml."""
    net = pp.create_empty_network()
    b0 = pp.create_bus(net, 110.0, name="pcc")
    b1 = pp.create_bus(net, 10.0, name="park")
    pp.create_ext_grid(net, b0)
    pp.create_transformer(net, b0, b1, "63 MVA 110/10 kV")
    for name in ("pv", "wind"):
        pp.create_sgen(net, b1, p_mw=1.0, name=name)
    for name in ("bess", "plant", "ev", "heat"):
        pp.create_load(net, b1, p_mw=1.0, q_mvar=0.2, name=name)
    return net


def test_json_network_runs_and_closes_energy(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(_json_scenario(tmp_path, _small_net()))
    result = runner.run(scenario.load(path).with_days(2), out_dir=tmp_path)
    k = result.kpis
    assert k["e_grid_loss_mwh"].value > 0
    assert abs(k["balance_residual_mwh"].value) < 1e-6 * k["e_load_mwh"].value
    with open_run(result.path) as run:
        vm = run.series("grid", "vm_pu")
        assert vm.shape == (192, 2)
        assert run.info("grid", "vm_pu").columns == ("pcc", "park")
        assert (run.series("grid", "converged") == 1).all()


@pytest.mark.parametrize(("breakage", "message"), [
    ("no_slack", "ext_grid"),
    ("island", "not connected"),
    ("missing", "no load or sgen named after"),
])
def test_bad_json_network_refused_at_check(tmp_path, capsys, breakage, message):
    from twin.apps.cli import main

    net = _small_net()
    if breakage == "no_slack":
        net.ext_grid.drop(net.ext_grid.index, inplace=True)
    elif breakage == "island":
        lonely = pp.create_bus(net, 10.0, name="lonely")
        pp.create_load(net, lonely, p_mw=1.0, name="plant/2")
    else:
        net.load.drop(net.load.index[net.load.name == "ev"], inplace=True)
    path = tmp_path / "s.yaml"
    path.write_text(_json_scenario(tmp_path, net))
    assert main(["check", str(path)]) == 2  # the command line's own entry, in process
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "grid.path" in err
    assert message in err.lower() or message in err, err


def test_not_converged_step_is_flagged_and_run_goes_on(park_net):
    """An impossible state: converged = 0, lossless fallback, reported with its time."""
    from adapters.grid_sim import GridSim

    sim = GridSim()
    sim.init("Grid-0", start="2027-01-01T00:00:00+08:00", step_s=900)
    sim.create(1, "Grid", name="grid", net_json=pp.to_json(park_net.net), solver="lightsim2grid")
    normal = {"grid": {"p_load_mw": {"L.bmw-tiexi": 60.0}, "p_gen_mw": {"G.wind-direct-1": 50.0}}}
    absurd = {"grid": {"p_load_mw": {"L.bmw-tiexi": 1e5}, "p_gen_mw": {"G.wind-direct-1": 50.0}}}
    rows = []
    for t, inputs in enumerate((normal, absurd, normal)):
        sim.step(t * 900, inputs, 10**9)
        rows.append(dict(sim.out["grid"]))
    assert [r["converged"] for r in rows] == [1.0, 0.0, 1.0]
    assert rows[1]["p_net_mw"] == pytest.approx(1e5 - 50.0)  # lossless fallback
    assert np.isnan(rows[1]["vm_pu"]).all()
    assert rows[2]["p_loss_mw"] > 0
    time_s = np.array([0, 900, 1800])
    vm = np.array([r["vm_pu"] for r in rows])
    lines = np.array([r["line_loading_pct"] for r in rows])
    trafos = np.array([r["trafo_loading_pct"] for r in rows])
    found = find_violations(time_s, vm, ["b"] * vm.shape[1], lines, ["l"] * lines.shape[1],
                            trafos, ["t"] * trafos.shape[1],
                            np.array([r["converged"] for r in rows]))
    failed = [v for v in found if v.kind == "not_converged"]
    assert len(failed) == 1
    assert failed[0].first_time_s == 900
    assert failed[0].steps == 1


def test_scenario_text_is_recorded_with_grid(tmp_path):
    s = scenario.load(SCENARIOS / "park.yaml").with_days(1)
    result = runner.run(s, out_dir=tmp_path)
    with open_run(result.path) as run:
        spec = run.spec("grid")
        assert spec["buses"] >= 120
        assert "grid:" in run.meta["scenario"]
        assert json.loads(run.entity_attrs("grid")["spec"])["lines"] == spec["lines"]
