"""Grid state estimation (pandapower WLS) from a third of the buses' voltages and the plants'
powers, with meter noise: within 0.5 % of the true voltages (bad data: tests/test_live_grid.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.cosim.network import build_grid
from twin.live.estimate import estimate_state, measure
from twin.scenario import loads

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
WITHIN_REL = 0.005  # the bar: 0.5 % of the true voltage


@pytest.fixture(scope="module")
def solved():
    import pandapower as pp

    s = loads(SMALL.read_text() + "grid:\n  source: build\n", SMALL.with_name("grid.yaml"))
    net = build_grid(s).net
    net.sgen.loc[:, "p_mw"] *= 0.6  # a sunny, windy hour: the park exports
    pp.runpp(net)
    assert net.res_bus.vm_pu.max() - net.res_bus.vm_pu.min() > 0.01  # voltages that differ
    return net


def test_a_third_of_the_buses_measured_gives_every_voltage_within_half_a_percent(solved):
    net = solved
    ms = measure(net, share=1 / 3, seed=1)
    est = estimate_state(net, ms, bad_data=False)
    truth = net.res_bus.vm_pu.to_numpy()
    assert est.converged
    assert len(est.measured_buses) <= len(truth) / 3 + 1
    unmeasured = ~np.isin(net.bus.index, est.measured_buses)
    err = np.abs(est.vm_pu - truth) / truth
    assert err[unmeasured].max() < WITHIN_REL
    assert err.max() < WITHIN_REL


def test_each_bus_voltage_comes_with_a_standard_deviation_the_errors_bear_out(solved):
    """The gain matrix's inverse: over noise draws the errors of the voltages and of the
    lines' loadings are as large as it says (not ten times smaller or larger), a measured bus
    is known better than its meter alone, and an unmeasured bus less well than a measured
    one."""
    from twin.live.estimate import SIGMA_V_PU

    net = solved
    truth = net.res_bus.vm_pu.to_numpy()
    z, sigmas, z_loading = [], [], []
    on = net.line.in_service.to_numpy(bool)  # not the open bus couplers: no current
    loading = net.res_line.loading_percent.to_numpy()[on]
    for seed in range(3):
        est = estimate_state(net, measure(net, share=1 / 3, seed=10 + seed), bad_data=False)
        assert est.converged
        assert est.vm_sigma_pu is not None
        z.append((est.vm_pu - truth) / est.vm_sigma_pu)
        z_loading.append((est.loading_percent[on] - loading) / est.loading_sigma_pct[on])
        sigmas.append(est.vm_sigma_pu)
    for errors in (z, z_loading):
        rms = float(np.sqrt(np.mean(np.square(errors))))
        assert 0.4 < rms < 1.5
    sigma = np.mean(sigmas, axis=0)
    measured = np.isin(net.bus.index, est.measured_buses)
    assert sigma[measured].max() < SIGMA_V_PU
    # a bus is known less well without its voltage meter than with it
    ms = measure(net, share=1 / 3, seed=10)
    slack = set(int(b) for b in net.ext_grid.bus)
    for b in [b for b in est.measured_buses if b not in slack][:3]:
        fewer = [m for m in ms if not (m.kind == "v" and m.element == b)]
        without = estimate_state(net, fewer, bad_data=False)
        k = int(np.flatnonzero(net.bus.index == b)[0])
        assert without.vm_sigma_pu[k] > sigmas[0][k]


def test_a_wrong_voltage_meter_on_a_network_made_elsewhere_is_thrown_out():
    """pandapower's own MV Oberrhein network (179 buses, as shipped), a third of its voltages
    measured: a meter reading 5 % high or low is what the bad-data test throws out, and never
    a zero injection (a bus with nothing connected: known, not metered)."""
    import dataclasses

    import pandapower as pp
    import pandapower.networks as pn

    net = pn.mv_oberrhein()
    pp.runpp(net)
    ms = measure(net, share=1 / 3, seed=5)
    assert sum(m.exact for m in ms) > 10
    slack = set(int(b) for b in net.ext_grid.bus)
    meters = [i for i, m in enumerate(ms) if m.kind == "v" and m.element not in slack]
    for i, factor in zip(meters[::15], (0.95, 1.05, 0.95, 1.05), strict=False):
        wrong = ms[:i] + [dataclasses.replace(ms[i], value=ms[i].value * factor)] + ms[i + 1:]
        est = estimate_state(net, wrong, bad_data=True)
        assert est.converged
        assert wrong[i] in est.bad
        assert not any(m.exact for m in est.bad)
        truth = net.res_bus.vm_pu.to_numpy()
        assert (np.abs(est.vm_pu - truth) / truth).max() < WITHIN_REL
