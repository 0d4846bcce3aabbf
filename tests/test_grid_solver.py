"""The fast AC power flow against pandapower.runpp, on a park-like network and an example net."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from twin.models.grid import FastSolver, GridError, PFResult, RunppSolver, check_network

VM_ABS = 1e-6  # p.u.
LOADING_ABS = 1e-3  # percent
POWER_ABS = 1e-4  # MW
CABLE = "NA2XS2Y 1x240 RM/25 12/20 kV"


def _park_net() -> pp.pandapowerNet:
    """An industrial park: 220 kV grid, 220/66 kV, a wind farm on a 66 kV line, 10 kV feeders.

    Also: 150 degree (Dyn5) 66/10 kV transformers with taps, a closed bus coupler, a normally
    open tie line (open line switch), a standby transformer behind an open switch, a battery
    (pandapower storage), load scaling, a gap in the load indices, an out-of-service
    generator, an out-of-service bus, and bus indices that are neither contiguous nor sorted.
    """
    rng = np.random.default_rng(3)
    net = pp.create_empty_network(sn_mva=1.0, f_hz=50.0)
    b220 = pp.create_bus(net, 220.0, name="pcc-220")
    pp.create_ext_grid(net, b220, vm_pu=1.02, va_degree=0.0, name="public-grid")
    b66 = pp.create_bus(net, 66.0, name="park-66")
    trafo_220 = {"sn_mva": 120.0, "vn_hv_kv": 220.0, "vn_lv_kv": 66.0, "vk_percent": 12.0,
                 "vkr_percent": 0.3, "pfe_kw": 40.0, "i0_percent": 0.05, "tap_side": "hv",
                 "tap_neutral": 0, "tap_min": -8, "tap_max": 8, "tap_step_percent": 1.25}
    for k in range(2):
        pp.create_transformer_from_parameters(net, b220, b66, tap_pos=k - 1,
                                              name=f"T220-{k}", **trafo_220)
    standby = pp.create_transformer_from_parameters(net, b220, b66, tap_pos=0,
                                                    name="T220-standby", **trafo_220)
    pp.create_switch(net, b66, standby, et="t", closed=False)
    wind = pp.create_bus(net, 66.0, name="wind-66")
    pp.create_line_from_parameters(net, b66, wind, length_km=15.0, r_ohm_per_km=0.12,
                                   x_ohm_per_km=0.39, c_nf_per_km=9.5, max_i_ka=0.6,
                                   name="wind-ohl")
    for k in range(3):
        pp.create_sgen(net, wind, p_mw=20.0, q_mvar=0.0, name=f"wind/{k}")
    ends = []
    for s in range(4):
        b10 = pp.create_bus(net, 10.0, name=f"sub{s}-10")
        pp.create_transformer_from_parameters(
            net, b66, b10, sn_mva=31.5, vn_hv_kv=66.0, vn_lv_kv=10.5, vk_percent=10.5,
            vkr_percent=0.5, pfe_kw=25.0, i0_percent=0.1, shift_degree=150.0, tap_side="hv",
            tap_neutral=0, tap_min=-8, tap_max=8, tap_step_percent=1.25, tap_pos=s % 3 - 1,
            name=f"T66-{s}")
        section_b = pp.create_bus(net, 10.0, name=f"sub{s}-10B")
        pp.create_switch(net, b10, section_b, et="b", closed=True, name=f"coupler-{s}")
        for f in range(3):
            prev = b10 if f < 2 else section_b
            for g in range(12):
                b = pp.create_bus(net, 10.0, name=f"s{s}f{f}b{g}")
                pp.create_line(net, prev, b, length_km=0.4 + 0.2 * rng.random(),
                               std_type=CABLE, name=f"s{s}f{f}l{g}")
                p = 0.25 + 0.2 * rng.random()
                pp.create_load(net, b, p_mw=p, q_mvar=0.3 * p, name=f"load/s{s}f{f}b{g}")
                if g % 3 == 2:
                    pp.create_sgen(net, b, p_mw=0.3, q_mvar=0.0, name=f"pv/s{s}f{f}b{g}")
                prev = b
            ends.append(prev)
    tie = pp.create_line(net, ends[0], ends[1], length_km=0.8, std_type=CABLE, name="tie")
    pp.create_switch(net, ends[1], tie, et="l", closed=False, name="tie-open")
    pp.create_storage(net, ends[2], p_mw=1.0, max_e_mwh=4.0, q_mvar=0.0, name="battery")
    spare = pp.create_bus(net, 10.0, name="spare", in_service=False)
    pp.create_line(net, ends[3], spare, length_km=0.3, std_type=CABLE, name="to-spare")
    net.load.loc[net.load.index[:6], "scaling"] = 0.5
    net.load = net.load.drop(index=net.load.index[7])
    net.sgen.loc[net.sgen.index[4], "in_service"] = False
    order = rng.permutation(len(net.bus))
    pp.toolbox.reindex_buses(net, dict(zip(net.bus.index, 1000 + 3 * order, strict=True)))
    return net


@pytest.fixture(scope="module")
def park() -> pp.pandapowerNet:
    return _park_net()


def _states(net: pp.pandapowerNet, n: int = 60, seed: int = 11) -> list[tuple]:
    """Normal, overloaded, reverse-flow and reactive states, in turn."""
    rng = np.random.default_rng(seed)
    lp0, sp0 = net.load["p_mw"].to_numpy(), net.sgen["p_mw"].to_numpy()
    n_st = len(net.storage)
    out = []
    for k in range(n):
        kind = k % 4
        load_f = {0: (0.3, 1.0), 1: (1.8, 2.6), 2: (0.05, 0.3), 3: (0.8, 1.4)}[kind]
        gen_f = {0: (0.0, 0.6), 1: (0.0, 0.2), 2: (2.0, 4.0), 3: (0.3, 1.0)}[kind]
        lp = lp0 * rng.uniform(*load_f) * rng.uniform(0.8, 1.2, len(lp0))
        tan_phi = rng.uniform(0.0, 1.0 if kind == 3 else 0.4, len(lp0))
        sp = sp0 * rng.uniform(*gen_f) * rng.uniform(0.7, 1.0, len(sp0))
        sq = sp * rng.uniform(-0.5, 0.5, len(sp0)) if kind == 3 else np.zeros(len(sp0))
        st = rng.uniform(-2.0, 2.0, n_st)
        out.append((lp, lp * tan_phi, sp, sq, st))
    return out


def _assert_same(a: PFResult, b: PFResult) -> None:
    assert a.converged
    assert b.converged
    np.testing.assert_allclose(a.vm_pu, b.vm_pu, rtol=0, atol=VM_ABS, equal_nan=True)
    np.testing.assert_allclose(a.va_degree, b.va_degree, rtol=0, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(a.line_loading_pct, b.line_loading_pct, rtol=0,
                               atol=LOADING_ABS, equal_nan=True)
    np.testing.assert_allclose(a.trafo_loading_pct, b.trafo_loading_pct, rtol=0,
                               atol=LOADING_ABS, equal_nan=True)
    np.testing.assert_allclose(a.line_p_from_mw, b.line_p_from_mw, rtol=0, atol=POWER_ABS,
                               equal_nan=True)
    assert a.p_ext_grid_mw == pytest.approx(b.p_ext_grid_mw, abs=POWER_ABS)
    assert a.q_ext_grid_mvar == pytest.approx(b.q_ext_grid_mvar, abs=POWER_ABS)
    assert a.p_loss_mw == pytest.approx(b.p_loss_mw, abs=POWER_ABS)


def test_park_net_is_park_like(park):
    assert len(park.bus) >= 120
    assert set(park.bus.vn_kv) == {220.0, 66.0, 10.0}
    assert len(park.trafo) >= 6
    assert len(park.switch) >= 6
    assert len(park.storage) == 1
    check_network(park)


def test_fast_solver_matches_runpp_on_park_states(park):
    fast, ref = FastSolver(park), RunppSolver(park)
    np.testing.assert_array_equal(fast.load_index, park.load.index)
    np.testing.assert_array_equal(fast.sgen_index, park.sgen.index)
    seen = {"overload": False, "under_v": False, "over_v": False, "export": False,
            "import": False, "reverse_line": False}
    for lp, lq, sp, sq, st in _states(park):
        b = ref.solve(lp, lq, sp, sq, storage_p_mw=st)
        a = fast.solve(lp, lq, sp, sq, storage_p_mw=st)
        _assert_same(a, b)
        seen["overload"] |= np.nanmax(b.line_loading_pct) > 100.0
        seen["under_v"] |= np.nanmin(b.vm_pu) < 0.95
        seen["over_v"] |= np.nanmax(b.vm_pu) > 1.05
        seen["export"] |= b.p_ext_grid_mw < 0.0
        seen["import"] |= b.p_ext_grid_mw > 0.0
        seen["reverse_line"] |= np.nanmin(b.line_p_from_mw[1:]) < -0.1
    assert all(seen.values()), seen  # the states did stress the network
    # the out-of-service bus is NaN in both
    assert np.isnan(a.vm_pu[list(park.bus.name).index("spare")])


@pytest.mark.filterwarnings("ignore:tap_dependency_table:DeprecationWarning")
def test_fast_solver_matches_runpp_with_switches_example_net():
    net = pn.mv_oberrhein()
    assert (~net.switch.closed).any()  # open switches: normally open points
    fast, ref = FastSolver(net), RunppSolver(net)
    for lp, lq, sp, sq, _ in _states(net, n=12, seed=5):
        _assert_same(fast.solve(lp, lq, sp, sq), ref.solve(lp, lq, sp, sq))


def test_bus_bus_switch_fuses_buses(park):
    """The two sections of a closed bus coupler show the same voltage."""
    res = FastSolver(park).solve(park.load.p_mw * 2, park.load.q_mvar * 2, park.sgen.p_mw,
                                 park.sgen.q_mvar)
    pos = {name: i for i, name in enumerate(park.bus.name)}
    assert res.vm_pu[pos["sub0-10"]] == res.vm_pu[pos["sub0-10B"]]
    assert res.vm_pu[pos["sub0-10"]] != res.vm_pu[pos["s0f0b0"]]


def test_non_convergence_flagged_then_recovers(park):
    fast, ref = FastSolver(park), RunppSolver(park)
    lp, lq = park.load["p_mw"].to_numpy(), park.load["q_mvar"].to_numpy()
    sp, sq = park.sgen["p_mw"].to_numpy(), park.sgen["q_mvar"].to_numpy()
    bad = fast.solve(lp * 200.0, lq * 200.0, sp, sq)
    assert not bad.converged
    assert np.isnan(bad.vm_pu).all()
    assert np.isnan(bad.p_ext_grid_mw)
    assert not ref.solve(lp * 200.0, lq * 200.0, sp, sq).converged
    _assert_same(fast.solve(lp * 1.3, lq * 0.7, sp * 0.5, sq), ref.solve(lp * 1.3, lq * 0.7,
                                                                          sp * 0.5, sq))


def test_check_network_refuses_no_slack(park):
    net = copy.deepcopy(park)
    net.ext_grid = net.ext_grid.drop(index=net.ext_grid.index)
    with pytest.raises(GridError, match="no in-service ext_grid"):
        check_network(net)
    with pytest.raises(GridError):
        FastSolver(net)


def test_check_network_refuses_island(park):
    net = copy.deepcopy(park)
    b1 = pp.create_bus(net, 10.0, name="island-a")
    b2 = pp.create_bus(net, 10.0, name="island-b")
    pp.create_line(net, b1, b2, length_km=1.0, std_type=CABLE)
    pp.create_load(net, b2, p_mw=1.0)
    with pytest.raises(GridError, match="not connected to a slack") as err:
        check_network(net)
    assert "island-a" in str(err.value)
    assert "island-b" in str(err.value)
    # opening the coupler of substation 0 cuts off its section B and the feeder behind it
    net = copy.deepcopy(park)
    net.switch.loc[net.switch.name == "coupler-0", "closed"] = False
    with pytest.raises(GridError, match="not connected to a slack"):
        RunppSolver(net)


def test_check_network_refuses_unsupported_elements(park):
    net = copy.deepcopy(park)
    pp.create_gen(net, net.bus.index[0], p_mw=1.0, vm_pu=1.0)
    with pytest.raises(GridError, match="'gen'"):
        check_network(net)


def test_runpp_solver_never_mutates_net(park):
    before = copy.deepcopy(park)
    ref = RunppSolver(park)
    ref.solve(park.load.p_mw * 1.7, park.load.q_mvar, park.sgen.p_mw * 0.1, park.sgen.q_mvar,
              storage_p_mw=[-2.0])
    FastSolver(park).solve(park.load.p_mw * 1.7, park.load.q_mvar, park.sgen.p_mw,
                           park.sgen.q_mvar)
    assert pp.toolbox.nets_equal(park, before)
    assert park.res_bus.empty  # never even run
    assert park.get("_ppc") is None
    assert not ref.net.res_bus.empty


def test_input_shapes_checked(park):
    fast = FastSolver(park)
    with pytest.raises(ValueError, match="load_p_mw"):
        fast.solve(park.load.p_mw[:-1], park.load.q_mvar, park.sgen.p_mw, park.sgen.q_mvar)
