"""Grid studies on small networks whose answers are checked by hand and with pandapower.runpp:
N-1 screening, hosting capacity, short-circuit levels."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from twin.models.grid.topology import ParkGrid
from twin.studies.grid import contingency
from twin.studies.grid.points import Points, critical_steps

LOAD_MW = 50.0


def _net() -> object:
    """ext grid - bus a ==L1, L2 (one circuit each)== bus b -- load main/0 (50 MW)
    bus b ==cable (2 circuits)== bus c -- load side/0 (10 MW); bus b -- trafo -- bus d -- load
    radial/0 (3 MW); bus c -- pv/0 (static generator)."""
    net = pp.create_empty_network()
    a, b, c = (pp.create_bus(net, 110.0, name=n) for n in ("a", "b", "c"))
    d = pp.create_bus(net, 10.0, name="d")
    pp.create_ext_grid(net, a, vm_pu=1.0)
    for name in ("L1", "L2"):
        pp.create_line_from_parameters(net, a, b, 5.0, 0.06, 0.3, 10.0, 0.2, name=name)
    pp.create_line_from_parameters(net, b, c, 2.0, 0.06, 0.3, 10.0, 0.04, name="cable",
                                   parallel=2)
    pp.create_transformer_from_parameters(net, b, d, 10.0, 110.0, 10.0, 0.3, 10.0, 5.0, 0.05,
                                          name="T")
    pp.create_load(net, b, LOAD_MW, 0.0, name="main/0")
    pp.create_load(net, c, 10.0, 0.0, name="side/0")
    pp.create_load(net, d, 3.0, 0.0, name="radial/0")
    pp.create_sgen(net, c, 0.0, 0.0, name="pv/0")
    return net


def _points(net: object, rows: list[list[float]]) -> Points:
    grid = ParkGrid(net)
    kinds = {"main": "factory", "side": "factory", "radial": "factory", "pv": "pv"}
    ratings = {"main": LOAD_MW, "side": 10.0, "radial": 3.0, "pv": 10.0}
    cols = ("main", "side", "radial", "pv")
    p = np.array([[dict(zip(cols, r, strict=True))[n] for n in grid.names] for r in rows],
                 dtype=float)
    return Points(grid, p, [f"step {k}" for k in range(len(rows))], kinds, ratings, "test")


def _runpp(net: object, out: tuple[str, str] | None, parallel: bool = False) -> object:
    work = copy.deepcopy(net)
    if out is not None:
        table, name = out
        idx = work[table].index[work[table].name == name][0]
        if parallel:
            work[table].at[idx, "parallel"] -= 1
        else:
            work[table].at[idx, "in_service"] = False
    pp.runpp(work)
    return work


def test_n1_overload_of_the_parallel_line_checked_by_hand_and_by_runpp():
    net = _net()
    pts = _points(net, [[LOAD_MW * 0.5, 5.0, 1.0, 0.0], [LOAD_MW, 10.0, 3.0, 0.0]])
    res = contingency.screen(pts)
    rows = {r["contingency"]: r for r in res.rows}
    base = rows["none (N-0)"]
    assert base["overloaded"] == 0
    assert base["worst_loading_pct"] < 100.0
    # L1 out: L2 carries the whole park (63 MW at 110 kV over a 0.2 kA line) at step 1
    r = rows["line L1"]
    ref = _runpp(net, ("line", "L1"))
    assert r["worst_element"] == "L2"
    assert r["worst_time"] == "step 1"
    assert r["worst_loading_pct"] == pytest.approx(ref.res_line.loading_percent[1], abs=1e-6)
    by_hand = 63.0 / (math.sqrt(3) * 110.0 * ref.res_bus.vm_pu[1]) / 0.2 * 100.0
    assert r["worst_loading_pct"] == pytest.approx(by_hand, rel=0.02)
    assert r["worst_loading_pct"] > 100.0
    assert r["overloaded"] == 1
    assert any(v["contingency"] == "line L1" and v["element"] == "L2" and v["steps"] == 1
               for v in res.violations)
    # one of the cable's two circuits out: the other carries 10 MW on 0.04 kA
    r = rows["one circuit of line cable"]
    ref = _runpp(net, ("line", "cable"), parallel=True)
    assert r["worst_loading_pct"] == pytest.approx(ref.res_line.loading_percent[2], abs=1e-6)
    assert r["worst_loading_pct"] > 100.0
    # the radial transformer out: its 3 MW is lost, nothing overloads
    r = rows["trafo T"]
    assert r["lost_load_mw"] == pytest.approx(3.0)
    assert r["lost_time"] == "step 1"
    # the pandapower route gives the same numbers
    slow = {r["contingency"]: r for r in contingency.screen(pts, solver="pandapower").rows}
    for name, row in rows.items():
        assert slow[name]["worst_loading_pct"] == pytest.approx(row["worst_loading_pct"],
                                                                abs=1e-6)
        assert slow[name]["vm_min_pu"] == pytest.approx(row["vm_min_pu"], abs=1e-8)


def test_critical_steps_hold_the_worst_n1_case_of_every_step():
    rng = np.random.default_rng(3)
    n = 60
    rows = np.column_stack([rng.uniform(10, LOAD_MW, n), rng.uniform(0, 10, n),
                            rng.uniform(0, 3, n), rng.uniform(0, 10, n)])
    pts = _points(_net(), rows.tolist())
    picked = critical_steps(pts, per_element=1)
    assert len(picked) < n
    full = {r["contingency"]: r for r in contingency.screen(pts).rows}
    crit = {r["contingency"]: r for r in contingency.screen(pts, picked).rows}
    for name, row in full.items():
        assert crit[name]["worst_loading_pct"] == pytest.approx(row["worst_loading_pct"])


def test_the_batched_screen_of_every_step_equals_the_exact_one():
    """lightsim2grid's scenario sweep on the expanded network against one solver per
    contingency: a circuit of the parallel cable, each single line, the radial transformer
    (bus d cut off, its load lost, and half the PV with it), every row and every violation."""
    rng = np.random.default_rng(5)
    n = 40
    rows = np.column_stack([rng.uniform(10, 1.6 * LOAD_MW, n), rng.uniform(0, 30, n),
                            rng.uniform(0, 3, n), rng.uniform(0, 10, n)])
    net = _net()
    pp.create_sgen(net, 3, 0.0, 0.0, name="pv/1")  # generation on the radial bus d too
    pts = _points(net, rows.tolist())
    exact = contingency.screen(pts, batched=False)
    fast = contingency.screen(pts, batched=True)
    assert [r["contingency"] for r in fast.rows] == [r["contingency"] for r in exact.rows]
    assert any(r.get("overloaded") for r in exact.rows)
    assert any(r.get("lost_load_mw", 0) > 0 for r in exact.rows)
    for a, b in zip(fast.rows, exact.rows, strict=True):
        for key, value in b.items():
            if isinstance(value, float):
                assert a[key] == pytest.approx(value, abs=1e-6), (b["contingency"], key)
            else:
                assert a[key] == value, (b["contingency"], key)
    assert [(v["contingency"], v["element"], v["steps"]) for v in fast.violations] == \
        [(v["contingency"], v["element"], v["steps"]) for v in exact.violations]


def test_hosting_limit_by_bisection_agrees_with_runpp_and_by_hand():
    from twin.studies.grid.hosting import hosting

    net = _net()
    pts = _points(net, [[20.0, 10.0, 1.0, 10.0], [LOAD_MW, 0.0, 3.0, 0.0]])
    c = int(net.bus.index[net.bus.name == "c"][0])
    fast = hosting(pts, techs=("pv",), buses=[c], tolerance_mw=0.02, max_mw=100.0).rows[0]
    slow = hosting(pts, techs=("pv",), buses=[c], tolerance_mw=0.02, max_mw=100.0,
                   solver="pandapower").rows[0]
    assert fast["mw"] == pytest.approx(slow["mw"], abs=0.02)
    assert fast["binding"] == slow["binding"] == "thermal: cable"
    # the cable's two 0.04 kA circuits at bus c's voltage carry the added PV to bus b at
    # step 0 (the side load takes the park's own PV there)
    work = copy.deepcopy(net)
    work.load.p_mw = [20.0, 10.0, 1.0]
    work.sgen.p_mw = [10.0]
    pp.create_sgen(work, c, fast["mw"], 0.0)
    pp.runpp(work)
    assert work.res_line.loading_percent[2] == pytest.approx(100.0, abs=0.2)
    by_hand = math.sqrt(3) * 110.0 * work.res_bus.vm_pu[c] * 0.08
    assert fast["mw"] == pytest.approx(by_hand, rel=0.01)
    # N-1: one circuit must carry it alone, half as much
    n1 = hosting(pts, techs=("pv",), buses=[c], tolerance_mw=0.02, max_mw=100.0,
                 n1=True).rows[0]
    assert n1["binding"] == "N-1 (one circuit of line cable): thermal: cable"
    assert n1["mw"] == pytest.approx(by_hand / 2.0, rel=0.02)


def test_short_circuit_level_behind_a_line_by_hand():
    from twin import data
    from twin.studies.grid.shortcircuit import levels

    net = pp.create_empty_network()
    a, b = pp.create_bus(net, 110.0, name="pcc"), pp.create_bus(net, 110.0, name="far")
    pp.create_ext_grid(net, a)  # no short-circuit data: twin/data/grid_studies.yaml's
    pp.create_line_from_parameters(net, a, b, 10.0, 0.1, 0.4, 0.0, 1.0, name="l")
    rows, _ = levels(net, [a, b])
    s = data.load("grid_studies")
    s_sc, rx = s["ext_grid_s_sc_max_mva"], s["ext_grid_rx"]
    c, un = 1.1, 110.0  # IEC 60909 voltage factor cmax above 1 kV
    assert rows[0]["ikss_ka"] == pytest.approx(s_sc / (math.sqrt(3) * un), rel=1e-6)
    z_grid = c * un**2 / s_sc
    x_grid = z_grid / math.sqrt(1 + rx**2)
    z = complex(rx * x_grid + 1.0, x_grid + 4.0)  # the line: 10 km of 0.1 + j0.4 ohm/km
    assert rows[1]["ikss_ka"] == pytest.approx(c * un / (math.sqrt(3) * abs(z)), rel=1e-6)
    assert rows[1]["breaker_ka"] == pytest.approx(float("nan"), nan_ok=True)  # no 110 kV row


def test_a_converter_fed_plant_added_raises_the_level_by_k_times_its_rated_current():
    # IEC 60909-0:2016 full-converter model as pandapower implements it: the plant adds k
    # times its rated current at its bus, transformed by the ratio above it
    from twin import data
    from twin.studies.grid.shortcircuit import beside, levels

    def net(pv_mw: float) -> object:
        n = pp.create_empty_network()
        a, b = pp.create_bus(n, 110.0, name="pcc"), pp.create_bus(n, 10.0, name="sub")
        pp.create_ext_grid(n, a)
        pp.create_transformer_from_parameters(n, a, b, 40.0, 110.0, 10.0, 0.3, 12.0, 20.0,
                                              0.05, name="T")
        if pv_mw:
            c = pp.create_bus(n, 10.0, name="new")
            pp.create_line_from_parameters(n, b, c, 1.0, 0.1, 0.1, 10.0, 0.4, name="l")
            pp.create_sgen(n, b, pv_mw, 0.0, name="pv/0")
        return n

    k = float(data.load("grid_studies")["converter_k"])
    before, _ = levels(net(0.0), [0, 1])
    rows, _ = levels(net(8.0), [0, 1, 2])
    by = {r["bus"]: r for r in beside(rows, before)}
    assert by["sub"]["rise_ka"] == pytest.approx(k * 8.0 / (math.sqrt(3) * 10.0), rel=0.01)
    assert by["pcc"]["rise_ka"] == pytest.approx(k * 8.0 / (math.sqrt(3) * 110.0), rel=0.01)
    assert by["sub"]["before_ka"] == pytest.approx(before[1]["ikss_ka"])
    assert by["new"]["before_ka"] is None  # a bus added
    assert by["new"]["rise_ka"] is None


def test_a_busbar_split_into_more_sections_is_not_compared_by_name():
    # x/10-2 after a re-split into three sections is another section than x/10-2 of two: its
    # feeders differ, so a rise by name would be made up; an unchanged busbar compares
    from twin.studies.grid.shortcircuit import beside

    def rows(levels: dict[str, float]) -> list[dict]:
        return [{"bus": b, "ikss_ka": v} for b, v in levels.items()]

    before = rows({"pcc": 40.0, "x/10": 20.0, "x/10-2": 21.0, "y/10": 15.0, "y/10-2": 16.0})
    after = rows({"pcc": 41.0, "x/10": 25.0, "x/10-2": 60.0, "x/10-3": 26.0,
                  "y/10": 15.5, "y/10-2": 16.5, "z/10": 9.0})
    by = {r["bus"]: r for r in beside(after, before)}
    assert [b for b, r in by.items() if r["resplit"]] == ["x/10", "x/10-2", "x/10-3"]
    assert all(by[b]["rise_ka"] is None for b in ("x/10", "x/10-2", "x/10-3", "z/10"))
    assert by["y/10-2"]["rise_ka"] == pytest.approx(0.5)
    assert by["pcc"]["rise_ka"] == pytest.approx(1.0)
    assert not by["z/10"]["resplit"]  # a new busbar: new, not re-split


def test_levels_after_a_plant_is_added_beside_the_built_networks(tmp_path, capsys):
    from types import SimpleNamespace

    from twin import data
    from twin.apps.cli import main
    from twin.studies.pathway.report import short_circuit

    # pv-roof-bmw-tiexi 1 MW larger: no bus rises by more than k times 1 MW's current at
    # 10 kV (at its own section's busbar, through the feeder) and every bus rises
    text = Path("scenarios/park.yaml").read_text(encoding="utf-8")
    assert "    p_ac_mw: 50\n" in text
    after = tmp_path / "park.yaml"
    after.write_text(text.replace("    p_ac_mw: 50\n", "    p_ac_mw: 51\n", 1), encoding="utf-8")
    assert main(["short-circuit", str(after), "--against", "scenarios/park.yaml", "--csv",
                 str(tmp_path / "sc.csv")]) == 0
    assert "beside scenarios/park.yaml: 0 buses above" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "sc.csv").open(encoding="utf-8")))
    rise = {r["bus"]: float(r["rise_ka"]) for r in rows}
    bound = float(data.load("grid_studies")["converter_k"]) / (math.sqrt(3) * 10.0)
    assert min(rise.values()) > 0.0
    assert max(rise[b] for b in rise if b.startswith("bmw-tiexi/10")) <= bound
    assert max(rise, key=rise.get).startswith("bmw-tiexi/")  # its own substation's most
    # the pathway's report: the acceptance run's levels beside the baseline's
    road = SimpleNamespace(scenario=SimpleNamespace(grid=object()), baseline_path="scenarios/"
                           "park.yaml", final=SimpleNamespace(run_path=after))
    page = short_circuit(road)
    assert "Short-circuit levels after the additions" in page
    assert "rise_ka" in page
    assert short_circuit(SimpleNamespace(scenario=SimpleNamespace(grid=None))) == ""


def test_cli_grid_studies_on_a_scenario_and_bad_input(tmp_path, capsys):
    from twin.apps.cli import main

    assert main(["short-circuit", "scenarios/park.yaml", "--csv",
                 str(tmp_path / "sc.csv")]) == 0
    out = capsys.readouterr().out
    assert "pcc-220" in out
    text = (tmp_path / "sc.csv").read_text()
    row = next(line for line in text.splitlines() if line.startswith("pcc-220,"))
    assert float(row.split(",")[2]) > 10.0  # kA at the 220 kV PCC
    assert main(["n-1", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: no such file" in capsys.readouterr().err
    assert main(["hosting", "scenarios/park.yaml", "--tech", "solar"]) == 2
    assert "--tech solar" in capsys.readouterr().err


def test_a_transformer_out_of_a_parallel_pair_by_the_fast_route_agrees_with_runpp():
    net = pp.create_empty_network()
    a, d = pp.create_bus(net, 110.0, name="a"), pp.create_bus(net, 10.0, name="d")
    pp.create_ext_grid(net, a)
    for name in ("T1", "T2"):
        pp.create_transformer_from_parameters(net, a, d, 25.0, 110.0, 10.0, 0.3, 12.0, 10.0,
                                              0.05, name=name)
    pp.create_load(net, d, 30.0, 5.0, name="plant/0")
    grid = ParkGrid(net)
    pts = Points(grid, np.array([[30.0], [12.0]]), ["peak", "low"], {"plant": "factory"},
                 {"plant": 30.0}, "test")
    rows = {r["contingency"]: r for r in contingency.screen(pts).rows}
    ref = _runpp(net, ("trafo", "T1"))  # the network's own load: 30 MW, as at "peak"
    r = rows["trafo T1"]
    assert r["worst_element"] == "T2"
    assert r["worst_loading_pct"] == pytest.approx(ref.res_trafo.loading_percent[1], abs=1e-6)
    assert r["vm_min_pu"] == pytest.approx(ref.res_bus.vm_pu[d], abs=1e-8)
    assert r["worst_loading_pct"] > 100.0 > rows["none (N-0)"]["worst_loading_pct"]


def _split() -> object:
    """ext grid - bus h (66 kV) -- T1 -- section s1 (10 kV, load one/0: 8 MW)
                                -- T2 -- section s2 (10 kV, load two/0: 6 MW), s1 and s2 tied by
    a normally open coupler (an out-of-service line named sub/10/coupler-1)."""
    net = pp.create_empty_network()
    h = pp.create_bus(net, 66.0, name="h")
    s1, s2 = (pp.create_bus(net, 10.0, name=n) for n in ("s1", "s2"))
    pp.create_ext_grid(net, h, vm_pu=1.0)
    for name, lv in (("sub/substation", s1), ("sub/substation-2", s2)):
        pp.create_transformer_from_parameters(net, h, lv, 20.0, 66.0, 10.0, 0.3, 12.0, 5.0,
                                              0.05, name=name)
    pp.create_line_from_parameters(net, s1, s2, 0.01, 0.1, 0.1, 0.0, 2.0, name="sub/10/coupler-1",
                                   in_service=False)
    pp.create_load(net, s1, 8.0, 0.0, name="one/0")
    pp.create_load(net, s2, 6.0, 0.0, name="two/0")
    return net


def test_a_lost_transformer_of_a_split_busbar_is_transferred_by_its_coupler():
    """One transformer of a split 10 kV busbar out: the automatic transfer closes the coupler,
    no load is lost, and the other transformer carries both sections, as runpp says with the
    coupler closed by hand (and as the per-contingency route does)."""
    net = _split()
    grid = ParkGrid(net)
    p = np.array([[8.0 if n == "one" else 6.0 for n in grid.names]])
    pts = Points(grid, p, ["step 0"], {"one": "factory", "two": "factory"},
                 {"one": 8.0, "two": 6.0}, "test")
    for batched in (True, False):
        rows = {r["contingency"]: r for r in contingency.screen(pts, batched=batched).rows}
        case = "trafo sub/substation (transfer: sub/10/coupler-1)"
        assert rows[case]["lost_load_mw"] == 0.0
        work = copy.deepcopy(net)
        work.trafo.at[0, "in_service"] = False
        work.line.at[0, "in_service"] = True
        pp.runpp(work)
        t2 = float(work.res_trafo.loading_percent[1])
        assert 14.0 / 20.0 * 100.0 < t2 < 14.0 / 20.0 * 100.0 * 1.1  # both sections on T2
        assert rows[case]["worst_loading_pct"] == pytest.approx(t2, abs=1e-6)
        assert rows[case]["worst_element"] == "sub/substation-2"
    # without the coupler the same outage cuts section s1 off
    net.line.drop(index=0, inplace=True)
    pts = Points(ParkGrid(net), p, ["step 0"], {"one": "factory", "two": "factory"},
                 {"one": 8.0, "two": 6.0}, "test")
    rows = {r["contingency"]: r for r in contingency.screen(pts).rows}
    assert rows["trafo sub/substation"]["lost_load_mw"] == pytest.approx(8.0)
