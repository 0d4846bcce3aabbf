"""The built network follows its planning rules: N-1 on the main transformers and conductors from
the catalogue by their design current, checked by power flows of the design cases (the solver
agrees with pandapower.runpp, tests/test_grid_park.py) and by the rule check, and the voltage
band in the design cases checked with pandapower.runpp."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pandapower as pp
import pytest

from tests.conftest import SCENARIOS
from twin import data, scenario
from twin.cosim import network
from twin.models.grid import sizing
from twin.models.grid.layout import GridLayout
from twin.models.grid.network import GEN_KINDS, Connection, build_network
from twin.models.grid.solver import FastSolver
from twin.models.grid.topology import ParkGrid
from twin.studies.grid import contingency


@pytest.fixture(scope="module")
def park():
    s = scenario.load(SCENARIOS / "park.yaml")
    conns = network.grid_connections(s)
    return build_network(conns, s.grid.layout), conns, s.grid.layout


def _design_cases(pn, conns) -> dict[str, tuple[np.ndarray, ...]]:
    """Element powers of the two design cases: every load and battery (charging) at its rating
    with no generation, and every generator at its rating with no load."""
    grid = ParkGrid(pn.net)
    kind = {c.name: c.kind for c in conns}
    rating = {c.name: c.rating_mw for c in conns}
    load = np.array([0.0 if kind[n] in GEN_KINDS else rating[n] for n in grid.names])
    gen = np.array([rating[n] if kind[n] in GEN_KINDS else 0.0 for n in grid.names])
    return {"peak load": grid.element_powers(load), "peak generation": grid.element_powers(gen)}


def test_the_reference_network_meets_its_rules_in_the_design_cases(park):
    pn, conns, _ = park
    assert sizing.check(pn.net, pn.design_mva, pn.n1_lines) == []
    net = pn.net
    base = FastSolver(net)
    mains = [int(i) for i in net.trafo.index[net.trafo.name.str.startswith("park-trafo")]]
    assert len(mains) == 2
    solvers = {t: contingency.outage_solver(net, contingency.Outage(
        "trafo", t, net.trafo.name[t], False))[0] for t in mains}
    for case, powers in _design_cases(pn, conns).items():
        r = base.solve(*powers)
        assert r.converged, case
        assert np.nanmax(r.line_loading_pct) <= 100.0, case
        assert np.nanmax(r.trafo_loading_pct) <= 100.0, case
        for t in mains:  # N-1: the other main transformer carries the park alone, the
            out = solvers[t].solve(*powers)  # 66 kV bus coupler closed by the transfer
            assert out.converged, (case, t)
            other = [m for m in mains if m != t][0]
            pos = int(np.flatnonzero(solvers[t].trafo_index == other)[0])
            assert out.trafo_loading_pct[pos] <= 100.0, (case, t)
            if case == "peak load":  # it does carry the park: more than half its rating
                assert out.trafo_loading_pct[pos] > 50.0


def test_each_conductor_is_the_smallest_of_its_catalogue_that_carries_its_design(park):
    pn, _, _ = park
    net = pn.net
    g = data.load("grid")
    catalogue = {t["type"]: (kind, t) for kind in ("hv_line", "hv_cable", "mv_cable",
                                                   "collector_cable") for t in g[kind]}
    stepped: dict[str, tuple[dict, list[int]]] = {}  # radial -> the type below, its lines
    assert len(pn.n1_lines) > 100  # the feeders, the 66 kV cables and the public grid line
    for i, row in net.line[net.line.in_service].iterrows():  # not the open bus couplers
        kind, t = catalogue[row.std_type]
        kv = float(net.bus.vn_kv[row.from_bus])
        need = pn.design_mva[row["name"]]
        per_circuit = math.sqrt(3) * kv * t["max_i_ka"]
        spare = int(row["name"] in pn.n1_lines)  # one circuit out, the others carry it
        assert per_circuit * (row.parallel - spare) >= need
        smaller = [x for x in g[kind] if x["max_i_ka"] < t["max_i_ka"]]
        if row.parallel == 1 + spare:  # no smaller type would do, or the band needs it
            if any(math.sqrt(3) * kv * x["max_i_ka"] >= need for x in smaller):
                stepped.setdefault(row["name"].rsplit("s", 1)[0], (smaller[-1], []))[1].append(i)
        else:  # the largest type, in as few circuits as carry it
            assert t["max_i_ka"] == max(x["max_i_ka"] for x in g[kind])
            assert per_circuit * (row.parallel - 1 - spare) < need
    for radial, (below, lines) in stepped.items():  # one type smaller leaves the band
        down = copy.deepcopy(net)
        for col in ("r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka"):
            down.line.loc[lines, col] = below[col]
        assert sizing.band_errors(down, pn.storage_loads), radial


def test_the_check_names_a_broken_rule(park):
    pn, conns, layout = park
    one = build_network(conns, dataclasses.replace(layout, hv_transformers=1))
    assert sizing.check(one.net, one.design_mva) == [
        "main transformers: 1 in service; N-1 needs two or more"]
    net = copy.deepcopy(pn.net)
    cable = net.line.index[net.line.name == "biopharma/66kv-cable"][0]
    net.line.at[cable, "max_i_ka"] = 0.05
    errors = sizing.check(net, pn.design_mva)
    assert len(errors) == 1
    assert errors[0].startswith("line biopharma/66kv-cable: rated 11.4 MVA, its design peak")
    net = copy.deepcopy(pn.net)  # one circuit: it carries its peak, but not with it out
    net.line.at[cable, "parallel"] = 1
    assert sizing.check(net, pn.design_mva) == []
    errors = sizing.check(net, pn.design_mva, pn.n1_lines)
    assert len(errors) == 1
    assert errors[0].startswith("line biopharma/66kv-cable: 0.0 MVA left with one of its 1 "
                                "circuits out")


def test_twin_grid_says_whether_the_rules_are_met(capsys):
    from twin.apps.cli import main

    assert main(["grid", str(SCENARIOS / "park.yaml")]) == 0
    assert ("planning rules (N-1 main transformers, N-1 below them, conductors by design "
            "current, voltage band in the design cases): met") in capsys.readouterr().out


def _runpp_band(pn, conns) -> tuple[float, float]:
    """Lowest and highest bus voltage over the design cases by pandapower.runpp: all loads and
    storage charging at rating with no generation; all generation and storage discharging at
    rating with no load."""
    net = copy.deepcopy(pn.net)
    kind = {c.name: c.kind for c in conns}
    rating = {c.name: c.rating_mw for c in conns}
    lo, hi = np.inf, -np.inf
    for case in ("load", "generation"):
        for name, (table, idx) in pn.elements.items():
            gen = kind[name] in GEN_KINDS
            f = (float(not gen) if case == "load"
                 else 1.0 if gen else -1.0 if kind[name] == "battery" else 0.0)
            pf = data.load("grid")["load_power_factor"].get(kind[name], 1.0)
            p = f * rating[name] / len(idx)
            net[table].loc[idx, "p_mw"] = p
            net[table].loc[idx, "q_mvar"] = 0.0 if gen or f < 0 else p * math.tan(math.acos(pf))
        pp.runpp(net)
        lo, hi = min(lo, net.res_bus.vm_pu.min()), max(hi, net.res_bus.vm_pu.max())
    return lo, hi


def test_the_design_cases_keep_every_bus_in_the_voltage_band(park):
    pn, conns, _ = park
    lo, hi = data.load("grid")["vm_band_pu"]
    assert sizing.band_errors(pn.net, pn.storage_loads) == []
    vmin, vmax = _runpp_band(pn, conns)
    assert lo <= vmin
    assert vmax <= hi
    assert vmax > hi - 0.01  # the generation case does raise voltages near the band's top


def test_the_voltage_rule_sizes_a_long_generation_feeder():
    conns = [Connection("plant", "factory", 10.0), Connection("roof", "pv", 10.0, host="plant")]
    layout = GridLayout(feeder_km=8.0, feeder_segments=2, hv_transformers=2)
    lo, hi = data.load("grid")["vm_band_pu"]
    plain = build_network(conns, dataclasses.replace(layout, voltage_rule=False))
    assert _runpp_band(plain, conns)[1] > hi  # 10 MW of PV at 8 km raises the end too far
    assert any("in the peak generation case" in e for e in sizing.band_errors(plain.net, []))
    fitted = build_network(conns, layout)
    vmin, vmax = _runpp_band(fitted, conns)
    assert lo <= vmin
    assert vmax <= hi
    roof = fitted.net.line.name.str.startswith("roof/")
    r_plain = plain.net.line.r_ohm_per_km[roof] / plain.net.line.parallel[roof]
    r_fitted = fitted.net.line.r_ohm_per_km[roof] / fitted.net.line.parallel[roof]
    taps = (fitted.net.trafo.tap_pos != plain.net.trafo.tap_pos).any()
    assert taps or (r_fitted < r_plain).all()
    assert sizing.check(fitted.net, fitted.design_mva) == []  # the current rules still hold
