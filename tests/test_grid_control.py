"""Voltage and reactive power control in the park's power flow: on-load tap changers settle where
pandapower's own DiscreteTapControl does, Q(U) settles on its characteristic, cos φ(P) follows
the plant's power, and each lowers the voltage a PV plant at the end of long feeders raises."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandapower as pp
import pytest
from pandapower.control import DiscreteTapControl

from twin.models.grid.control import Unit, settings
from twin.models.grid.layout import GridLayout, VoltageControl
from twin.models.grid.network import Connection, build_network
from twin.models.grid.topology import ParkGrid

CONNECTIONS = [Connection("fab", "factory", 20.0), Connection("pv", "pv", 20.0, host="fab"),
               Connection("bess", "battery", 5.0, host="fab")]
UNITS = {c.name: Unit(c.kind, c.rating_mw) for c in CONNECTIONS}
SUNNY = {"fab": 0.0, "pv": 20.0, "bess": 2.0}  # PV at full power, the factory idle
BAND = (0.95, 1.05)


@pytest.fixture(scope="module")
def net():
    """A 20 MW PV plant and a factory on one 66/10 kV substation with 6 km feeders."""
    return build_network(CONNECTIONS, GridLayout(feeder_km=6.0, hv_transformers=1, n1=False)).net


def _step(net, control: VoltageControl | None, powers=SUNNY, solver="lightsim2grid"):
    grid = ParkGrid(net, solver, control, UNITS)
    return grid, grid.step(np.array([powers[n] for n in grid.names]), 0.0)


def _with_powers(net, grid: ParkGrid, powers=SUNNY) -> object:
    """A copy of the network carrying the elements' powers of ``powers`` (no control)."""
    work = copy.deepcopy(net)
    lp, lq, sp, sq = grid.element_powers(np.array([powers[n] for n in grid.names]))
    work.load["p_mw"], work.load["q_mvar"] = lp, lq
    work.sgen["p_mw"], work.sgen["q_mvar"] = sp, sq
    return work


def test_tap_changers_settle_where_pandapowers_discrete_tap_control_does(net):
    grid, plain = _step(net, None)
    assert np.nanmax(plain.flow.vm_pu) > BAND[1]  # the PV plant lifts its feeders
    _, step = _step(net, VoltageControl(oltc="all"))
    work = _with_powers(net, grid)
    bands = settings()["oltc_band_pu"]
    for tid, name in zip(work.trafo.index, work.trafo.name, strict=True):
        lo, hi = bands["main" if name.startswith("park-trafo") else "substation"]
        DiscreteTapControl(work, tid, lo, hi, side="lv")
    pp.runpp(work, run_control=True)
    np.testing.assert_array_equal(step.taps, work.trafo.tap_pos.to_numpy(float))
    assert not np.array_equal(step.taps, grid.taps)  # a tap moved
    np.testing.assert_allclose(step.flow.vm_pu, work.res_bus.vm_pu.to_numpy(), atol=1e-7)
    assert np.nanmax(step.flow.vm_pu) < np.nanmax(plain.flow.vm_pu) - 0.01


def test_q_u_settles_on_its_characteristic_and_keeps_the_feeders_in_band(net):
    grid, plain = _step(net, None)
    _, step = _step(net, VoltageControl(inverters="q_u"))
    assert np.nanmax(step.flow.vm_pu) <= BAND[1] < np.nanmax(plain.flow.vm_pu)
    # each inverter's reactive power read off the characteristic at its settled voltage, put
    # into pandapower, gives back those voltages (the fixed point) and the recorded total
    cfg = settings()
    work = _with_powers(net, grid)
    vm = dict(zip(net.bus.index, step.flow.vm_pu, strict=True))
    total = 0.0
    for table, sign in (("sgen", 1.0), ("load", -1.0)):
        for idx, row in work[table].iterrows():
            entity = row["name"].split("/")[0]
            unit = UNITS[entity]
            if unit.kind not in ("pv", "wind", "battery"):
                continue
            n = int((work[table].name.str.split("/").str[0] == entity).sum())
            q_max = unit.rating_mw / n * math.tan(math.acos(cfg["pf_min"][unit.kind]))
            q = float(np.interp(vm[row.bus], cfg["q_u"]["vm_pu"], cfg["q_u"]["q_pu"])) * q_max
            work[table].at[idx, "q_mvar"] += sign * q
            total += q
    pp.runpp(work)
    np.testing.assert_allclose(work.res_bus.vm_pu.to_numpy(), step.flow.vm_pu, atol=2e-4)
    assert step.q_inverter_mvar == pytest.approx(total, rel=0.01)
    assert step.q_inverter_mvar < 0  # absorbing against the high voltage


def test_cos_phi_p_absorbs_by_the_plants_power(net):
    grid, plain = _step(net, None)
    _, step = _step(net, VoltageControl(inverters="cos_phi_p"))
    cfg = settings()["cos_phi_p"]
    # the PV plant at full power absorbs at the end of the characteristic; the battery, a load
    # charging, stays at unity
    cos = cfg["cos_phi"][-1]
    assert step.q_inverter_mvar == pytest.approx(-20.0 * math.tan(math.acos(cos)), rel=1e-12)
    assert np.nanmax(step.flow.vm_pu) < np.nanmax(plain.flow.vm_pu) - 0.02
    _, half = _step(net, VoltageControl(inverters="cos_phi_p"), {**SUNNY, "pv": 8.0})
    assert half.q_inverter_mvar == 0.0  # below half power: unity


def test_fast_solver_and_pandapower_agree_under_control(net):
    ctl = VoltageControl(oltc="all", inverters="q_u")
    _, fast = _step(net, ctl)
    _, ref = _step(net, ctl, solver="pandapower")
    np.testing.assert_array_equal(fast.taps, ref.taps)
    np.testing.assert_allclose(fast.flow.vm_pu, ref.flow.vm_pu, atol=1e-7)
    assert fast.q_inverter_mvar == pytest.approx(ref.q_inverter_mvar, abs=1e-6)


RUN = """park: {name: vc, latitude: 41.8, longitude: 123.4, timezone: Asia/Shanghai, seed: 3}
period: {start: 2027-06-01 00:00, duration: 1d, step: 1h}
pv_plants:
  - {name: pv, p_dc_mwp: 30, p_ac_mw: 25}
grid:
  layout: {feeder_km: 8, hv_transformers: 1, voltage_rule: false, n1: false}
  control: {oltc: substations, inverters: q_u}
"""


@pytest.fixture(scope="module")
def controlled(tmp_path_factory):
    """A day of a PV plant on long feeders with tap changers and Q(U): the scenario and run."""
    from twin import runner, scenario

    out = tmp_path_factory.mktemp("vc")
    path = out / "vc.yaml"
    path.write_text(RUN)
    s = scenario.load(path)
    return s, runner.run(s, out_dir=out).path


def test_a_run_records_the_control_and_its_effect(controlled):
    from twin.core.results import open_run
    from twin.cosim.network import build_grid

    s, path = controlled
    grid = ParkGrid(build_grid(s).net)  # the same network without control
    with open_run(path) as run:
        pv, q = run.series("pv", "p_mw"), run.series("grid", "q_inverter_mvar")
        vm = run.series("grid", "vm_pu")
        taps = run.series("grid", "trafo_tap_pos")
        assert run.info("grid", "trafo_tap_pos").columns == tuple(grid.net.trafo.name)
    noon = int(np.argmax(pv))
    plain = grid.step(np.array([pv[noon]]), 0.0).flow.vm_pu
    assert np.nanmax(plain) > BAND[1] >= np.nanmax(vm[noon])  # without control: out of band
    assert q[noon] < 0  # absorbing at noon
    assert q[0] > q[noon]  # at night, with no feed-in, little or nothing to absorb
    assert taps.shape == (24, len(grid.net.trafo))


def test_the_run_report_adds_the_grid_studies_asked_for(controlled, tmp_path, capsys):
    from twin.apps.cli import main

    _, path = controlled
    out = tmp_path / "report.html"
    assert main(["report", str(path), "--studies", "n-1,short-circuit", "-o", str(out)]) == 0
    page = out.read_text()
    for heading in ("Grid study — Contingencies, worst first", "Grid study — Every violation",
                    "Grid study — IEC 60909 maximum levels"):
        assert heading in page
    assert "park-trafo-1" in page  # the single main transformer out: the park cut off
    # the run had voltage control; the screen says it holds taps and inverters as planned
    assert ("voltage control (oltc: substations, inverters: q_u) is not applied here"
            in page)
    assert "pcc-220" in page
    assert main(["report", str(path), "--studies", "n-2"]) == 2
    assert "--studies n-2: expected some of n-1, hosting, short-circuit" in \
        capsys.readouterr().err
