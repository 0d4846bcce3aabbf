"""The built network follows its planning rules: N-1 on the main transformers and conductors from
the catalogue by their design current, checked by power flows of the design cases (the solver
agrees with pandapower.runpp, tests/test_grid_park.py) and by the rule check."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest

from tests.conftest import SCENARIOS
from twin import data, scenario
from twin.cosim import network
from twin.models.grid import sizing
from twin.models.grid.network import GEN_KINDS, build_network
from twin.models.grid.solver import FastSolver
from twin.models.grid.topology import ParkGrid


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
    assert sizing.check(pn.net, pn.design_mva) == []
    net = pn.net
    base = FastSolver(net)
    mains = [int(i) for i in net.trafo.index[net.trafo.name.str.startswith("park-trafo")]]
    assert len(mains) == 2
    for case, powers in _design_cases(pn, conns).items():
        r = base.solve(*powers)
        assert r.converged, case
        assert np.nanmax(r.line_loading_pct) <= 100.0, case
        assert np.nanmax(r.trafo_loading_pct) <= 100.0, case
        for t in mains:  # N-1: the other main transformer carries the park alone
            out = base.without("trafo", t).solve(*powers)
            assert out.converged, (case, t)
            other = [m for m in mains if m != t][0]
            pos = int(np.flatnonzero(base.trafo_index == other)[0])
            assert out.trafo_loading_pct[pos] <= 100.0, (case, t)
            if case == "peak load":  # it does carry the park: more than half its rating
                assert out.trafo_loading_pct[pos] > 50.0


def test_each_conductor_is_the_smallest_of_its_catalogue_that_carries_its_design(park):
    pn, _, _ = park
    net = pn.net
    g = data.load("grid")
    catalogue = {t["type"]: (kind, t) for kind in ("hv_line", "hv_cable", "mv_cable",
                                                   "collector_cable") for t in g[kind]}
    for _, row in net.line.iterrows():
        kind, t = catalogue[row.std_type]
        kv = float(net.bus.vn_kv[row.from_bus])
        need = pn.design_mva[row["name"]]
        per_circuit = math.sqrt(3) * kv * t["max_i_ka"]
        assert per_circuit * row.parallel >= need
        smaller = [x for x in g[kind] if x["max_i_ka"] < t["max_i_ka"]]
        if row.parallel == 1:  # no smaller type would do
            assert all(math.sqrt(3) * kv * x["max_i_ka"] < need for x in smaller), row["name"]
        else:  # the largest type, in as few circuits as carry it
            assert t["max_i_ka"] == max(x["max_i_ka"] for x in g[kind])
            assert per_circuit * (row.parallel - 1) < need


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
    assert errors[0].startswith("line biopharma/66kv-cable: rated 5.7 MVA, its design peak")


def test_twin_grid_says_whether_the_rules_are_met(capsys):
    from twin.apps.cli import main

    assert main(["grid", str(SCENARIOS / "park.yaml")]) == 0
    assert "planning rules (N-1 main transformers, conductors by design current): met" in \
        capsys.readouterr().out
