"""The park grid's switching state (twin.models.grid.topology), without mosaik.

On pandapower's CIGRE medium-voltage network (two radial feeders, normally open tie lines):
a line trip that cuts part of a feeder is found as an island, the energised buses are those
still connected to the external grid, what the island fed is lost, the tripped network
solves as pandapower.runpp solves it, and restoring the line returns to one connected
network. Islands and supply are checked against pandapower.topology computed here.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandapower.topology as top
import pytest

from twin.models.grid.topology import ParkGrid, topology

TRIP = "Line 3-4"  # feeds buses 4, 5 and 6 (the tie lines 6-7 and 11-4 are open)
OTHER = "Line 12-13"  # feeds buses 13 and 14 on the second feeder


@pytest.fixture(scope="module")
def net() -> pp.pandapowerNet:
    """CIGRE MV with PV and wind; each load and static generator its own entity."""
    net = pn.create_cigre_network_mv(with_der="pv_wind")
    net.load["name"] = [f"load-{i}" for i in net.load.index]
    net.sgen["name"] = [f"gen-{i}" for i in net.sgen.index]
    return net


def _expected(net: pp.pandapowerNet, tripped: list[str]) -> tuple[set, list[set]]:
    """Energised buses and cut-off parts, by pandapower.topology on a tripped copy."""
    work = copy.deepcopy(net)
    work.line.loc[work.line.name.isin(tripped), "in_service"] = False
    dead = set(top.unsupplied_buses(work))
    energised = set(work.bus.index[work.bus.in_service]) - dead
    parts = [set(c) for c in top.connected_components(top.create_nxgraph(work))]
    return energised, [p for p in parts if not p & energised]


def _powers(grid: ParkGrid, net: pp.pandapowerNet) -> np.ndarray:
    """Each entity's power as its element's power in the network."""
    x = np.zeros(len(grid.names))
    for table in ("load", "sgen"):
        for name, p in zip(net[table].name, net[table].p_mw, strict=True):
            x[grid.index[name]] = p
    return x


def _on(net: pp.pandapowerNet, table: str, buses: set) -> float:
    df = net[table]
    return float(df.p_mw[df.bus.isin(buses)].sum())


def test_the_network_as_given_is_one_energised_part(net):
    t = topology(net)
    assert t.islands == ()
    assert t.energised == frozenset(net.bus.index)
    assert not t.cuts_off
    assert len(list(top.connected_components(top.create_nxgraph(net)))) == 1


@pytest.mark.parametrize("tripped", [[TRIP], [OTHER], [TRIP, OTHER]])
def test_a_trip_that_splits_the_network_is_found_as_an_island(net, tripped):
    energised, islands = _expected(net, tripped)
    t = topology(net, tripped)
    assert len(t.islands) == len(tripped)
    assert sorted(map(set, t.islands), key=min) == sorted(islands, key=min)
    assert set(t.energised) == energised
    assert set(net.ext_grid.bus) <= energised
    dead = set().union(*islands)
    assert energised | dead == set(net.bus.index)
    load_bus = net.load.bus.loc[t.solver.load_index].to_numpy()
    sgen_bus = net.sgen.bus.loc[t.solver.sgen_index].to_numpy()
    assert np.array_equal(t.dead_load, np.isin(load_bus, list(dead)))
    assert np.array_equal(t.dead_sgen, np.isin(sgen_bus, list(dead)))
    assert t.cuts_off
    assert net.line.in_service.all()  # the network itself is not touched


def test_cigre_trip_cuts_off_the_end_of_the_first_feeder(net):
    (island,) = topology(net, [TRIP]).islands
    assert island == {4, 5, 6}


def test_a_tripped_line_sheds_what_it_fed_and_restoring_it_returns_to_one_network(net):
    grid = ParkGrid(net, "lightsim2grid")
    x = _powers(grid, net)
    lossless = float(net.load.p_mw.sum() - net.sgen.p_mw.sum())
    before = grid.step(x, lossless)
    assert before.converged
    assert not before.islanded
    assert before.p_shed_mw == before.p_curtailed_mw == 0.0

    tripped = grid.step(x, lossless, [TRIP])
    (island,) = grid.topology([TRIP]).islands
    assert tripped.converged
    assert not tripped.islanded
    assert tripped.p_shed_mw == pytest.approx(_on(net, "load", island), rel=1e-12)
    assert tripped.p_curtailed_mw == pytest.approx(_on(net, "sgen", island), rel=1e-12)
    k = int(np.flatnonzero(net.line.name == TRIP)[0])
    assert tripped.flow.line_p_from_mw[k] == 0.0
    assert np.isnan(tripped.flow.vm_pu[sorted(island)]).all()

    # pandapower.runpp on the tripped network, the island's buses out of service
    ref = copy.deepcopy(net)
    ref.line.loc[ref.line.name == TRIP, "in_service"] = False
    ref.bus.loc[sorted(island), "in_service"] = False
    pp.runpp(ref)
    on = sorted(set(net.bus.index) - island)
    assert np.allclose(tripped.flow.vm_pu[on], ref.res_bus.vm_pu.loc[on], atol=1e-6)
    assert tripped.p_net_mw == pytest.approx(float(ref.res_ext_grid.p_mw.sum()), abs=1e-5)

    restored = grid.step(x, lossless)
    assert grid.topology() is grid.topology([])
    assert grid.topology([TRIP]) is grid.topology([TRIP])  # built once
    assert restored.p_shed_mw == restored.p_curtailed_mw == 0.0
    assert restored.p_net_mw == pytest.approx(before.p_net_mw, abs=1e-9)
    assert np.allclose(restored.flow.vm_pu, before.flow.vm_pu, atol=1e-9)


def test_unknown_lines_are_ignored(net):
    grid = ParkGrid(net, "pandapower")
    assert grid.topology(["no such line"]) is grid.topology()


def test_an_outage_islands_the_park(net):
    grid = ParkGrid(net, "pandapower")
    x = _powers(grid, net)
    step = grid.step(x, 0.0, outage=True)
    assert step.islanded
    assert step.converged
    assert step.p_net_mw == step.p_import_mw == step.p_export_mw == 0.0
    load, gen = float(net.load.p_mw.sum()), float(net.sgen.p_mw.sum())
    # the park balances on its own: what it could not serve is shed, losses included
    assert step.p_shed_mw - step.p_curtailed_mw == pytest.approx(
        load - gen + step.p_loss_mw, abs=1e-6)
    assert step.p_shed_mw >= step.p_loss_mw > 0.0
